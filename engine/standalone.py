"""SemanticDraw outside ComfyUI, on a diffusers Stable Diffusion UNet (SD1.x / SD2.x).

The adapter is duck-typed (torch only, no diffusers import): `unet(x, t, encoder_hidden_states=...)`
returning `.sample`, and a scheduler's `alphas_cumprod` / `timesteps`. Sampling runs in k-diffusion
form (`x = x0 + sigma * noise`), as ComfyUI does, so the same engine code serves both hosts.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch

from . import scene
from .errors import SemanticDrawInputError
from .masks import process_masks
from .prompts import lerp_prompt
from .regional import eps_space, make_plan, noise_levels, regional_x0
from .sampling import STEPS, sample


def scheduler_sigmas(scheduler, steps: int) -> torch.Tensor:
    """k-diffusion sigmas `[steps + 1]` (last 0) at the timesteps a diffusers scheduler picks for `steps`."""
    scheduler.set_timesteps(steps)
    alphas = scheduler.alphas_cumprod.float()[scheduler.timesteps.long().cpu()]
    return torch.cat([((1 - alphas) / alphas).sqrt(), torch.zeros(1)])


class UNetDenoiser:
    """The engine's denoiser protocol over a diffusers UNet: one batched UNet call per step, with CFG.

    `positive` / `negative`: `[R, L, D]` prompt embeddings, one per conditioning index.
    `prediction_type`: `epsilon` or `v_prediction`. `max_batch` > 0 splits a larger batch into calls of at
    most that many samples (for canvases whose batch does not fit in memory). Counts UNet calls in `calls`.
    """

    def __init__(self, unet, alphas_cumprod: torch.Tensor, positive: torch.Tensor,
                 negative: Optional[torch.Tensor] = None, guidance: float = 1.0, prediction_type: str = "epsilon",
                 max_batch: int = 0):
        if prediction_type not in ("epsilon", "v_prediction"):
            raise SemanticDrawInputError("prediction_type", f"'{prediction_type}' is not epsilon or v_prediction")
        if guidance != 1.0 and negative is None:
            raise SemanticDrawInputError("negative", "guidance != 1 needs negative prompt embeddings")
        self.unet, self.guidance, self.prediction_type = unet, guidance, prediction_type
        self.positive, self.negative, self.max_batch = positive, negative, max_batch
        self.log_sigmas = (((1 - alphas_cumprod) / alphas_cumprod).sqrt()).log().float()
        self.calls = 0

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        """Fractional UNet timestep of each sigma, interpolating log-sigma (as k-diffusion does)."""
        log_sigmas = self.log_sigmas.to(sigma.device)
        ls = sigma.float().log()
        low = (ls[:, None] >= log_sigmas[None]).sum(1).sub(1).clamp(0, len(log_sigmas) - 2)
        w = ((ls - log_sigmas[low]) / (log_sigmas[low + 1] - log_sigmas[low])).clamp(0, 1)
        return low + w

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, cond_index: torch.Tensor, *unused) -> torch.Tensor:
        dtype = self.unet.dtype
        embeds = self.positive[cond_index]
        if self.guidance != 1.0:
            embeds = torch.cat([embeds, self.negative[cond_index]])
            x, sigma = torch.cat([x, x]), torch.cat([sigma, sigma])
        s = sigma.float().view(-1, 1, 1, 1)
        scale = 1 / (s * s + 1).sqrt()
        xin, t, embeds = (x * scale).to(dtype), self.timestep(sigma.float()), embeds.to(dtype)
        n = self.max_batch if self.max_batch > 0 else x.shape[0]
        out = torch.cat([self.unet(xin[i:i + n], t[i:i + n], encoder_hidden_states=embeds[i:i + n]).sample.float()
                         for i in range(0, x.shape[0], n)])
        self.calls += -(-x.shape[0] // n)
        x0 = x - s * out if self.prediction_type == "epsilon" else x * scale * scale - out * s * scale
        if self.guidance != 1.0:
            cond, uncond = x0.chunk(2)
            x0 = uncond + self.guidance * (cond - uncond)
        return x0


def generate(unet, sigmas: torch.Tensor, alphas_cumprod: torch.Tensor, positive: Sequence[torch.Tensor],
             masks: Sequence[torch.Tensor], *, negative: Optional[Sequence[torch.Tensor]] = None,
             background: Optional[torch.Tensor] = None, background_negative: Optional[torch.Tensor] = None,
             background_latent: Optional[torch.Tensor] = None, encode: Optional[Callable[[str], torch.Tensor]] = None,
             height: int = 512, width: int = 512, guidance: float = 1.0, sampler: str = "lcm",
             prediction_type: str = "epsilon", white: Optional[torch.Tensor] = None, tile: int = 96,
             mask_blur_stds: Optional[Sequence[float]] = None, mask_strengths: Optional[Sequence[float]] = None,
             prompt_strengths: Optional[Sequence[float]] = None, cover_alpha: float = 0.3,
             mask_type: str = "discrete", bootstrap_steps: int = 1, bootstrap_mix_steps: float = 1.0,
             leak: float = 0.2, max_batch: int = 0, latents: Optional[torch.Tensor] = None,
             generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Regional generation of one canvas; returns the clean latent `[1, 4, height/8, width/8]` (model space).

    positive / negative: per-region `[1, L, D]` embeddings (one shared negative may be given). The scene
    (`engine.scene`): `background_latent` (`[1, 4, h, w]`, model space) fills what the masks leave
    uncovered; else `background` (`[1, L, D]`) is a region there; else `white` (zeros if None) fills it.
    `prompt_strengths` < 1 blend toward `background`, or the default target that `encode(text)` encodes.
    sigmas: the schedule (`scheduler_sigmas`); sampler `lcm` (few-step models) or `euler` (= DDIM).
    latents: starting noise `[1, 4, h, w]` as diffusers takes it (unit variance); else drawn from `generator`.
    tile: window size in latent pixels for large canvases (0 = never tile); max_batch: see `UNetDenoiser`.
    Sections 2-6 of ALGORITHM.md.
    """
    p = len(masks)
    if len(positive) != p:
        raise SemanticDrawInputError("positive", f"{len(positive)} prompts for {p} masks; give one prompt per mask")
    if sampler not in STEPS:
        raise SemanticDrawInputError("sampler", f"'{sampler}' is not one of {', '.join(STEPS)}")
    strengths = list(prompt_strengths or [1.0] * p)
    scene.check_strengths(strengths, background is not None or encode is not None, "prompt_strengths")
    device = next(unet.parameters()).device
    h, w = height // 8, width // 8
    space = eps_space()
    sigmas = sigmas.float()
    processed = process_masks(masks, (height, width), (h, w), noise_levels(sigmas, space),
                              blur_stds=mask_blur_stds or [0.0] * p, strengths=mask_strengths or [1.0] * p,
                              cover_alpha=cover_alpha, mask_type=mask_type, name="masks")
    neg = None if negative is None else (list(negative) if len(negative) == p else [negative[0]] * p)
    if background is not None and background_negative is None and neg is not None:
        background_negative = neg[0]  # the background region's missing negative: the shared one
    resolve = lambda t: encode(t.text) if isinstance(t, scene.Text) else t  # noqa: E731
    target = tuple(resolve(t) if scene.needs_target(strengths) and t is not None else t
                   for t in scene.strength_target(background, background_negative, background_latent is not None))
    kind = scene.background_kind(background is not None, background_latent is not None)
    pos, neg = scene.region_prompts([(c, None if neg is None else neg[i], s) for i, (c, s) in
                                     enumerate(zip(positive, strengths))], kind, background, background_negative,
                                    target, lambda t, c, s: None if c is None else lerp_prompt(t, c, s))
    white = (torch.zeros(1, 4, h, w) if white is None else white).to(device)
    latent = None if background_latent is None else background_latent.to(device).float()
    chosen = scene.scene_masks(processed, kind, latent, white)
    plan = make_plan(chosen.masks, tile=tile, background=chosen.background, white=white,
                     bootstrap_steps=bootstrap_steps, bootstrap_mix_steps=bootstrap_mix_steps, leak=leak)
    denoise = UNetDenoiser(unet, alphas_cumprod, torch.cat(pos).to(device),
                           None if negative is None else torch.cat(neg).to(device), guidance, prediction_type,
                           max_batch)
    draw = lambda: torch.randn(1, 4, h, w, generator=generator).to(device)  # noqa: E731
    noise = draw() if latents is None else latents.to(device).float()
    boot_noise = draw()
    fresh = [draw() for _ in range(len(sigmas) - 1)] if sampler == "lcm" else None
    with torch.no_grad():
        return sample(lambda x, s, k: regional_x0(x, s, k, plan, denoise, space, bootstrap_noise=boot_noise), noise,
                      sigmas, space, step=sampler, step_noises=fresh,
                      start=noise * (1 + sigmas[0] ** 2).sqrt())  # pure noise at sigmas[0], ComfyUI's max-denoise start


