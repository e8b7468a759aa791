"""The contract with core ComfyUI (issue 11 section 1): one full-canvas region through the SemanticDraw Sampler equals
core's own sampling (`comfy.sample.sample`, what KSampler runs) on the same model, conditioning, seed and sampler,
for eps, v-prediction and flow models, cfg 1 and > 1, first- and second-order samplers; and every conditioning
feature core honours acts inside a region exactly as in core, or is refused naming the node and the input."""
import pytest
import torch

from tools.inprocess import cond, tiny_model

CHANNELS = {"sd15": 4, "sd15v": 4, "sd3": 16}
SCHEDULER = {"sd15": "normal", "sd15v": "normal", "sd3": "simple"}
ATOL = 1e-5


@pytest.fixture(scope="module")
def models(pack):
    return {kind: tiny_model(kind) for kind in CHANNELS}


@pytest.fixture(scope="module")
def plain(models):
    """Core on the plain prompts (sd15, euler, cfg 2.5): what each feature must change."""
    return core(models["sd15"], "sd15", cond(1), cond(2))


def latent(kind):
    return torch.zeros(1, CHANNELS[kind], 32, 32)


def core(model, kind, positive, negative, cfg=2.5, sampler="euler", steps=2, seed=42):
    import comfy.sample
    noise = comfy.sample.prepare_noise(latent(kind), seed)
    return comfy.sample.sample(model, noise, steps, cfg, sampler, SCHEDULER[kind], positive, negative, latent(kind),
                               seed=seed)


def regional(model, kind, positive, negative, cfg=2.5, sampler="euler", steps=2, seed=42, **settings):
    """One region covering the canvas, every setting at its default unless given."""
    from semanticdraw.nodes.host.guider import RegionalSettings
    from semanticdraw.nodes.host.regions import Region, RegionStack
    from semanticdraw.nodes.sampling import SemanticDrawSampler
    stack = RegionStack(regions=(Region(positive, negative, torch.ones(256, 256)),))
    args = vars(RegionalSettings()) | settings
    return SemanticDrawSampler.execute(model, stack, {"samples": latent(kind)}, seed=seed, steps=steps, cfg=cfg,
                                       sampler_name=sampler, scheduler=SCHEDULER[kind], denoise=1.0,
                                       **args).result[0]["samples"]


def assert_core_equal(model, kind, positive, negative, **kw):
    expected = core(model, kind, positive, negative, **kw)
    got = regional(model, kind, positive, negative, **kw)
    diff = float((got - expected).abs().max())
    print(f"max abs diff vs core: {diff:.3g} (latent scale {float(expected.abs().max()):.3g})")
    assert diff <= ATOL, f"max abs diff {diff} vs core"
    return expected


@pytest.mark.parametrize("kind", list(CHANNELS))
@pytest.mark.parametrize("cfg,sampler", [(1.0, "euler"), (2.5, "euler"), (1.0, "heun"), (2.5, "dpmpp_2s_ancestral"),
                                         (2.5, "dpmpp_2m")])
def test_full_canvas_region_equals_core(models, kind, cfg, sampler):
    """Default settings: blur, bootstrapping and leak suppression of a full mask change nothing."""
    out = assert_core_equal(models[kind], kind, cond(1, kind), cond(2, kind), cfg=cfg, sampler=sampler)
    assert torch.isfinite(out).all() and out.std() > 0.05


def nodes_module():
    import importlib
    return importlib.import_module("nodes")  # ComfyUI's own nodes.py (the host is first on sys.path)


def box(y0, y1, x0, x1, size=32):
    m = torch.zeros(1, size, size)
    m[:, y0:y1, x0:x1] = 1
    return m


def feature_conds(feature):
    """`(positive, negative)` built with core's own nodes, for one conditioning feature."""
    nodes = nodes_module()
    plain, other, neg = cond(1), cond(3), cond(2)
    combine = nodes.ConditioningCombine().combine
    if feature == "area":
        part = nodes.ConditioningSetArea().append(other, 128, 96, 64, 32, 0.8)[0]
        return combine(plain, part)[0], neg
    if feature == "area_percentage":
        part = nodes.ConditioningSetAreaPercentage().append(other, 0.5, 0.25, 0.25, 0.5, 1.0)[0]
        return combine(plain, part)[0], neg
    if feature == "mask_strength":
        part = nodes.ConditioningSetMask().append(other, box(4, 20, 8, 30), "default", 0.7)[0]
        return combine(plain, part)[0], neg
    if feature == "mask_alone":
        return nodes.ConditioningSetMask().append(plain, box(0, 32, 0, 20), "default", 1.0)[0], neg
    if feature == "set_cond_area":
        part = nodes.ConditioningSetMask().append(other, box(8, 24, 4, 16), "mask bounds", 1.0)[0]
        return combine(plain, part)[0], neg
    if feature == "timestep_range":
        early = nodes.ConditioningSetTimestepRange().set_range(other, 0.0, 0.3)[0]  # step 0 of 2
        late = nodes.ConditioningSetTimestepRange().set_range(plain, 0.3, 1.0)[0]  # step 1
        return combine(early, late)[0], neg
    if feature == "default_combine":
        from comfy_extras.nodes_hooks import ConditioningSetDefaultAndCombine
        masked = nodes.ConditioningSetMask().append(other, box(0, 16, 0, 32), "default", 1.0)[0]
        return ConditioningSetDefaultAndCombine().set_default_and_combine(masked, plain)[0], neg
    raise KeyError(feature)


