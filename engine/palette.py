"""Semantic palette: parse 'colour: prompt' lines and split a colour-coded map into region masks.

Colour distance is Euclidean in RGB scaled to [0, 1], divided by sqrt(3), so 0 means identical and
1 means black vs white. A pixel goes to the nearest palette colour within `tolerance`. An unassigned
pixel with two palette colours matched within `blend_radius` pixels (an anti-aliased or JPEG edge)
goes to the nearer of the two if it lies near their blend line (within `tolerance` plus
`EDGE_RINGING` times their distance, for ringing). Everything else is unassigned, and colours that
cover a noticeable part of the map without a palette line are reported, never silently dropped.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import SemanticDrawInputError

COLOUR_NAMES = {
    "white": (255, 255, 255), "black": (0, 0, 0), "red": (255, 0, 0), "lime": (0, 255, 0), "green": (0, 128, 0),
    "blue": (0, 0, 255), "yellow": (255, 255, 0), "cyan": (0, 255, 255), "aqua": (0, 255, 255),
    "magenta": (255, 0, 255), "fuchsia": (255, 0, 255), "gray": (128, 128, 128), "grey": (128, 128, 128),
    "silver": (192, 192, 192), "maroon": (128, 0, 0), "olive": (128, 128, 0), "purple": (128, 0, 128),
    "teal": (0, 128, 128), "navy": (0, 0, 128), "orange": (255, 165, 0),
}
_COLOUR_HELP = "use #RRGGBB, R,G,B or a colour name"
_HEX6_WORD = re.compile(r"#[0-9a-fA-F]{6}(\s|$)")  # '#rrggbb prompt', a colour line missing its ':'
MAX_PALETTE_CHARS = 100_000
MAX_PALETTE_ENTRIES = 256
_RGB = re.compile(r"(?:rgb)?\(?\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*\)?", re.IGNORECASE)
_SQRT3 = math.sqrt(3.0)
_CHUNK = 1 << 22  # elements per chunk of an intermediate tensor (16 MB float32)
EDGE_RINGING = 0.25  # edge pixels may stray this fraction of the two colours' distance from their blend


@dataclass(frozen=True)
class PaletteEntry:
    """One palette line: an RGB colour (0-255) and the prompts for its region."""

    colour: tuple[int, int, int]
    prompt: str
    negative: str = ""


@dataclass(frozen=True)
class PaletteMatch:
    """Result of `match_palette`.

    masks:      `[p, H, W]` float32 0/1 masks, one per palette colour, pairwise disjoint.
    unassigned: `[H, W]` bool, pixels matching no palette colour; `masks.sum(0) + unassigned == 1`.
    unmatched_colours: `(rgb, fraction of all pixels)` for colours in the map without a palette
                entry, largest first.
    """

    masks: torch.Tensor
    unassigned: torch.Tensor
    unmatched_colours: list[tuple[tuple[int, int, int], float]]


def describe_colour(rgb) -> str:
    """`#rrggbb` for an RGB triple of 0-255 ints (tuple, list or tensor)."""
    r, g, b = (int(round(float(v))) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def parse_colour(text: str) -> tuple[int, int, int] | None:
    """RGB 0-255 from `#RRGGBB`, `#RGB`, `R,G,B` or a CSS basic colour name; None if not a colour.

    Raises ValueError for an R,G,B component above 255.
    """
    s = text.strip()
    if re.fullmatch(r"#[0-9a-fA-F]{6}", s):
        return tuple(int(s[i:i + 2], 16) for i in (1, 3, 5))
    if re.fullmatch(r"#[0-9a-fA-F]{3}", s):
        return tuple(int(c * 2, 16) for c in s[1:])
    m = _RGB.fullmatch(s)
    if m:
        rgb = tuple(int(v) for v in m.groups())
        if max(rgb) > 255:
            raise ValueError(f"component {max(rgb)} is outside 0-255")
        return rgb
    return COLOUR_NAMES.get(s.lower())


def _colour_attempt(line: str) -> bool:
    """Whether a line starting with `#` is a colour (possibly mistyped) rather than a comment: `#<word>: ...` or
    `#<word> = ...` with a word of at most 8 characters that is hex, holds a digit or has 3, 6 or 8 characters
    (`#gg0000:`, `#ff00:`, `#red:`), or `#` and six hex digits. `# ...` and `#todo: ...` are comments."""
    if len(line) < 2 or line[1].isspace():
        return False
    seps = [i for i in (line.find(":"), line.find("=")) if i >= 0]
    head = line[1:min(seps)].strip() if seps else None
    if head is not None and len(head) <= 8 and not any(c.isspace() for c in head):
        return (all(c in "0123456789abcdefABCDEF" for c in head) or any(c.isdigit() for c in head)
                or len(head) in (3, 6, 8))
    return bool(_HEX6_WORD.match(line))


def parse_palette(text: str) -> list[PaletteEntry]:
    """Parse one `colour: prompt | negative` (or `colour = prompt`) entry per non-empty line.

    Lines starting with `#` are comments unless they look like a colour (see `_colour_attempt`), so a
    mistyped `#gg0000: sky` is an error, never silently skipped. Text and entries are capped.
    Raises ValueError naming the line for a bad colour, missing separator, empty prompt or a
    duplicate colour, and when there are no entries at all.
    """
    if not isinstance(text, str):
        raise SemanticDrawInputError("palette", f"must be text, got {type(text).__name__}")
    if len(text) > MAX_PALETTE_CHARS:
        raise SemanticDrawInputError("palette", f"has {len(text)} characters; the limit is {MAX_PALETTE_CHARS}")
    entries: list[PaletteEntry] = []
    seen: dict[tuple[int, int, int], int] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or (line.startswith("#") and not _colour_attempt(line)):
            continue
        where, shown = f"palette line {n}", repr(line if len(line) <= 80 else line[:77] + "...")
        m = re.search(r"[:=]", line)
        if m is None:
            raise SemanticDrawInputError(where, f"{shown} has no ':' or '=' between colour and prompt "
                                                f"(write e.g. '#ff0000: a red apple')")
        try:
            colour = parse_colour(line[:m.start()])
        except ValueError as e:
            raise SemanticDrawInputError(where, f"{shown} is not a colour: {e}") from None
        if colour is None:
            comment = "; a comment starts with '# '" if line.startswith("#") else ""
            raise SemanticDrawInputError(where, f"{shown} is not a colour ({_COLOUR_HELP}{comment})")
        prompt, _, negative = line[m.end():].partition("|")
        prompt, negative = prompt.strip(), negative.strip()
        if not prompt:
            raise SemanticDrawInputError(where, f"{shown} has an empty prompt")
        if colour in seen:
            raise SemanticDrawInputError(where, f"{shown}: colour {describe_colour(colour)} is already used on "
                                                f"line {seen[colour]}; merge the prompts or change a colour")
        seen[colour] = n
        entries.append(PaletteEntry(colour, prompt, negative))
        if len(entries) > MAX_PALETTE_ENTRIES:
            raise SemanticDrawInputError(where, f"is entry {len(entries)}; a palette has at most "
                                                f"{MAX_PALETTE_ENTRIES} colours")
    if not entries:
        raise SemanticDrawInputError("palette", "has no 'colour: prompt' lines (write one per colour, e.g. "
                                                "'#ff0000: a red apple')")
    return entries


def _as_image(image) -> torch.Tensor:
    """`[H, W, 3]` float32 in [0, 1] from `[H, W, 3|4]` or `[1, H, W, 3|4]` (alpha dropped)."""
    shape = list(getattr(image, "shape", []))
    if not isinstance(image, torch.Tensor) or not (
            (image.ndim == 3 or (image.ndim == 4 and shape[0] == 1)) and shape[-1] in (3, 4)
            and shape[-2] > 0 and shape[-3] > 0):
        got = shape if isinstance(image, torch.Tensor) else type(image).__name__
        raise SemanticDrawInputError("palette image", f"must be [H, W, 3], [H, W, 4] or [1, H, W, C] (one RGB "
                                                      f"image), got {got}")
    img = image.reshape(shape[-3:])[..., :3]
    img = img.float() / 255 if not img.is_floating_point() else img.float()
    if not torch.isfinite(img).all():
        raise SemanticDrawInputError("palette image", "contains NaN or infinite values")
    return img.clamp(0, 1)


def _as_colours(colours, device) -> torch.Tensor:
    """`[p, 3]` float32 in [0, 1] from `[p, 3]` ints 0-255 or a list of RGB tuples."""
    try:
        c = torch.as_tensor(colours, dtype=torch.float64) if not isinstance(colours, torch.Tensor) else colours.double()
    except (TypeError, ValueError):
        c = None
    if c is None or c.ndim != 2 or c.shape[1] != 3 or c.shape[0] == 0:
        got = list(c.shape) if c is not None else repr(colours)[:60]
        raise SemanticDrawInputError("palette colours", f"must be a non-empty [p, 3] list of 0-255 RGB, got {got}")
    if not torch.isfinite(c).all() or c.min() < 0 or c.max() > 255:
        raise SemanticDrawInputError("palette colours", "values must be RGB components in 0-255")
    if len({tuple(row) for row in c.round().long().tolist()}) < c.shape[0]:
        raise SemanticDrawInputError("palette colours", "contain the same colour twice")
    return (c / 255).float().to(device)


def _nearest(img: torch.Tensor, cols: torch.Tensor, tolerance: float) -> torch.Tensor:
    """`[H, W]` long index of the nearest colour within tolerance, -1 elsewhere (row-chunked)."""
    H, W, _ = img.shape
    idx = torch.empty(H, W, dtype=torch.long, device=img.device)
    cc, rows = cols.square().sum(-1), max(1, _CHUNK // (W * cols.shape[0]))
    for r in range(0, H, rows):
        x = img[r:r + rows].reshape(-1, 3)
        d2 = (x.square().sum(-1, keepdim=True) - 2 * x @ cols.T + cc).clamp_min_(0)  # [n, p] squared distance
        dmin, arg = d2.min(-1)
        idx[r:r + rows] = torch.where(dmin.sqrt() / _SQRT3 <= tolerance + 1e-6, arg, -1).view(-1, W)
    return idx


def _blend_pass(img: torch.Tensor, cols: torch.Tensor, idx: torch.Tensor, tolerance: float, radius: int) -> None:
    """Give unassigned edge pixels to the nearer of two palette colours both matched within `radius`
    pixels, if the pixel is within `tolerance + EDGE_RINGING * contrast` of the blend between them, in place."""
    p = cols.shape[0]
    if p < 2 or radius <= 0 or bool((idx >= 0).all()):
        return
    k, assigned = 2 * radius + 1, (idx >= 0).float()[None, None]
    near_any = F.max_pool2d(F.max_pool2d(assigned, (k, 1), 1, (radius, 0)), (1, k), 1, (0, radius))[0, 0] > 0
    ys, xs = ((idx < 0) & near_any).nonzero(as_tuple=True)
    padded = F.pad(idx[None], (radius,) * 4, value=-1)[0] + 1  # 0 = unassigned, c + 1 = colour c
    near = torch.zeros(ys.shape[0], p + 1, dtype=torch.bool, device=idx.device)
    for dy in range(k):  # near[n, c + 1]: colour c is matched within the window
        for dx in range(k):
            near.scatter_(1, padded[ys + dy, xs + dx][:, None], True)
    near = near[:, 1:]
    edge = near.sum(1) >= 2  # only pixels with two palette colours nearby can be edge blends
    ys, xs, near = ys[edge], xs[edge], near[edge]
    if ys.numel() == 0:
        return
    ii, jj = torch.triu_indices(p, p, 1, device=img.device)
    a, e = cols[ii], cols[jj] - cols[ii]  # [P, 3] segment starts and directions
    ee = e.square().sum(-1)
    allowed = tolerance + EDGE_RINGING * ee.sqrt() / _SQRT3  # [P]
    x_all, out = img[ys, xs], torch.full_like(ys, -1)
    step = max(1, _CHUNK // (3 * ii.numel()))
    for s in range(0, x_all.shape[0], step):
        x = x_all[s:s + step, None, :] - a  # [n, P, 3]
        t = ((x * e).sum(-1) / ee).clamp(0, 1)
        excess = (x - t[..., None] * e).norm(dim=-1) / _SQRT3 - allowed
        nb = near[s:s + step]
        best, pair = excess.masked_fill(~(nb[:, ii] & nb[:, jj]), math.inf).min(-1)
        pick = torch.where(t.gather(1, pair[:, None])[:, 0] < 0.5, ii[pair], jj[pair])
        out[s:s + step] = torch.where(best <= 1e-6, pick, -1)
    idx[ys, xs] = out


def _solid(img: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor, threshold: float) -> torch.Tensor:
    """Bool per pixel `(ys, xs)`: its 3x3 neighbourhood's colour range is within `threshold` (not an edge)."""
    H, W, _ = img.shape
    hi = lo = img[ys, xs]
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            v = img[(ys + dy).clamp(0, H - 1), (xs + dx).clamp(0, W - 1)]
            hi, lo = torch.maximum(hi, v), torch.minimum(lo, v)
    return (hi - lo).norm(dim=-1) / _SQRT3 <= threshold


