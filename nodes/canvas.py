"""`SemanticDrawCanvas`: paint with prompt-carrying brushes (web/semanticdraw_canvas.js) and get regions, or
watch the picture follow the brush in Live mode (the stream runs in this node's execute, on ComfyUI's executor).

The painting is a PNG in ComfyUI's input folder under a content-hash name (saved by the frontend through core's
/upload/image); the node reads it from there, confined to the input folder, so /prompt works without a browser.
"""
from __future__ import annotations

import hashlib
import os
import secrets

import numpy as np
import torch
from PIL import Image

import comfy.model_management
import comfy.samplers
import folder_paths
from comfy_api.latest import io
from comfy_execution.graph_utils import ExecutionBlocker

from ..engine.live import (MAX_PIXELS, MAX_SIDE, Brush, LiveAbort, check_canvas_size, check_prompt, painted_regions,
                           painting_masks, parse_brushes)
from ..engine.stream import CFG_TYPES
from .canvas_live import PREVIEWS, run_live_canvas
from .regions import NodeInputError, Region, Regions, RegionStack, node_errors
from .scene import cover, encode_text

NODE = "SemanticDraw Canvas"
DEFAULT_BRUSHES = ('[{"colour":"#87ceeb","prompt":"a clear blue sky","negative":"","mask_strength":1,"blur":8,'
                   '"prompt_strength":0.95},{"colour":"#228b22","prompt":"a green meadow","negative":"",'
                   '"mask_strength":1,"blur":8,"prompt_strength":0.95}]')


def input_path(name: str, what: str) -> str:
    """Real path of `name` inside ComfyUI's input folder; anything resolving outside it is refused."""
    base = os.path.realpath(folder_paths.get_input_directory())
    path = os.path.realpath(os.path.join(base, name))
    if os.path.commonpath([base, path]) != base:
        raise NodeInputError(f"{NODE}: {what}: '{name}' lies outside ComfyUI's input folder; only files in the input "
                             "folder can be read")
    if not os.path.isfile(path):
        raise NodeInputError(f"{NODE}: {what}: '{name}' is not in ComfyUI's input folder ({base}); paint and save "
                             "again, or upload the file there")
    return path


def decode_rgba(source, what: str) -> torch.Tensor:
    """`[H, W, 4]` float in [0, 1] from an image file or file object, refusing more than MAX_PIXELS pixels."""
    try:
        with Image.open(source) as im:
            if im.width * im.height > MAX_PIXELS:
                raise NodeInputError(f"{NODE}: {what} is {im.width}x{im.height}; the limit is {MAX_PIXELS} pixels "
                                     f"({MAX_SIDE}x{MAX_SIDE})")
            rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255
    except (OSError, Image.DecompressionBombError, ValueError) as e:
        if isinstance(e, NodeInputError):
            raise
        raise NodeInputError(f"{NODE}: {what} is not a readable image ({e})") from None
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
    return fit(decode_rgba(input_path(name, "painting"), "painting"), width, height)


def load_background(name: str) -> torch.Tensor | None:
    """The background image `[1, H, W, 3]` a `background_file` names in the input folder; None for an empty name."""
    if not name.strip():
        return None
    return decode_rgba(input_path(name, "background_file"), "background_file")[None, ..., :3]


def file_hash(name: str, what: str) -> str:
    return hashlib.sha256(open(input_path(name, what), "rb").read()).hexdigest() if name.strip() else ""


def palette_map(painting: torch.Tensor, background: torch.Tensor | None) -> torch.Tensor:
    """IMAGE `[1, H, W, 3]`: the strokes over the background image (white without one; fitted as it is encoded),
    e.g. an SDEdit guide."""
    H, W = painting.shape[:2]
    under = torch.ones(H, W, 3) if background is None else cover(background[:1, ..., :3].float().cpu(), (H, W))[0]
    alpha = painting[..., 3:]
    return (painting[..., :3] * alpha + under * (1 - alpha))[None]


def brush_region(clip, brush: Brush | None, mask: torch.Tensor, background_prompt: str) -> Region:
    """A painted brush as a region; `None` (nothing painted) is the background prompt over the whole canvas."""
    if brush is None:
        return Region(positive=encode_text(clip, background_prompt), negative=encode_text(clip, ""), mask=mask,
                      mask_blur_std=0.0, label="background", clip=clip)
    return Region(positive=encode_text(clip, brush.prompt), negative=encode_text(clip, brush.negative), mask=mask,
                  mask_strength=brush.mask_strength, mask_blur_std=brush.blur,
                  prompt_strength=brush.prompt_strength, label=brush.prompt[:40], clip=clip)


def canvas_outputs(clip, table: tuple[Brush, ...], background_prompt: str, painting: torch.Tensor,
                   background_image: torch.Tensor | None, vae) -> tuple[RegionStack, torch.Tensor, torch.Tensor]:
    """REGIONS (painted brushes in table order; the background prompt as a region under them, or over the whole
    canvas when nothing is painted), the palette map IMAGE and one MASK per brush."""
    H, W = painting.shape[:2]
    with node_errors(NODE):
        masks = painting_masks(painting, table) if table else torch.zeros(1, H, W)
        painted = painted_regions(painting, table)
    stack = RegionStack(regions=tuple(brush_region(clip, b, m, background_prompt) for b, m in painted),
                        background_positive=encode_text(clip, background_prompt) if painted[0][0] else None,
                        background_image=background_image, vae=vae, clip=clip)
    return stack, palette_map(painting, background_image), masks


