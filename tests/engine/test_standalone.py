"""The standalone adapter on tiny random diffusers models: equal to diffusers' own sampling, one UNet call per step."""
import json

import numpy as np
import pytest
import torch

diffusers = pytest.importorskip("diffusers", reason="diffusers not installed: standalone adapter tests skipped")

from engine import SemanticDrawInputError  # noqa: E402
from engine.standalone import UNetDenoiser, generate, generate_image, scheduler_sigmas  # noqa: E402
from tools.tiny_models import diffusers_ddim, diffusers_unet  # noqa: E402


@pytest.fixture(scope="module")
def unet():
    return diffusers_unet()


def sd_pipeline(unet, scheduler, **parts):
    parts = {"vae": None, "text_encoder": None, "tokenizer": None, **parts}
    return diffusers.StableDiffusionPipeline(unet=unet, scheduler=scheduler, safety_checker=None,
                                             feature_extractor=None, requires_safety_checker=False, **parts)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_one_full_region_equals_diffusers_ddim_with_cfg(unet, prediction_type):
    sched = diffusers.DDIMScheduler.from_config(diffusers_ddim().config, prediction_type=prediction_type)
    g = torch.Generator().manual_seed(0)
    pos, neg = torch.randn(1, 77, 32, generator=g), torch.randn(1, 77, 32, generator=g)
    latents = torch.randn(1, 4, 16, 16, generator=g)
    ref = sd_pipeline(unet, sched)(prompt_embeds=pos, negative_prompt_embeds=neg, latents=latents.clone(), height=128,
                                   width=128, num_inference_steps=5, guidance_scale=7.5, output_type="latent").images
    ours = generate(unet, scheduler_sigmas(sched, 5), sched.alphas_cumprod, [pos], [torch.ones(128, 128)],
                    negative=[neg],
                    height=128, width=128, guidance=7.5, sampler="euler", prediction_type=prediction_type,
                    bootstrap_steps=0, tile=0, latents=latents)
    assert (ours - ref).abs().max() < 1e-4 * ref.abs().max()


def test_regions_and_tiles_take_one_unet_call_per_step(unet, monkeypatch):
    sched = diffusers.LCMScheduler.from_config(diffusers_ddim().config)
    sigmas = scheduler_sigmas(sched, 4)
    assert sigmas[-1] == 0 and torch.all(sigmas[:-1] > sigmas[1:])
    batches = []
    monkeypatch.setattr(UNetDenoiser, "__call__", lambda self, x, *a, _f=UNetDenoiser.__call__:
                        batches.append(x.shape[0]) or _f(self, x, *a))
    masks = [torch.zeros(128, 384) for _ in range(3)]
    for i, m in enumerate(masks):
        m[:, i * 128:(i + 1) * 128] = 1
    g = torch.Generator().manual_seed(1)
    prompts = [torch.randn(1, 77, 32, generator=g) for _ in range(3)]
    out = generate(unet, sigmas, sched.alphas_cumprod, prompts, masks, negative=[torch.zeros(1, 77, 32)],
                   height=128, width=384, guidance=2.0, tile=16, generator=g)
    assert out.shape == (1, 4, 16, 48) and torch.isfinite(out).all()
    assert len(batches) == 4  # one denoiser (= one UNet) call per step: all regions of all windows
    assert max(batches) <= 3 * len(range(0, 48 - 16, 8)) + 3
    g = torch.Generator().manual_seed(1)
    prompts = [torch.randn(1, 77, 32, generator=g) for _ in range(3)]
    split = generate(unet, sigmas, sched.alphas_cumprod, prompts, masks, negative=[torch.zeros(1, 77, 32)],
                     height=128, width=384, guidance=2.0, tile=16, generator=g, max_batch=5)
    assert (split - out).abs().max() < 1e-5 * out.abs().max()  # float noise only: memory-bounded calls, same result


def test_bad_input_names_the_input(unet):
    sched = diffusers_ddim()
    with pytest.raises(SemanticDrawInputError, match="positive"):
        generate(unet, scheduler_sigmas(sched, 2), sched.alphas_cumprod, [torch.zeros(1, 77, 32)],
                 [torch.ones(64, 64), torch.ones(64, 64)], height=64, width=64)
    with pytest.raises(SemanticDrawInputError, match=r"masks\[0\].mask.*empty"):
        generate(unet, scheduler_sigmas(sched, 2), sched.alphas_cumprod, [torch.zeros(1, 77, 32)],
                 [torch.zeros(64, 64)],
                 height=64, width=64)


