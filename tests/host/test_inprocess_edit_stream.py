"""SDEdit, regional edit and the stream sampler node, in-process on the tiny SD1.5-shaped model."""
import pytest
import torch

from tools.inprocess import CallCounter, cond, tiny_model
from test_inprocess_nodes import SETTINGS, masks, sample, stack

EDIT = dict(seed=7, steps=3, cfg=1.0, sampler_name="lcm", scheduler="sgm_uniform") | SETTINGS


@pytest.fixture(scope="module")
def source(pack, sd15):
    return sample(pack, sd15, stack(pack), {"samples": torch.zeros(1, 4, 32, 32)})


def sdedit(model, regions, guide, strength, **kw):
    from semanticdraw.nodes.edit import SemanticDrawSDEdit
    args = EDIT | dict(strength=strength, repeats=1) | kw
    return SemanticDrawSDEdit.execute(model, regions, guide, **args).result[0]


def outside(mask, latent_hw=(32, 32)):
    m = torch.nn.functional.interpolate(mask.reshape(1, 1, *mask.shape[-2:]), size=latent_hw, mode="bilinear")
    return (m == 0)[0, 0]


def test_strength_zero_returns_the_input(pack, sd15, source):
    assert torch.equal(sdedit(sd15, stack(pack), source, 0.0)["samples"], source["samples"])


def test_strength_one_without_mask_equals_plain_generation(pack, sd15, source):
    plain = sample(pack, sd15, stack(pack), {"samples": torch.zeros(1, 4, 32, 32)}, seed=7)
    assert torch.equal(sdedit(sd15, stack(pack), source, 1.0)["samples"], plain["samples"])


@pytest.mark.parametrize("repeats", [1, 2])
def test_masked_edit_keeps_the_outside_exactly(pack, sd15, source, repeats):
    mask = torch.zeros(1, 256, 256)
    mask[:, 64:160, 64:192] = 1
    out = sdedit(sd15, stack(pack), source, 0.7, mask=mask, repeats=repeats)["samples"]
    keep = outside(mask)
    assert torch.equal(out[..., keep], source["samples"][..., keep])
    assert (out[..., ~keep] - source["samples"][..., ~keep]).abs().max() > 1e-3


def test_noise_mask_of_the_latent_is_used(pack, sd15, source):
    mask = torch.zeros(1, 256, 256)
    mask[:, :128] = 1
    out = sdedit(sd15, stack(pack), dict(source, noise_mask=mask), 0.5)["samples"]
    keep = outside(mask)
    assert torch.equal(out[..., keep], source["samples"][..., keep])


def test_sdedit_bad_inputs(pack, sd15, source):
    from semanticdraw.nodes.host.errors import NodeInputError
    with pytest.raises(NodeInputError, match="SemanticDraw SDEdit: strength must lie in \\[0, 1\\], got 1.5"):
        sdedit(sd15, stack(pack), source, 1.5)
    with pytest.raises(NodeInputError, match="SemanticDraw SDEdit: mask has a batch of 3 but the latent has 1"):
        sdedit(sd15, stack(pack), source, 0.5, mask=torch.ones(3, 256, 256))
    with pytest.raises(NodeInputError, match="SemanticDraw SDEdit: mask is 512x256 but the latent is 32x32"):
        sdedit(sd15, stack(pack), source, 0.5, mask=torch.ones(1, 256, 512))


def regional_edit(model, source, src, tgt):
    from semanticdraw.nodes.edit import SemanticDrawRegionalEdit
    return SemanticDrawRegionalEdit.execute(model, source, src, tgt, **(EDIT | dict(strength=0.7))).result


def test_regional_edit_without_changes_returns_the_source(pack, sd15, source):
    out, mask, report = regional_edit(sd15, source, stack(pack), stack(pack))
    assert out is source and float(mask.max()) == 0 and "no region changed" in report


def test_regional_edit_changes_only_the_edited_region(pack, sd15, source):
    from semanticdraw.nodes.host.regions import Region
    src = stack(pack)
    changed = Region(cond(99), None, src.regions[1].mask, mask_blur_std=4.0, prompt_strength=0.9, label="new")
    tgt = src.replace(regions=(src.regions[0], changed))
    out, mask, report = regional_edit(sd15, source, src, tgt)
    assert report.startswith("edited region 2")
    keep = outside(mask)
    assert keep.any() and (~keep).any()
    assert torch.equal(out["samples"][..., keep], source["samples"][..., keep])
    assert (out["samples"][..., ~keep] - source["samples"][..., ~keep]).abs().max() > 1e-3
    _, box = masks()
    assert float(mask[0][box > 0].min()) > 0.99  # the edited region's mask is inside the edit area


STREAM = dict(seed=3, t_index_list="0,32", schedule_length=50, steps=4, scheduler="sgm_uniform", cfg_type="self",
              cfg=1.2, delta=1.0, frame_buffer=1, bootstrap_steps=1, bootstrap_mix_steps=1.0, leak_sensitivity=0.0,
              mask_type="continuous", cover_alpha=0.3, include_warmup=False, max_batch=64)


