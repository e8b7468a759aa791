"""GLIGEN and T2I adapters inside regions (issue 11, "Core features"), on tiny random weights that ComfyUI's own
loaders take (`comfy.sd.load_gligen`, `comfy.controlnet.load_controlnet`) and conditioning made by core's own nodes
(`GLIGENTextBoxApply`, `ControlNetApplyAdvanced`): each changes core's output, a full-canvas region equals core with
it, and on one region of two it rides on that region's model calls only and changes only that region's output."""
import pytest
import torch

from tools.inprocess import cond, tiny_model
from test_core_contract import assert_core_equal, core
from test_region_lora_controlnet import assert_changes_only_left, run, run_stream

MARGIN = 1e-3  # a feature must move core's output by more than this, relative to the latent's scale


class Clip:
    """The CLIP input of `GLIGENTextBoxApply`: a fixed pooled text embedding (the text encoder is not under test)."""

    def tokenize(self, text):
        return text

    def encode_from_tokens(self, tokens, return_pooled=False):
        g = torch.Generator().manual_seed(11)
        return torch.randn(1, 77, 768, generator=g), torch.randn(1, 768, generator=g)


@pytest.fixture(scope="module")
def gligen_positive(pack):
    """`cond(1)` grounded by a 128 x 128 px text box in the left half (latent x 0-16, y 8-24)."""
    import comfy.sd
    import nodes
    from tools.tiny_models import ensure_gligen
    gligen = comfy.sd.load_gligen(str(ensure_gligen()))
    return nodes.GLIGENTextBoxApply().append(cond(1), Clip(), gligen, "a box", 128, 128, 0, 64)[0]


@pytest.fixture(scope="module")
def t2i_unet(pack):
    """The tiny UNet with SD1.5's two res blocks per level, where SD1.5 T2I adapters add their features."""
    return tiny_model("sd15x2")


@pytest.fixture(scope="module")
def t2i_conds(pack):
    """`(cond(1), cond(2))` with a random-weight SD1.5 T2I adapter and a random hint, via ControlNetApplyAdvanced."""
    import comfy.controlnet
    import nodes
    from tools.tiny_models import ensure_t2i_adapter
    adapter = comfy.controlnet.load_controlnet(str(ensure_t2i_adapter()))
    assert isinstance(adapter, comfy.controlnet.T2IAdapter)
    hint = torch.rand(1, 256, 256, 3, generator=torch.Generator().manual_seed(3))
    return nodes.ControlNetApplyAdvanced().apply_controlnet(cond(1), cond(2), adapter, hint, 1.0, 0, 1)


class Recorder:
    """model_function_wrapper noting, per model call, which prompts it carries (by embedding) and whether a GLIGEN
    patch (`middle_patch`) or a control (ControlNet/T2I features) is attached."""

    def __init__(self):
        self.prompts = {"left+": cond(1), "left-": cond(2), "right+": cond(3), "right-": cond(4)}
        self.calls, self.inputs = [], []

    def __call__(self, apply_model, args):
        c = args["c"]
        names = {n for row in c["c_crossattn"] for n, p in self.prompts.items() if torch.equal(row, p[0][0][0])}
        features = {"gligen"} if "middle_patch" in c["transformer_options"].get("patches", {}) else set()
        self.calls.append((names, features | ({"control"} if c.get("control") is not None else set())))
        self.inputs.append(args["input"])
        return apply_model(args["input"], args["timestep"], **c)

    def featured(self, feature: str) -> list[set]:
        """Prompt sets of the calls carrying `feature`, sorted; every other call carries right-region prompts only."""
        assert all(names <= {"right+", "right-"} for names, features in self.calls if feature not in features)
        return sorted((names for names, features in self.calls if feature in features), key=sorted)


def relative_change(changed, plain) -> float:
    return float((changed - plain).abs().max() / plain.abs().max())


