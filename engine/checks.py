"""Input rules every node applies, as pure functions: finite values, latent channels, a run's memory, window size.

Each raises `SemanticDrawInputError` naming the input; nodes prefix their own name (nodes/host/errors.py).
"""
from __future__ import annotations

import math

import torch

from .errors import SemanticDrawInputError

GIB = float(1 << 30)


def require_finite(name: str, value) -> None:
    """NaN or infinity in a number or a float tensor is an error (a float widget can carry NaN through the API,
    and a NaN latent or mask silently gives a black image)."""
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() and value.numel() and not bool(torch.isfinite(value).all()):
            kind = "NaN" if bool(torch.isnan(value).any()) else "infinite"
            raise SemanticDrawInputError(name, f"contains {kind} values; regenerate it or check the node that made "
                                               "it (a NaN input gives a black image)")
    elif isinstance(value, float) and not math.isfinite(value):
        raise SemanticDrawInputError(name, f"is {'NaN' if math.isnan(value) else value}; give a finite number")


def require_choice(name: str, value, options) -> None:
    """A combo value the node does not offer (the API passes any string through) is an error listing choices."""
    options = list(options)
    if value not in options:
        shown = ", ".join(map(str, options[:8])) + (", ..." if len(options) > 8 else "")
        raise SemanticDrawInputError(name, f"'{str(value)[:60]}' is not one of the choices ({shown})")


def require_channels(name: str, samples: torch.Tensor, channels: int) -> None:
    """A latent `[B, C, ...]` must have the model's `channels` (a 16-channel SD3 latent cannot go to SD1.5)."""
    if samples.ndim < 4 or samples.shape[0] == 0:
        raise SemanticDrawInputError(name, f"has shape {list(samples.shape)}; expected a latent batch [B, C, h, w]")
    if samples.shape[1] != channels:
        raise SemanticDrawInputError(name, f"has {samples.shape[1]} channels but this model's latents have {channels}; "
                                           "encode it with this model's VAE or use an empty latent made for this model")


def plan_bytes(regions: int, image_size: tuple[int, int], latent_size: tuple[int, int], steps: int) -> int:
    """Peak bytes of mask processing (ALGORITHM.md section 2): resize, cover and blur hold about four float32
    copies of every mask at image size; the quantized step masks are `[p, K, h, w]`."""
    (H, W), (h, w) = image_size, latent_size
    return 4 * regions * (4 * H * W + 2 * steps * h * w)


def step_bytes(samples: int, view_shape: tuple[int, ...]) -> int:
    """Bytes one step's batch of `samples` views `(C, th, tw)` holds outside the model (section 4: the rolled
    inputs, their concatenation, the outputs and their weighted sums), about eight float32 copies."""
    return 4 * 8 * samples * math.prod(view_shape)


def require_memory(name: str, needed: float, free: float, what: str, advice: str) -> None:
    """Fail fast, before any model call, when `needed` bytes cannot fit in `free` bytes."""
    if needed > free:
        raise SemanticDrawInputError(name, f"{what} needs about {needed / GIB:.1f} GiB but only {free / GIB:.1f} GiB "
                                           f"is free; {advice}")


MIN_TILE = 256  # pixels: smaller windows leave the model no context (NaN from zero window weights, shape errors)


def require_tile_size(name: str, tile: int) -> None:
    """A window size (section 6) of 0 (automatic) or at least `MIN_TILE` pixels."""
    if 0 < tile < MIN_TILE:
        raise SemanticDrawInputError(name, f"{tile} pixels is too small for a window (at least {MIN_TILE}; smaller "
                                           "windows leave the model no context); use 0 for the model's default "
                                           "(768 or 1024) or a size of at least 256")
