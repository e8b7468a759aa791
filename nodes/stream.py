"""Streaming multi-region sampler node (ALGORITHM.md section 8) over the engine's StreamEngine.

Frame `i` enters the pipeline at call `i` with the masks and prompts of frame `i`; every slot
uses the current masks and prompts at each call, so edits show within `T` frames and frames
change smoothly. Warm-up: the first returned frame is the first that went through all `T`
slots; with `include_warmup`, the `T-1` partially denoised frames before it come first.
"""
from __future__ import annotations

import re

import torch

import comfy.model_management
import comfy.model_patcher
import comfy.sampler_helpers
import comfy.samplers
import latent_preview
from comfy_api.latest import io

from ..engine import MASK_TYPES, SemanticDrawInputError
from ..engine.stream import CFG_TYPES, PromptKey, StreamConfig, StreamEngine, StreamRegion
from .guider import blend_conditioning, white_latent, zero_conditioning
from .host import HostDenoiser, noise_space
from .region_prompt import encode
from .regions import NodeInputError, Regions, RegionStack, node_errors

NODE = "SemanticDraw Stream Sampler"
SCHEDULE_LINE = re.compile(r"^\s*(\d+)\s*@\s*(\d+)\s*:\s*(.*?)\s*$")


def parse_t_index_list(text: str, length: int) -> list[int]:
    """`'0, 4, 12'` -> strictly increasing indices into a schedule of `length` steps."""
    try:
        idx = [int(v) for v in re.split(r"[,\s]+", text.strip()) if v]
    except ValueError:
        raise SemanticDrawInputError("t_index_list", f"'{text}' is not a comma-separated list of integers") from None
    if any(b <= a for a, b in zip(idx, idx[1:])):
        raise SemanticDrawInputError("t_index_list", f"indices must be strictly increasing, got {idx}")
    if idx and (idx[0] < 0 or idx[-1] >= length):
        raise SemanticDrawInputError("t_index_list", f"indices must lie in [0, {length - 1}], got {idx}")
    return idx


