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
    """`mask * image + (1 - mask) * background` for `[N, H, W, C]` images and an `[H, W]` mask; the background
    is one image or one per image, with at least the image's channels."""
    for name, t in (("image", image), ("background_image", background)):
        if t.ndim != 4 or 0 in t.shape:
            raise SemanticDrawInputError(name, f"has shape {list(t.shape)}; expected an IMAGE batch [N, H, W, C]")
    if image.shape[1:3] != background.shape[1:3]:
        raise SemanticDrawInputError("background_image", f"is {background.shape[2]}x{background.shape[1]} but the "
                                                         f"image is {image.shape[2]}x{image.shape[1]}; resize it to "
                                                         "the image's size")
    if background.shape[0] not in (1, image.shape[0]):
        raise SemanticDrawInputError("background_image", f"is a batch of {background.shape[0]} but image is a batch "
                                                         f"of {image.shape[0]}; give one background or one per image")
    if background.shape[-1] < image.shape[-1]:
        raise SemanticDrawInputError("background_image", f"has {background.shape[-1]} channels but image has "
                                                         f"{image.shape[-1]}; give an RGB image")
    m = mask.to(image)[None, :, :, None]
    return m * image + (1 - m) * background.to(image)[..., :image.shape[-1]]


def blurred_masks(masks, size: tuple[int, int], blur_stds) -> torch.Tensor:
    """The regions' blurred masks (section 2.3) at image `size`, as `[p, 1, H, W]`."""
    resized = resize_masks(validate_masks(masks, size, size), size)
    if not len(resized):
        return resized
    return torch.cat([gaussian_blur(resized[i:i + 1], s) for i, s in enumerate(blur_stds)])


def region_union(masks, size: tuple[int, int], blur_stds) -> torch.Tensor:
    """Union of the regions' blurred masks (section 2.3) at image `size`, as `[H, W]`."""
    return union_mask(blurred_masks(masks, size, blur_stds), size)