def _unmatched(img: torch.Tensor, unassigned: torch.Tensor, min_fraction: float, tolerance: float):
    """Colours of unassigned pixels covering >= min_fraction of the map, as `(rgb, fraction)`.

    Clusters are seeded from solid (non-edge) pixels binned on a 32-level grid, so anti-alias
    slivers never form a cluster of their own; then every unassigned pixel within the cluster
    radius of a cluster colour counts towards that cluster's fraction.
    """
    if not unassigned.any():
        return []
    total, radius = unassigned.numel(), max(tolerance, 16 / 255) * _SQRT3
    ys, xs = unassigned.nonzero(as_tuple=True)
    everyone = img[ys, xs]
    pixels = everyone[_solid(img, ys, xs, max(tolerance, 0.05))]
    if pixels.shape[0] == 0:
        return []
    q = (pixels * 255).round().long().clamp(0, 255) >> 3
    bins = (q[:, 0] * 32 + q[:, 1]) * 32 + q[:, 2]
    counts = torch.bincount(bins, minlength=32768).double()
    sums = torch.zeros(32768, 3, dtype=torch.float64, device=img.device).index_add_(0, bins, pixels.double())
    nz = counts.nonzero()[:, 0]
    cnt, sums = counts[nz], sums[nz]
    mean, left = sums / cnt[:, None], torch.ones_like(cnt, dtype=torch.bool)
    need, centres = min_fraction * total, []
    for _ in range(256):  # greedy: the largest bin absorbs every bin within radius of it
        c = cnt * left
        s = int(c.argmax())
        if c[s] == 0 or c[s] * 8 < need:  # a colour split over <= 8 bins still has one bin >= need / 8
            break
        member = left & ((mean - mean[s]).norm(dim=-1) <= radius)
        left &= ~member
        if cnt[member].sum() * 2 >= need:
            centres.append(sums[member].sum(0) / cnt[member].sum())
    if not centres:
        return []
    centres = torch.stack(centres).float()
    counts = torch.zeros(len(centres), dtype=torch.float64, device=img.device)
    step = max(1, _CHUNK // (3 * len(centres)))
    for s in range(0, everyone.shape[0], step):
        d, which = torch.cdist(everyone[s:s + step], centres).min(-1)
        counts += torch.bincount(which[d <= radius], minlength=len(centres)).double()
    found = [(tuple((c * 255).round().long().tolist()), float(n / total))
             for c, n in zip(centres, counts) if n >= max(need, 1)]
    return sorted(found, key=lambda cf: -cf[1])


def match_palette(image: torch.Tensor, colours, tolerance: float = 0.1, min_fraction: float = 0.002,
                  blend_radius: int = 4) -> PaletteMatch:
    """Split a colour map into one mask per palette colour (see module docstring for the rule).

    image: `[H, W, 3]`, `[H, W, 4]` (alpha ignored) or `[1, H, W, C]` float in [0, 1].
    colours: `[p, 3]` ints 0-255 or a list of RGB tuples.
    tolerance: max colour distance, RGB distance in [0, 1] units / sqrt(3), so in [0, 1].
    min_fraction: unmatched colours covering less than this fraction of the map are not reported.
    blend_radius: how near (pixels) both palette colours of an edge blend must be; 0 disables.
    """
    img = _as_image(image)
    if not 0 <= tolerance <= 1:
        raise SemanticDrawInputError("tolerance", f"must be in [0, 1] (colour distance / sqrt(3)), got {tolerance}")
    if not 0 <= min_fraction <= 1:
        raise SemanticDrawInputError("min_fraction", f"must be in [0, 1], got {min_fraction}")
    cols = _as_colours(colours, img.device)
    idx = _nearest(img, cols, float(tolerance))
    _blend_pass(img, cols, idx, float(tolerance), int(blend_radius))
    unassigned = idx < 0
    masks = torch.stack([idx == c for c in range(cols.shape[0])]).float()
    return PaletteMatch(masks, unassigned, _unmatched(img, unassigned, float(min_fraction), float(tolerance)))


LAYOUT_COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
                  (227, 119, 194), (188, 189, 34), (23, 190, 207))  # region i gets colour i mod 9