def tiny_tokenizer(tmp_path):
    """A CLIP tokenizer over single characters (no download): enough to encode test prompts."""
    from transformers import CLIPTokenizer
    chars = "abcdefghijklmnopqrstuvwxyz"
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, **{c: 2 + i for i, c in enumerate(chars)},
             **{c + "</w>": 28 + i for i, c in enumerate(chars)}}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"), pad_token="<|endoftext|>",
                         model_max_length=77)


def test_generate_image_with_a_stable_diffusion_pipeline(unet, tmp_path):
    from transformers import CLIPTextConfig, CLIPTextModel
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(CLIPTextConfig(vocab_size=64, hidden_size=32, intermediate_size=37,
                                                num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77,
                                                bos_token_id=0, eos_token_id=1, pad_token_id=1)).eval()
    vae = diffusers.AutoencoderKL(block_out_channels=(8, 8, 8, 8), down_block_types=("DownEncoderBlock2D",) * 4,
                                  up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, norm_num_groups=8).eval()
    pipe = sd_pipeline(unet, diffusers.LCMScheduler.from_config(diffusers_ddim().config), vae=vae,
                       text_encoder=text_encoder, tokenizer=tiny_tokenizer(tmp_path))
    left, right = torch.zeros(128, 128), torch.zeros(128, 128)
    left[:, :64], right[:, 64:] = 1, 1
    kw = dict(background_prompt="a table", steps=3, height=128, width=128, seed=3, tile=0)
    image = generate_image(pipe, ["a red apple", "a blue vase"], [left, right], **kw)
    assert image.size == (128, 128)
    again = generate_image(pipe, ["a red apple", "a blue vase"], [left, right], **kw)
    assert np.array_equal(np.asarray(image), np.asarray(again))  # seeded
    other = generate_image(pipe, ["a green pear", "a blue vase"], [left, right], **kw)
    assert not np.array_equal(np.asarray(image), np.asarray(other))


class EmbedsSpy(torch.nn.Module):
    """A UNet stand-in that records the text embeddings of each call (eps prediction 0)."""

    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(1))
        self.seen = []

    @property
    def dtype(self):
        return torch.float32

    def forward(self, x, t, encoder_hidden_states):
        self.seen.append(encoder_hidden_states)
        return type("Out", (), {"sample": torch.zeros_like(x)})()


@pytest.mark.parametrize("background", [False, True])
def test_prompt_strength_lerps_positives_and_negatives_toward_the_scene_target(background):
    """Section 3: `lerp(c_bg, c_i, l)` and `lerp(u_bg, u_i, l)`; without a background prompt the target is
    the encoded 'simple white background image' and the empty prompt."""
    sched = diffusers_ddim()
    g = torch.Generator().manual_seed(3)
    texts = {t: torch.randn(1, 77, 32, generator=g) for t in ("simple white background image", "", "bg", "bgneg")}
    pos, neg = torch.randn(1, 77, 32, generator=g), torch.randn(1, 77, 32, generator=g)
    spy = EmbedsSpy()
    kw = dict(background=texts["bg"], background_negative=texts["bgneg"]) if background else {}
    generate(spy, scheduler_sigmas(sched, 2), sched.alphas_cumprod, [pos], [torch.ones(64, 64)], negative=[neg],
             height=64, width=64, guidance=2.0, prompt_strengths=[0.3], encode=texts.__getitem__, bootstrap_steps=0,
             tile=0, **kw)
    target, target_neg = (texts["bg"], texts["bgneg"]) if background else (texts["simple white background image"],
                                                                           texts[""])
    cond, uncond = spy.seen[0].chunk(2)
    assert torch.allclose(cond, target + 0.3 * (pos - target), atol=1e-6)
    assert torch.allclose(uncond, target_neg + 0.3 * (neg - target_neg), atol=1e-6)


def test_prompt_strength_without_any_target_is_refused(unet):
    sched = diffusers_ddim()
    with pytest.raises(SemanticDrawInputError, match=r"prompt_strengths\[0\].prompt_strength: 0.5 blends"):
        generate(unet, scheduler_sigmas(sched, 2), sched.alphas_cumprod, [torch.zeros(1, 77, 32)], [torch.ones(64, 64)],
                 height=64, width=64, prompt_strengths=[0.5])
