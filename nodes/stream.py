"""Streaming multi-region sampler node (ALGORITHM.md section 8) over the engine's StreamEngine.

Frame `i` enters the pipeline at call `i` with the masks and prompts of frame `i`; every slot
uses the current masks and prompts at each call, so edits show within `T` frames and frames
change smoothly. Warm-up: the first returned frame is the first that went through all `T`
slots; with `include_warmup`, the `T-1` partially denoised frames before it come first.
"""
from __future__ import annotations

import torch

import comfy.model_management
import comfy.model_patcher
import comfy.sampler_helpers
import comfy.samplers
import latent_preview
from comfy_api.latest import io

from ..engine import MASK_TYPES, SemanticDrawInputError
from ..engine.schedule_text import parse_prompt_schedule, parse_t_index_list
from ..engine.scene import Text, check_strengths
from ..engine.stream import CFG_TYPES, PromptKey, StreamConfig, StreamEngine, StreamRegion
from .checks import interruptible
from .host import HostDenoiser, noise_space
from .regions import NodeInputError, RegionStack, Regions, check_choices, check_finite, check_latent, node_errors
from .scene import (background_latent, encode_text, lerp_conditioning, resolve, text_encoder, white_latent,
                    zero_conditioning)

NODE = "SemanticDraw Stream Sampler"


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


def host_prompts(stack: RegionStack, changes: dict, clip) -> dict:
    """Handles of the stream's prompts -> CONDITIONING: regions' positives and negatives (a missing negative
    is the zeroed positive), scheduled prompts, and the background prompt."""
    raw = {("pos", i, None): r.positive for i, r in enumerate(stack.regions)}
    raw.update({("neg", i, None): r.negative if r.negative is not None else zero_conditioning(r.positive)
                for i, r in enumerate(stack.regions)})
    raw.update({("pos", r, text): encode_text(clip, text) for r, v in changes.items() for _, text in v})
    if stack.background_positive is not None:
        raw["bg"] = stack.background_positive
        raw["bgneg"] = (stack.background_negative if stack.background_negative is not None
                        else zero_conditioning(stack.background_positive))
    return raw


def negative_partners(raw: dict) -> dict:
    """Each negative handle of `host_prompts` -> the positive it is the uncond of (core fills a negative in from its
    positive: GLIGEN, ControlNetApply's control, areas)."""
    partners = {key: ("pos", key[1], None) for key in raw if isinstance(key, tuple) and key[0] == "neg"}
    return partners | ({"bgneg": "bg"} if "bgneg" in raw else {})


class HostPrompts:
    """The stream session's `encode` (engine/stream.py): a `PromptKey` of host handles or `scene.Text`
    targets -> processed cond dicts, blended by prompt strength (section 3); a negative is processed with its
    positive, as core processes a prompt's pair."""

    def __init__(self, raw: dict, clip, process):
        self.raw, self.clip, self.process, self.texts = raw, clip, process, {}
        self.partners = negative_partners(raw)

    def conditioning(self, handle) -> list:
        return resolve(handle, self.clip, self.texts) if isinstance(handle, Text) else self.raw[handle]

    def __call__(self, key: PromptKey) -> list[dict]:
        cond = self.conditioning(key.prompt)
        if key.background is not None and key.strength != 1.0:
            cond = lerp_conditioning(self.conditioning(key.background), cond, key.strength)
        partner = self.partners.get(key.prompt)
        return self.process(cond, None if partner is None else self.raw[partner])


