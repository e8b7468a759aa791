"""Inputs several nodes share, with their checks: a region's mask settings and the regional sampler's settings."""
from __future__ import annotations

import comfy.samplers
from comfy_api.latest import io

from ...engine import MASK_TYPES
from .errors import check_choices, check_finite
from .guider import RegionalSettings


def mask_inputs() -> list[io.Input]:
    """Widgets every region carries (ALGORITHM.md section 1, defaults of section 9)."""
    return [
        io.Float.Input("mask_strength", default=1.0, min=0.0, max=1.0, step=0.01,
                       tooltip="Scales the mask before quantization; below ~0.96 the region may appear late or not "
                               "at all."),
        io.Float.Input("mask_blur_std", default=1.0, min=0.0, max=64.0, step=0.5,
                       tooltip="Gaussian blur std of the mask in image pixels; blurred borders are decided late and "
                               "blend smoothly."),
        io.Float.Input("prompt_strength", default=1.0, min=0.0, max=1.0, step=0.01,
                       tooltip="Blends this prompt (and its negative) towards the background prompt, or without one "
                               "'simple white background image': 1 keeps it as written."),
    ]


def settings_inputs() -> list[io.Input]:
    """Widgets shared by the sampler, the guider and the edit nodes (ALGORITHM.md sections 2, 5, 6)."""
    d = RegionalSettings()
    return [
        io.Int.Input("bootstrap_steps", default=d.bootstrap_steps, min=0, max=100,
                     tooltip="First steps in which each region is drawn alone, centred, on a plain background."),
        io.Float.Input("bootstrap_mix_steps", default=d.bootstrap_mix_steps, min=0.0, max=100.0, step=0.1,
                       tooltip="Steps over which the bootstrap background fades from white to the background."),
        io.Float.Input("leak_sensitivity", default=d.leak_sensitivity, min=0.0, max=10.0, step=0.01,
                       tooltip="During bootstrapping, down-weights predictions that still look like the background "
                               "(0 = off)."),
        io.Combo.Input("mask_type", options=list(MASK_TYPES), default=d.mask_type,
                       tooltip="How masks are quantized per step: discrete grows blurred masks as noise falls."),
        io.Float.Input("cover_alpha", default=d.cover_alpha, min=0.0, max=1.0, step=0.01,
                       tooltip="Weight kept by a region where a later region covers it; 0 or 1 = no covering "
                               "(as the reference)."),
        io.Int.Input("tile_size", default=d.tile_size, min=0, max=16384, step=8,
                     tooltip="Window size in pixels for large canvases; 0 = 768 for SD1.x/2.x, 1024 for others."),
    ]


def check_settings(node: str, settings: dict) -> None:
    """Refuse NaN/infinite floats and unknown combo values among the shared settings, naming the input."""
    check_finite(node, **settings)
    check_choices(node, mask_type=(settings["mask_type"], MASK_TYPES))


def check_sampling(node: str, sampler_name: str, scheduler: str) -> None:
    check_choices(node, sampler_name=(sampler_name, comfy.samplers.SAMPLER_NAMES),
                  scheduler=(scheduler, comfy.samplers.SCHEDULER_NAMES))


def settings_from(kwargs: dict) -> RegionalSettings:
    return RegionalSettings(**{k: kwargs[k] for k in RegionalSettings.__dataclass_fields__})
