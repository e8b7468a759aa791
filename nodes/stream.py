"""Streaming multi-region sampler node (ALGORITHM.md section 8) over the engine's StreamEngine.

Frame `i` enters the pipeline at call `i` with the masks and prompts of frame `i`; every slot
uses the current masks and prompts at each call, so edits show within `T` frames and frames
change smoothly. Warm-up: the first returned frame is the first that went through all `T`
slots; with `include_warmup`, the `T-1` partially denoised frames before it come first.
"""
from __future__ import annotations

import comfy.model_management
import comfy.samplers
from comfy_api.latest import io

from ..engine import MASK_TYPES, SemanticDrawInputError
from ..engine.scene import check_strengths, region_count
from ..engine.schedule_text import parse_prompt_schedule, parse_t_index_list
from ..engine.stream import CFG_TYPES, StreamConfig
from .host.conditioning import check_stack, stack_kind, text_encoder
from .host.errors import NodeInputError, check_choices, check_finite, check_latent, node_errors
from .host.regions import Regions, RegionStack
from .host.stream import FrameSequence, StreamHost

NODE = "SemanticDraw Stream Sampler"


def check_frame_masks(stack: RegionStack, frames: int) -> None:
    """A region's mask batch must have one mask per frame or just one."""
    for i, r in enumerate(stack.regions):
        m = r.mask if r.mask.ndim == 3 else r.mask[None]
        if m.shape[0] not in (1, frames):
            raise SemanticDrawInputError(f"regions[{i}].mask", f"has a batch of {m.shape[0]} masks but frame_count is "
                                                               f"{frames}; give one mask per frame or a single mask")


class SemanticDrawStreamSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SemanticDrawStreamSampler",
            display_name="SemanticDraw Stream Sampler",
            category="SemanticDraw",
            description="Streams frames with the timestep-staggered stream batch: T latents in flight, one per "
                        "schedule slot, all slots and regions in ONE model call per frame. Region masks may be "
                        "batches (one mask per frame) and prompts may change at given frames, so a drawing session "
                        "becomes a frame sequence. Output: a batch of frame latents.",
            inputs=[
                io.Model.Input("model",
                               tooltip="Any model ComfyUI loads: SD1.x/2.x, SDXL, SD3, Flux, ... with LoRAs and "
                                       "patches."),
                Regions.Input("regions", tooltip="Masks may be batches with one mask per frame."),
                io.Latent.Input("latent_image",
                                tooltip="The canvas (its size); a non-empty latent is the base that slot 0 noises."),
                io.Int.Input("seed", default=0, min=0, max=0xffffffffffffffff, control_after_generate=True,
                             tooltip="Seeds the fixed per-slot noises: the same seed gives the same frames."),
                io.Int.Input("frame_count", default=8, min=1, max=4096, tooltip="Frames to return (after warm-up)."),
                io.String.Input("t_index_list", default="0,4,12,25,37",
                                tooltip="Slots as indices into a schedule of schedule_length steps; empty = `steps` "
                                        "evenly."),
                io.Int.Input("schedule_length", default=50, min=1, max=1000,
                             tooltip="Steps of the schedule t_index_list indexes (LCM: 50)."),
                io.Int.Input("steps", default=4, min=1, max=100, tooltip="Slots when t_index_list is empty."),
                io.Combo.Input("scheduler", options=comfy.samplers.SCHEDULER_NAMES, default="sgm_uniform",
                               tooltip="Scheduler of the base schedule (sgm_uniform for LCM, simple for flow)."),
                io.Combo.Input("cfg_type", options=list(CFG_TYPES), default="none",
                               tooltip="Residual CFG: self/initialize reuse the stored noise as the negative, so "
                                       "CFG is (almost) free."),
                io.Float.Input("cfg", default=1.2, min=0.0, max=30.0, step=0.05,
                               tooltip="Guidance scale (ignored with cfg_type none)."),
                io.Float.Input("delta", default=1.0, min=0.0, max=2.0, step=0.01,
                               tooltip="Scale of the stored noise in residual CFG."),
                io.Int.Input("frame_buffer", default=1, min=1, max=16,
                             tooltip="Latents per slot per call: each call emits this many variations of the frame."),
                io.Int.Input("bootstrap_steps", default=1, min=0, max=100,
                             tooltip="Slots in which each region is drawn alone, centred, on a plain background."),
                io.Float.Input("bootstrap_mix_steps", default=1.0, min=0.0, max=100.0, step=0.1,
                               tooltip="Slots over which the bootstrap background fades from white."),
                io.Float.Input("leak_sensitivity", default=0.0, min=0.0, max=10.0, step=0.01,
                               tooltip="Down-weights bootstrapped predictions that look like the background (0 = "
                                       "off)."),
                io.Combo.Input("mask_type", options=list(MASK_TYPES), default="continuous",
                               tooltip="Per-slot mask quantization; continuous suits moving masks."),
                io.Float.Input("cover_alpha", default=0.3, min=0.0, max=1.0, step=0.01,
                               tooltip="Weight kept by a region where a later region covers it; 0 or 1 = no covering."),
                io.Boolean.Input("include_warmup", default=False,
                                 tooltip="Also return the T-1 partially denoised frames that fill the pipeline."),
                io.Int.Input("max_batch", default=64, min=1, max=4096,
                             tooltip="Refuse stream batches (T*f*p) above this."),
                io.String.Input("prompt_schedule", multiline=True, default="", optional=True,
                                tooltip="Prompt changes, one 'region@frame: prompt' per line (region 1 = first in "
                                        "the stack)."),
                io.Clip.Input("clip", optional=True,
                              tooltip="Encodes prompt_schedule prompts, and the prompt_strength target "
                                      "('simple white background image') when there is no background prompt."),
            ],
            outputs=[io.Latent.Output(display_name="frames", tooltip="One latent per frame, in order (a batch).")],
        )

    @classmethod
    def execute(cls, model, regions, latent_image, seed, frame_count, t_index_list, schedule_length, steps, scheduler,
                cfg_type, cfg, delta, frame_buffer, bootstrap_steps, bootstrap_mix_steps, leak_sensitivity, mask_type,
                cover_alpha, include_warmup, max_batch, prompt_schedule="", clip=None) -> io.NodeOutput:
        check_finite(NODE, cfg=cfg, delta=delta, bootstrap_mix_steps=bootstrap_mix_steps,
                     leak_sensitivity=leak_sensitivity, cover_alpha=cover_alpha)
        check_choices(NODE, scheduler=(scheduler, comfy.samplers.SCHEDULER_NAMES), cfg_type=(cfg_type, CFG_TYPES),
                      mask_type=(mask_type, MASK_TYPES))
        check_latent(NODE, "latent_image", latent_image, model)
        with node_errors(NODE):
            sampling = model.get_model_object("model_sampling")
            if t_index_list.strip():
                base = comfy.samplers.calculate_sigmas(sampling, scheduler, schedule_length)
                sigmas = base[parse_t_index_list(t_index_list, schedule_length)]
            else:
                sigmas = comfy.samplers.calculate_sigmas(sampling, scheduler, steps)[:-1]
            config = StreamConfig(sigmas=sigmas.cpu(), frame_buffer=frame_buffer, cfg_type=cfg_type, guidance=cfg,
                                  delta=delta, mask_type=mask_type, cover_alpha=cover_alpha,
                                  bootstrap_steps=bootstrap_steps, bootstrap_mix_steps=bootstrap_mix_steps,
                                  leak=leak_sensitivity, max_batch=max_batch)
            check_frame_masks(regions, frame_count)
            changes = parse_prompt_schedule(prompt_schedule or "", len(regions.regions), frame_count)
        if changes and clip is None:
            raise NodeInputError(f"{NODE}: clip is missing; prompt_schedule needs it to encode its prompts")
        clip = clip if clip is not None else text_encoder(regions)
        check_stack(NODE, regions, model)
        with node_errors(NODE):
            check_strengths([r.prompt_strength for r in regions.regions],
                            regions.background_positive is not None or clip is not None)
        host = StreamHost(model, config, seed, clip, regions.vae, NODE)
        frames = host.run(latent_image["samples"][:1], region_count(len(regions.regions), stack_kind(regions)),
                          FrameSequence(regions, frame_count, include_warmup, changes))
        return io.NodeOutput({"samples": frames.to(comfy.model_management.intermediate_device())})
