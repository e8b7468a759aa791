"""The nodes, run in-process on tiny real-architecture models (SD1.5 eps UNet, SD3 flow MMDiT)."""
import hashlib
import pickle

import pytest
import torch

from tools.inprocess import CallCounter, cond, tiny_model

SETTINGS = dict(bootstrap_steps=1, bootstrap_mix_steps=1.0, leak_sensitivity=0.2, mask_type="discrete",
                cover_alpha=0.3, tile_size=0)


def masks(size=256):
    left = torch.zeros(size, size)
    left[:, : size // 2] = 1
    box = torch.zeros(size, size)
    box[size // 4: 3 * size // 4, size // 3: size - 8] = 1
    return left, box


def stack(pack, kind="sd15", background=True):
    from semanticdraw.nodes.host.regions import Region, RegionStack
    left, box = masks()
    return RegionStack(regions=(Region(cond(1, kind), cond(2, kind), left),
                                Region(cond(3, kind), None, box, mask_blur_std=4.0, prompt_strength=0.9)),
                       background_positive=cond(5, kind) if background else None)


def sample(pack, model, regions, latent, **kw):
    from semanticdraw.nodes.sampling import SemanticDrawSampler
    args = dict(seed=42, steps=3, cfg=1.0, sampler_name="lcm", scheduler="sgm_uniform", denoise=1.0) | SETTINGS | kw
    return SemanticDrawSampler.execute(model, regions, latent, **args).result[0]


def digest(obj) -> str:
    return hashlib.sha256(pickle.dumps(obj)).hexdigest()


@pytest.mark.parametrize("cfg,per_call", [(1.0, 3), (2.5, 6)])
def test_sd15_one_batched_model_call_per_step(pack, sd15, cfg, per_call):
    counter = CallCounter(sd15.model)
    try:
        out = sample(pack, sd15, stack(pack), {"samples": torch.zeros(1, 4, 32, 32)}, cfg=cfg)
    finally:
        sd15.model.apply_model = counter._inner
    assert out["samples"].shape == (1, 4, 32, 32) and torch.isfinite(out["samples"]).all()
    assert counter.batches == [per_call] * 3  # 2 regions + the background-prompt region, x2 with cfg


@pytest.mark.parametrize("kind,channels,sampler,scheduler", [("sd3", 16, "euler", "simple"),
                                                              ("sdxl", 4, "euler", "sgm_uniform")])
def test_sd3_flow_and_sdxl_models_run_through_the_sampler(pack, kind, channels, sampler, scheduler):
    model = tiny_model(kind)
    counter = CallCounter(model.model)
    out = sample(pack, model, stack(pack, kind), {"samples": torch.zeros(1, channels, 32, 32)}, steps=4, cfg=2.0,
                 sampler_name=sampler, scheduler=scheduler, mask_type="semi-continuous")
    assert out["samples"].shape == (1, channels, 32, 32) and torch.isfinite(out["samples"]).all()
    assert counter.batches == [6] * 4  # 3 regions (background prompt included) x cond/uncond, per-region pooled


def test_inputs_unchanged_and_same_seed_same_latent(pack, sd15):
    regions, latent = stack(pack), {"samples": torch.randn(1, 4, 32, 32) * 0}
    before = digest((regions, latent))
    a = sample(pack, sd15, regions, latent)
    b = sample(pack, sd15, regions, latent)
    assert digest((regions, latent)) == before
    assert torch.equal(a["samples"], b["samples"])
    c = sample(pack, sd15, regions, latent, seed=43)
    assert not torch.equal(a["samples"], c["samples"])


def test_wide_canvas_tiles_in_one_call_per_step(pack, sd15):
    from semanticdraw.nodes.host.regions import Region, RegionStack
    wide = torch.zeros(256, 768)
    wide[:, 200:500] = 1
    regions = RegionStack(regions=(Region(cond(1), cond(2), wide), Region(cond(3), cond(2), 1 - wide)))
    counter = CallCounter(sd15.model)
    try:
        out = sample(pack, sd15, regions, {"samples": torch.zeros(1, 4, 32, 96)}, steps=2, tile_size=256)
    finally:
        sd15.model.apply_model = counter._inner
    assert out["samples"].shape == (1, 4, 32, 96)
    assert len(counter.batches) == 2 and counter.batches[0] > 2  # several windows, still one call per step


def test_guider_composes_with_sampler_custom_advanced(pack, sd15):
    import comfy.samplers
    from comfy_extras.nodes_custom_sampler import SamplerCustomAdvanced, Noise_RandomNoise
    from semanticdraw.nodes.sampling import SemanticDrawGuiderNode
    guider = SemanticDrawGuiderNode.execute(sd15, stack(pack), 1.0, **SETTINGS).result[0]
    sigmas = comfy.samplers.calculate_sigmas(sd15.get_model_object("model_sampling"), "sgm_uniform", 3).cpu()
    out, _ = SamplerCustomAdvanced().sample(Noise_RandomNoise(42), guider, comfy.samplers.sampler_object("lcm"),
                                            sigmas, {"samples": torch.zeros(1, 4, 32, 32)})
    ref = sample(pack, sd15, stack(pack), {"samples": torch.zeros(1, 4, 32, 32)})
    assert torch.allclose(out["samples"], ref["samples"], atol=1e-5)


@pytest.mark.parametrize("bad,needle", [
    ("empty", "SemanticDraw Sampler: regions[1].mask: is empty (all zeros)"),
    ("nan", "SemanticDraw Sampler: regions[0].mask: contains NaN"),
    ("size", "SemanticDraw Sampler: regions[0].mask: is 512x256 but the canvas is 256x256"),
    ("batch", "SemanticDraw Sampler: regions[0].mask has shape [2, 256, 256]"),
])
def test_bad_masks_name_node_and_input(pack, sd15, bad, needle):
    from semanticdraw.nodes.host.errors import NodeInputError
    from semanticdraw.nodes.host.regions import Region, RegionStack
    left, box = masks()
    first = {"empty": left, "nan": left * float("nan"), "size": torch.ones(256, 512),
             "batch": torch.stack([left, box])}[bad]
    second = torch.zeros(256, 256) if bad == "empty" else box
    regions = RegionStack(regions=(Region(cond(1), None, first), Region(cond(2), None, second)))
    with pytest.raises(NodeInputError) as e:
        sample(pack, sd15, regions, {"samples": torch.zeros(1, 4, 32, 32)})
    assert needle in str(e.value)


def test_empty_stack_is_an_error(pack, sd15):
    from semanticdraw.nodes.host.errors import NodeInputError
    from semanticdraw.nodes.host.regions import RegionStack
    with pytest.raises(NodeInputError, match="regions: no regions given; add at least one region"):
        sample(pack, sd15, RegionStack(regions=()), {"samples": torch.zeros(1, 4, 32, 32)})


def test_uncovered_pixels_follow_the_background_latent(pack, sd15):
    from semanticdraw.nodes.host.regions import Region, RegionStack
    left, _ = masks()
    background = torch.randn(1, 4, 32, 32)
    regions = RegionStack(regions=(Region(cond(1), cond(2), left, mask_blur_std=0.0),), background_latent=background)
    out = sample(pack, sd15, regions, {"samples": torch.zeros(1, 4, 32, 32)}, bootstrap_steps=1)["samples"]
    assert torch.allclose(out[..., 17:], background[..., 17:], atol=1e-5)  # right half: no region
    assert not torch.allclose(out[..., :15], background[..., :15], atol=1e-2)
