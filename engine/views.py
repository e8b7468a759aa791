"""Tiling of large canvases (ALGORITHM.md section 6), as pure functions.

A view is `(y0, y1, x0, x1)` in latent pixels. Windows overlap by half (stride = tile / 2)
and carry linear-ramp weights that sum to one at every canvas pixel.
"""
from __future__ import annotations

import torch

View = tuple[int, int, int, int]


def _starts(length: int, tile: int, stride: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]  # last window flush with the border


def get_views(height: int, width: int, tile: int, stride: int | None = None) -> list[View]:
    """Overlapping windows covering a `height x width` latent, row-major; one view if it fits a tile."""
    if tile <= 0:
        return [(0, height, 0, width)]
    stride = stride or max(tile // 2, 1)
    th, tw = min(tile, height), min(tile, width)
    return [(y, y + th, x, x + tw) for y in _starts(height, th, stride) for x in _starts(width, tw, stride)]


def _ramp(length: int, start: int, end: int, total: int) -> torch.Tensor:
    """1-D weights of a window: linear ramps towards inner edges, flat at canvas borders."""
    idx = torch.arange(length, dtype=torch.float32)
    up = (idx + 1) / (length / 2) if start > 0 else torch.ones(length)
    down = (length - idx) / (length / 2) if end < total else torch.ones(length)
    return torch.minimum(torch.minimum(up, down), torch.ones(length))


def view_weights(views: list[View], height: int, width: int) -> torch.Tensor:
    """Per-view weights `[V, 1, th, tw]`, normalized so they sum to one at every canvas pixel."""
    raw = [_ramp(y1 - y0, y0, y1, height)[:, None] * _ramp(x1 - x0, x0, x1, width)[None, :]
           for y0, y1, x0, x1 in views]
    total = torch.zeros(height, width)
    for w, (y0, y1, x0, x1) in zip(raw, views):
        total[y0:y1, x0:x1] += w
    return torch.stack([w / total[y0:y1, x0:x1] for w, (y0, y1, x0, x1) in zip(raw, views)])[:, None]
