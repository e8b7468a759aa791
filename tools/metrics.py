"""Image metrics for the edit benchmark and tests: SSIM maps and masked means (sections 11-12)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


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
