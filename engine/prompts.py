"""Prompt strength (ALGORITHM.md section 3): blend a region's embedding towards the background's."""
from __future__ import annotations

import math

import torch


def match_tokens(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bring `[B, L, D]` embeddings to one token length by repeating each to the lcm, as the host does."""
    if a.shape[1] == b.shape[1]:
        return a, b
    n = math.lcm(a.shape[1], b.shape[1])
    return a.repeat(1, n // a.shape[1], 1), b.repeat(1, n // b.shape[1], 1)


def lerp_prompt(background: torch.Tensor, region: torch.Tensor, strength: float) -> torch.Tensor:
    """`lerp(c_bg, c_i, l_i)`; strength 1 returns `region` unchanged (same object)."""
    if strength == 1.0:
        return region
    bg, rg = match_tokens(background.to(region), region)
    return torch.lerp(bg, rg, strength)
