"""The canvas node's files and painting: its painting and background images in ComfyUI's input folder (confined to
it, pixel-capped, decoded without exposing a server path), and the one rule that turns a painting and a brush table
into regions (`canvas_stack`), used by the node's outputs and its live stream alike.

Formats: a painting is a PNG (its alpha marks erased pixels, and lossless colours keep brush colours exact); a
background image is any raster image Pillow reads (PNG, JPEG, WEBP, BMP, ...).
"""
from __future__ import annotations

import hashlib
import os
from typing import Callable, Optional

import numpy as np
import torch
from PIL import Image

import folder_paths

from ...engine.live import MAX_PIXELS, MAX_SIDE, Brush, painted_regions
from .conditioning import cover
from .errors import NodeInputError
from .regions import Region, RegionStack

NODE = "SemanticDraw Canvas"
PAINTING_FORMATS = ("PNG",)


def input_path(name: str, what: str) -> str:
    """Real path of `name` inside ComfyUI's input folder; anything resolving outside it is refused. Messages name
    the field and the name given, never the server's folders."""
    base = os.path.realpath(folder_paths.get_input_directory())
    path = os.path.realpath(os.path.join(base, name))
    if os.path.commonpath([base, path]) != base:
        raise NodeInputError(f"{NODE}: {what}: '{name}' lies outside ComfyUI's input folder; only files in the input "
                             "folder can be read")
    if not os.path.isfile(path):
        raise NodeInputError(f"{NODE}: {what}: '{name}' is not in ComfyUI's input folder; paint and save again, or "
                             "upload the file there")
    return path


def decode_rgba(source, what: str, formats: Optional[tuple[str, ...]] = None) -> torch.Tensor:
    """`[H, W, 4]` float in [0, 1] from an image file or file object, refusing more than MAX_PIXELS pixels and, with
    `formats`, any other format. A file Pillow cannot read is refused without the decoder's words (they carry
    server paths and object reprs)."""
    try:
        with Image.open(source) as im:
            if formats is not None and im.format not in formats:
                raise NodeInputError(f"{NODE}: {what} is a {im.format} image; it must be a {' or '.join(formats)} "
                                     "(lossless, with the alpha channel that marks erased pixels)")
            if im.width * im.height > MAX_PIXELS:
                raise NodeInputError(f"{NODE}: {what} is {im.width}x{im.height}; the limit is {MAX_PIXELS} pixels "
                                     f"({MAX_SIDE}x{MAX_SIDE})")
            rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255
    except NodeInputError:
        raise
    except Exception:  # any decoder failure (OSError, SyntaxError, ValueError, struct.error, ...) is a bad file
        raise NodeInputError(f"{NODE}: {what} is not a readable image (PNG, JPEG, WEBP, BMP, ...)") from None
    return torch.from_numpy(rgba.copy())


def fit(image: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """A painting `[H, W, C]` resized to the canvas (nearest keeps brush colours exact)."""
    if image.shape[:2] == (height, width):
        return image
    return torch.nn.functional.interpolate(image.movedim(-1, 0)[None], size=(height, width))[0].movedim(0, -1)


def load_painting(name: str, width: int, height: int) -> torch.Tensor:
    """The painting `[H, W, 4]` (an empty name is a blank canvas), resized to the canvas if it was painted at
    another size."""
    if not name.strip():
        return torch.zeros(height, width, 4)
    return fit(decode_rgba(input_path(name, "painting"), "painting", PAINTING_FORMATS), width, height)


def load_background(name: str) -> torch.Tensor | None:
    """The background image `[1, H, W, 3]` a `background_file` names in the input folder; None for an empty name."""
    if not name.strip():
        return None
    return decode_rgba(input_path(name, "background_file"), "background_file")[None, ..., :3]


def file_hash(name: str, what: str) -> str:
    if not name.strip():
        return ""
    with open(input_path(name, what), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def palette_map(painting: torch.Tensor, background: torch.Tensor | None) -> torch.Tensor:
    """IMAGE `[1, H, W, 3]`: the strokes over the background image (white without one; fitted as it is encoded),
    e.g. an SDEdit guide."""
    H, W = painting.shape[:2]
    under = torch.ones(H, W, 3) if background is None else cover(background[:1, ..., :3].float().cpu(), (H, W))[0]
    alpha = painting[..., 3:]
    return (painting[..., :3] * alpha + under * (1 - alpha))[None]


def canvas_stack(encode: Callable[[str], list], table: tuple[Brush, ...], background_prompt: str,
                 painting: torch.Tensor, background_image: Optional[torch.Tensor], vae, clip) -> RegionStack:
    """The canvas as REGIONS: one region per painted brush in table order (a later brush paints over earlier ones)
    under the background prompt (a region under them, or the strength target with an image). Nothing painted is no
    region: the background prompt or image fills the canvas (`engine.scene.check_scene`). `encode(text)` is the
    text encoder (the live stream's caches each text)."""
    regions = tuple(Region(positive=encode(b.prompt), negative=encode(b.negative), mask=m,
                           mask_strength=b.mask_strength, mask_blur_std=b.blur, prompt_strength=b.prompt_strength,
                           label=b.prompt[:40], clip=clip)
                    for b, m in painted_regions(painting, table))
    return RegionStack(regions=regions, background_positive=encode(background_prompt),
                       background_image=background_image, vae=vae, clip=clip)
