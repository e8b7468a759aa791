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
    """1-D weights of a window as the reference's `get_panorama_views`: linear from 0 at an inner edge to 1
    at the window's middle, flat at canvas borders."""
    half = torch.linspace(0, 1, (length + 1) // 2)
    ramp = torch.cat([half, half.flip(0)[length % 2:]])
    if start == 0:
        ramp[:length // 2] = 1
    if end == total:
        ramp[length - length // 2:] = 1
    return ramp


def view_weights(views: list[View], height: int, width: int) -> torch.Tensor:
    """Per-view weights `[V, 1, th, tw]` that sum to one at every canvas pixel.

    With windows at the regular stride the reference's ramps already sum to one; the last window, flush
    with the canvas border (so that every window has the same size and all go through one model call),
    overlaps irregularly, so the weights are normalised by their sum.
    """
    raw = [_ramp(y1 - y0, y0, y1, height)[:, None] * _ramp(x1 - x0, x0, x1, width)[None, :]
           for y0, y1, x0, x1 in views]
    total = torch.zeros(height, width)
    for w, (y0, y1, x0, x1) in zip(raw, views):
        total[y0:y1, x0:x1] += w
    return torch.stack([w / total[y0:y1, x0:x1] for w, (y0, y1, x0, x1) in zip(raw, views)])[:, None]
