"""No node changes its inputs (issue 12, section 3; ComfyUI caches and shares node outputs): every tensor reachable
from every input of every node of the pack, and the model's options, hash the same before and after `execute`."""
import dataclasses
import hashlib

import pytest
import torch

from tools.inprocess import cond
from test_inprocess_edit_stream import EDIT, STREAM
from test_inprocess_nodes import SETTINGS, masks


def fingerprint(obj, h=None, seen=None) -> str:
    """sha256 over every tensor (bytes, shape, dtype) and plain value reachable from `obj`; a ModelPatcher,
    CLIP or VAE contributes its patcher's model_options (the part nodes could write to)."""
    top = h is None
    h, seen = h or hashlib.sha256(), seen if seen is not None else set()
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, dict):
        for k in sorted(obj, key=repr):
            h.update(repr(k).encode())
            fingerprint(obj[k], h, seen)
    elif isinstance(obj, (list, tuple)):
        h.update(f"L{len(obj)}".encode())
        for v in obj:
            fingerprint(v, h, seen)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            h.update(f.name.encode())
            fingerprint(getattr(obj, f.name), h, seen)
    elif hasattr(obj, "model_options") or hasattr(obj, "patcher"):
        if id(obj) not in seen:
            seen.add(id(obj))
            patcher = getattr(obj, "patcher", obj)
            fingerprint({k: v if isinstance(v, (dict, list, torch.Tensor)) else repr(type(v))
                         for k, v in patcher.model_options.items()}, h, seen)
    elif isinstance(obj, (str, int, float, bool, type(None))):
        h.update(repr(obj).encode())
    else:
        h.update(repr(type(obj)).encode())
    return h.hexdigest() if top else ""


@pytest.fixture(scope="module")
def checkpoint(pack):
    import comfy.sd
    from tools import tiny_models
    model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(str(tiny_models.checkpoint("sd15")), output_vae=True,
                                                                output_clip=True)
    return model, clip, vae


def node_runs(checkpoint):
    """(node class name, inputs) for every node of the pack, each fed the previous nodes' outputs."""
    from semanticdraw.nodes import (SemanticDrawBackgroundBlend, SemanticDrawGuiderNode, SemanticDrawPalette,
                                    SemanticDrawRegion, SemanticDrawRegionalEdit, SemanticDrawRegionFromConditioning,
                                    SemanticDrawRegionStack, SemanticDrawSampler, SemanticDrawSDEdit,
                                    SemanticDrawStreamSampler)
    from semanticdraw.nodes.canvas import DEFAULT_BRUSHES, SemanticDrawCanvas
    model, clip, vae = checkpoint
    left, box = masks()
    mask_args = dict(mask_strength=0.97, mask_blur_std=2.0, prompt_strength=0.9)
    palette_image = torch.zeros(1, 256, 256, 3)
    palette_image[:, :, :128, 0] = 1.0
    palette_image[:, :, 128:, 2] = 1.0
    background = torch.rand(1, 256, 256, 3, generator=torch.Generator().manual_seed(3))
    latent = {"samples": torch.zeros(1, 4, 32, 32)}
    runs = [(SemanticDrawRegion, dict(clip=clip, text="a red apple", mask=left[None], negative_text="blurry",
                                      **mask_args)),
            (SemanticDrawRegionFromConditioning, dict(positive=cond(1), mask=box, negative=cond(2), **mask_args)),
            (SemanticDrawPalette, dict(clip=clip, palette_image=palette_image, palette="red: a wall\nblue: sky",
                                       tolerance=0.1, **mask_args))]
    outs = [cls.execute(**kw).result for cls, kw in runs]
    stack_kw = dict(regions_1=outs[0][0], regions_2=outs[1][0], background_prompt=cond(5),
                    background_negative=cond(6), background_image=background, vae=vae)
    stacked = SemanticDrawRegionStack.execute(**stack_kw).result[0]
    sampled_kw = dict(model=model, regions=stacked, latent_image=latent, seed=1, steps=1, cfg=1.5,
                      sampler_name="lcm", scheduler="sgm_uniform", denoise=1.0, **SETTINGS)
    source = SemanticDrawSampler.execute(**sampled_kw).result[0]
    edited = stacked.replace(regions=(stacked.regions[0], outs[2][0].regions[0]))
    runs += [(SemanticDrawRegionStack, stack_kw), (SemanticDrawSampler, sampled_kw),
             (SemanticDrawSampler, dict(sampled_kw, regions=outs[2][0], latent_image=dict(
                 source, noise_mask=box[None]), denoise=0.6)),
             (SemanticDrawGuiderNode, dict(model=model, regions=stacked, cfg=2.0, **SETTINGS)),
             (SemanticDrawSDEdit, dict(model=model, regions=stacked, guide=source, mask=box[None], repeats=1,
                                       **(EDIT | dict(strength=0.6, steps=1)))),
             (SemanticDrawRegionalEdit, dict(model=model, source=source, source_regions=stacked, target_regions=edited,
                                             **(EDIT | dict(strength=0.6, steps=1)))),
             (SemanticDrawStreamSampler, dict(model=model, regions=outs[2][0], latent_image=latent, frame_count=1,
                                              **STREAM)),
             (SemanticDrawBackgroundBlend, dict(image=torch.rand(1, 256, 256, 3), regions=stacked)),
             (SemanticDrawCanvas, dict(width=256, height=256, brushes=DEFAULT_BRUSHES, background_prompt="a field",
                                       painting="", clip=clip, vae=vae, background_image=background))]
    return runs


def test_no_node_mutates_its_inputs(checkpoint):
    import comfy.samplers
    from comfy_extras.nodes_custom_sampler import Noise_RandomNoise, SamplerCustomAdvanced
    from semanticdraw.nodes import NODES
    from semanticdraw.nodes.host.errors import NodeInputError
    runs = node_runs(checkpoint)
    assert {cls for cls, _ in runs} == set(NODES)  # every node of the pack
    for cls, kwargs in runs:
        before = {k: fingerprint(v) for k, v in kwargs.items()}
        try:
            out = cls.execute(**kwargs).result
        except NodeInputError:  # refusing an input must not change it either (the canvas with nothing painted)
            out = None
        if cls.__name__ == "SemanticDrawGuiderNode":  # a guider's inputs are used when it samples
            model = kwargs["model"]
            sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "sgm_uniform", 1)
            SamplerCustomAdvanced().sample(Noise_RandomNoise(4), out[0], comfy.samplers.sampler_object("lcm"),
                                           sigmas.cpu(), {"samples": torch.zeros(1, 4, 32, 32)})
        after = {k: fingerprint(v) for k, v in kwargs.items()}
        changed = [k for k in kwargs if before[k] != after[k]]
        assert not changed, f"{cls.__name__} changed its inputs {changed}"


def test_fingerprint_sees_in_place_changes(checkpoint):
    """The hash this test relies on notices a one-element change deep inside a region stack and model_options."""
    from semanticdraw.nodes.host.regions import Region, RegionStack
    left, _ = masks()
    stack = RegionStack(regions=(Region(cond(1), None, left.clone()),), background_positive=cond(5))
    before = fingerprint(stack)
    stack.regions[0].mask[3, 3] += 1e-3
    assert fingerprint(stack) != before
    before = fingerprint(stack)
    stack.background_positive[0][1]["strength"] = 0.5
    assert fingerprint(stack) != before
    model = checkpoint[0]
    before = fingerprint(model)
    model.model_options["model_function_wrapper"] = print
    try:
        assert fingerprint(model) != before
    finally:
        del model.model_options["model_function_wrapper"]
