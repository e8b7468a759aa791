"""Image metrics for the edit benchmark and tests: SSIM maps and masked means (sections 11-12), and what a person
sees in a toy-world picture (`tools.toy_world`): colour names, the object's colour and shape, the background."""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

from tools.toy_world import COLOURS, colour_table


def ssim_map(a: torch.Tensor, b: torch.Tensor, window: int = 11, std: float = 1.5) -> torch.Tensor:
    """Per-pixel SSIM of `[N, H, W, C]` images in [0, 1] (Gaussian window), averaged over channels: `[N, H, W]`."""
    t = torch.arange(window, dtype=torch.float32) - window // 2
    g = torch.exp(-0.5 * (t / std) ** 2)
    k = (g[:, None] * g[None, :] / g.sum() ** 2).expand(a.shape[-1], 1, window, window)
    x, y = a.movedim(-1, 1).float(), b.movedim(-1, 1).float()
    blur = lambda v: F.conv2d(F.pad(v, [window // 2] * 4, mode="replicate"), k, groups=v.shape[1])
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return s.mean(1)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> float:
    return float((values * mask).sum() / mask.sum().clamp_min(1))


def boundary_band(mask: torch.Tensor, width: int) -> torch.Tensor:
    """Pixels within `width` of the edge of a binary `[H, W]` mask."""
    m = (mask > 0.5).float()[None, None]
    dilated = F.max_pool2d(m, 2 * width + 1, 1, width)
    eroded = 1 - F.max_pool2d(1 - m, 2 * width + 1, 1, width)
    return (dilated - eroded)[0, 0]


def colour_names(image: torch.Tensor) -> torch.Tensor:
    """Index into `COLOURS` of the nearest named colour (RGB distance) of each pixel of `[H, W, 3]` in [0, 1]."""
    return torch.cdist(image.double().reshape(-1, 3), colour_table()).argmin(1).reshape(image.shape[:2])


def colour_share(image: torch.Tensor, mask: torch.Tensor, colour: str) -> float:
    """Share of the `[H, W]` mask (weighted by it) whose pixels are nearest to the named colour."""
    return masked_mean((colour_names(image) == list(COLOURS).index(colour)).double(), mask.double())


def largest_component(on: torch.Tensor) -> torch.Tensor:
    """The largest 8-connected component of a boolean `[H, W]` mask (label propagation by 3x3 max pooling)."""
    ids = torch.arange(1, on.numel() + 1, dtype=torch.float64).reshape(on.shape) * on
    while True:
        grown = F.max_pool2d(ids[None, None], 3, 1, 1)[0, 0] * on
        if torch.equal(grown, ids):
            break
        ids = grown
    return ids == torch.bincount(ids[on].long()).argmax() if on.any() else on


MIN_SHAPE_PIXELS = 16  # fewer pixels cannot tell a circle from a square


def shape_of(mask: torch.Tensor) -> Optional[str]:
    """Shape of a boolean `[H, W]` object mask from its moments, None below `MIN_SHAPE_PIXELS`.

    Symmetry first: the apex-up triangle's centroid lies a sixth of its height below the middle of its bounding box
    (circle and square: at the middle); then the fill ratio of the box: square ~1, circle ~pi/4.
    """
    ys, xs = torch.nonzero(mask, as_tuple=True)
    if len(ys) < MIN_SHAPE_PIXELS:
        return None
    top, bottom, left, right = int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())
    height = bottom - top + 1
    if (ys.double().mean() - (top + bottom) / 2) / height > 1 / 12:
        return "triangle"
    fill = len(ys) / (height * (right - left + 1))
    return "square" if fill > (1 + math.pi / 4) / 2 else "circle"


def classify(image: torch.Tensor) -> tuple[Optional[str], Optional[str], str, torch.Tensor]:
    """What a toy-world picture `[H, W, 3]` in [0, 1] shows: `(object colour, shape, background colour, object mask)`.

    Each pixel takes its nearest named colour; the background is the colour of most border pixels; the object is
    the largest connected component of the other pixels, its colour their most common one, its shape `shape_of`.
    A plain picture gives `(None, None, background, empty mask)`.
    """
    names = colour_names(image)
    border = torch.cat([names[0], names[-1], names[1:-1, 0], names[1:-1, -1]])
    background = int(torch.bincount(border).argmax())
    mask = largest_component(names != background)
    if not mask.any():
        return None, None, list(COLOURS)[background], mask
    colour = int(torch.bincount(names[mask]).argmax())
    return list(COLOURS)[colour], shape_of(mask), list(COLOURS)[background], mask
