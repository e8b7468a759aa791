"""A toy world where colour is meaning, and its exact denoiser: a model whose pictures tests can judge by eye.

Vocabulary (case is ignored, punctuation and unknown words are skipped, word order is free):
- colours `COLOURS`: red, orange, yellow, green, blue, purple, white, black;
- shapes `SHAPES`: circle, square, triangle (the triangle stands on its base, apex up);
- the word "background" and the surface nouns `SURFACES` that mean the same (sky, walls, grass, fur, sun, ...: what
  fills an area, as a region's prompt names it).

Captions (`parse`):
- a colour word is the background's colour when "background" or a surface noun follows it before the next colour or
  shape word ("on a yellow background", "a green background", "a dramatic orange sky", "a cabin with red walls");
  any other colour word is the object's colour ("a red circle", "circle, red", "a red thing");
- a shape word is the object's shape; of each attribute the first word counts;
- a caption that names a background colour and no object colour or shape ("a green background") means a plain
  image of that colour, with no object; a caption without any known word ("", "a photo") means any image;
- any other caption means an object image; the attributes it omits are free.

Data set (`size` x `size` pixels, default 16; a finite list with a uniform prior):
- object images `a * m + b * (1 - m)`: an object mask `m` (`object_masks`: each shape, at each area of `AREAS`,
  its bounding box centred at each pixel centre, so objects near the border are cut; anti-aliased coverage of
  4 x 4 samples per pixel) of colour `a` on a plain background `b != a`;
- plain images: one of each colour.

`ExactDenoiser` is the posterior mean `E[x0 | x, caption]` of this data set under `x = x0 + sigma * n` (the engine's
eps space), in model space (3 channels, `2 * rgb - 1`), computed exactly by enumeration. `render` draws one image
of the data set, `sample_images` random (image, caption) pairs for training.
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Optional, Sequence

import torch

COLOURS = {"red": (0.9, 0.1, 0.1), "orange": (1.0, 0.55, 0.0), "yellow": (0.95, 0.9, 0.1),
           "green": (0.1, 0.7, 0.2), "blue": (0.1, 0.2, 0.9), "purple": (0.6, 0.1, 0.8),
           "white": (0.95, 0.95, 0.95), "black": (0.05, 0.05, 0.05)}  # RGB in [0, 1]
SHAPES = ("circle", "square", "triangle")
AREAS = (0.02, 0.045, 0.1, 0.22, 0.5)  # object areas, fractions of the canvas
SURFACES = ("background", "sky", "clouds", "sun", "wall", "walls", "roof", "bricks", "fur", "grass", "meadow", "hill",
            "field", "forest", "snow", "sand", "water", "sea", "lake")  # words that mean "background"
SUPERSAMPLE = 4  # anti-aliasing: samples per pixel side


@dataclass(frozen=True)
class Caption:
    """What a prompt means: the object's colour and shape and the background colour (None: not said)."""

    colour: Optional[str] = None
    shape: Optional[str] = None
    background: Optional[str] = None

    @property
    def has_object(self) -> bool:
        return self.colour is not None or self.shape is not None


def parse(prompt: str) -> Caption:
    """The meaning of a prompt in the toy world (module docstring)."""
    words = re.findall(r"[a-z]+", prompt.lower())
    found: dict[str, str] = {}
    for i, word in enumerate(words):
        if word in SHAPES:
            found.setdefault("shape", word)
        elif word in COLOURS:
            after = next((v for v in words[i + 1:] if v in SURFACES or v in COLOURS or v in SHAPES), None)
            found.setdefault("background" if after in SURFACES else "colour", word)
    return Caption(**found)


def karras_sigmas(steps: int = 8, low: float = 0.03, high: float = 14.6, rho: float = 7.0) -> torch.Tensor:
    """The schedule the toy world is sampled with (eps space, Karras et al.'s rho = 7 ramp), ending in 0."""
    ramp = torch.linspace(0, 1, steps)
    return torch.cat([(high ** (1 / rho) + ramp * (low ** (1 / rho) - high ** (1 / rho))) ** rho, torch.zeros(1)])


