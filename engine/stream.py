"""Streaming SemanticDraw: the timestep-staggered stream batch (ALGORITHM.md section 8).

`T` latents are in flight, one per slot of a short schedule; each `step` evaluates all slots,
all regions and all buffered frames in ONE batched model call, aggregates regions within each
slot with that slot's masks (`regional_x0` with per-sample steps), returns the finished frame of
the last slot and moves every other slot one step on. Usable from plain Python:

    stream = StreamEngine(denoiser_for, encode, eps_space(), (4, 64, 64), (512, 512), StreamConfig(sigmas))
    stream.update(regions=[StreamRegion("a red apple", mask)], background_prompt="a wooden table")
    frames = stream.flush()          # fill the pipeline
    frame = stream.step()            # one new frame per call; edits queued by update() apply here
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Optional, Sequence

import torch

from . import scene
from .errors import SemanticDrawInputError
from .masks import MASK_TYPES, ProcessedMasks, apply_cover, region_mask, resize_masks, validate_masks
from .regional import Denoiser, NoiseSpace, RegionalPlan, make_plan, noise_levels, regional_x0
from .scene import check_strengths

CFG_TYPES = ("none", "full", "self", "initialize")
RECENT_PROMPTS = 32  # encoded prompts kept beyond the current scene's, for edits that come back to them
_KEEP = object()


@dataclass(frozen=True)
class PromptKey:
    """What `encode` turns into a conditioning: a prompt blended towards `background` by `strength` (section 3)."""

    prompt: Hashable
    background: Optional[Hashable] = None
    strength: float = 1.0


@dataclass(frozen=True)
class StreamRegion:
    """A region of the stream: prompt keys are opaque to the engine (text, or a host's handle)."""

    prompt: Hashable
    mask: torch.Tensor
    negative: Hashable = ""
    mask_strength: float = 1.0
    mask_blur_std: float = 8.0
    prompt_strength: float = 0.95


@dataclass(frozen=True)
class StreamConfig:
    """Stream settings (defaults of section 9, streaming column). `sigmas`: the `T` slot sigmas, descending."""

    sigmas: torch.Tensor
    frame_buffer: int = 1
    cfg_type: str = "none"
    guidance: float = 1.2
    delta: float = 1.0
    mask_type: str = "continuous"
    cover_alpha: float = 0.3
    bootstrap_steps: int = 1
    bootstrap_mix_steps: float = 1.0
    leak: float = 0.0
    max_batch: int = 64

    def __post_init__(self):
        s = torch.as_tensor(self.sigmas, dtype=torch.float32).flatten()
        object.__setattr__(self, "sigmas", s)
        if len(s) == 0 or not bool((s > 0).all()) or not bool((s[1:] < s[:-1]).all()):
            raise SemanticDrawInputError("sigmas", "slot sigmas must be positive and strictly decreasing, "
                                                   f"got {s.tolist()}")
        if self.cfg_type not in CFG_TYPES:
            raise SemanticDrawInputError("cfg_type", f"'{self.cfg_type}' is not one of {', '.join(CFG_TYPES)}")
        if self.mask_type not in MASK_TYPES:
            raise SemanticDrawInputError("mask_type", f"'{self.mask_type}' is not one of {', '.join(MASK_TYPES)}")
        if self.frame_buffer < 1:
            raise SemanticDrawInputError("frame_buffer", f"must be >= 1, got {self.frame_buffer}")


def _mask_key(mask: torch.Tensor) -> str:
    m = mask.detach().float().cpu().contiguous()
    return f"{tuple(m.shape)}:{hashlib.blake2b(m.numpy().tobytes(), digest_size=16).hexdigest()}"


@dataclass
class _Scene:
    regions: tuple[StreamRegion, ...] = ()
    background_prompt: Optional[Hashable] = None
    background_negative: Optional[Hashable] = None
    background_latent: Optional[torch.Tensor] = None


def _append_rows(t: torch.Tensor, rows: torch.Tensor, offset: int = 0) -> torch.Tensor:
    """`t` followed by its `rows` (plus `offset`), or `t` itself (no copy) when there are none."""
    return torch.cat([t, t[rows] + offset]) if len(rows) else t


class StreamGuidance:
    """CFG of one stream call (section 8.4) around a denoiser over positives then negatives (`num_conds` each):
    `none` evaluates positives only, `full` also every sample's negative, `self` takes the stored per-slot noise as
    the uncond noise, and `initialize` does so except in the first slot, where it evaluates the negative."""

    def __init__(self, raw: Denoiser, num_conds: int, config: StreamConfig, space: NoiseSpace):
        self.raw, self.num_conds, self.config, self.space = raw, num_conds, config, space
        self.accepts_shifts = getattr(raw, "accepts_shifts", False)

    def __call__(self, x: torch.Tensor, s: torch.Tensor, c: torch.Tensor, stock: Optional[torch.Tensor] = None,
                 shifts: Optional[torch.Tensor] = None) -> torch.Tensor:
        cfg, n = self.config, x.shape[0]
        if cfg.cfg_type == "full":
            negs = torch.arange(n, device=s.device)
        elif cfg.cfg_type == "initialize":
            negs = torch.nonzero(s >= float(cfg.sigmas[0]) * (1 - 1e-5)).flatten()
        else:
            negs = s.new_zeros(0, dtype=torch.long)
        extra = {} if shifts is None else {"shifts": _append_rows(shifts, negs)}
        out = self.raw(_append_rows(x, negs), _append_rows(s, negs), _append_rows(c, negs, self.num_conds), **extra)
        cond = out[:n]
        if cfg.cfg_type == "none":
            return cond
        if cfg.cfg_type == "full":
            uncond = out[n:]
        else:
            ones, zeros = torch.ones_like(x), torch.zeros_like(x)
            a, b = self.space.add_noise(ones, zeros, s), self.space.add_noise(zeros, ones, s)  # x = a*x0 + b*n
            uncond = torch.where(a > 1e-3, (x - b * cfg.delta * stock) / a.clamp_min(1e-3), cond)
            uncond[negs] = out[n:]
        return uncond + cfg.guidance * (cond - uncond)


@dataclass
class StreamEngine:
    """The stream session (section 8): scene, prompt and mask caches, stream state; `reset`, `update`, `step`,
    `flush`. Scene rules come from `engine.scene`. Edits are lazy: at the next `step` only changed prompts
    are encoded (`encode` is called once per distinct `PromptKey`; counted in `encodes`) and only masks
    whose own inputs changed are blurred and quantized (counted in `mask_processings`)."""

    denoiser_for: Callable[[list], Denoiser]  # conditionings (positives then negatives) -> Denoiser
    encode: Callable[[PromptKey], Any]  # `key.prompt` / `key.background` may be a `scene.Text` to encode
    space: NoiseSpace
    latent_shape: tuple[int, int, int]
    image_size: tuple[int, int]
    config: StreamConfig
    white: Optional[torch.Tensor] = None
    seed: int = 0
    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32
    scene: _Scene = field(default_factory=_Scene, init=False)
    encodes: int = field(default=0, init=False)
    mask_processings: int = field(default=0, init=False)
    _pending: dict = field(default_factory=dict, init=False)
    _encoded: OrderedDict = field(default_factory=OrderedDict, init=False)  # least recently used first
    _masks: dict = field(default_factory=dict, init=False)
    _plans: dict = field(default_factory=dict, init=False)

    def __post_init__(self):
        cfg = self.config
        self.levels = noise_levels(torch.cat([cfg.sigmas, cfg.sigmas.new_zeros(1)]), self.space)
        self.reset(self.seed)

    # -- state -------------------------------------------------------------------------------
    def reset(self, seed: Optional[int] = None) -> None:
        """Restart the pipeline: fresh per-slot noise from `seed`, buffer at pure noise. Keeps the scene and caches."""
        if seed is not None:
            self.seed = seed
        T, f = len(self.config.sigmas), self.config.frame_buffer
        g = torch.Generator().manual_seed(self.seed)
        self.init_noise = torch.randn((T, f) + tuple(self.latent_shape), generator=g).to(self.device, self.dtype)
        self.sigmas = self.config.sigmas.to(self.device)
        zeros = torch.zeros_like(self.init_noise[1:]).flatten(0, 1)
        self.buffer = self.space.add_noise(zeros, self.init_noise[1:].flatten(0, 1),
                                           self.sigmas[1:].repeat_interleave(f)).view_as(self.init_noise[1:])

    def update(self, regions: Optional[Sequence[StreamRegion]] = None, background_prompt=_KEEP,
               background_negative=_KEEP, background_latent=_KEEP) -> None:
        """Queue edits; they apply at the next `step` (section 8.5). Only what changed is re-encoded."""
        if regions is not None:
            if len(regions) == 0:
                raise SemanticDrawInputError("regions", "no regions given; add at least one region")
            self._pending["regions"] = tuple(regions)
        for name, value in (("background_prompt", background_prompt), ("background_negative", background_negative),
                            ("background_latent", background_latent)):
            if value is not _KEEP:
                self._pending[name] = value

    def _apply_pending(self) -> None:
        for name, value in self._pending.items():
            setattr(self.scene, name, value)
        self._pending = {}
        if not self.scene.regions:
            raise SemanticDrawInputError("regions", "no regions given; call update(regions=[...]) first")

    # -- conditioning and masks (cached) -------------------------------------------------------
    def _cond(self, key: PromptKey):
        if key not in self._encoded:
            self._encoded[key] = self.encode(key)
            self.encodes += 1
        self._encoded.move_to_end(key)
        return self._encoded[key]

    def kind(self) -> str:
        """The background choice of the current scene (`engine.scene.background_kind`)."""
        sc = self.scene
        return scene.background_kind(sc.background_prompt is not None, sc.background_latent is not None)

    def conditionings(self) -> list:
        """Positives then negatives, background region first when it is one (`engine.scene.region_prompts`).
        A missing negative is the empty prompt `""`, as a `StreamRegion`'s default."""
        sc = self.scene
        check_strengths([r.prompt_strength for r in sc.regions], True)
        target, target_negative = scene.strength_target(sc.background_prompt, sc.background_negative,
                                                        sc.background_latent is not None)
        negative = "" if sc.background_negative is None else sc.background_negative
        pos, neg = scene.region_prompts([(r.prompt, r.negative, r.prompt_strength) for r in sc.regions],
                                        self.kind(), sc.background_prompt, negative,
                                        (target, negative if target_negative is None else target_negative),
                                        lambda t, c, s: PromptKey(c, t, s))
        keys = [k if isinstance(k, PromptKey) else PromptKey(k) for k in pos + neg]
        conds = [self._cond(k) for k in keys]
        while len(self._encoded) > len(set(keys)) + RECENT_PROMPTS:  # the scene's prompts were used last
            self._encoded.popitem(last=False)
        return conds

    def _foreground(self) -> ProcessedMasks:
        """Section 2 for the current masks; a region is re-processed only when its mask, blur or strength, or
        the masks covering it, changed."""
        sc, cfg = self.scene, self.config
        masks = validate_masks([r.mask for r in sc.regions], self.image_size, self.latent_shape[1:])
        keys = [_mask_key(m) for m in masks]
        covered = apply_cover(resize_masks(masks, self.image_size), cfg.cover_alpha)
        cover_on = cfg.cover_alpha not in (0, 1)
        cache, parts = {}, []
        for i, r in enumerate(sc.regions):
            key = (keys[i], tuple(keys[i + 1:]) if cover_on else (), r.mask_blur_std, r.mask_strength)
            if key not in self._masks:
                self._masks[key] = region_mask(covered[i:i + 1], r.mask_blur_std, r.mask_strength,
                                               self.latent_shape[1:], self.levels, cfg.mask_type)
                self.mask_processings += 1
            cache[key] = self._masks[key]
            parts.append(cache[key])
        self._masks = cache  # keep only what the current scene uses
        return ProcessedMasks(quantized=torch.cat([q.quantized for q in parts]),
                              support=torch.cat([q.support for q in parts]))

    def plan(self) -> RegionalPlan:
        """The regional plan of the current scene (`engine.scene.scene_masks`); cached while nothing changes."""
        sc, cfg = self.scene, self.config
        key = (self.kind(), tuple((_mask_key(r.mask), r.mask_strength, r.mask_blur_std) for r in sc.regions),
               None if sc.background_latent is None else _mask_key(sc.background_latent))
        if key not in self._plans:
            chosen = scene.scene_masks(self._foreground(), self.kind(), sc.background_latent, self.white)
            self._plans = {key: make_plan(chosen.masks, background=chosen.background, white=self.white,
                                          bootstrap_steps=cfg.bootstrap_steps,
                                          bootstrap_mix_steps=cfg.bootstrap_mix_steps, leak=cfg.leak)}
        return self._plans[key]

    def batch_size(self, plan: RegionalPlan) -> int:
        """Samples in one model call: `T*f*p` (x2 for `full` CFG, `+f*p` for `initialize`)."""
        T, f, p = len(self.config.sigmas), self.config.frame_buffer, len(plan.active[0])
        extra = {"full": T * f * p, "initialize": f * p}.get(self.config.cfg_type, 0)
        return T * f * p + extra

    # -- one call ----------------------------------------------------------------------------

    @torch.no_grad()
    def step(self, base_latent: Optional[torch.Tensor] = None) -> torch.Tensor:
        """One stream call: returns the frame(s) `[f, C, h, w]` leaving the last slot (clean latents)."""
        self._apply_pending()
        cfg, space = self.config, self.space
        T, f = len(cfg.sigmas), cfg.frame_buffer
        conds = self.conditionings()
        plan = self.plan()
        if self.batch_size(plan) > cfg.max_batch:
            raise SemanticDrawInputError(
                "regions", f"the stream batch of {self.batch_size(plan)} samples (T={T} slots x f={f} frames x "
                           f"p={len(plan.active[0])} regions) exceeds the limit of {cfg.max_batch}; "
                           "use fewer regions, slots or frames")
        base = torch.zeros_like(self.init_noise[0]) if base_latent is None else base_latent.to(self.init_noise)
        slot0 = space.add_noise(base, self.init_noise[0], self.sigmas[:1].expand(f))
        x = torch.cat([slot0, self.buffer.flatten(0, 1)])
        sig = self.sigmas.repeat_interleave(f)
        steps = torch.arange(T, device=x.device).repeat_interleave(f)
        noise = self.init_noise.flatten(0, 1)
        residual = cfg.cfg_type in ("self", "initialize")
        denoise = StreamGuidance(self.denoiser_for(conds), len(conds) // 2, cfg, space)
        x0 = regional_x0(x, sig, steps, plan, denoise, space, bootstrap_noise=noise,
                         stock_noise=noise if residual else None).view_as(self.init_noise)
        if T > 1:
            nxt = space.add_noise(x0[:-1].flatten(0, 1), self.init_noise[1:].flatten(0, 1),
                                  self.sigmas[1:].repeat_interleave(f))
            self.buffer = nxt.view_as(self.buffer)
        return x0[-1]

    def flush(self) -> torch.Tensor:
        """Run `T` calls (after a `reset`, this fills the pipeline); returns their frames `[T, f, C, h, w]`."""
        return torch.stack([self.step() for _ in range(len(self.config.sigmas))])