def stream(model, regions, frames, latent=None, **kw):
    from semanticdraw.nodes.stream import SemanticDrawStreamSampler
    latent = torch.zeros(1, 4, 32, 32) if latent is None else latent
    return SemanticDrawStreamSampler.execute(model, regions, {"samples": latent},
                                             frame_count=frames, **(STREAM | kw)).result[0]["samples"]


def moving_stack(pack, frames):
    from semanticdraw.nodes.host.regions import Region, RegionStack
    left, box = masks()
    moving = torch.stack([torch.roll(box, 8 * i, 1) for i in range(frames)])
    return RegionStack(regions=(Region(cond(1), cond(2), moving),
                                Region(cond(3), None, left)))


@pytest.mark.parametrize("cfg_type,per_call", [("self", 4), ("full", 8), ("initialize", 6), ("none", 4)])
def test_stream_node_one_call_per_frame(pack, sd15, cfg_type, per_call):
    counter = CallCounter(sd15.model)
    try:
        frames = stream(sd15, moving_stack(pack, 3), 3, cfg_type=cfg_type)
    finally:
        sd15.model.apply_model = counter._inner
    assert frames.shape == (3, 4, 32, 32) and torch.isfinite(frames).all()
    assert counter.batches == [per_call] * 4  # 3 frames + T-1 warm-up calls, T*p = 2*2 samples each


def test_stream_node_warmup_seed_and_prompt_schedule(pack, sd15):
    regions = moving_stack(pack, 3)
    a = stream(sd15, regions, 3)
    assert torch.equal(a, stream(sd15, regions, 3))
    assert not torch.equal(a, stream(sd15, regions, 3, seed=4))
    warm = stream(sd15, regions, 3, include_warmup=True)
    assert warm.shape[0] == 4 and torch.equal(warm[1:], a)

    class FakeClip:  # encodes any text to a fixed random embedding, as CLIPTextEncode's output format
        def tokenize(self, text):
            return text

        def encode_from_tokens_scheduled(self, text):
            return cond(hash(text) % 1000)
    changed = stream(sd15, regions, 3, prompt_schedule="2@1: a different prompt", clip=FakeClip())
    # the change at frame 1 is applied from call 1 on: frame 0 sees it at its last T-1 steps, later frames fully
    assert not torch.equal(changed[0], a[0]) and not torch.equal(changed[-1], a[-1])


def test_stream_node_gives_an_empty_latent_the_models_channels(pack):
    """An EmptyLatentImage (4 channels) into an SD3-shaped model (16): the stream takes the model's channels, as
    core's samplers do (`comfy.sample.fix_empty_latent_channels`), and the frames equal those of a 16-channel empty
    latent (before: a shape error from inside the model)."""
    from semanticdraw.nodes.host.regions import Region, RegionStack
    left, box = masks()
    regions = RegionStack(regions=(Region(cond(1, "sd3"), None, box), Region(cond(3, "sd3"), None, left)))
    model, frames = tiny_model("sd3"), []
    for channels in (4, 16):
        frames.append(stream(model, regions, 2, latent=torch.zeros(1, channels, 32, 32)))
    assert frames[0].shape == (2, 16, 32, 32) and torch.isfinite(frames[0]).all()
    assert torch.equal(frames[0], frames[1])


@pytest.mark.parametrize("kw,needle", [
    (dict(frame_count=5), "regions[0].mask: has a batch of 3 masks but frame_count is 5"),
    (dict(t_index_list="0,12,8"), "t_index_list: indices must be strictly increasing"),
    (dict(t_index_list="0,12,80"), "t_index_list: indices must lie in [0, 49]"),
    (dict(max_batch=3), "exceeds the limit of 3"),
    (dict(prompt_schedule="9@1: x"), "prompt_schedule: line 1: region 9 does not exist"),
])
def test_stream_node_bad_input(pack, sd15, kw, needle):
    from semanticdraw.nodes.host.errors import NodeInputError
    frames = kw.pop("frame_count", 3)
    with pytest.raises(NodeInputError) as e:
        stream(sd15, moving_stack(pack, 3), frames, **kw)
    assert "SemanticDraw Stream Sampler" in str(e.value) and needle in str(e.value)