def to_model(image: torch.Tensor) -> torch.Tensor:
    """Pictures `[..., H, W, 3]` in [0, 1] -> model space `[..., 3, H, W]` in [-1, 1]."""
    return (2 * image - 1).movedim(-1, -3)


def to_image(x: torch.Tensor) -> torch.Tensor:
    """Model space `[..., 3, H, W]` -> pictures `[..., H, W, 3]` in [0, 1] (clamped)."""
    return ((x + 1) / 2).clamp(0, 1).movedim(-3, -1)


def colour_table(names: Sequence[str] = tuple(COLOURS)) -> torch.Tensor:
    """RGB of the named colours, `[K, 3]` float64 in [0, 1]."""
    return torch.tensor([COLOURS[n] for n in names], dtype=torch.float64)


def _coverage(shape: str, pixels: float, size: int, centre: tuple[float, float]) -> torch.Tensor:
    """Anti-aliased mask `[size, size]` float64 of `shape` with area `pixels`, bounding box centred at `centre`
    (row, column; pixel `i` spans `[i, i + 1)`): the share of its 4 x 4 samples inside the shape."""
    t = (torch.arange(size * SUPERSAMPLE, dtype=torch.float64) + 0.5) / SUPERSAMPLE
    dy, dx = (t - centre[0])[:, None], (t - centre[1])[None, :]
    if shape == "square":
        half = math.sqrt(pixels) / 2
        inside = (dy.abs() <= half) & (dx.abs() <= half)
    elif shape == "circle":
        inside = dy * dy + dx * dx <= pixels / math.pi
    elif shape == "triangle":  # base = height = 2 * half, apex up: the width grows from 0 at the top to the base
        half = math.sqrt(2 * pixels) / 2
        inside = (dy <= half) & (2 * dx.abs() <= dy + half)
    else:
        raise ValueError(f"unknown shape '{shape}', expected one of {', '.join(SHAPES)}")
    return inside.double().reshape(size, SUPERSAMPLE, size, SUPERSAMPLE).mean((1, 3))