def parse_prompt_schedule(text: str, regions: int, frames: int) -> dict[int, list[tuple[int, str]]]:
    """`'R@F: prompt'` lines (region R counted from 1 in stack order, from frame F on) -> per-region changes."""
    out: dict[int, list[tuple[int, str]]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = SCHEDULE_LINE.match(line)
        if not m:
            raise SemanticDrawInputError("prompt_schedule", f"line {n}: '{line.strip()}' is not 'region@frame: prompt'")
        r, f, prompt = int(m[1]), int(m[2]), m[3]
        if not 1 <= r <= regions:
            raise SemanticDrawInputError("prompt_schedule", f"line {n}: region {r} does not exist (1..{regions})")
        if not 0 <= f < frames:
            raise SemanticDrawInputError("prompt_schedule", f"line {n}: frame {f} is outside 0..{frames - 1}")
        out.setdefault(r - 1, []).append((f, prompt))
    return {r: sorted(v) for r, v in out.items()}


def frame_masks(stack: RegionStack, frames: int) -> list[torch.Tensor]:
    """Each region's masks as `[frames or 1, H, W]`; a batch must have one mask per frame or just one."""
    out = []
    for i, r in enumerate(stack.regions):
        m = r.mask if r.mask.ndim == 3 else r.mask[None]
        if m.shape[0] not in (1, frames):
            raise SemanticDrawInputError(f"regions[{i}].mask", f"has a batch of {m.shape[0]} masks but frame_count is "
                                                               f"{frames}; give one mask per frame or a single mask")
        out.append(m)
    return out


class StreamGuider(comfy.samplers.CFGGuider):
    """Loads the model and processes conditionings as any guider, then runs a stream instead of a sampler."""

    def __init__(self, model_patcher, run):
        super().__init__(model_patcher)
        self.run = run
        self.inner_set_conds({})

    def inner_sample(self, noise, latent_image, device, sampler, sigmas, denoise_mask, callback, disable_pbar, seed):
        if torch.count_nonzero(latent_image) > 0:
            latent_image = self.inner_model.process_latent_in(latent_image)
        model_options = comfy.model_patcher.create_model_options_clone(self.model_options)

        def process(cond: list) -> list[dict]:
            conds = comfy.samplers.process_conds(self.inner_model, noise, {"positive": comfy.sampler_helpers.convert_cond(cond)},
                                                 device, latent_image, None, seed)
            return conds["positive"]

        frames = self.run(self.inner_model, process, latent_image, model_options, device)
        return self.inner_model.process_latent_out(frames.to(torch.float32))


class SemanticDrawStreamSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SemanticDrawStreamSampler",
            display_name="SemanticDraw Stream Sampler",
            category="SemanticDraw",
            description="Streams frames with the timestep-staggered stream batch: T latents in flight, one per schedule "
                        "slot, all slots and regions in ONE model call per frame. Region masks may be batches (one mask "
                        "per frame) and prompts may change at given frames, so a drawing session becomes a frame "
                        "sequence. Output: a batch of frame latents.",
            inputs=[
                io.Model.Input("model", tooltip="Any model ComfyUI loads: SD1.x/2.x, SDXL, SD3, Flux, ... with LoRAs and patches."),
                Regions.Input("regions", tooltip="Masks may be batches with one mask per frame."),
                io.Latent.Input("latent_image", tooltip="The canvas (its size); a non-empty latent is the base that slot 0 noises."),
                io.Int.Input("seed", default=0, min=0, max=0xffffffffffffffff, control_after_generate=True,
                             tooltip="Seeds the fixed per-slot noises: the same seed gives the same frames."),
                io.Int.Input("frame_count", default=8, min=1, max=4096, tooltip="Frames to return (after warm-up)."),
                io.String.Input("t_index_list", default="0,4,12,25,37",
                                tooltip="Slots as indices into a schedule of schedule_length steps; empty = `steps` evenly."),
                io.Int.Input("schedule_length", default=50, min=1, max=1000, tooltip="Steps of the schedule t_index_list indexes (LCM: 50)."),
                io.Int.Input("steps", default=4, min=1, max=100, tooltip="Slots when t_index_list is empty."),
                io.Combo.Input("scheduler", options=comfy.samplers.SCHEDULER_NAMES, default="sgm_uniform",
                               tooltip="Scheduler of the base schedule (sgm_uniform for LCM, simple for flow)."),
                io.Combo.Input("cfg_type", options=list(CFG_TYPES), default="none",
                               tooltip="Residual CFG: self/initialize reuse the stored noise as the negative, so CFG is (almost) free."),
                io.Float.Input("cfg", default=1.2, min=0.0, max=30.0, step=0.05, tooltip="Guidance scale (ignored with cfg_type none)."),
                io.Float.Input("delta", default=1.0, min=0.0, max=2.0, step=0.01, tooltip="Scale of the stored noise in residual CFG."),
                io.Int.Input("frame_buffer", default=1, min=1, max=16,
                             tooltip="Latents per slot per call: each call emits this many variations of the frame."),
                io.Int.Input("bootstrap_steps", default=1, min=0, max=100, tooltip="Slots in which each region is drawn alone, centred, on a plain background."),
                io.Float.Input("bootstrap_mix_steps", default=1.0, min=0.0, max=100.0, step=0.1, tooltip="Slots over which the bootstrap background fades from white."),
                io.Float.Input("leak_sensitivity", default=0.0, min=0.0, max=10.0, step=0.01, tooltip="Down-weights bootstrapped predictions that look like the background (0 = off)."),
                io.Combo.Input("mask_type", options=list(MASK_TYPES), default="continuous", tooltip="Per-slot mask quantization; continuous suits moving masks."),
                io.Float.Input("cover_alpha", default=0.3, min=0.0, max=1.0, step=0.01, tooltip="Weight kept by a region where a later region covers it."),
                io.Boolean.Input("include_warmup", default=False,
                                 tooltip="Also return the T-1 partially denoised frames that fill the pipeline."),
                io.Int.Input("max_batch", default=64, min=1, max=4096, tooltip="Refuse stream batches (T*f*p) above this."),
                io.String.Input("prompt_schedule", multiline=True, default="", optional=True,
                                tooltip="Prompt changes, one 'region@frame: prompt' per line (region 1 = first in the stack)."),
                io.Clip.Input("clip", optional=True, tooltip="Encodes prompt_schedule prompts."),
            ],
            outputs=[io.Latent.Output(display_name="frames")],
        )

    @classmethod
    def execute(cls, model, regions, latent_image, seed, frame_count, t_index_list, schedule_length, steps, scheduler,
                cfg_type, cfg, delta, frame_buffer, bootstrap_steps, bootstrap_mix_steps, leak_sensitivity, mask_type,
                cover_alpha, include_warmup, max_batch, prompt_schedule="", clip=None) -> io.NodeOutput:
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
            masks = frame_masks(regions, frame_count)
            changes = parse_prompt_schedule(prompt_schedule or "", len(regions.regions), frame_count)
        if changes and clip is None:
            raise NodeInputError(f"{NODE}: clip is missing; prompt_schedule needs it to encode its prompts")
        raw = {("pos", i, None): r.positive for i, r in enumerate(regions.regions)}
        raw.update({("neg", i, None): r.negative if r.negative is not None else zero_conditioning(r.positive)
                    for i, r in enumerate(regions.regions)})
        raw.update({("pos", r, text): encode(clip, text) for r, v in changes.items() for _, text in v})
        if regions.background_positive is not None:
            raw["bg"] = regions.background_positive
            raw["bgneg"] = regions.background_negative if regions.background_negative is not None else zero_conditioning(regions.background_positive)

        def scene(frame: int) -> list[StreamRegion]:
            out = []
            for i, r in enumerate(regions.regions):
                text = next((t for f, t in reversed(changes.get(i, [])) if f <= frame), None)
                out.append(StreamRegion(prompt=("pos", i, text), negative=("neg", i, None), mask=masks[i][min(frame, len(masks[i]) - 1)],
                                        mask_strength=r.mask_strength, mask_blur_std=r.mask_blur_std,
                                        prompt_strength=r.prompt_strength))
            return out

        def run(inner_model, process, base_latent, model_options, device):
            def conditioning(key: PromptKey) -> list[dict]:
                cond = raw[key.prompt]
                target = raw.get(key.background) if key.background is not None else None
                if target is None and key.prompt[0] == "pos":
                    target = raw[("neg", key.prompt[1], None)]
                return process(blend_conditioning(cond, target, key.strength, 0))

            def denoiser_for(conds):
                return HostDenoiser(inner_model, list(conds), [], 1.0, model_options)

            C, h, w = base_latent.shape[1:]
            ratio = regions.vae.spacial_compression_encode() if regions.vae is not None else 8
            size = (h * ratio, w * ratio)
            fmt = inner_model.latent_format
            white = white_latent(regions.vae, fmt, C, size, (h, w)).to(device)
            background = None
            if regions.background_latent is not None:
                background = fmt.process_in(regions.background_latent[:1].to(device))
            stream = StreamEngine(denoiser_for, conditioning, noise_space(inner_model.model_sampling), (C, h, w), size,
                                  config, white=white, seed=seed, device=device, dtype=base_latent.dtype)
            stream.update(background_prompt="bg" if "bg" in raw else None,
                          background_negative="bgneg" if "bg" in raw else None, background_latent=background)
            T = len(config.sigmas)
            calls = frame_count + T - 1
            callback = latent_preview.prepare_callback(model, calls)
            base = base_latent[:1].expand(frame_buffer, -1, -1, -1) if torch.count_nonzero(base_latent) > 0 else None
            out = []
            with node_errors(NODE):
                for call in range(calls):
                    stream.update(regions=scene(min(call, frame_count - 1)))
                    frame = stream.step(base)
                    if include_warmup or call >= T - 1:
                        out.append(frame)
                    callback(call, frame[:1], frame[:1], calls)
            return torch.cat(out)

        shape = latent_image["samples"].shape
        latent = latent_image["samples"][:1]
        guider = StreamGuider(model, run)
        frames = guider.sample(torch.zeros((1,) + tuple(shape[1:])), latent, None, config.sigmas, seed=seed)
        return io.NodeOutput({"samples": frames.to(comfy.model_management.intermediate_device())})
