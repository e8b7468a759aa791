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
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Hashable, Optional, Sequence

import torch

from . import scene
from .errors import SemanticDrawInputError
from .masks import (MASK_TYPES, ProcessedMasks, apply_cover, empty_masks, region_mask, resize_masks,
                    validate_masks)
from .regional import Denoiser, NoiseSpace, RegionalPlan, make_plan, noise_levels, regional_x0
from .scene import check_strengths

CFG_TYPES = ("none", "full", "self", "initialize")
RECENT_PROMPTS = 64  # encoded prompt keys kept beyond the current scene's (about 32 prompts with their negatives)
_KEEP = object()


@dataclass(frozen=True)
class PromptKey:
    """What `encode` turns into a conditioning: a prompt blended towards `background` by `strength` (section 3)."""

    prompt: Hashable
    background: Optional[Hashable] = None
    strength: float = 1.0
    positive: Optional["PromptKey"] = None  # of a negative: the positive it is the uncond of (a host may process
    # the pair together, as core processes a prompt's negative with its positive: GLIGEN, control, areas)


@dataclass(frozen=True)
class StreamRegion:
    """A region of the stream: prompt keys are opaque to the engine (text, or a host's handle)."""

    prompt: Hashable
    mask: torch.Tensor
    negative: Optional[Hashable] = None  # None: the zeroed positive (`engine.scene.negative_of`)
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
    progressive: bool = False  # show the progressive display (section 8.8) instead of the output slot

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
class _Layers:
    """What each region of a scene puts on the canvas, per pixel (for the progressive display, section 8.8):
    `(positive, negative)` prompt keys with the region's processed step masks `[K, 1, h, w]`, and the background
    latent's key (an image change touches every pixel)."""

    masks: dict
    background: Any


def first_changed_slot(old: _Layers, new: _Layers, slots: int, size: tuple[int, int]) -> torch.Tensor:
    """`[h, w]` long: per pixel, the first slot whose step masks an edit changed, `slots` where it changed none. A
    pixel is changed where some prompt pair's step masks differ between the scenes (a painted or erased pixel, a
    blur or strength change, every pixel of a region whose prompt changed), from the first slot where they differ
    (a blurred mask grows as noise falls, so a soft stroke turns on in a later slot); every pixel from slot 0 when
    the background latent changed (section 8.8)."""
    if old.background != new.background:
        return torch.zeros(size, dtype=torch.long)
    changed = torch.zeros((slots, *size), dtype=torch.bool)
    for key in old.masks.keys() | new.masks.keys():
        a, b = old.masks.get(key), new.masks.get(key)
        diff = b if a is None else a if b is None else a - b
        changed |= (diff != 0).any(1).cpu()  # [K, 1, h, w] -> [K, h, w]
    return torch.where(changed.any(0), changed.long().argmax(0), slots)


