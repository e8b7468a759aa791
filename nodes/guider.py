"""`SemanticDrawGuider`: a CFGGuider whose prediction is the regional pre-averaged x0.

ComfyUI's samplers (lcm, euler, dpmpp, ...) ask the guider for the denoised latent at each
sigma and take their own step with one shared noise, which is exactly latent pre-averaging
(ALGORITHM.md section 4). The guider plugs into KSampler-style nodes and SamplerCustomAdvanced.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

import comfy.latent_formats
import comfy.samplers
import comfy.utils

from ..engine import make_plan, noise_levels, process_masks, regional_x0
from ..engine.prompts import lerp_prompt
from .host import REGION_KEY, HostDenoiser, group_by_region, noise_space, step_index
from .regions import NodeInputError, RegionStack, node_errors, single_mask


@dataclass(frozen=True)
class RegionalSettings:
    """Sampler settings of sections 2, 5 and 6 (defaults of section 9)."""

    bootstrap_steps: int = 1
    bootstrap_mix_steps: float = 1.0
    leak_sensitivity: float = 0.2
    mask_type: str = "discrete"
    cover_alpha: float = 0.3
    tile_size: int = 0  # image pixels; 0 = 768 for SD1.x/2.x latents, 1024 otherwise


def zero_conditioning(cond: list) -> list:
    return [[torch.zeros_like(t), {k: torch.zeros_like(v) if k == "pooled_output" and v is not None else v
                                   for k, v in d.items()}] for t, d in cond]


def blend_conditioning(cond: list, target: list | None, strength: float, region: int) -> list:
    """Copy of `cond` tagged with its region; embeddings lerped towards `target` (section 3)."""
    out = []
    for t, d in cond:
        d = {**d, REGION_KEY: region}
        if target is not None and strength != 1.0:
            t0, d0 = target[0]
            t = lerp_prompt(t0, t, strength)
            if d.get("pooled_output") is not None and d0.get("pooled_output") is not None:
                d["pooled_output"] = torch.lerp(d0["pooled_output"].to(d["pooled_output"]), d["pooled_output"], strength)
        out.append([t, d])
    return out


def region_conditionings(stack: RegionStack) -> tuple[list[list], list[list], bool]:
    """Per-region positive/negative CONDITIONING (background region first when it is one).

    The background prompt becomes a region only when there is no background image or latent;
    it is always the prompt-strength target. Without it, a region's own negative is the target.
    A missing negative is the zeroed positive (as ConditioningZeroOut does).
    """
    bg_pos, bg_neg = stack.background_positive, stack.background_negative
    bg_region = bg_pos is not None and stack.background_image is None and stack.background_latent is None
    positives, negatives = [], []
    if bg_region:
        positives.append(blend_conditioning(bg_pos, None, 1.0, 0))
        negatives.append(blend_conditioning(bg_neg if bg_neg is not None else zero_conditioning(bg_pos), None, 1.0, 0))
    for region in stack.regions:
        i = len(positives)
        neg = region.negative if region.negative is not None else zero_conditioning(region.positive)
        positives.append(blend_conditioning(region.positive, bg_pos if bg_pos is not None else neg, region.prompt_strength, i))
        negatives.append(blend_conditioning(neg, bg_neg, region.prompt_strength, i))
    return positives, negatives, bg_region


def approximate_white(latent_format, channels: int) -> torch.Tensor:
    """Model-space latent whose preview colour is white: least squares through the preview factors."""
    factors = getattr(latent_format, "latent_rgb_factors", None)
    if factors is None or len(factors) != channels:
        return torch.zeros(1, channels, 1, 1)
    f = torch.tensor(factors, dtype=torch.float32)  # [C, 3]
    bias = torch.tensor(getattr(latent_format, "latent_rgb_factors_bias", None) or [0.0, 0.0, 0.0])
    return (torch.linalg.pinv(f.T) @ (1 - bias)).view(1, channels, 1, 1)


def white_latent(vae, latent_format, channels: int, size: tuple[int, int], latent_size: tuple[int, int]) -> torch.Tensor:
    """Model-space latent of an all-white image: VAE-encoded when a VAE is given, else estimated."""
    if vae is not None:
        return latent_format.process_in(vae.encode(torch.ones(1, *size, 3)))
    return approximate_white(latent_format, channels).expand(1, -1, *latent_size)


def encode_pixels(vae, image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """VAE-encode an IMAGE resized (centre crop) to `size`; returns raw latents."""
    if tuple(image.shape[1:3]) != tuple(size):
        image = comfy.utils.common_upscale(image.movedim(-1, 1), size[1], size[0], "bilinear", "center").movedim(1, -1)
    return vae.encode(image[..., :3])


class SemanticDrawGuider(comfy.samplers.CFGGuider):
    """CFGGuider over a region stack; every region of every tile goes through one model call per step."""

    def __init__(self, model_patcher, stack: RegionStack, cfg: float, settings: RegionalSettings,
                 node: str = "SemanticDraw Guider"):
        super().__init__(model_patcher)
        self.stack, self.settings, self.node = stack, settings, node
        self.set_cfg(cfg)
        if not stack.regions:
            raise NodeInputError(f"{node}: regions: the stack has no regions; add at least one region")
        positives, negatives, self.background_region = region_conditionings(stack)
        self.num_regions = len(positives)
        self.inner_set_conds({"positive": [e for c in positives for e in c],
                              "negative": [e for c in negatives for e in c]})

    def inner_sample(self, noise, latent_image, device, sampler, sigmas, denoise_mask, callback, disable_pbar, seed):
        with node_errors(self.node):
            self.plan = self._plan(noise, sigmas, device)
        self.space = noise_space(self.inner_model.model_sampling)
        self.sigmas = sigmas
        generator = torch.Generator().manual_seed((seed or 0) + 1)
        self.bootstrap_noise = torch.randn(noise.shape, generator=generator).to(noise)
        try:
            return super().inner_sample(noise, latent_image, device, sampler, sigmas, denoise_mask, callback,
                                        disable_pbar, seed)
        finally:
            del self.plan, self.bootstrap_noise

    def predict_noise(self, x, timestep, model_options={}, seed=None):
        denoiser = HostDenoiser(self.inner_model, group_by_region(self.conds.get("positive"), self.num_regions),
                                group_by_region(self.conds.get("negative"), self.num_regions), self.cfg, model_options)
        step = step_index(self.sigmas, timestep)
        return regional_x0(x, timestep, step, self.plan, denoiser, self.space, self.bootstrap_noise)

    def _plan(self, noise: torch.Tensor, sigmas: torch.Tensor, device):
        """Masks, background and white latents for this canvas and schedule (sections 2, 4-6)."""
        model, stack, s = self.inner_model, self.stack, self.settings
        vae = stack.vae
        ratio = vae.spacial_compression_encode() if vae is not None else 8
        h, w = noise.shape[-2:]
        size = (h * ratio, w * ratio)
        masks = [single_mask(r.mask, self.node, f"regions[{i}].mask") for i, r in enumerate(stack.regions)]
        blurs = [r.mask_blur_std for r in stack.regions]
        processed = process_masks(masks, size, (h, w), noise_levels(sigmas, noise_space(model.model_sampling)),
                                  blur_stds=blurs, strengths=[r.mask_strength for r in stack.regions],
                                  cover_alpha=s.cover_alpha, mask_type=s.mask_type,
                                  background_region=self.background_region, background_blur_std=max(blurs))
        fmt = model.latent_format
        white = white_latent(vae, fmt, noise.shape[1], size, (h, w))
        background = None
        if stack.background_latent is not None:
            raw = stack.background_latent
            if tuple(raw.shape[-2:]) != (h, w):
                raise NodeInputError(f"{self.node}: background_latent is {raw.shape[-1]}x{raw.shape[-2]} but the "
                                     f"canvas latent is {w}x{h}; use a latent of the canvas size")
            background = fmt.process_in(raw[:1].to(device))
        elif stack.background_image is not None:
            if vae is None:
                raise NodeInputError(f"{self.node}: background_image needs a vae input on SemanticDraw Region Stack")
            background = fmt.process_in(encode_pixels(vae, stack.background_image[:1], size))
        elif not self.background_region:
            background = white  # the reference's default: a white background
        tile = s.tile_size or (768 if isinstance(fmt, comfy.latent_formats.SD15) else 1024)
        return make_plan(processed, tile=tile // ratio, background=None if background is None else background.to(device),
                         white=white.to(device), bootstrap_steps=s.bootstrap_steps,
                         bootstrap_mix_steps=s.bootstrap_mix_steps, leak=s.leak_sensitivity)