LAYOUT_BACKGROUND = (200, 200, 200)


def draw_layout(masks, background: torch.Tensor | None = None, max_side: int = 512) -> torch.Tensor:
    """The colour-coded layout of a region stack, painted as a palette map is (ALGORITHM.md section 1):
    the background first, then each region in paint order in its flat colour, later over earlier; soft
    mask values blend. masks: `[H, W]` or `[F, H, W]` (first frame), any sizes of one aspect ratio.
    background: `[H, W, 3]` in [0, 1] shown under the regions, or None (flat grey). Returns `[h, w, 3]`
    at the largest mask's size, scaled down to at most `max_side`."""
    firsts = [(m[0] if m.ndim == 3 else m).float() for m in masks]
    h, w = max((m.shape for m in firsts), key=lambda hw: hw[0] * hw[1])
    scale = min(1.0, max_side / max(h, w))
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    if background is None:
        canvas = torch.tensor(LAYOUT_BACKGROUND, dtype=torch.float32).div(255).expand(*size, 3).clone()
    else:
        canvas = F.interpolate(background.float().permute(2, 0, 1)[None, :3], size=size, mode="bilinear",
                               antialias=True)[0].permute(1, 2, 0).clamp(0, 1).cpu()
    for i, m in enumerate(firsts):
        m = F.interpolate(m[None, None].cpu(), size=size, mode="bilinear", antialias=True)[0, 0].clamp(0, 1)[..., None]
        colour = torch.tensor(LAYOUT_COLOURS[i % len(LAYOUT_COLOURS)], dtype=torch.float32) / 255
        canvas = canvas * (1 - m) + colour * m
    return canvas