def test_masked_edit_ssim_on_decoded_images(pack):
    """SSIM-i between source and masked-edit result, decoded by the tiny checkpoint's VAE, over unmasked pixels."""
    import comfy.sd
    from semanticdraw.nodes.host.guider import RegionalSettings
    from semanticdraw.nodes.edit import sdedit as run_sdedit
    from tools import tiny_models
    from tools.metrics import masked_mean, ssim_map
    model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(str(tiny_models.checkpoint("sd15")), output_vae=True,
                                                                output_clip=True)
    regions = stack(pack)
    source = sample(pack, model, regions, {"samples": torch.zeros(1, 4, 32, 32)})
    mask = torch.zeros(1, 256, 256)
    mask[:, 80:176, 80:176] = 1
    out = run_sdedit(model, regions, source, 3, 3, 0.8, 1.0, "lcm", "sgm_uniform", RegionalSettings(), "test",
                     mask=mask)
    with torch.no_grad():
        src_img, out_img = vae.decode(source["samples"]), vae.decode(out["samples"])
    assert float((src_img - out_img).abs().max()) > 0  # the masked area changed
    assert masked_mean(ssim_map(src_img, out_img)[0], (mask[0] == 0).float()) >= 0.95


class TextClip:
    """Encodes any text to a fixed random embedding, in CLIPTextEncode's output format; records the texts."""

    def __init__(self):
        self.texts = []

    def tokenize(self, text):
        return text

    def encode_from_tokens_scheduled(self, text):
        self.texts.append(text)
        return cond(1000 + sum(map(ord, text)) % 1000)


def test_stream_node_honours_the_background_image(pack):
    """Scene rules (engine/scene.py) in the stream: uncovered pixels follow the VAE-encoded background image."""
    import comfy.sd
    from semanticdraw.nodes.host.regions import Region, RegionStack
    from tools import tiny_models
    model, _, vae, _ = comfy.sd.load_checkpoint_guess_config(str(tiny_models.checkpoint("sd15")), output_vae=True,
                                                             output_clip=False)
    left, _ = masks()
    image = torch.rand(1, 256, 256, 3, generator=torch.Generator().manual_seed(5))
    region = Region(cond(1), None, left, mask_blur_std=0.0)
    with_image = RegionStack(regions=(region,), background_image=image, vae=vae)
    frames = stream(model, with_image, 2)
    encoded = vae.encode(image)
    error = (frames[..., 17:] - encoded.expand_as(frames)[..., 17:]).abs().max()  # right half: no region
    assert error <= 1e-5
    assert not torch.allclose(frames[..., :15], encoded.expand_as(frames)[..., :15], atol=1e-2)
    plain = stream(model, RegionStack(regions=(region,), vae=vae), 2)
    assert (plain[..., 17:] - frames[..., 17:]).abs().max() > 20 * error  # without it: white (the tiny VAE maps
    # every image to nearby latents, so the margin is relative)


def test_prompt_strength_blends_toward_the_default_target_encoded_by_the_stack_clip(pack, sd15):
    """Section 3 without a background prompt: `lerp(c_white, c_i, l)` and `lerp(u_empty, u_i, l)`, the targets
    encoded by the Region Stack's clip; equal to giving the blended conditionings by hand with strength 1."""
    from semanticdraw.nodes.host.regions import Region, RegionStack
    left, box = masks()
    clip = TextClip()
    blended = RegionStack(regions=(Region(cond(1), cond(2), left), Region(cond(3), cond(4), box, prompt_strength=0.3)),
                          clip=clip)
    out = sample(pack, sd15, blended, {"samples": torch.zeros(1, 4, 32, 32)}, cfg=2.0)["samples"]
    assert "simple white background image" in clip.texts and "" in clip.texts
    target, target_neg = TextClip().encode_from_tokens_scheduled("simple white background image"), \
        TextClip().encode_from_tokens_scheduled("")
    pos = [[target[0][0] + 0.3 * (cond(3)[0][0] - target[0][0]), {}]]
    neg = [[target_neg[0][0] + 0.3 * (cond(4)[0][0] - target_neg[0][0]), {}]]
    by_hand = RegionStack(regions=(Region(cond(1), cond(2), left), Region(pos, neg, box)))
    ref = sample(pack, sd15, by_hand, {"samples": torch.zeros(1, 4, 32, 32)}, cfg=2.0)["samples"]
    assert torch.allclose(out, ref, atol=1e-5)
    weak = RegionStack(regions=(Region(cond(1), cond(2), left), Region(cond(3), cond(4), box)))
    unblended = sample(pack, sd15, weak, {"samples": torch.zeros(1, 4, 32, 32)}, cfg=2.0)["samples"]
    assert (unblended - out).abs().max() > 1e-3


def test_prompt_strength_without_any_target_is_refused(pack, sd15):
    from semanticdraw.nodes.host.errors import NodeInputError
    no_target = stack(pack, background=False)  # regions from conditioning, prompt_strength 0.9, no clip
    with pytest.raises(NodeInputError, match=r"SemanticDraw Sampler: regions\[1\].prompt_strength: 0.9 blends"):
        sample(pack, sd15, no_target, {"samples": torch.zeros(1, 4, 32, 32)})
    with pytest.raises(NodeInputError, match=r"SemanticDraw Stream Sampler: regions\[1\].prompt_strength: 0.9"):
        stream(sd15, no_target, 2)
