"""The one stream host (ALGORITHM.md section 8) of the Stream Sampler and the live canvas: an engine stream session
(`engine.stream.StreamEngine`) over a ComfyUI model, and everything between the two.

`StreamHost` turns a `RegionStack` into the stream's scene (prompts as handles the engine caches, masks, the
background prompt and latent), encodes and processes each prompt key once (a negative together with its positive,
as core processes a prompt pair, so it gets core's uncond fill-ins: GLIGEN, ControlNetApply's control, areas), makes
the white and background latents, and runs the session inside a `StreamGuider` that loads the model for the real
batch (T slots x f frames x p regions, x2 with full or initialize CFG). The Stream Sampler feeds it a frame sequence
(`frames`); the live canvas (`live.py`) feeds it edits.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Optional

import torch

import comfy.model_patcher
import comfy.sample
import comfy.sampler_helpers
import comfy.samplers
import latent_preview

from ...engine import scene
from ...engine.scene import is_empty_latent
from ...engine.stream import PromptKey, StreamConfig, StreamEngine, StreamRegion
from .checks import interruptible
from .conditioning import background_latent, encode_text, lerp_conditioning, white_latent, zero_conditioning
from .denoiser import HostDenoiser, noise_space
from .errors import node_errors
from .regions import RegionStack

TEXT_CACHE = 256  # encoded texts kept per session (typing a prompt makes one per edit)


class Handle:
    """A CONDITIONING as an engine prompt key: equal only to a handle of the same object, so a scene built again
    from the same conditionings re-encodes nothing, and another conditioning is another prompt."""

    __slots__ = ("cond",)

    def __init__(self, cond: list):
        self.cond = cond

    def __eq__(self, other) -> bool:
        return isinstance(other, Handle) and other.cond is self.cond

    def __hash__(self) -> int:
        return id(self.cond)


class StreamGuider(comfy.samplers.CFGGuider):
    """Loads the model and processes conditionings as any guider, then runs the host's stream instead of a
    sampler."""

    def __init__(self, model_patcher, host: "StreamHost"):
        super().__init__(model_patcher)
        self.host = host
        self.inner_set_conds({})

    def inner_sample(self, noise, latent_image, device, sampler, sigmas, denoise_mask, callback, disable_pbar, seed):
        if not is_empty_latent(latent_image):
            latent_image = self.inner_model.process_latent_in(latent_image)
        self.run_options = interruptible(comfy.model_patcher.create_model_options_clone(self.model_options))
        self.run_inputs = (noise, device, latent_image, seed)
        frames = self.host.start(self, latent_image, device)
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


class StreamHost:
    """An engine stream session over a ComfyUI model: scene from region stacks, prompt encoding and caching, white
    and background latents, model loading for the real batch. `run` calls `loop(host, base)` with the session ready
    (`host.stream`) and the model loaded; `loop` returns the frame latents to output."""

    def __init__(self, model, config: StreamConfig, seed: int, clip=None, vae=None, node: str = ""):
        self.model, self.config, self.seed, self.clip, self.vae, self.node = model, config, seed, clip, vae, node
        self.texts: OrderedDict[str, list] = OrderedDict()
        self.text_encodes = 0
        self.stream: Optional[StreamEngine] = None
        self._background: tuple = (None, None)  # the last background source (image or latent) and its latent

    # -- prompts ------------------------------------------------------------------------------------------
    def text(self, text: str) -> list:
        """CLIP conditioning of a text, encoded once per distinct text (the most recent TEXT_CACHE are kept)."""
        if text not in self.texts:
            self.texts[text] = encode_text(self.clip, text)
            self.text_encodes += 1
            if len(self.texts) > TEXT_CACHE:
                self.texts.popitem(last=False)
        self.texts.move_to_end(text)
        return self.texts[text]

    def conditioning(self, handle) -> list:
        """A prompt handle as CONDITIONING: a `Handle`'s own, a `scene.Text` encoded, a `scene.Zeroed` zeroed."""
        if isinstance(handle, Handle):
            return handle.cond
        if isinstance(handle, scene.Text):
            return self.text(handle.text)
        if isinstance(handle, scene.Zeroed):
            return zero_conditioning(self.conditioning(handle.prompt))
        raise TypeError(f"not a prompt handle: {type(handle).__name__}")

    def blended(self, key: PromptKey) -> list:
        """A key's conditioning blended toward its target by prompt strength (section 3)."""
        cond = self.conditioning(key.prompt)
        if key.background is not None and key.strength != 1.0:
            cond = lerp_conditioning(self.conditioning(key.background), cond, key.strength)
        return cond

    def encode(self, key: PromptKey) -> list[dict]:
        """The stream session's `encode`: processed cond dicts, a negative processed with its positive."""
        return self.guider.process(self.blended(key), None if key.positive is None else self.blended(key.positive))

    # -- scene --------------------------------------------------------------------------------------------
    @staticmethod
    def regions(stack: RegionStack, frame: int = 0, prompts: Optional[dict] = None) -> list[StreamRegion]:
        """The stream regions of a stack at `frame`: a mask batch gives the frame's mask (or its last), `prompts`
        (region index -> text) replace positives (the Stream Sampler's prompt schedule); a missing negative stays
        missing (the engine's rule: the zeroed positive)."""
        out = []
        for i, r in enumerate(stack.regions):
            text = (prompts or {}).get(i)
            mask = r.mask if r.mask.ndim == 2 else r.mask[min(frame, len(r.mask) - 1)]
            out.append(StreamRegion(prompt=Handle(r.positive) if text is None else scene.Text(text), mask=mask,
                                    negative=None if r.negative is None else Handle(r.negative),
                                    mask_strength=r.mask_strength, mask_blur_std=r.mask_blur_std,
                                    prompt_strength=r.prompt_strength))
        return out

    def background(self, stack: RegionStack) -> Optional[torch.Tensor]:
        """The model-space background latent of the stack (section 4), encoded again only when its image or
        latent changed."""
        source = stack.background_latent if stack.background_latent is not None else stack.background_image
        if source is not self._background[0]:
            inner = self.guider.inner_model
            latent = background_latent(stack, inner.latent_format, self.size, self.latent_size, self.node)
            self._background = (source, None if latent is None else latent.to(self.device))
        return self._background[1]

    def show(self, stack: RegionStack, frame: int = 0, prompts: Optional[dict] = None) -> int:
        """Queue the stack's scene as one stream update; returns the edit's number (`StreamEngine.update`)."""
        bg, bg_negative = stack.background_positive, stack.background_negative
        return self.stream.update(regions=self.regions(stack, frame, prompts),
                                  background_prompt=None if bg is None else Handle(bg),
                                  background_negative=None if bg_negative is None else Handle(bg_negative),
                                  background_latent=self.background(stack))

    # -- session ------------------------------------------------------------------------------------------
    def run(self, latent: torch.Tensor, regions: int, loop: Callable[["StreamHost", Optional[torch.Tensor]],
                                                                      torch.Tensor]) -> torch.Tensor:
        """Run `loop` inside a StreamGuider on the canvas `latent` `[1, C, h, w]` (a non-empty one is the base that
        slot 0 noises; an empty one of another model's channel count gets this model's, as core's samplers do),
        with the model loaded for `regions` regions per slot; returns its frames (model output space). Core's
        `prepare_sampling` loads the model for cond + uncond of the noise batch, so the noise carries half the real
        batch of one call."""
        cfg = self.config
        self.loop = loop
        latent = comfy.sample.fix_empty_latent_channels(self.model, latent)
        batch = len(cfg.sigmas) * cfg.frame_buffer * regions * (2 if cfg.cfg_type in ("full", "initialize") else 1)
        noise = torch.zeros(((batch + 1) // 2, *latent.shape[1:]), dtype=latent.dtype)
        return StreamGuider(self.model, self).sample(noise, latent, None, cfg.sigmas, seed=self.seed)

    def start(self, guider: StreamGuider, base_latent: torch.Tensor, device) -> torch.Tensor:
        """Called by the guider with the model loaded: the stream session, then the loop."""
        inner, f = guider.inner_model, self.config.frame_buffer
        self.guider, self.device = guider, device
        C, h, w = base_latent.shape[1:]
        ratio = self.vae.spacial_compression_encode() if self.vae is not None else 8
        self.size, self.latent_size = (h * ratio, w * ratio), (h, w)
        white = white_latent(self.vae, inner.latent_format, C, self.size, (h, w)).to(device)
        self.stream = StreamEngine(guider.denoiser_for, self.encode, noise_space(inner.model_sampling), (C, h, w),
                                   self.size, self.config, white=white, seed=self.seed, device=device,
                                   dtype=base_latent.dtype)
        base = None if is_empty_latent(base_latent) else base_latent[:1].expand(f, -1, -1, -1)
        return self.loop(self, base)


@dataclass(frozen=True)
class FrameSequence:
    """The Stream Sampler's loop (`StreamHost.run`): frame `i` enters at call `i` with the masks and scheduled
    prompts of frame `i` (`changes`: region -> [(frame, text)]); returns the kept frames `[N, C, h, w]`: from the
    first that went through all T slots on, or with the T-1 warm-up frames before it."""

    stack: RegionStack
    frame_count: int
    include_warmup: bool
    changes: dict

    def __call__(self, host: StreamHost, base: Optional[torch.Tensor]) -> torch.Tensor:
        T = len(host.config.sigmas)
        calls = self.frame_count + T - 1
        callback = latent_preview.prepare_callback(host.model, calls)
        out = []
        with node_errors(host.node):
            for call in range(calls):
                frame = min(call, self.frame_count - 1)
                host.show(self.stack, frame, scheduled(self.changes, frame))
                latent = host.stream.step(base)
                if self.include_warmup or call >= T - 1:
                    out.append(latent)
                callback(call, latent[:1], latent[:1], calls)
        return torch.cat(out)


def scheduled(changes: dict, frame: int) -> dict:
    """Region -> the prompt a schedule (`changes`: region -> [(frame, text)]) gives it at `frame`: its last change at
    or before that frame."""
    out = {}
    for region, entries in changes.items():
        text = next((t for f, t in reversed(entries) if f <= frame), None)
        if text is not None:
            out[region] = text
    return out