@functools.lru_cache(maxsize=2)
def object_masks(size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Every object mask of the data set: `[M, size, size]` float64 in [0, 1] and shape indices `[M]` (into
    `SHAPES`), ordered by shape, area, centre row, centre column; `M = 3 * len(AREAS) * size^2`. Cached: read only.

    Each shape and area is drawn once, centred on a `2 * size - 1` canvas, and cropped at every centre.
    """
    idx = torch.arange(size)
    crop = idx[None, :] - idx[:, None] + size - 1  # [centre, pixel] -> template row
    masks = [_coverage(shape, area * size * size, 2 * size - 1, (size - 0.5, size - 0.5))[
        crop[:, None, :, None], crop[None, :, None, :]].reshape(-1, size, size) for shape in SHAPES for area in AREAS]
    shapes = torch.arange(len(SHAPES)).repeat_interleave(len(AREAS) * size * size)
    return torch.cat(masks), shapes


def render(caption: Caption, size: int = 16, area: float = AREAS[3],
           centre: Optional[tuple[float, float]] = None) -> torch.Tensor:
    """Picture `[size, size, 3]` float64 in [0, 1] of a caption naming colour, shape and background (an object of
    `area`, bounding box centred at `centre`, default the canvas centre), or only a background (a plain image).
    With `area` in `AREAS` and `centre` at a pixel centre it is an image of the data set."""
    if caption.background is None or caption.has_object and (caption.colour is None or caption.shape is None):
        raise ValueError(f"render needs colour, shape and background, or a background alone; got {caption}")
    bg = colour_table([caption.background])[0]
    if not caption.has_object:
        return bg.expand(size, size, 3).clone()
    m = _coverage(caption.shape, area * size * size, size, centre or (size / 2, size / 2))[..., None]
    return colour_table([caption.colour])[0] * m + bg * (1 - m)


def _matches(name: Optional[str], names: Sequence[str]) -> torch.Tensor:
    """Which of `names` a caption attribute allows (all when it is omitted)."""
    return torch.tensor([name is None or n == name for n in names])


PLAIN_SHARE, KEEP = 0.1, 0.7  # `sample_images`: share of plain images, chance that a caption keeps an attribute


def draw(generator: Optional[torch.Generator], k: int) -> int:
    return int(torch.randint(k, (1,), generator=generator))


def coin(generator: Optional[torch.Generator], p: float) -> bool:
    return bool(torch.rand(1, generator=generator) < p)


def _article(words: str) -> str:
    return ("an " if words[0] in "aeiou" else "a ") + words


def caption_text(colour: Optional[str], shape: Optional[str], background: Optional[str]) -> str:
    """The caption `sample_images` writes for the attributes it keeps ("a red circle on a blue background", "a red
    thing", "a circle", ""); no colour and no shape with a background: a plain image ("a green background")."""
    if colour is None and shape is None:
        return f"{_article(background)} background" if background else ""
    thing = _article(" ".join(w for w in (colour, shape or "thing") if w))
    return thing + (f" on {_article(background)} background" if background else "")


def sample_images(n: int, size: int = 16, generator: Optional[torch.Generator] = None,
                  plain_share: float = PLAIN_SHARE, keep: float = KEEP) -> tuple[torch.Tensor, list[str]]:
    """`n` random pictures `[n, size, size, 3]` float64 of the data set with their captions, for training.

    A `plain_share` of the images is plain ("a green background", or "" with probability `1 - keep`); the others
    are objects at a random area of `AREAS` and pixel-centre position, whose caption keeps each attribute with
    probability `keep` ("a red circle on a blue background", "a purple triangle", "a red thing", ""); a caption
    that would name only the background keeps the shape too, since that would mean a plain image.
    """
    names, g = list(COLOURS), generator
    images, captions = [], []
    for _ in range(n):
        background = names[draw(g, len(names))]
        if coin(g, plain_share):
            images.append(render(Caption(background=background), size))
            captions.append(caption_text(None, None, background if coin(g, keep) else None))
            continue
        colour = names[draw(g, len(names) - 1)]
        colour = colour if colour != background else names[-1]  # uniform over the colours other than background
        shape, area = SHAPES[draw(g, len(SHAPES))], AREAS[draw(g, len(AREAS))]
        centre = (draw(g, size) + 0.5, draw(g, size) + 0.5)
        images.append(render(Caption(colour, shape, background), size, area, centre))
        said = [word if coin(g, keep) else None for word in (colour, shape, background)]
        if said[2] is not None and said[0] is None and said[1] is None:
            said[1] = shape
        captions.append(caption_text(*said))
    return torch.stack(images), captions


@dataclass(frozen=True)
class Support:
    """The images a caption allows: the object masks `rows` (a slice of `object_masks`, which is ordered by shape)
    with every (object colour, background) pair `fg[q], bg[q]` (indices into the world's colours), and the plain
    images of the colours `plain`."""

    rows: slice
    fg: torch.Tensor
    bg: torch.Tensor
    plain: torch.Tensor


class ExactDenoiser:
    """The exact posterior mean `E[x0 | x, caption]` of the toy data set under `x = x0 + sigma * n` (the eps space of
    ALGORITHM.md section 2.5).

    Implements the engine's `Denoiser` (engine/regional.py): `denoiser(x [B, 3, size, size], sigma [B],
    cond_index [B]) -> x0`, in model space (`2 * rgb - 1`); `cond_index` indexes `captions`. The prior is uniform
    over the images a caption allows (module docstring), so the attributes it omits are marginalised.

    With `x0 = a * m + b * (1 - m)`, the log-likelihood `(<x, x0> - |x0|^2 / 2) / sigma^2` (up to a constant)
    needs per mask only `S_m = sum x * m` per channel, `sum m` and `sum m^2`: one matrix product gives every
    allowed (mask, a, b) at once; the softmax over them is taken in float64, and the mean image is again a product
    with the masks. One batched evaluation per caption in the batch. `sigma == 0` returns the limit `sigma -> 0`:
    the nearest allowed image (the mean of equally near ones).
    `colours`: the colours of this world (default all; fewer make a world small enough to check by brute force).
    """

    def __init__(self, captions: Sequence[str], size: int = 16, colours: Sequence[str] = tuple(COLOURS)):
        self.size, self.colours = size, list(colours)
        self.masks = object_masks(size)[0].reshape(-1, size * size)  # [M, P]
        self.s1, self.s2 = self.masks.sum(1), self.masks.pow(2).sum(1)  # [M]
        self.table = 2 * colour_table(colours) - 1  # [K, 3], model space
        self.dots = self.table @ self.table.T  # [K, K]
        self.supports = [self.support(parse(c), c) for c in captions]

    def support(self, cap: Caption, prompt: str = "") -> Support:
        """The images a caption allows (module docstring)."""
        colour, background = _matches(cap.colour, self.colours), _matches(cap.background, self.colours)
        fg, bg = torch.nonzero(colour[:, None] & background & ~torch.eye(len(self.colours), dtype=torch.bool),
                               as_tuple=True)
        per_shape = len(self.masks) // len(SHAPES)
        first = 0 if cap.shape is None else SHAPES.index(cap.shape) * per_shape
        last = first + (per_shape if cap.shape else len(self.masks))
        if not cap.has_object and cap.background is not None:  # a background alone means a plain image
            first = last = 0
        plain = torch.nonzero(background & (not cap.has_object)).flatten()
        if (last == first or not len(fg)) and not len(plain):
            raise ValueError(f"caption '{prompt}' ({cap}) allows no image of a world with colours {self.colours}")
        return Support(slice(first, last), fg, bg, plain)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, cond_index: torch.Tensor) -> torch.Tensor:
        B, C, h, w = x.shape
        if (C, h, w) != (3, self.size, self.size):
            raise ValueError(f"expected x of shape [B, 3, {self.size}, {self.size}], got {list(x.shape)}")
        xf = x.double().reshape(B, C, h * w)
        # sigma = 0 divides by the least float64 variance: all weight on the nearest images
        var = (sigma.double().reshape(B) ** 2).clamp_min(torch.finfo(torch.float64).tiny)
        cond = cond_index.long()
        x0 = torch.empty_like(xf)
        for r in cond.unique().tolist():
            x0[cond == r] = self.posterior_mean(xf[cond == r], var[cond == r], self.supports[r])
        return x0.reshape(B, C, h, w).to(x)

    def posterior_mean(self, x: torch.Tensor, var: torch.Tensor, sup: Support) -> torch.Tensor:
        """`E[x0 | x]` over the images of `sup`, for `x` `[B, 3, P]` float64 with noise variances `var` `[B]`."""
        masks, s1, s2, n = self.masks[sup.rows], self.s1[sup.rows, None], self.s2[sup.rows, None], x.shape[-1]
        sq = self.dots.diagonal()
        sa = torch.einsum("ncm,kc->nmk", x @ masks.T, self.table)  # <x * m, colour>: [B, M, K]
        ta = x.sum(-1) @ self.table.T  # <x, colour>: [B, K]
        # |a * m + b * (1 - m)|^2 for every mask and colour pair: [M, Q]
        norms = sq[sup.fg] * s2 + 2 * self.dots[sup.fg, sup.bg] * (s1 - s2) + sq[sup.bg] * (n - 2 * s1 + s2)
        objects = sa[:, :, sup.fg] - sa[:, :, sup.bg] + ta[:, None, sup.bg] - norms / 2  # <x, x0> - |x0|^2 / 2
        logits = torch.cat([objects.flatten(1), ta[:, sup.plain] - n * sq[sup.plain] / 2], 1)
        weights = ((logits - logits.amax(1, keepdim=True)) / var[:, None]).softmax(1)
        wo, wp = weights[:, :objects[0].numel()].reshape(objects.shape), weights[:, objects[0].numel():]
        fg, bg = wo @ self.table[sup.fg], wo @ self.table[sup.bg]  # weighted colours per mask: [B, M, 3]
        return torch.einsum("nmc,mp->ncp", fg - bg, masks) + (bg.sum(1) + wp @ self.table[sup.plain])[:, :, None]