class StreamJob:
    """One Stream Sampler run: per-frame masks and prompts fed to a stream session, frames collected."""

    def __init__(self, model, stack: RegionStack, config: StreamConfig, seed: int, frame_count: int,
                 include_warmup: bool, masks: list[torch.Tensor], changes: dict, raw: dict, clip):
        self.model, self.stack, self.config, self.seed = model, stack, config, seed
        self.frame_count, self.include_warmup, self.masks, self.changes = frame_count, include_warmup, masks, changes
        self.raw, self.clip = raw, clip

    def regions(self, frame: int) -> list[StreamRegion]:
        """The scene of `frame`: its masks and the prompts the schedule gives it."""
        out = []
        for i, r in enumerate(self.stack.regions):
            text = next((t for f, t in reversed(self.changes.get(i, [])) if f <= frame), None)
            out.append(StreamRegion(prompt=("pos", i, text), negative=("neg", i, None),
                                    mask=self.masks[i][min(frame, len(self.masks[i]) - 1)],
                                    mask_strength=r.mask_strength, mask_blur_std=r.mask_blur_std,
                                    prompt_strength=r.prompt_strength))
        return out

    def session(self, guider: "StreamGuider", base_latent: torch.Tensor, device) -> StreamEngine:
        """A stream session over the loaded model, with the stack's background (engine/scene.py)."""
        inner, stack = guider.inner_model, self.stack
        C, h, w = base_latent.shape[1:]
        ratio = stack.vae.spacial_compression_encode() if stack.vae is not None else 8
        size = (h * ratio, w * ratio)
        white = white_latent(stack.vae, inner.latent_format, C, size, (h, w)).to(device)
        latent = background_latent(stack, inner.latent_format, size, (h, w), NODE)
        stream = StreamEngine(guider.denoiser_for, HostPrompts(self.raw, self.clip, guider.process),
                              noise_space(inner.model_sampling), (C, h, w), size, self.config, white=white,
                              seed=self.seed, device=device, dtype=base_latent.dtype)
        has_bg = "bg" in self.raw
        stream.update(background_prompt="bg" if has_bg else None, background_negative="bgneg" if has_bg else None,
                      background_latent=None if latent is None else latent.to(device))
        return stream

    def run(self, guider: "StreamGuider", base_latent: torch.Tensor, device) -> torch.Tensor:
        """All calls of the run (warm-up included); returns the kept frames `[N, C, h, w]`."""
        stream = self.session(guider, base_latent, device)
        T, f = len(self.config.sigmas), self.config.frame_buffer
        calls = self.frame_count + T - 1
        callback = latent_preview.prepare_callback(self.model, calls)
        base = base_latent[:1].expand(f, -1, -1, -1) if torch.count_nonzero(base_latent) > 0 else None
        out = []
        with node_errors(NODE):
            for call in range(calls):
                stream.update(regions=self.regions(min(call, self.frame_count - 1)))
                frame = stream.step(base)
                if self.include_warmup or call >= T - 1:
                    out.append(frame)
                callback(call, frame[:1], frame[:1], calls)
        return torch.cat(out)


class StreamGuider(comfy.samplers.CFGGuider):
    """Loads the model and processes conditionings as any guider, then runs a stream instead of a sampler."""

    def __init__(self, model_patcher, job: StreamJob):
        super().__init__(model_patcher)
        self.job = job
        self.inner_set_conds({})

    def inner_sample(self, noise, latent_image, device, sampler, sigmas, denoise_mask, callback, disable_pbar, seed):
        if torch.count_nonzero(latent_image) > 0:
            latent_image = self.inner_model.process_latent_in(latent_image)
        self.run_options = interruptible(comfy.model_patcher.create_model_options_clone(self.model_options))
        self.run_inputs = (noise, device, latent_image, seed)
        frames = self.job.run(self, latent_image, device)
        return self.inner_model.process_latent_out(frames.to(torch.float32))

    def process(self, cond: list, positive: list | None = None) -> list[dict]:
        """A CONDITIONING processed for this model and canvas, as core processes a prompt; a negative with its
        `positive`, so that it gets core's uncond fill-ins (the positive's GLIGEN, ControlNetApply's control, areas)."""
        noise, device, latent_image, seed = self.run_inputs
        kind = "positive" if positive is None else "negative"
        conds = {kind: comfy.sampler_helpers.convert_cond(cond)}
        if positive is not None:
            conds["positive"] = comfy.sampler_helpers.convert_cond(positive)
        processed = comfy.samplers.process_conds(self.inner_model, noise, conds, device, latent_image, None, seed)
        return processed[kind]

    def denoiser_for(self, conds: list) -> HostDenoiser:
        return HostDenoiser(self.inner_model, list(conds), [], 1.0, self.run_options)


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
            masks = frame_masks(regions, frame_count)
            changes = parse_prompt_schedule(prompt_schedule or "", len(regions.regions), frame_count)
        if changes and clip is None:
            raise NodeInputError(f"{NODE}: clip is missing; prompt_schedule needs it to encode its prompts")
        clip = clip if clip is not None else text_encoder(regions)
        with node_errors(NODE):
            check_strengths([r.prompt_strength for r in regions.regions],
                            regions.background_positive is not None or clip is not None)
        job = StreamJob(model, regions, config, seed, frame_count, include_warmup, masks, changes,
                        host_prompts(regions, changes, clip), clip)
        latent = latent_image["samples"][:1]
        # core's prepare_sampling loads the model for cond + uncond of the noise batch: it carries half the real
        # batch of one call, T slots x f frames x p regions (x2 at most with full/initialize residual CFG)
        p = len(regions.regions) + int(regions.background_positive is not None)
        batch = len(config.sigmas) * frame_buffer * p * (2 if cfg_type in ("full", "initialize") else 1)
        noise = torch.zeros(((batch + 1) // 2, *latent.shape[1:]), dtype=latent.dtype)
        frames = StreamGuider(model, job).sample(noise, latent, None, config.sigmas, seed=seed)
        return io.NodeOutput({"samples": frames.to(comfy.model_management.intermediate_device())})
