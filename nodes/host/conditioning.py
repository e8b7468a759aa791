"""Host side of the scene rules of `engine/scene.py`: ComfyUI conditionings, text targets, missing negatives, white
and background latents. Shared by the still sampler/guider, the stream host (Stream Sampler and live canvas) and the
edit nodes."""
from __future__ import annotations

from typing import Optional

import torch

import comfy.utils

from ...engine import scene
from ...engine.prompts import lerp_prompt
from .denoiser import REGION_KEY
from .errors import NodeInputError, check_channels, check_context, context_width, node_errors
from .regions import RegionStack


def zero_conditioning(cond: list) -> list:
    """`cond` zeroed, as ConditioningZeroOut makes it (a missing negative, `engine.scene.Zeroed`)."""
    return [[torch.zeros_like(t), {k: torch.zeros_like(v) if k == "pooled_output" and v is not None else v
                                   for k, v in d.items()}] for t, d in cond]


def encode_text(clip, text: str) -> list:
    """CONDITIONING of `text`, as CLIPTextEncode makes it."""
    return clip.encode_from_tokens_scheduled(clip.tokenize(text))


def lerp_conditioning(target: list, cond: list, strength: float) -> list:
    """`cond` with its embeddings (and pooled output) lerped toward the first entry of `target` (section 3)."""
    t0, d0 = target[0]
    out = []
    for t, d in cond:
        d = dict(d)
        if d.get("pooled_output") is not None and d0.get("pooled_output") is not None:
            d["pooled_output"] = torch.lerp(d0["pooled_output"].to(d["pooled_output"]), d["pooled_output"], strength)
        out.append([lerp_prompt(t0, t, strength), d])
    return out


def tag_region(cond: list, region: int) -> list:
    """Copy of `cond` whose entries carry their region number (the guider groups by it)."""
    return [[t, {**d, REGION_KEY: region}] for t, d in cond]


def text_encoder(stack: RegionStack):
    """The CLIP that encodes the scene's default targets: the stack's, else the first region's."""
    if stack.clip is not None:
        return stack.clip
    return next((r.clip for r in stack.regions if r.clip is not None), None)


def resolve(target, clip, cache: dict):
    """A scene handle as CONDITIONING: a `scene.Text` encoded with `clip` (once per text), a `scene.Zeroed` as the
    zeroed conditioning of its prompt, any other handle as it is."""
    if isinstance(target, scene.Zeroed):
        return zero_conditioning(resolve(target.prompt, clip, cache))
    if not isinstance(target, scene.Text):
        return target
    if target.text not in cache:
        cache[target.text] = encode_text(clip, target.text)
    return cache[target.text]


def has_background_latent(stack: RegionStack) -> bool:
    return stack.background_image is not None or stack.background_latent is not None


def stack_kind(stack: RegionStack) -> str:
    """The background choice of a stack (`engine.scene.background_kind`)."""
    return scene.background_kind(stack.background_positive is not None, has_background_latent(stack))


def check_stack(node: str, stack: RegionStack, model, name: str = "regions") -> None:
    """The scene rules a stack must meet before sampling (`engine.scene.check_scene`), and every conditioning made
    by the model's own text encoder (widths, `errors.check_context`)."""
    with node_errors(node):
        scene.check_scene([r.mask_strength for r in stack.regions], stack_kind(stack), name)
    width = context_width(model)
    for i, r in enumerate(stack.regions):
        check_context(node, width, **{f"{name}[{i}].positive": r.positive, f"{name}[{i}].negative": r.negative})
    check_context(node, width, background_prompt=stack.background_positive,
                  background_negative=stack.background_negative)


def region_conditionings(stack: RegionStack) -> tuple[list[list], list[list], str]:
    """Per-region positive/negative CONDITIONING after the scene rules, tagged with their region number, and
    the background kind. A missing negative is the zeroed positive (`engine.scene.negative_of`); raises
    `SemanticDrawInputError` when `prompt_strength < 1` has no target."""
    bg_pos = stack.background_positive
    bg_neg = None if bg_pos is None else scene.negative_of(bg_pos, stack.background_negative)
    strengths = [r.prompt_strength for r in stack.regions]
    clip = text_encoder(stack)
    scene.check_strengths(strengths, bg_pos is not None or clip is not None)
    kind = stack_kind(stack)
    cache: dict = {}
    target = scene.strength_target(bg_pos, bg_neg, has_background_latent(stack))
    regions = [(r.positive, scene.negative_of(r.positive, r.negative), r.prompt_strength) for r in stack.regions]
    positives, negatives = scene.region_prompts(
        regions, kind, bg_pos, bg_neg, target,
        lambda t, c, s: lerp_conditioning(resolve(t, clip, cache), resolve(c, clip, cache), s))
    return ([tag_region(resolve(c, clip, cache), i) for i, c in enumerate(positives)],
            [tag_region(resolve(c, clip, cache), i) for i, c in enumerate(negatives)], kind)


def approximate_white(latent_format, channels: int) -> torch.Tensor:
    """Model-space latent whose preview colour is white: least squares through the preview factors."""
    factors = getattr(latent_format, "latent_rgb_factors", None)
    if factors is None or len(factors) != channels:
        return torch.zeros(1, channels, 1, 1)
    f = torch.tensor(factors, dtype=torch.float32)  # [C, 3]
    bias = torch.tensor(getattr(latent_format, "latent_rgb_factors_bias", None) or [0.0, 0.0, 0.0])
    return (torch.linalg.pinv(f.T) @ (1 - bias)).view(1, channels, 1, 1)


def white_latent(vae, latent_format, channels: int, size: tuple[int, int],
                 latent_size: tuple[int, int]) -> torch.Tensor:
    """Model-space latent of an all-white image: VAE-encoded when a VAE is given, else estimated."""
    if vae is not None:
        return latent_format.process_in(vae.encode(torch.ones(1, *size, 3)))
    return approximate_white(latent_format, channels).expand(1, -1, *latent_size)


def cover(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """An IMAGE `[B, H, W, C]` scaled to cover `size` (height, width) and centre-cropped (CSS `cover`), bilinear."""
    if tuple(image.shape[1:3]) == tuple(size):
        return image
    return comfy.utils.common_upscale(image.movedim(-1, 1), size[1], size[0], "bilinear", "center").movedim(1, -1)


def encode_pixels(vae, image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """VAE-encode an IMAGE fitted to `size` by `cover`; returns raw latents."""
    return vae.encode(cover(image, size)[..., :3])


def background_latent(stack: RegionStack, latent_format, size: tuple[int, int], latent_size: tuple[int, int],
                      node: str) -> Optional[torch.Tensor]:
    """The model-space latent of the stack's background latent or image (section 4), or None."""
    h, w = latent_size
    if stack.background_latent is not None:
        raw = stack.background_latent
        check_channels(node, "background_latent", raw, latent_format.latent_channels)
        if tuple(raw.shape[-2:]) != (h, w):
            raise NodeInputError(f"{node}: background_latent is {raw.shape[-1]}x{raw.shape[-2]} but the "
                                 f"canvas latent is {w}x{h}; use a latent of the canvas size")
        return latent_format.process_in(raw[:1])
    if stack.background_image is not None:
        if stack.vae is None:
            raise NodeInputError(f"{node}: background_image needs a vae input on SemanticDraw Region Stack")
        return latent_format.process_in(encode_pixels(stack.vae, stack.background_image[:1], size))
    return None