def generate_image(pipe, prompts: Sequence[str], masks: Sequence[torch.Tensor], *, negative_prompt: str = "",
                   background_prompt: Optional[str] = None, steps: int = 4, height: int = 512, width: int = 512,
                   guidance: float = 1.0, sampler: str = "lcm", seed: int = 0, **settings):
    """Regional generation with a diffusers `StableDiffusionPipeline` (text encoder, scheduler, VAE); PIL image.

    `settings` are `generate`'s keywords (tile, bootstrap_steps, mask_blur_stds, ...).
    """
    device = pipe.unet.device

    def encode(text: str) -> torch.Tensor:
        return pipe.encode_prompt(text, device, 1, False)[0]
    vae = pipe.vae
    with torch.no_grad():
        white = vae.encode(torch.ones(1, 3, height, width, device=device, dtype=vae.dtype)).latent_dist.mean
    latent = generate(pipe.unet, scheduler_sigmas(pipe.scheduler, steps), pipe.scheduler.alphas_cumprod,
                      [encode(t) for t in prompts], masks, negative=[encode(negative_prompt)],
                      background=None if background_prompt is None else encode(background_prompt), encode=encode,
                      height=height, width=width, guidance=guidance, sampler=sampler,
                      prediction_type=pipe.scheduler.config.prediction_type,
                      white=white.float() * vae.config.scaling_factor,
                      generator=torch.Generator().manual_seed(seed), **settings)
    with torch.no_grad():
        image = vae.decode((latent / vae.config.scaling_factor).to(vae.dtype)).sample
    return pipe.image_processor.postprocess(image, output_type="pil")[0]
