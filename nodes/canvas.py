"""`SemanticDrawCanvas`: paint with prompt-carrying brushes (web/semanticdraw_canvas.js) and get regions, or
watch the picture follow the brush in Live mode (the stream runs in this node's execute, on ComfyUI's executor).

The painting is a PNG in ComfyUI's input folder under a content-hash name (saved by the frontend through core's
/upload/image); the node reads it from there, confined to the input folder, so /prompt works without a browser.
"""
from __future__ import annotations

import secrets
from functools import partial

import torch

import comfy.model_management
import comfy.samplers
from comfy_api.latest import io
from comfy_execution.graph_utils import ExecutionBlocker

from ..engine.live import MAX_SIDE, LiveAbort, check_canvas_size, check_prompt, painting_masks, parse_brushes
from ..engine.stream import CFG_TYPES
from .host.canvas import NODE, canvas_stack, file_hash, load_background, load_painting, palette_map
from .host.conditioning import encode_text
from .host.errors import NodeInputError, node_errors
from .host.live import HUB, PREVIEWS, prompt_server, run_live_canvas
from .host.regions import Regions

DEFAULT_BRUSHES = ('[{"colour":"#87ceeb","prompt":"a clear blue sky","negative":"","mask_strength":1,"blur":8,'
                   '"prompt_strength":0.95},{"colour":"#228b22","prompt":"a green meadow","negative":"",'
                   '"mask_strength":1,"blur":8,"prompt_strength":0.95}]')


def canvas_outputs(clip, table, background_prompt: str, painting, background_image, vae) -> tuple:
    """The node's REGIONS (`canvas_stack`), palette map IMAGE and one MASK per brush in table order."""
    H, W = painting.shape[:2]
    with node_errors(NODE):
        masks = painting_masks(painting, table) if table else torch.zeros(1, H, W)
        stack = canvas_stack(partial(encode_text, clip), table, background_prompt, painting, background_image, vae,
                             clip)
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
                        "masks. Live streams frames that follow your strokes, on the node and in the Editor; Stop "
                        "returns the last frame.",
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
                io.Boolean.Input("progressive", default=True, optional=True,
                                 tooltip="Live mode: show each stroke in the very next frame, rough, sharpening over "
                                         "the following frames (each pixel from the most advanced stream slot that "
                                         "has seen its latest edit); off shows the plain stream output, where an "
                                         "edit takes as many frames as there are slots."),
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
                scheduler="sgm_uniform", cfg_type="none", cfg=1.2, preview="vae", progressive=True) -> io.NodeOutput:
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
            frame, state = run_live_canvas(HUB, prompt_server(), cls.hidden.unique_id, model, clip, vae, table,
                                           background_prompt, image, background_image, seed, t_index_list, scheduler,
                                           cfg_type, cfg, preview, progressive)
        except LiveAbort:
            raise comfy.model_management.InterruptProcessingException() from None
        return io.NodeOutput(*canvas_outputs(clip, *state, vae), frame)