FEATURES = ["area", "area_percentage", "mask_strength", "mask_alone", "set_cond_area", "timestep_range",
            "default_combine"]


@pytest.mark.parametrize("feature", FEATURES)
def test_conditioning_features_inside_a_region_equal_core(models, plain, feature):
    positive, negative = feature_conds(feature)
    with_feature = assert_core_equal(models["sd15"], "sd15", positive, negative)
    assert float((with_feature - plain).abs().max()) > 1e-3  # the feature does something


def test_masked_conditioning_in_a_flow_model_region_equals_core(models):
    positive, negative = feature_conds("mask_strength")
    embedding = torch.randn(1, 77, 4096, generator=torch.Generator().manual_seed(9))
    pos = [[embedding, {**positive[1][1], "pooled_output": torch.zeros(1, 2048)}]]
    assert_core_equal(models["sd3"], "sd3", cond(1, "sd3") + pos, cond(2, "sd3"))


def scaled_output(apply_model, args):
    return apply_model(args["input"], args["timestep"], **args["c"]) * 0.9


def attn2_patch(q, k, v, extra_options):
    return q * 1.5, k, v


def post_cfg(args):
    return args["denoised"] * 0.95 + args["cond_denoised"] * 0.05


def test_model_patches_and_function_wrapper_equal_core(models, plain):
    model = models["sd15"].clone()
    model.set_model_unet_function_wrapper(scaled_output)
    model.set_model_attn2_patch(attn2_patch)
    model.set_model_sampler_post_cfg_function(post_cfg)
    patched = assert_core_equal(model, "sd15", cond(1), cond(2))
    assert float((patched - plain).abs().max()) > 1e-3


def test_hooked_lora_conditioning_equals_core(models, plain):
    import comfy.hooks
    import comfy.utils
    from comfy_extras.nodes_hooks import ConditioningSetProperties
    from tools.tiny_models import region_lora
    hooks = comfy.hooks.create_hook_lora(comfy.utils.load_torch_file(str(region_lora())), 1.0, 0.0)
    hooked = ConditioningSetProperties().set_properties(cond(1), 1.0, "default", hooks=hooks)[0]
    out = assert_core_equal(models["sd15"], "sd15", hooked, cond(2))
    assert float((out - plain).abs().max()) > 1e-3


def test_controlnet_conditioning_equals_core(models, plain):
    import comfy.controlnet
    from tools.tiny_models import ensure_controlnet
    control = comfy.controlnet.load_controlnet(str(ensure_controlnet()))
    hint = torch.rand(1, 256, 256, 3, generator=torch.Generator().manual_seed(3))
    positive, negative = nodes_module().ControlNetApplyAdvanced().apply_controlnet(cond(1), cond(2), control, hint,
                                                                                    0.8, 0.0, 0.8)
    out = assert_core_equal(models["sd15"], "sd15", positive, negative)
    assert float((out - plain).abs().max()) > 1e-3


def test_positional_conditioning_in_a_tiled_canvas_is_refused(models):
    from semanticdraw.nodes.host.guider import RegionalSettings
    from semanticdraw.nodes.host.errors import NodeInputError
    from semanticdraw.nodes.host.regions import Region, RegionStack
    from semanticdraw.nodes.sampling import SemanticDrawSampler
    positive, negative = feature_conds("area")
    stack = RegionStack(regions=(Region(positive, negative, torch.ones(256, 512)),))
    with pytest.raises(NodeInputError, match=r"SemanticDraw Sampler: regions\[0\]\.positive has area conditioning"):
        SemanticDrawSampler.execute(models["sd15"], stack, {"samples": torch.zeros(1, 4, 32, 64)}, seed=0, steps=1,
                                    cfg=1.0, sampler_name="euler", scheduler="normal", denoise=1.0,
                                    **(vars(RegionalSettings()) | {"tile_size": 256}))