@dataclass
class StreamEngine:
    """The stream session (section 8): scene, prompt and mask caches, stream state; `reset`, `update`, `step`,
    `flush`. Scene rules come from `engine.scene`. Edits are lazy: at the next `step` only changed prompts
    are encoded (`encode` is called once per distinct `PromptKey`; counted in `encodes`) and only masks
    whose own inputs changed are blurred and quantized (counted in `mask_processings`).

    Edits are numbered: `update` returns the number its edit has once a `step` applies it (`edits` counts the
    applied ones), and after each step `shown_edit` is the newest edit the returned frame shows in full: every
    pixel it changed predicted by a latent that has seen it, i.e. that was at or before the first slot the edit
    changed at that pixel when it applied, so that all its steps there ran with the new scene (section 8.8). With
    `config.progressive` the returned frame is the progressive display, which shows each pixel from the most
    advanced such slot; without, the plain output slot (where an edit first changing slot k shows in full `T - k`
    calls later)."""

    denoiser_for: Callable[[list], Denoiser]  # conditionings (positives then negatives) -> Denoiser
    encode: Callable[[PromptKey], Any]  # `key.prompt` / `key.background` may be a `scene.Text` or `scene.Zeroed`
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
    edits: int = field(default=0, init=False)
    shown_edit: int = field(default=0, init=False)
    calls: int = field(default=0, init=False)
    _pending: dict = field(default_factory=dict, init=False)
    _encoded: OrderedDict = field(default_factory=OrderedDict, init=False)  # least recently used first
    _masks: dict = field(default_factory=dict, init=False)
    _plans: dict = field(default_factory=dict, init=False)
    _layers: Optional[_Layers] = field(default=None, init=False)

    def __post_init__(self):
        cfg = self.config
        self.levels = noise_levels(torch.cat([cfg.sigmas, cfg.sigmas.new_zeros(1)]), self.space)
        self.touched = torch.zeros(self.latent_shape[1:], dtype=torch.long, device=self.device)  # latest edit per pixel
        self.ready = torch.zeros_like(self.touched)  # per pixel, the call from which the output slot has seen it
        self.reset(self.seed)

    # -- state -------------------------------------------------------------------------------
    def reset(self, seed: Optional[int] = None) -> None:
        """Restart the pipeline: fresh per-slot noise from `seed`, buffer at pure noise. Keeps the scene and caches;
        every slot counts as having seen the current scene (no edit in flight)."""
        if seed is not None:
            self.seed = seed
        T, f = len(self.config.sigmas), self.config.frame_buffer
        g = torch.Generator().manual_seed(self.seed)
        self.init_noise = torch.randn((T, f) + tuple(self.latent_shape), generator=g).to(self.device, self.dtype)
        self.sigmas = self.config.sigmas.to(self.device)
        zeros = torch.zeros_like(self.init_noise[1:]).flatten(0, 1)
        self.buffer = self.space.add_noise(zeros, self.init_noise[1:].flatten(0, 1),
                                           self.sigmas[1:].repeat_interleave(f)).view_as(self.init_noise[1:])
        self.ready.fill_(0)
        self.calls = 0

    def update(self, regions: Optional[Sequence[StreamRegion]] = None, background_prompt=_KEEP,
               background_negative=_KEEP, background_latent=_KEEP) -> int:
        """Queue edits; they apply at the next `step` (section 8.5). Only what changed is re-encoded. Returns the
        number the edit will have (updates queued before the same step share one)."""
        if regions is not None:
            self._pending["regions"] = tuple(regions)
        for name, value in (("background_prompt", background_prompt), ("background_negative", background_negative),
                            ("background_latent", background_latent)):
            if value is not _KEEP:
                self._pending[name] = value
        return self.edits + 1

    def _apply_pending(self) -> bool:
        applied = bool(self._pending)
        for name, value in self._pending.items():
            setattr(self.scene, name, value)
        self._pending = {}
        scene.check_scene([r.mask_strength for r in self.scene.regions], self.kind())
        return applied

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

    def prompt_keys(self) -> tuple[list[PromptKey], list[PromptKey]]:
        """Positive and negative keys per region, background region first when it is one
        (`engine.scene.region_prompts`); a missing negative is `scene.Zeroed(positive)` (`scene.negative_of`), and
        each negative key names its positive (`PromptKey.positive`)."""
        sc = self.scene
        check_strengths([r.prompt_strength for r in sc.regions], True)
        target = scene.strength_target(sc.background_prompt, sc.background_negative, sc.background_latent is not None)
        background_negative = None if sc.background_prompt is None else target[1]
        pos, neg = scene.region_prompts([(r.prompt, scene.negative_of(r.prompt, r.negative), r.prompt_strength)
                                         for r in sc.regions], self.kind(), sc.background_prompt,
                                        background_negative, target, lambda t, c, s: PromptKey(c, t, s))
        pos = [k if isinstance(k, PromptKey) else PromptKey(k) for k in pos]
        neg = [replace(k if isinstance(k, PromptKey) else PromptKey(k), positive=p) for k, p in zip(neg, pos)]
        return pos, neg

    def conditionings(self) -> list:
        """Positives then negatives of `prompt_keys`, encoded (once per distinct key; recent ones are kept)."""
        pos, neg = self.prompt_keys()
        keys = pos + neg
        conds = [self._cond(k) for k in keys]
        while len(self._encoded) > len(set(keys)) + RECENT_PROMPTS:  # the scene's prompts were used last
            self._encoded.popitem(last=False)
        return conds

    def _foreground(self) -> ProcessedMasks:
        """Section 2 for the current masks; a region is re-processed only when its mask, blur or strength, or
        the masks covering it, changed."""
        sc, cfg = self.scene, self.config
        masks = validate_masks([r.mask for r in sc.regions], self.image_size, self.latent_shape[1:])
        if not masks:
            return empty_masks(len(cfg.sigmas), self.latent_shape[1:])
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
        key = self._plan_key()
        if key not in self._plans:
            chosen = scene.scene_masks(self._foreground(), self.kind(), sc.background_latent, self.white)
            self._plans = {key: make_plan(chosen.masks, background=chosen.background, white=self.white,
                                          bootstrap_steps=cfg.bootstrap_steps,
                                          bootstrap_mix_steps=cfg.bootstrap_mix_steps, leak=cfg.leak)}
        return self._plans[key]

    def _plan_key(self) -> tuple:
        sc = self.scene
        return (self.kind(), tuple((_mask_key(r.mask), r.mask_strength, r.mask_blur_std) for r in sc.regions),
                self._background_key())

    def _background_key(self) -> Optional[str]:
        latent = self.scene.background_latent
        return None if latent is None else _mask_key(latent)

    def batch_size(self, plan: RegionalPlan) -> int:
        """Samples in one model call: `T*f*p` (x2 for `full` CFG, `+f*p` for `initialize`)."""
        T, f, p = len(self.config.sigmas), self.config.frame_buffer, len(plan.active[0])
        extra = {"full": T * f * p, "initialize": f * p}.get(self.config.cfg_type, 0)
        return T * f * p + extra

    # -- progressive display (section 8.8) ------------------------------------------------------
    def _mark_edit(self, plan: RegionalPlan, keys: tuple[list, list]) -> None:
        """Number the edit just applied; stamp the pixels it changed with that number and with the call from which
        the output slot holds a latent that has seen it (`T - 1 - k` calls on, for a pixel first changed at slot k)."""
        T = len(self.config.sigmas)
        self.edits += 1
        layers = _Layers({}, self._background_key())
        for pair, masks in zip(zip(*keys), plan.masks.quantized):
            layers.masks[pair] = layers.masks[pair] + masks if pair in layers.masks else masks
        if self._layers is not None:  # the first scene is no edit: nothing was on the canvas before it
            first = first_changed_slot(self._layers, layers, T, self.latent_shape[1:]).to(self.device)
            changed = first < T
            self.touched[changed] = self.edits
            self.ready[changed] = self.calls + T - 1 - first[changed]
        self._layers = layers

    def _display(self, x0: torch.Tensor) -> torch.Tensor:
        """The frame shown `[f, C, h, w]` from every slot's `x0` `[T, f, C, h, w]`: per pixel the most advanced slot
        holding a latent that has seen the pixel's latest edit (progressive), else the output slot; sets
        `shown_edit`."""
        T = x0.shape[0]
        behind = (self.ready - self.calls).clamp_min(0)  # slots the pixel's latest edit has still to cross
        slot = T - 1 - behind if self.config.progressive else torch.full_like(behind, T - 1)
        stale = slot + behind > T - 1  # the slot shown holds a latent that has not seen the pixel's latest edit
        self.shown_edit = int(self.touched[stale].min()) - 1 if bool(stale.any()) else self.edits
        index = slot.view(1, 1, 1, *slot.shape).expand(1, *x0.shape[1:])
        return x0.gather(0, index)[0]

    # -- one call ----------------------------------------------------------------------------

    @torch.no_grad()
    def step(self, base_latent: Optional[torch.Tensor] = None) -> torch.Tensor:
        """One stream call: returns the frame(s) `[f, C, h, w]` (clean latents): the output slot's, or with
        `config.progressive` the progressive display (section 8.8)."""
        edited = self._apply_pending()
        cfg, space = self.config, self.space
        T, f = len(cfg.sigmas), cfg.frame_buffer
        keys = self.prompt_keys()
        conds = self.conditionings()
        plan = self.plan()
        if self.batch_size(plan) > cfg.max_batch:
            raise SemanticDrawInputError(
                "regions", f"the stream batch of {self.batch_size(plan)} samples (T={T} slots x f={f} frames x "
                           f"p={len(plan.active[0])} regions) exceeds the limit of {cfg.max_batch}; "
                           "use fewer regions, slots or frames")
        if edited:
            self._mark_edit(plan, keys)
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
        frame = self._display(x0)
        self.calls += 1
        return frame

    def flush(self) -> torch.Tensor:
        """Run `T` calls (after a `reset`, this fills the pipeline); returns their frames `[T, f, C, h, w]`."""
        return torch.stack([self.step() for _ in range(len(self.config.sigmas))])
