"""`SemanticDrawGuider`: a CFGGuider whose prediction is the regional pre-averaged x0, and `run_regional`, a
ComfyUI sampler run through it as KSampler runs one (the Sampler, SDEdit and Regional Edit nodes).

ComfyUI's samplers (lcm, euler, dpmpp, ...) ask the guider for the denoised latent at each
sigma and take their own step with one shared noise, which is exactly latent pre-averaging
(ALGORITHM.md section 4). The guider plugs into KSampler-style nodes and SamplerCustomAdvanced.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

import comfy.latent_formats
import comfy.model_management
import comfy.model_patcher
import comfy.patcher_extension
import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview

from ...engine import get_views, make_plan, noise_levels, process_masks, regional_x0
from ...engine.checks import require_tile_size
from ...engine.scene import PROMPT, is_empty_latent, scene_masks
from .checks import check_canvas_memory, interruptible
from .conditioning import background_latent, check_stack, region_conditionings, white_latent
from .denoiser import (HostDenoiser, group_by_region, noise_space, positional_keys, process_region_conds, step_index,
                       unsupported_model_options)
from .errors import NodeInputError, check_latent, node_errors, single_mask
from .regions import RegionStack


@dataclass(frozen=True)
class RegionalSettings:
    """Sampler settings of sections 2, 5 and 6 (defaults of section 9)."""

    bootstrap_steps: int = 1
    bootstrap_mix_steps: float = 1.0
    leak_sensitivity: float = 0.2
    mask_type: str = "discrete"
    cover_alpha: float = 0.3
    tile_size: int = 0  # image pixels; 0 = 768 for SD1.x/2.x latents, 1024 otherwise


class SemanticDrawGuider(comfy.samplers.CFGGuider):
    """CFGGuider over a region stack; every region of every tile goes through one model call per step."""

    def __init__(self, model_patcher, stack: RegionStack, cfg: float, settings: RegionalSettings,
                 node: str = "SemanticDraw Guider", name: str = "regions"):
        super().__init__(model_patcher)
        self.stack, self.settings, self.node, self.name = stack, settings, node, name
        self.set_cfg(cfg)
        check_stack(node, stack, model_patcher, name)
        with node_errors(node):
            require_tile_size("tile_size", settings.tile_size)
            positives, negatives, self.background_kind = region_conditionings(stack)
        self.background_region = self.background_kind == PROMPT
        self.num_regions = len(positives)
        self.inner_set_conds({"positive": [e for c in positives for e in c],
                              "negative": [e for c in negatives for e in c]})

    def inner_sample(self, noise, latent_image, device, sampler, sigmas, denoise_mask, callback, disable_pbar, seed):
        """`CFGGuider.inner_sample`, except that each region's conds are processed on their own, as core processes
        one prompt pair, and checked against what the regional model call honours before the first step."""
        if latent_image is not None:
            check_latent(self.node, "latent_image", {"samples": latent_image}, self.model_patcher)
        with node_errors(self.node):
            self.plan = self._plan(noise, sigmas, device)
        if latent_image is not None and not is_empty_latent(latent_image):
            latent_image = self.inner_model.process_latent_in(latent_image)
        self.conds = process_region_conds(self.inner_model, self.conds, self.num_regions, noise, device, latent_image,
                                          denoise_mask, seed)
        self._check_support()
        self.space = noise_space(self.inner_model.model_sampling)
        self.sigmas = sigmas
        generator = torch.Generator().manual_seed((seed or 0) + 1)
        self.bootstrap_noise = torch.randn(noise.shape, generator=generator).to(noise)
        options = comfy.model_patcher.create_model_options_clone(self.model_options)
        options.setdefault("transformer_options", {})["sample_sigmas"] = sigmas
        executor = comfy.patcher_extension.WrapperExecutor.new_class_executor(
            sampler.sample, sampler, comfy.patcher_extension.get_all_wrappers(
                comfy.patcher_extension.WrappersMP.SAMPLER_SAMPLE, options, is_model_options=True))
        try:
            samples = executor.execute(self, sigmas, {"model_options": options, "seed": seed}, callback, noise,
                                       latent_image, denoise_mask, disable_pbar)
        finally:
            del self.plan, self.bootstrap_noise
        return self.inner_model.process_latent_out(samples.to(torch.float32))

    def outer_sample(self, noise, latent_image, sampler, sigmas, denoise_mask=None, callback=None, disable_pbar=False,
                     seed=None):
        """Core's, with the model loaded for the real batch (every region of every window, issue 11 section 1)."""
        comfy.patcher_extension.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.PREPARE_SAMPLING,
                                                     "semanticdraw", self._budget_real_batch, self.model_options,
                                                     is_model_options=True)
        return super().outer_sample(noise, latent_image, sampler, sigmas, denoise_mask, callback, disable_pbar, seed)

    def _budget_real_batch(self, executor, model, noise_shape, conds, model_options=None):
        """`prepare_sampling` budgets cond + uncond of `noise_shape`; a regional call evaluates every region in
        every window: `S * p * windows` samples of (at most) the window size."""
        vae = self.stack.vae
        views = get_views(*noise_shape[-2:], self._tile_pixels() // (vae.spacial_compression_encode() if vae else 8))
        window = [max(y1 - y0 for y0, y1, _, _ in views), max(x1 - x0 for _, _, x0, x1 in views)]
        shape = [noise_shape[0] * self.num_regions * len(views), *noise_shape[1:-2], *window]
        return executor(model, shape, conds, model_options=model_options)

    def _tile_pixels(self) -> int:
        """Window size in image pixels (section 6): tile_size, else 768 for SD1.x/2.x and 1024 for other models."""
        fmt = self.model_patcher.model.latent_format
        return self.settings.tile_size or (768 if isinstance(fmt, comfy.latent_formats.SD15) else 1024)

    def _region_label(self, r: int) -> str:
        return "background_positive" if self.background_region and r == 0 else \
            f"{self.name}[{r - int(self.background_region)}]"

    def _check_support(self):
        """Refuse what one regional model call cannot honour exactly as core does (issue: the core contract)."""
        found = unsupported_model_options(self.model_options)
        if found:
            raise NodeInputError(f"{self.node}: model carries {', '.join(found)}, which replaces core's conditioning "
                                 "batch and cannot run inside regions; remove that model patch before this node")
        if len(self.plan.views) > 1:
            for kind in ("positive", "negative"):
                for r, conds in enumerate(group_by_region(self.conds.get(kind), self.num_regions)):
                    keys = positional_keys(conds)
                    if keys:
                        raise NodeInputError(
                            f"{self.node}: {self._region_label(r)}.{kind} has {'/'.join(keys)} conditioning "
                            "(ConditioningSetArea/SetMask, ControlNet, GLIGEN), which acts at canvas positions, "
                            "but the canvas is larger than tile_size and is sampled in windows; raise tile_size to "
                            "the canvas size or remove that conditioning")

    def predict_noise(self, x, timestep, model_options={}, seed=None):
        step = step_index(self.sigmas, timestep)
        positive = group_by_region(self.conds.get("positive"), self.num_regions)
        negative = group_by_region(self.conds.get("negative"), self.num_regions)
        denoiser = HostDenoiser(self.inner_model, positive, negative, self.cfg, interruptible(model_options))
        return regional_x0(x, timestep, step, self.plan, denoiser, self.space, self.bootstrap_noise)

    def _plan(self, noise: torch.Tensor, sigmas: torch.Tensor, device):
        """Masks, background and white latents for this canvas and schedule (sections 2, 4-6)."""
        model, stack, s = self.inner_model, self.stack, self.settings
        vae = stack.vae
        ratio = vae.spacial_compression_encode() if vae is not None else 8
        h, w = noise.shape[-2:]
        size = (h * ratio, w * ratio)
        masks = [single_mask(r.mask, self.node, f"{self.name}[{i}].mask") for i, r in enumerate(stack.regions)]
        fmt = model.latent_format
        tile = self._tile_pixels()
        check_canvas_memory(self.node, model, tuple(noise.shape), size, self.num_regions, len(sigmas) - 1,
                            tile // ratio, not math.isclose(self.cfg, 1.0), device)
        processed = process_masks(masks, size, (h, w), noise_levels(sigmas, noise_space(model.model_sampling)),
                                  blur_stds=[r.mask_blur_std for r in stack.regions],
                                  strengths=[r.mask_strength for r in stack.regions],
                                  cover_alpha=s.cover_alpha, mask_type=s.mask_type, name=self.name)
        white = white_latent(vae, fmt, noise.shape[1], size, (h, w)).to(device)
        latent = background_latent(stack, fmt, size, (h, w), self.node)
        chosen = scene_masks(processed, self.background_kind, None if latent is None else latent.to(device), white)
        return make_plan(chosen.masks, tile=tile // ratio, background=chosen.background, white=white,
                         bootstrap_steps=s.bootstrap_steps, bootstrap_mix_steps=s.bootstrap_mix_steps,
                         leak=s.leak_sensitivity)


def schedule(model, scheduler: str, steps: int, denoise: float):
    """Sigmas as KSampler computes them, `denoise` included."""
    sampling = model.get_model_object("model_sampling")
    if denoise >= 0.9999:
        return comfy.samplers.calculate_sigmas(sampling, scheduler, steps).cpu()
    total = int(steps / max(denoise, 1e-4))
    return comfy.samplers.calculate_sigmas(sampling, scheduler, total)[-(steps + 1):].cpu()


def run_regional(model, regions, latent_image: dict, seed: int, sigmas, cfg: float, sampler_name: str,
                 settings: RegionalSettings, node: str, denoise_mask=None, name: str = "regions") -> dict:
    """Sample a LATENT with the SemanticDraw guider and a ComfyUI sampler, as KSampler does (previews, progress,
    interruption, noise from the seed, the latent's noise_mask unless `denoise_mask` is given)."""
    latent = comfy.sample.fix_empty_latent_channels(model, latent_image["samples"])
    noise = comfy.sample.prepare_noise(latent, seed, latent_image.get("batch_index"))
    guider = SemanticDrawGuider(model, regions, cfg, settings, node=node, name=name)
    callback = latent_preview.prepare_callback(model, sigmas.shape[-1] - 1)
    mask = denoise_mask if denoise_mask is not None else latent_image.get("noise_mask")
    samples = guider.sample(noise, latent, comfy.samplers.sampler_object(sampler_name), sigmas, denoise_mask=mask,
                            callback=callback, disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=seed)
    out = latent_image.copy()
    out["samples"] = samples.to(comfy.model_management.intermediate_device())
    return out
