"""Scene rules, in one place (ALGORITHM.md sections 3 and 4): what fills the pixels no region covers,
when the background prompt is a region, what each region's prompt strength blends toward, what a missing
negative is, how many regions a model call evaluates, and which scenes cannot show anything.

Every consumer (still sampler and guider, stream, live canvas, edit nodes, diffusers adapter) asks
this module; none re-states a rule. Prompts are opaque to it: a consumer's conditioning handle, or
a `Text` the consumer encodes with its text encoder.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import torch

from .errors import SemanticDrawInputError
from .masks import ProcessedMasks

DEFAULT_TARGET = "simple white background image"  # the reference's prompt-strength target without a background
IMAGE_TARGET = ""  # with a background image and no prompt the reference captions the image; our stand-in

PROMPT, LATENT, WHITE = "prompt", "latent", "white"


@dataclass(frozen=True)
class Text:
    """A prompt the consumer encodes itself (the scene's default prompt-strength targets)."""

    text: str


@dataclass(frozen=True)
class Zeroed:
    """A missing negative: the positive `prompt` with its embeddings (and pooled output) zeroed, as core's
    ConditioningZeroOut makes it. The consumer encodes `prompt` and zeroes the result."""

    prompt: Any


def negative_of(positive: Any, negative: Any) -> Any:
    """The missing-negative rule of every consumer (still, guider, stream, live, edit): a region's or the
    background's negative as given, else `Zeroed(positive)`."""
    return Zeroed(positive) if negative is None else negative


def region_count(regions: int, kind: str) -> int:
    """Regions a model call evaluates per canvas: the foreground regions, plus the background region when the
    background prompt is one (section 4; an image or white background is no region)."""
    return regions + int(kind == PROMPT)


def is_empty_latent(samples: torch.Tensor) -> bool:
    """An all-zero latent is an empty canvas, no base image (as core's samplers treat EmptyLatentImage)."""
    return not bool(torch.count_nonzero(samples))


def check_scene(mask_strengths: Sequence[float], kind: str, name: str = "regions") -> None:
    """Refuse a scene that cannot show what it was given. No region is fine when a background prompt or image
    fills the canvas (a blank canvas: the background over every pixel); with neither there is nothing to draw.
    When every region has `mask_strength` 0 no region ever gets weight and the image is the background alone
    (with a white background: a uniform image), so that is refused too."""
    if not mask_strengths and kind == WHITE:
        raise SemanticDrawInputError(name, "no regions given; add at least one region (prompt + mask), or a "
                                           "background prompt or image that fills the canvas")
    if mask_strengths and all(s == 0 for s in mask_strengths):
        where = f"{name}[0].mask_strength" if len(mask_strengths) == 1 else f"{name}[*].mask_strength"
        raise SemanticDrawInputError(where, "is 0 for every region, so no region can show and the image would be "
                                            "the background alone; raise mask_strength (about 1) or remove the "
                                            "region")


def background_kind(has_prompt: bool, has_latent: bool) -> str:
    """Section 4: an image or latent fills the background (`latent`); else a background prompt is an extra
    region under all others (`prompt`); else a white image fills it (`white`)."""
    if has_latent:
        return LATENT
    return PROMPT if has_prompt else WHITE


def strength_target(background: Any = None, background_negative: Any = None,
                    has_latent: bool = False) -> tuple[Any, Any]:
    """Section 3: `(c_bg, u_bg)` that `prompt_strength` blends positives and negatives toward.

    The background prompt when there is one; else `Text(DEFAULT_TARGET)`, or `Text(IMAGE_TARGET)` with a
    background image. The negative is the background negative; `Zeroed(c_bg)` when a background prompt has
    none (`negative_of`), `Text("")` when there is no background prompt.
    """
    if background is not None:
        return background, negative_of(background, background_negative)
    target = Text(IMAGE_TARGET if has_latent else DEFAULT_TARGET)
    return target, background_negative if background_negative is not None else Text("")


def needs_target(strengths: Sequence[float]) -> bool:
    """Whether any region blends toward the target (strength 1 keeps a prompt as written)."""
    return any(s != 1.0 for s in strengths)


def check_strengths(strengths: Sequence[float], target_available: bool, name: str = "regions") -> None:
    """Refuse `prompt_strength < 1` when no target can be had (no background prompt, no text encoder)."""
    for i, s in enumerate(strengths):
        if not 0.0 <= s <= 1.0:
            raise SemanticDrawInputError(f"{name}[{i}].prompt_strength", f"must lie in [0, 1], got {s}")
        if s != 1.0 and not target_available:
            raise SemanticDrawInputError(
                f"{name}[{i}].prompt_strength",
                f"{s} blends the prompt toward the background prompt, and without one toward "
                f"'{DEFAULT_TARGET}', which needs a text encoder: give a background_prompt or connect clip "
                "on SemanticDraw Region Stack, or set prompt_strength to 1")


def region_prompts(regions: Sequence[tuple[Any, Any, float]], kind: str, background: Any, background_negative: Any,
                   target: tuple[Any, Any], blend: Callable[[Any, Any, float], Any]) -> tuple[list, list]:
    """Per-region `(positives, negatives)` after prompt strength (section 3), the background region first
    when `kind == PROMPT` (section 4). `regions`: `(positive, negative, prompt_strength)`; `target`:
    resolved `(c_bg, u_bg)`; `blend(target, cond, strength)` is the consumer's lerp. Negatives are taken as
    given: a consumer that evaluates them applies `negative_of` first."""
    positives, negatives = [], []
    if kind == PROMPT:
        positives.append(background)
        negatives.append(background_negative)
    for pos, neg, strength in regions:
        if strength == 1.0:
            positives.append(pos)
            negatives.append(neg)
        else:
            positives.append(blend(target[0], pos, strength))
            negatives.append(blend(target[1], neg, strength))
    return positives, negatives


def background_weight(quantized: torch.Tensor) -> torch.Tensor:
    """`W_k = clip(1 - sum_i M_ik, 0, 1)` per step from the processed foreground masks `[p, K, 1, h, w]` (section 4)."""
    return (1 - quantized.sum(0, keepdim=True)).clamp(0, 1)


def has_background(quantized: torch.Tensor) -> bool:
    """The reference's `has_background`: some pixel at some step is not fully covered by the foreground."""
    return bool(background_weight(quantized).max() > 0)


def with_background_region(masks: ProcessedMasks) -> ProcessedMasks:
    """Prepend the background-prompt region, whose per-step mask is `W_k` itself (section 4)."""
    bg = background_weight(masks.quantized)
    return ProcessedMasks(quantized=torch.cat([bg, masks.quantized]),
                          support=torch.cat([bg.amax(1), masks.support]))


@dataclass(frozen=True)
class SceneMasks:
    """Masks and background latent of one canvas, after the scene rules: `masks` includes the background
    region when it is one; `background` is the latent that fills `w_bg` (None: none)."""

    masks: ProcessedMasks
    background: Optional[torch.Tensor]


def scene_masks(foreground: ProcessedMasks, kind: str, latent: Optional[torch.Tensor] = None,
                white: Optional[torch.Tensor] = None) -> SceneMasks:
    """Section 4. A background prompt becomes region 0 with mask `W_k` (a region whose `W_k` is zero at
    every step is never evaluated); else `latent` (image/latent kind) or `white` (white kind) fills `w_bg`,
    unless the foreground covers every pixel at every step: then there is no background at all."""
    if kind == PROMPT:
        return SceneMasks(with_background_region(foreground), None)
    if not has_background(foreground.quantized):
        return SceneMasks(foreground, None)
    fill = latent if kind == LATENT else white
    if fill is None:
        raise SemanticDrawInputError("background", f"the {kind} background needs its latent")
    return SceneMasks(foreground, fill)
