"""Run-time guards of the samplers: a memory estimate before the first model call, and interrupt before each.

(Input checks that name a node's input live with the error helpers in errors.py; the pure rules and byte counts
in engine/checks.py.)
"""
from __future__ import annotations

import torch

import comfy.model_management

from ...engine.checks import plan_bytes, require_memory, step_bytes
from ...engine.views import get_views
from .errors import node_errors

CALL_SAFETY = 1.5  # core's and HostDenoiser's factor over model.memory_required for one call
MAX_CALLS_PER_STEP = 8  # a step's batch may be split into at most this many model calls, else the run is refused


def check_canvas_memory(node: str, model, latent_shape: tuple[int, ...], image_size: tuple[int, int], regions: int,
                        steps: int, tile: int, uncond: bool, device) -> None:
    """Fail fast, before any model call, when a canvas cannot fit (ALGORITHM.md sections 2, 4 and 6): mask
    processing at image size and one step's batch of views in RAM, plus the model call of one step's batch
    (core's own estimate, `model.memory_required`) split into at most `MAX_CALLS_PER_STEP` calls on the model's
    device. Beyond that a run would crawl through many calls per step (and grow to most of the free memory)."""
    B, C, h, w = latent_shape[0], latent_shape[1], latent_shape[-2], latent_shape[-1]
    y0, y1, x0, x1 = get_views(h, w, tile)[0]
    view = (C, y1 - y0, x1 - x0)
    batch = B * len(get_views(h, w, tile)) * regions * (2 if uncond else 1)
    ram = plan_bytes(regions, image_size, (h, w), steps) + step_bytes(batch, view)
    call = model.memory_required([-(-batch // MAX_CALLS_PER_STEP), *view]) * CALL_SAFETY
    cpu = torch.device("cpu")
    on_cpu = torch.device(device).type == "cpu"
    what = f"a {image_size[1]}x{image_size[0]} canvas with {regions} regions ({batch} views per step)"
    advice = "use a smaller latent (width/height), fewer regions or a smaller tile_size"
    with node_errors(node):
        require_memory("canvas", ram + (call if on_cpu else 0), comfy.model_management.get_free_memory(cpu),
                       what, advice)
        if not on_cpu:
            require_memory("canvas", call, comfy.model_management.get_free_memory(device), f"one model call of {what}",
                           advice)


class InterruptBeforeCall:
    """`model_function_wrapper` that raises ComfyUI's interrupt before every model call, then runs the wrapper it
    wraps (or the model): after an interrupt at most the call in flight finishes, even when a step is split."""

    def __init__(self, inner=None):
        self.inner = inner

    def __call__(self, apply_model, args: dict):
        comfy.model_management.throw_exception_if_processing_interrupted()
        if self.inner is not None:
            return self.inner(apply_model, args)
        return apply_model(args["input"], args["timestep"], **args["c"])


def interruptible(model_options: dict) -> dict:
    """A copy of `model_options` whose model calls check for interrupt first (copy on write, as core patches)."""
    wrapper = model_options.get("model_function_wrapper")
    if isinstance(wrapper, InterruptBeforeCall):
        return model_options
    return {**model_options, "model_function_wrapper": InterruptBeforeCall(wrapper)}
