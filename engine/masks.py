"""Mask processing (ALGORITHM.md section 2): resize, cover, blur, strength, quantize, downsample.

All functions are pure. Masks are float tensors in [0, 1]; `p` regions, `K` steps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from .errors import SemanticDrawInputError

MASK_TYPES = ("discrete", "semi-continuous", "continuous")


@dataclass(frozen=True)
class ProcessedMasks:
    """Result of `process_masks`.

    quantized: `[p, K, 1, h, w]` step masks at latent size (section 2.5-2.6).
    support:   `[p, 1, h, w]` latent-size masks after strength, before quantization;
               nonzero where a region can ever contribute.
    """

    quantized: torch.Tensor
    support: torch.Tensor


def empty_masks(steps: int, latent_size: tuple[int, int]) -> ProcessedMasks:
    """The processed masks of no region (`p = 0`): a canvas the background fills alone (`engine.scene`)."""
    return ProcessedMasks(quantized=torch.zeros(0, steps, 1, *latent_size), support=torch.zeros(0, 1, *latent_size))


def validate_masks(masks: Sequence[torch.Tensor], image_size: tuple[int, int], latent_size: tuple[int, int],
                   name: str = "regions") -> list[torch.Tensor]:
    """Check masks for NaN, emptiness and size; return them as `[H, W]` float tensors.

    A mask may be given at image size, latent size, or any size with the canvas' aspect ratio. No masks at all is
    a scene question (`engine.scene.check_scene`), not a mask error.
    """
    H, W = image_size
    out = []
    for i, m in enumerate(masks):
        label = f"{name}[{i}].mask"
        m = torch.as_tensor(m)
        while m.ndim > 2 and m.shape[0] == 1:
            m = m[0]
        if m.ndim != 2:
            raise SemanticDrawInputError(label, f"expected one [H, W] mask, got shape {list(m.shape)}")
        m = m.float()
        lo, hi = torch.aminmax(m)  # one pass: NaN and infinities show up in the extremes
        if not (torch.isfinite(lo) and torch.isfinite(hi)):
            raise SemanticDrawInputError(label, "contains NaN or infinite values")
        if hi <= 0:
            raise SemanticDrawInputError(label, "is empty (all zeros); paint the region or remove it")
        mh, mw = m.shape
        if (mh, mw) not in (tuple(image_size), tuple(latent_size)) and abs(mh * W - mw * H) > 0.01 * H * W:
            raise SemanticDrawInputError(
                label, f"is {mw}x{mh} but the canvas is {W}x{H} (latent {latent_size[1]}x{latent_size[0]}); "
                       "resize the mask or the latent so their aspect ratios match")
        out.append(m.clamp(0, 1) if lo < 0 or hi > 1 else m)
    return out


def resize_masks(masks: Sequence[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of `[H_i, W_i]` masks in [0, 1] to one `[p, 1, H, W]` tensor (section 2.1)."""
    if len(masks) == 0:
        return torch.zeros(0, 1, *size)
    return torch.cat([F.interpolate(m[None, None].float(), size=size, mode="bilinear", align_corners=False)
                      if tuple(m.shape) != tuple(size) else m[None, None].float() for m in masks])


def apply_cover(masks: torch.Tensor, cover_alpha: float) -> torch.Tensor:
    """Later regions paint over earlier ones: scale `m_i` by `cover_alpha` where any `m_j, j > i` is on (2.2).

    As the reference, `cover_alpha` 0 disables covering (and 1 changes nothing).
    """
    if masks.shape[0] < 2 or cover_alpha in (0, 1):
        return masks
    covered = torch.zeros_like(masks, dtype=torch.bool)
    for i in range(masks.shape[0] - 2, -1, -1):  # covered[i] = covered[i + 1] or m_{i+1} > 0
        torch.logical_or(covered[i + 1], masks[i + 1] > 0, out=covered[i])
    return masks * torch.where(covered, cover_alpha, 1.0)


