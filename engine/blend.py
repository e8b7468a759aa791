"""Final pixel blend with the background image (ALGORITHM.md section 7)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import SemanticDrawInputError
from .masks import gaussian_blur, resize_masks, validate_masks


def union_mask(blurred: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Union `clip(sum_i m_i, 0, 1)` of blurred `[p, 1, H, W]` masks, resized to `size`, as `[H, W]`."""
    u = blurred.sum(0, keepdim=True).clamp(0, 1)
    if tuple(u.shape[-2:]) != tuple(size):
        u = F.interpolate(u, size=size, mode="bilinear", align_corners=False)
    return u[0, 0]


def blend_pixels(image: torch.Tensor, background: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`mask * image + (1 - mask) * background` for `[N, H, W, C]` images and an `[H, W]` mask."""
    if image.shape[1:3] != background.shape[1:3]:
        raise SemanticDrawInputError("background_image", f"is {background.shape[2]}x{background.shape[1]} but the "
                                                         f"image is {image.shape[2]}x{image.shape[1]}")
    m = mask.to(image)[None, :, :, None]
    return m * image + (1 - m) * background.to(image)[..., :image.shape[-1]]


def region_union(masks, size: tuple[int, int], blur_stds) -> torch.Tensor:
    """Union of the regions' blurred masks (section 2.3) at image `size`, as `[H, W]`."""
    masks = validate_masks(masks, size, size)
    resized = resize_masks(masks, size)
    blurred = torch.cat([gaussian_blur(resized[i:i + 1], s) for i, s in enumerate(blur_stds)])
    return union_mask(blurred, size)