class SemanticDrawCanvas(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SemanticDrawCanvas",
            display_name="SemanticDraw Canvas",
            category="SemanticDraw",
            description="Paint with brushes that each carry a prompt; a later brush paints over earlier ones. Outputs "
                        "the painted regions for the Sampler, Guider and Stream Sampler, the palette map and the "
                        "masks. "
                        "Live (in the node) streams frames that follow your strokes; Stop returns the last frame.",
            inputs=[
                io.Int.Input("width", default=512, min=8, max=MAX_SIDE, step=8, tooltip="Canvas width in pixels."),
                io.Int.Input("height", default=512, min=8, max=MAX_SIDE, step=8, tooltip="Canvas height in pixels."),
                io.String.Input("brushes", default=DEFAULT_BRUSHES,
                                tooltip="The brush table as compact JSON: colour, prompt, negative, mask_strength, "
                                        "blur (pixels), prompt_strength; at most 64 brushes."),
                io.String.Input("background_prompt", multiline=True, default="a sunny landscape",
                                tooltip="What unpainted pixels show; also the target of each brush's prompt_strength."),
                io.String.Input("painting", default="",
                                tooltip="The painting's file in ComfyUI's input folder (content-hash name, saved by "
                                        "the canvas); empty = a blank canvas."),
                io.String.Input("background_file", default="", optional=True,
                                tooltip="An uploaded background image in the input folder (the background_image input "
                                        "wins); needs the vae."),
                io.Clip.Input("clip", tooltip="Encodes the brush and background prompts."),
                io.Model.Input("model", optional=True, tooltip="Live mode: the model that renders the frames."),
                io.Vae.Input("vae", optional=True, tooltip="Encodes the background image; Live mode: decodes frames."),
                io.Image.Input("background_image", optional=True, tooltip="Unpainted pixels follow this image."),
                io.Boolean.Input("live", default=False, optional=True,
                                 tooltip="Set by the canvas' Live button for one run: stream frames until Stop."),
                io.Int.Input("seed", default=0, min=0, max=0xffffffffffffffff, optional=True,
                             control_after_generate=True,
                             tooltip="Live mode: seeds the per-slot noises."),
                io.String.Input("t_index_list", default="0,16,32,45", optional=True,
                                tooltip="Live mode: stream slots as indices into a schedule of 50 steps (LCM)."),
                io.Combo.Input("scheduler", options=comfy.samplers.SCHEDULER_NAMES, default="sgm_uniform",
                               optional=True, tooltip="Live mode: scheduler of the 50-step schedule."),
                io.Combo.Input("cfg_type", options=list(CFG_TYPES), default="none", optional=True,
                               tooltip="Live mode: residual CFG (self/initialize are almost free)."),
                io.Float.Input("cfg", default=1.2, min=0.0, max=30.0, step=0.05, optional=True,
                               tooltip="Live mode: guidance scale (ignored with cfg_type none)."),
                io.Combo.Input("preview", options=list(PREVIEWS), default="vae", optional=True,
                               tooltip="Live mode: frames decoded by the vae, or approximated from the latent "
                                       "(latent2rgb: fast and blurry, as core's sampler previews)."),
            ],
            outputs=[Regions.Output(display_name="regions", tooltip="One region per brush, for a sampler."),
                     io.Image.Output(display_name="palette_map", tooltip="The painting as a colour-coded map."),
                     io.Mask.Output(display_name="masks", tooltip="One mask per brush, in table order."),
                     io.Image.Output(display_name="live_frame",
                                     tooltip="Live mode: the last frame when you pressed Stop (blocked otherwise).")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def fingerprint_inputs(cls, painting="", background_file="", live=False, **kwargs):
        if live:
            return secrets.token_hex(16)  # every Live press is a new session
        return f"{file_hash(painting, 'painting')}:{file_hash(background_file or '', 'background_file')}"

    @classmethod
    def execute(cls, width, height, brushes, background_prompt, painting, clip, background_file="", model=None,
                vae=None, background_image=None, live=False, seed=0, t_index_list="0,16,32,45",
                scheduler="sgm_uniform", cfg_type="none", cfg=1.2, preview="vae") -> io.NodeOutput:
        with node_errors(NODE):
            check_canvas_size(width, height)
            table = parse_brushes(brushes)
            check_prompt(background_prompt, "background_prompt")
        if clip is None:
            raise NodeInputError(f"{NODE}: clip is missing; the checkpoint has no text encoder")
        image = load_painting(painting, width, height)
        if background_image is None:
            background_image = load_background(background_file or "")
        if background_image is not None and vae is None:
            raise NodeInputError(f"{NODE}: vae is missing; a background image needs it to be encoded")
        if not live:
            return io.NodeOutput(*canvas_outputs(clip, table, background_prompt, image, background_image, vae),
                                 ExecutionBlocker(None))
        if model is None or vae is None:
            raise NodeInputError(f"{NODE}: Live needs the model and the vae inputs connected")
        try:
            frame, state = run_live_canvas(cls.hidden.unique_id, model, clip, vae, table, background_prompt, image,
                                           background_image, seed, t_index_list, scheduler, cfg_type, cfg, preview)
        except LiveAbort:
            raise comfy.model_management.InterruptProcessingException() from None
        return io.NodeOutput(*canvas_outputs(clip, *state, vae), frame)