@pytest.mark.parametrize("sampler", ["euler", "heun"])
def test_gligen_full_canvas_region_equals_core(sd15, gligen_positive, sampler):
    """GLIGEN changes core's output, and one full-canvas region carrying it equals core (`comfy.sample.sample`) to
    1e-5: the region's cond and its uncond (core's GLIGEN fill-in) get core's `middle_patch` at canvas coordinates."""
    plain = core(sd15, "sd15", cond(1), cond(2), sampler=sampler)
    grounded = assert_core_equal(sd15, "sd15", gligen_positive, cond(2), cfg=2.5, sampler=sampler)
    assert relative_change(grounded, plain) > MARGIN


@pytest.mark.parametrize("sampler", ["euler", "heun"])
def test_t2i_adapter_full_canvas_region_equals_core(t2i_unet, t2i_conds, sampler):
    """A T2I adapter changes core's output, and one full-canvas region carrying it equals core to 1e-5: core's
    `T2IAdapter.get_control` features are added to the region's model calls as core adds them."""
    plain = core(t2i_unet, "sd15", cond(1), cond(2), sampler=sampler)
    adapted = assert_core_equal(t2i_unet, "sd15", *t2i_conds, cfg=2.5, sampler=sampler)
    assert relative_change(adapted, plain) > MARGIN


def test_gligen_applies_to_its_region_only(sd15, gligen_positive):
    """On the left of two regions, GLIGEN rides on the left region's cond and uncond calls only (one call each, as
    core does not batch different GLIGEN patches), and changes the left half of the output, not the right."""
    recorder = Recorder()
    run(sd15, gligen_positive, cond(2), steps=2, recorder=recorder)
    assert recorder.featured("gligen") == [{"left+"}, {"left+"}, {"left-"}, {"left-"}]
    assert_changes_only_left(run(sd15, gligen_positive, cond(2), steps=1), run(sd15, cond(1), cond(2), steps=1))


def test_t2i_adapter_applies_to_its_region_only(t2i_unet, t2i_conds):
    """On the left of two regions, the T2I adapter rides on the left region's cond and uncond (one call per step),
    and changes the left half of the output, not the right."""
    recorder = Recorder()
    run(t2i_unet, *t2i_conds, steps=2, recorder=recorder)
    assert recorder.featured("control") == [{"left+", "left-"}] * 2
    assert_changes_only_left(run(t2i_unet, *t2i_conds, steps=1), run(t2i_unet, cond(1), cond(2), steps=1))


@pytest.mark.parametrize("node", ["sampler", "stream"])
def test_grounded_region_is_evaluated_where_its_box_is_while_bootstrapping(sd15, gligen_positive, node):
    """Bootstrapping centres a region's input; a region carrying GLIGEN (boxes in canvas coordinates) is evaluated
    un-centred, so its step-0 input inside the region is the canvas itself (the stream's first slot likewise)."""
    first_inputs = []
    for bootstrap_steps in (0, 1):
        recorder = Recorder()
        if node == "sampler":
            run(sd15, gligen_positive, cond(2), steps=1, recorder=recorder, bootstrap_steps=bootstrap_steps)
        else:
            run_stream(sd15, gligen_positive, cond(2), recorder, bootstrap_steps)
        first_inputs.append(next(x for x, (_, found) in zip(recorder.inputs, recorder.calls) if "gligen" in found))
    plain, bootstrapped = first_inputs  # the left region's step-0 cond call
    assert torch.equal(bootstrapped[..., :14], plain[..., :14])  # inside the left region: the canvas, not rolled
    assert not torch.allclose(bootstrapped[..., 18:], plain[..., 18:])  # outside: the bootstrap background


def test_stream_uncond_of_a_grounded_region_gets_its_gligen_as_in_core(sd15, gligen_positive):
    """Core fills a negative in with its positive's GLIGEN; the Stream Sampler processes each region's negative with
    its positive, so with full CFG the left region's uncond call carries GLIGEN too, as the still sampler's does."""
    recorder = Recorder()
    run_stream(sd15, gligen_positive, cond(2), recorder, bootstrap_steps=0)
    assert recorder.featured("gligen") == [{"left+"}, {"left-"}]
