"""Per-region LoRA (hooks) and ControlNet (issue 13 section 7), on tiny random weights that ComfyUI's own loaders take:
each applies to its region's model evaluations only, and changes the output where that region is, not elsewhere."""
import pytest
import torch

from tools.inprocess import cond, tiny_model

LEFT_TARGET = "diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight"  # a weight the LoRA patches


@pytest.fixture(scope="module")
def sd15(pack):
    return tiny_model("sd15")


def halves():
    left = torch.zeros(256, 256)
    left[:, :128] = 1
    return left, 1 - left


class Recorder:
    """model_function_wrapper noting, per model call, which regions' prompts it carries (by embedding), whether the
    LoRA-patched weight differs from the base weight, and whether a ControlNet is attached."""

    def __init__(self, model, prompts: dict[str, torch.Tensor]):
        self.model, self.prompts, self.calls, self.inputs = model, prompts, [], []
        self.base = model.model.state_dict()[LEFT_TARGET].clone()

    def __call__(self, apply_model, args):
        rows = args["c"]["c_crossattn"]
        names = {name for row in rows for name, p in self.prompts.items() if torch.equal(row, p[0])}
        patched = not torch.equal(self.model.model.state_dict()[LEFT_TARGET], self.base)
        self.calls.append((names, patched, args["c"].get("control") is not None))
        self.inputs.append(args["input"])
        return apply_model(args["input"], args["timestep"], **args["c"])


def run(model, left_positive, left_negative, steps, recorder=None, cfg=2.0, bootstrap_steps=1):
    from semanticdraw.nodes.host.guider import RegionalSettings
    from semanticdraw.nodes.host.regions import Region, RegionStack
    from semanticdraw.nodes.sampling import SemanticDrawSampler
    left, right = halves()
    stack = RegionStack(regions=(Region(left_positive, left_negative, left), Region(cond(3), cond(4), right)))
    if recorder is not None:
        model = model.clone()
        model.set_model_unet_function_wrapper(recorder)
    return SemanticDrawSampler.execute(model, stack, {"samples": torch.zeros(1, 4, 32, 32)}, seed=7, steps=steps,
                                       cfg=cfg, sampler_name="euler", scheduler="normal", denoise=1.0,
                                       **(vars(RegionalSettings()) | {"bootstrap_steps": bootstrap_steps})
                                       ).result[0]["samples"]


def run_stream(model, left_positive, left_negative, recorder, bootstrap_steps):
    """One stream call with one slot (T=1): the slot is bootstrapped when `bootstrap_steps` is 1."""
    from semanticdraw.nodes.host.regions import Region, RegionStack
    from semanticdraw.nodes.stream import SemanticDrawStreamSampler
    left, right = halves()
    stack = RegionStack(regions=(Region(left_positive, left_negative, left), Region(cond(3), cond(4), right)))
    model = model.clone()
    model.set_model_unet_function_wrapper(recorder)
    return SemanticDrawStreamSampler.execute(
        model, stack, {"samples": torch.zeros(1, 4, 32, 32)}, seed=7, frame_count=1, t_index_list="",
        schedule_length=50, steps=1, scheduler="sgm_uniform", cfg_type="full", cfg=2.0, delta=1.0, frame_buffer=1,
        bootstrap_steps=bootstrap_steps, bootstrap_mix_steps=1.0, leak_sensitivity=0.0, mask_type="continuous",
        cover_alpha=0.3, include_warmup=False, max_batch=64).result[0]["samples"]


def prompts():
    return {"left+": cond(1)[0][0], "left-": cond(2)[0][0], "right+": cond(3)[0][0], "right-": cond(4)[0][0]}


def assert_changes_only_left(changed, plain):
    """Relative to the latent's scale (float32 rounding of a differently batched call is ~1e-7 of it)."""
    diff = (changed - plain).abs().amax((0, 1)) / plain.abs().max()  # [h, w]
    assert float(diff[:, :14].mean()) > 1e-3  # the left region changed
    assert float(diff[:, 18:].max()) < 1e-6  # the right half, 2 latent pixels past the blurred border, did not