def test_model_patch_replacing_the_cond_batch_is_refused(models):
    from comfy_extras.nodes_slg import SkipLayerGuidanceDiTSimple
    from semanticdraw.nodes.host.errors import NodeInputError
    model = SkipLayerGuidanceDiTSimple.execute(models["sd3"], 0.0, 1.0, double_layers="1").result[0]
    with pytest.raises(NodeInputError, match="SemanticDraw Sampler: model carries a sampler_calc_cond_batch_function"):
        regional(model, "sd3", cond(1, "sd3"), cond(2, "sd3"), steps=1)


def two_regions_and_background(kind="sd15"):
    from semanticdraw.nodes.host.regions import Region, RegionStack
    left = torch.zeros(256, 256)
    left[:, :128] = 1
    return RegionStack(regions=(Region(cond(1, kind), cond(2, kind), left), Region(cond(3, kind), None, 1 - left)),
                       background_positive=cond(5, kind))


class LoadStopped(Exception):
    """Raised by the recording load_models_gpu: the test only needs what sampling asked to load for."""


@pytest.fixture
def load_requests(monkeypatch):
    import comfy.model_management
    requests = []

    def record(models, memory_required=0, **kwargs):
        requests.append(memory_required)
        raise LoadStopped

    monkeypatch.setattr(comfy.model_management, "load_models_gpu", record)
    return requests


def test_sampler_loads_the_model_for_its_real_batch(models, load_requests):
    from semanticdraw.nodes.host.guider import RegionalSettings
    from semanticdraw.nodes.sampling import SemanticDrawSampler
    with pytest.raises(LoadStopped):
        SemanticDrawSampler.execute(models["sd15"], two_regions_and_background(), {"samples": latent("sd15")}, seed=0,
                                    steps=2, cfg=2.5, sampler_name="euler", scheduler="normal", denoise=1.0,
                                    **vars(RegionalSettings()))
    # 3 regions (background prompt included) x cond/uncond, one 32x32 canvas each: core's own memory formula
    assert load_requests == [models["sd15"].model.memory_required([6, 4, 32, 32])]


def test_stream_loads_the_model_for_its_real_batch(models, load_requests):
    from semanticdraw.nodes.stream import SemanticDrawStreamSampler
    with pytest.raises(LoadStopped):
        SemanticDrawStreamSampler.execute(
            models["sd15"], two_regions_and_background(), {"samples": latent("sd15")}, seed=0, frame_count=2,
            t_index_list="", schedule_length=50, steps=3, scheduler="sgm_uniform", cfg_type="none", cfg=1.0, delta=1.0,
            frame_buffer=2, bootstrap_steps=1, bootstrap_mix_steps=1.0, leak_sensitivity=0.0, mask_type="continuous",
            cover_alpha=0.3, include_warmup=False, max_batch=64)
    # one stream call holds T=3 slots x f=2 frames x p=3 regions = 18 samples
    assert load_requests[0] >= models["sd15"].model.memory_required([18, 4, 32, 32])


def test_low_free_memory_splits_calls_and_keeps_the_result(models, monkeypatch):
    import comfy.model_management
    from semanticdraw.nodes.host.guider import RegionalSettings
    from semanticdraw.nodes.sampling import SemanticDrawSampler
    from tools.inprocess import CallCounter
    model = models["sd15"]

    def sample():
        counter = CallCounter(model.model)
        try:
            out = SemanticDrawSampler.execute(model, two_regions_and_background(), {"samples": latent("sd15")},
                                              seed=3, steps=2, cfg=2.5, sampler_name="euler", scheduler="normal",
                                              denoise=1.0, **vars(RegionalSettings())).result[0]["samples"]
        finally:
            model.model.apply_model = counter._inner
        return out, counter.batches

    whole, batches = sample()
    assert batches == [6, 6]  # one call per step
    one = model.model.memory_required([1, 4, 32, 32]) * 1.5  # room for a call of one sample, not of two
    # low for the call-size decisions; attention's own chunking (which asks with torch_free_too) keeps plenty
    monkeypatch.setattr(comfy.model_management, "get_free_memory",
                        lambda dev=None, torch_free_too=False: (2 ** 40, 2 ** 40) if torch_free_too else one * 1.3)
    split, batches = sample()
    assert batches == [1] * 12
    assert float((split - whole).abs().max()) <= 1e-6 * float(whole.abs().max())  # float32 rounding of other batches