def gaussian_blur(mask: torch.Tensor, std: float, stride: int = 1) -> torch.Tensor:
    """Separable Gaussian blur of `[..., H, W]`, kernel `2*ceil(3*std)+1`, replicate padding (2.3).

    With `stride` s, only every s-th pixel (from the first) is computed: blur followed by nearest
    downsampling by s, at 1/s^2 of the cost.
    """
    if std <= 0:
        return mask[..., ::stride, ::stride]
    radius = math.ceil(3 * std)
    t = torch.arange(-radius, radius + 1, dtype=torch.float64, device=mask.device)
    k = torch.exp(-0.5 * (t / std) ** 2)
    k = k / k.sum()  # normalised in float64, a constant mask stays exactly constant once rounded back
    x = mask.reshape(-1, 1, *mask.shape[-2:]).double()
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1), stride=(1, stride))
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1), stride=(stride, 1))
    return x.to(mask.dtype).reshape(*mask.shape[:-2], *x.shape[-2:])


def quantize(masks: torch.Tensor, levels: torch.Tensor, mask_type: str) -> torch.Tensor:
    """Per-step masks `[p, K, 1, H, W]` from `[p, 1, H, W]` and noise levels `n_0 > ... > n_K = 0` (2.5).

    `discrete` is on where `m >= n_k` (so a full-strength mask is on at `n_0 = 1`, the first
    level of flow models); `continuous` ramps from 0 at `n_{k+1}` to 1 at `n_k`, so it is fully
    on exactly where `discrete` is on; `semi-continuous` is discrete except at the last step.
    """
    if mask_type not in MASK_TYPES:
        raise SemanticDrawInputError("mask_type", f"'{mask_type}' is not one of {', '.join(MASK_TYPES)}")
    levels = levels.to(masks)
    K = levels.shape[0] - 1
    hi = levels[:-1].view(1, K, 1, 1, 1)
    lo = levels[1:].view(1, K, 1, 1, 1)
    m = masks[:, None]
    discrete = (m >= hi).to(masks.dtype)
    continuous = ((m - lo) / (hi - lo).clamp_min(1e-8)).clamp(0, 1)
    if mask_type == "discrete":
        return discrete
    if mask_type == "continuous":
        return continuous
    return torch.cat([discrete[:, :-1], continuous[:, -1:]], dim=1)


def region_mask(mask: torch.Tensor, std: float, strength: float, latent_size: tuple[int, int], levels: torch.Tensor,
                mask_type: str) -> ProcessedMasks:
    """Steps 2.3-2.6 for one covered image-size mask `[1, 1, H, W]`: blur, strength, quantize, downsample."""
    H, W = mask.shape[-2:]
    # Blur, strength and quantization are followed by a nearest downsample. Strength and quantization are
    # pointwise, so they commute with it; the blur is computed at the kept pixels only (strided).
    stride = H // latent_size[0]
    if H % latent_size[0] or W % latent_size[1] or W // latent_size[1] != stride:
        low = F.interpolate(gaussian_blur(mask, std), size=latent_size, mode="nearest")
    else:
        low = gaussian_blur(mask, std, stride)
    support = low * strength
    return ProcessedMasks(quantized=quantize(support, levels, mask_type), support=support)


def check_settings(masks: Sequence[torch.Tensor], blur_stds: Sequence[float], strengths: Sequence[float],
                   cover_alpha: float, name: str = "regions") -> None:
    if not (len(blur_stds) == len(strengths) == len(masks)):
        raise SemanticDrawInputError(name, f"{len(masks)} masks but {len(blur_stds)} blur stds and "
                                           f"{len(strengths)} strengths")
    if not 0 <= cover_alpha <= 1:
        raise SemanticDrawInputError("cover_alpha", f"must lie in [0, 1], got {cover_alpha}")


def process_masks(masks: Sequence[torch.Tensor], image_size: tuple[int, int], latent_size: tuple[int, int],
                  levels: torch.Tensor, *, blur_stds: Sequence[float], strengths: Sequence[float],
                  cover_alpha: float = 0.3, mask_type: str = "discrete", name: str = "regions") -> ProcessedMasks:
    """The whole of section 2, for `p` foreground masks and `K = len(levels) - 1` steps.

    The background (section 4) is not a mask here: `engine.scene` derives it per step from the result.
    """
    masks = validate_masks(masks, image_size, latent_size, name)
    check_settings(masks, blur_stds, strengths, cover_alpha, name)
    if not masks:
        return empty_masks(len(levels) - 1, latent_size)
    m = apply_cover(resize_masks(masks, image_size), cover_alpha)
    parts = [region_mask(m[i:i + 1], s, g, latent_size, levels, mask_type)
             for i, (s, g) in enumerate(zip(blur_stds, strengths))]
    return ProcessedMasks(quantized=torch.cat([q.quantized for q in parts]),
                          support=torch.cat([q.support for q in parts]))