def test_lora_hooks_apply_to_their_region_only(sd15):
    import comfy.hooks
    import comfy.utils
    from comfy_extras.nodes_hooks import ConditioningSetProperties
    from tools.tiny_models import region_lora
    hooks = comfy.hooks.create_hook_lora(comfy.utils.load_torch_file(str(region_lora())), 1.0, 0.0)
    hooked = ConditioningSetProperties().set_properties(cond(1), 1.0, "default", hooks=hooks)[0]
    recorder = Recorder(sd15, prompts())
    run(sd15, hooked, cond(2), steps=3, recorder=recorder)
    assert [c for c in recorder.calls if c[1]] == [({"left+"}, True, False)] * 3  # one LoRA call per step: left+ only
    assert all(not patched for names, patched, _ in recorder.calls if names - {"left+"})
    assert len(recorder.calls) == 6  # and one call for the three unhooked prompts, per step
    assert_changes_only_left(run(sd15, hooked, cond(2), steps=1), run(sd15, cond(1), cond(2), steps=1))


def test_controlnet_applies_to_its_region_only(sd15):
    import comfy.controlnet
    import nodes
    from tools.tiny_models import ensure_controlnet
    control = comfy.controlnet.load_controlnet(str(ensure_controlnet()))
    hint = torch.rand(1, 256, 256, 3, generator=torch.Generator().manual_seed(3))
    positive, negative = nodes.ControlNetApplyAdvanced().apply_controlnet(cond(1), cond(2), control, hint, 1.0, 0, 1)
    recorder = Recorder(sd15, prompts())
    run(sd15, positive, negative, steps=3, recorder=recorder)
    controlled = [names for names, _, has_control in recorder.calls if has_control]
    assert controlled == [{"left+", "left-"}] * 3  # the left region's cond and uncond, every step
    assert all(names <= {"right+", "right-"} for names, _, has_control in recorder.calls if not has_control)
    assert_changes_only_left(run(sd15, positive, negative, steps=1), run(sd15, cond(1), cond(2), steps=1))


@pytest.mark.parametrize("node", ["sampler", "stream"])
def test_controlled_region_is_evaluated_where_its_hint_is_while_bootstrapping(sd15, node):
    """Bootstrapping centres a region's input; a region carrying positional conditioning (here a ControlNet hint in
    canvas coordinates) is evaluated un-centred, so its step-0 input inside the region is the canvas itself. The
    stream's first slot is bootstrapped the same way."""
    import comfy.controlnet
    import nodes
    from tools.tiny_models import ensure_controlnet
    control = comfy.controlnet.load_controlnet(str(ensure_controlnet()))
    hint = torch.rand(1, 256, 256, 3, generator=torch.Generator().manual_seed(3))
    positive, negative = nodes.ControlNetApplyAdvanced().apply_controlnet(cond(1), cond(2), control, hint, 1.0, 0, 1)
    first_inputs = []
    for bootstrap_steps in (0, 1):
        recorder = Recorder(sd15, prompts())
        if node == "sampler":
            run(sd15, positive, negative, steps=1, recorder=recorder, bootstrap_steps=bootstrap_steps)
        else:
            run_stream(sd15, positive, negative, recorder, bootstrap_steps)
        controlled = [x for x, (_, _, has_control) in zip(recorder.inputs, recorder.calls) if has_control]
        assert len(controlled) == 1 and controlled[0].shape[0] == 2  # the left region's cond and uncond
        first_inputs.append(controlled[0])
    plain, bootstrapped = first_inputs
    assert torch.equal(bootstrapped[..., :14], plain[..., :14])  # inside the left region: the canvas, not rolled
    assert not torch.allclose(bootstrapped[..., 18:], plain[..., 18:])  # outside: the bootstrap background
