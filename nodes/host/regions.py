"""The REGIONS value passed between nodes: an ordered stack of prompt-mask pairs plus a background.

Values are immutable: nodes build new stacks and never change the tensors or conditionings
they receive (ComfyUI caches node outputs and shares them between runs).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

import torch
from comfy_api.latest import io

Regions = io.Custom("SEMANTICDRAW_REGIONS")


@dataclass(frozen=True)
class Region:
    """One prompt-mask pair (ALGORITHM.md section 1). `mask` is `[H, W]` or a `[F, H, W]` batch."""

    positive: list
    negative: Optional[list]
    mask: torch.Tensor
    mask_strength: float = 1.0
    mask_blur_std: float = 1.0
    prompt_strength: float = 1.0
    label: str = ""
    clip: Optional[object] = None  # the text encoder of `positive`; encodes the default prompt-strength target


@dataclass(frozen=True)
class RegionStack:
    """Regions in paint order (later covers earlier) and an optional background.

    background_image is a ComfyUI IMAGE, background_latent a LATENT's raw samples; the VAE, when
    given, encodes the image and an exact white latent for bootstrapping. No region is a blank canvas that the
    background fills (`engine.scene.check_scene`).
    """

    regions: tuple[Region, ...]
    background_positive: Optional[list] = None
    background_negative: Optional[list] = None
    background_image: Optional[torch.Tensor] = None
    background_latent: Optional[torch.Tensor] = None
    vae: Optional[object] = None
    clip: Optional[object] = None  # encodes the default prompt-strength target (engine/scene.py)

    def replace(self, **changes) -> "RegionStack":
        return dataclasses.replace(self, **changes)
