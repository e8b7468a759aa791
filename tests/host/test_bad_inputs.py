"""Bad input through a real ComfyUI server, over every node of the pack (issue 12, section 2).

Each case is a small API prompt (tiny checkpoint, 256 px canvas, 1 step). A bad input must end in a clear
error: ComfyUI's validation refusing the prompt, or an execution_error raised as our NodeInputError whose
message names the node and the input; never a raw torch error, a NaN image or a hang. After every case the
server answers and its queue is empty; at the end a reference prompt reproduces its first output byte for byte,
from the cache and after the cache is dropped.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable

import pytest

from tools import tiny_models
from tools.comfy_host import ComfyError

NAN = float("nan")
TIMEOUT = 240  # s per case: far above any case's run time, so only a hang reaches it
OUR_ERROR = "NodeInputError"


class Graph(dict):
    """An API prompt under construction: `add` returns the new node's id."""

    def add(self, class_type: str, **inputs) -> str:
        nid = str(len(self) + 1)
        self[nid] = {"class_type": class_type, "inputs": inputs}
        return nid


def ref(nid: str, slot: int = 0) -> list:
    return [nid, slot]


# ---------------------------------------------------------------- graph pieces

def checkpoint(g: Graph, kind: str = "sd15") -> str:
    return g.add("CheckpointLoaderSimple", ckpt_name=tiny_models.FILES[kind])


def solid(g: Graph, value: float = 1.0, w: int = 256, h: int = 256) -> str:
    return g.add("SolidMask", value=value, width=w, height=h)


def left_half(g: Graph) -> str:
    return g.add("MaskComposite", destination=ref(solid(g, 0.0)), source=ref(solid(g, 1.0, 128, 256)), x=0, y=0,
                 operation="add")


def region(g: Graph, ck: str, mask: str | None = None, text: str = "a red apple", **kw) -> str:
    mask = mask or left_half(g)
    return g.add("SemanticDrawRegion", clip=ref(ck, 1), text=text, mask=ref(mask), **kw)


def encode(g: Graph, ck: str, text: str = "a wooden table") -> str:
    return g.add("CLIPTextEncode", clip=ref(ck, 1), text=text)


def empty_latent(g: Graph, w: int = 256, h: int = 256, batch: int = 1) -> str:
    return g.add("EmptyLatentImage", width=w, height=h, batch_size=batch)


def image(g: Graph, w: int = 256, h: int = 256, batch: int = 1, color: int = 0xff0000) -> str:
    return g.add("EmptyImage", width=w, height=h, batch_size=batch, color=color)


def nan_image(g: Graph, w: int = 256, h: int = 256) -> str:
    return g.add("ImageBlend", image1=ref(image(g, w, h)), image2=ref(image(g, w, h, color=0x00ff00)),
                 blend_factor=NAN, blend_mode="normal")


def nan_latent(g: Graph) -> str:
    return g.add("LatentMultiply", samples=ref(empty_latent(g)), multiplier=NAN)


def sd3_latent(g: Graph) -> str:
    """A non-empty 16-channel latent (encoded by the SD3-shaped checkpoint's VAE)."""
    return g.add("VAEEncode", pixels=ref(image(g)), vae=ref(checkpoint(g, "sd3"), 2))


def sampler(g: Graph, ck: str, regions: str, latent: str | None = None, **kw) -> str:
    return g.add("SemanticDrawSampler", model=ref(ck), regions=ref(regions),
                 latent_image=ref(latent or empty_latent(g)), **({"seed": 5, "steps": 1} | kw))


def save_latent(g: Graph, latent: str, slot: int = 0) -> str:
    return g.add("SaveLatent", samples=ref(latent, slot), filename_prefix="bad_inputs")


def sampled(g: Graph, ck: str, regions: str, **kw) -> str:
    """Region stack -> sampler -> saved latent (the output node that makes the graph run)."""
    return save_latent(g, sampler(g, ck, regions, **kw))


def stack(g: Graph, ck: str, **kw) -> str:
    return g.add("SemanticDrawRegionStack", regions_1=ref(region(g, ck)), **kw)


def sdedit(g: Graph, ck: str, guide: str | None = None, **kw) -> str:
    guide = guide or sampler(g, ck, region(g, ck))
    return save_latent(g, g.add("SemanticDrawSDEdit", model=ref(ck), regions=ref(region(g, ck)), guide=ref(guide),
                                **({"steps": 1, "strength": 0.5} | kw)))


def regional_edit(g: Graph, ck: str, source: str | None = None, target: str | None = None, **kw) -> str:
    src = region(g, ck)
    source = source or sampler(g, ck, src)
    target = target or region(g, ck, text="a green pear")
    return save_latent(g, g.add("SemanticDrawRegionalEdit", model=ref(ck), source=ref(source),
                                source_regions=ref(src), target_regions=ref(target), **({"steps": 1} | kw)))


def blend(g: Graph, ck: str, img: str | None = None, background: str | None = None, regions: str | None = None) -> str:
    inputs = {"image": ref(img or image(g)), "regions": ref(regions or region(g, ck))}
    if background is not None:
        inputs["background_image"] = ref(background)
    return g.add("PreviewImage", images=ref(g.add("SemanticDrawBackgroundBlend", **inputs)))


def stream(g: Graph, ck: str, regions: str | None = None, latent: str | None = None, **kw) -> str:
    node = g.add("SemanticDrawStreamSampler", model=ref(ck), regions=ref(regions or region(g, ck)),
                 latent_image=ref(latent or empty_latent(g)),
                 **({"frame_count": 1, "t_index_list": "0,32", "cfg_type": "none"} | kw))
    return save_latent(g, node)


def guider(g: Graph, ck: str, latent: str | None = None, **kw) -> str:
    gd = g.add("SemanticDrawGuider", model=ref(ck), regions=ref(region(g, ck)), **kw)
    out = g.add("SamplerCustomAdvanced", noise=ref(g.add("RandomNoise", noise_seed=3)), guider=ref(gd),
                sampler=ref(g.add("KSamplerSelect", sampler_name="lcm")),
                sigmas=ref(g.add("BasicScheduler", model=ref(ck), scheduler="sgm_uniform", steps=1, denoise=1.0)),
                latent_image=ref(latent or empty_latent(g)))
    return save_latent(g, out)


def palette(g: Graph, ck: str, text: str = "red: a red wall", img: str | None = None, **kw) -> str:
    node = g.add("SemanticDrawPalette", clip=ref(ck, 1), palette_image=ref(img or image(g)), palette=text, **kw)
    return sampled(g, ck, node)


def mask_batch(g: Graph, n: int = 2) -> str:
    img = g.add("MaskToImage", mask=ref(left_half(g)))
    return g.add("ImageToMask", image=ref(g.add("RepeatImageBatch", image=ref(img), amount=n)), channel="red")


def eight_regions(g: Graph, ck: str) -> str:
    one = region(g, ck)
    return g.add("SemanticDrawRegionStack", **{f"regions_{i}": ref(one) for i in range(1, 9)})


def nan_conditioning(g: Graph, ck: str) -> str:
    return g.add("ConditioningAverage", conditioning_to=ref(encode(g, ck)), conditioning_from=ref(encode(g, ck, "x")),
                 conditioning_to_strength=NAN)


def from_conditioning(g: Graph, ck: str, positive: str, mask: str | None = None, **kw) -> str:
    return g.add("SemanticDrawRegionFromConditioning", positive=ref(positive), mask=ref(mask or left_half(g)), **kw)


# ---------------------------------------------------------------- cases

@dataclass
class Case:
    id: str
    build: Callable[[Graph, str], object]
    node: str = ""  # display name the message must carry (execution errors)
    names: tuple[str, ...] = ()  # words the message must carry: the input (and what to do)
    expect: str = "error"  # error | validation | ok | error_or_ok
    extra: dict = field(default_factory=dict)


REGION, COND, STACK = "SemanticDraw Region (Text)", "SemanticDraw Region (Conditioning)", "SemanticDraw Region Stack"
PALETTE, SAMPLER, GUIDER = "SemanticDraw Semantic Palette", "SemanticDraw Sampler", "SemanticDraw Guider"
STREAM, SDEDIT, EDIT = "SemanticDraw Stream Sampler", "SemanticDraw SDEdit", "SemanticDraw Regional Edit"
BLEND = "SemanticDraw Background Blend"

CASES = [
    # Region (Text)
    Case("region-mask_strength-nan", lambda g, ck: sampled(g, ck, region(g, ck, mask_strength=NAN)), REGION,
         ("mask_strength", "NaN")),
    Case("region-mask_blur_std-nan", lambda g, ck: sampled(g, ck, region(g, ck, mask_blur_std=NAN)), REGION,
         ("mask_blur_std",)),
    Case("region-prompt_strength-nan", lambda g, ck: sampled(g, ck, region(g, ck, prompt_strength=NAN)), REGION,
         ("prompt_strength",)),
    Case("region-mask-nan", lambda g, ck: sampled(g, ck, region(g, ck, mask=solid(g, NAN))), REGION, ("mask", "NaN")),
    Case("region-mask_strength-inf", lambda g, ck: sampled(g, ck, region(g, ck, mask_strength=float("inf"))),
         expect="validation", names=("mask_strength",)),
    Case("region-mask_blur_std-negative", lambda g, ck: sampled(g, ck, region(g, ck, mask_blur_std=-1.0)),
         expect="validation", names=("mask_blur_std",)),
    Case("region-mask-empty", lambda g, ck: sampled(g, ck, region(g, ck, mask=solid(g, 0.0))), SAMPLER,
         ("regions[0].mask", "empty")),
    Case("region-mask-aspect", lambda g, ck: sampled(g, ck, region(g, ck, mask=solid(g, 1.0, 512, 256))), SAMPLER,
         ("regions[0].mask", "512x256")),
    Case("region-mask-batch", lambda g, ck: sampled(g, ck, region(g, ck, mask=mask_batch(g))), SAMPLER,
         ("regions[0].mask", "[2, 256, 256]")),
    Case("region-empty-text-ok", lambda g, ck: sampled(g, ck, region(g, ck, text="")), expect="ok"),
    Case("region-mask-tiny-ok", lambda g, ck: sampled(g, ck, region(g, ck, mask=solid(g, 1.0, 8, 8))), expect="ok"),
    Case("region-mask-latent-size-ok", lambda g, ck: sampled(g, ck, region(g, ck, mask=solid(g, 1.0, 32, 32))),
         expect="ok"),
    Case("region-long-text-ok", lambda g, ck: sampled(g, ck, region(g, ck, text="apple " * 100)), expect="ok"),
    # Region (Conditioning)
    Case("cond-positive-nan", lambda g, ck: sampled(g, ck, from_conditioning(g, ck, nan_conditioning(g, ck))), COND,
         ("positive", "NaN")),
    Case("cond-negative-nan", lambda g, ck: sampled(g, ck, from_conditioning(
        g, ck, encode(g, ck), negative=ref(nan_conditioning(g, ck)))), COND, ("negative", "NaN")),
    Case("cond-strength-nan", lambda g, ck: sampled(g, ck, from_conditioning(g, ck, g.add(
        "ConditioningSetAreaStrength", conditioning=ref(encode(g, ck)), strength=NAN))), COND,
         ("positive", "strength")),
    Case("cond-mask_strength-nan", lambda g, ck: sampled(g, ck, from_conditioning(g, ck, encode(g, ck),
                                                                                   mask_strength=NAN)), COND,
         ("mask_strength",)),
    Case("cond-prompt_strength-nan", lambda g, ck: sampled(g, ck, from_conditioning(g, ck, encode(g, ck),
                                                                                     prompt_strength=NAN)), COND,
         ("prompt_strength",)),
    Case("cond-mask-nan", lambda g, ck: sampled(g, ck, from_conditioning(g, ck, encode(g, ck), mask=solid(g, NAN))),
         COND, ("mask", "NaN")),
    Case("cond-set-area-inside-region", lambda g, ck: sampled(g, ck, from_conditioning(g, ck, g.add(
        "ConditioningSetArea", conditioning=ref(encode(g, ck)), width=128, height=128, x=64, y=64, strength=1.0))),
         expect="error_or_ok", names=("area",)),
    Case("cond-set-mask-inside-region", lambda g, ck: sampled(g, ck, from_conditioning(g, ck, g.add(
        "ConditioningSetMask", conditioning=ref(encode(g, ck)), mask=ref(solid(g, 1.0, 64, 64)), strength=1.0,
        set_cond_area="mask bounds"))), expect="error_or_ok", names=("mask",)),
    Case("cond-set-area-percentage-inside-region", lambda g, ck: sampled(g, ck, from_conditioning(g, ck, g.add(
        "ConditioningSetAreaPercentage", conditioning=ref(encode(g, ck)), width=0.5, height=0.5, x=0.25, y=0.25,
        strength=1.0))), expect="error_or_ok", names=("area",)),
    # Region Stack
    Case("stack-background_latent-nan", lambda g, ck: sampled(g, ck, stack(g, ck, background_latent=ref(
        nan_latent(g)))), STACK, ("background_latent", "NaN")),
    Case("stack-background_image-nan", lambda g, ck: sampled(g, ck, stack(g, ck, background_image=ref(
        nan_image(g)), vae=ref(ck, 2))), STACK, ("background_image", "NaN")),
    Case("stack-background_prompt-nan", lambda g, ck: sampled(g, ck, stack(g, ck, background_prompt=ref(
        nan_conditioning(g, ck)))), STACK, ("background_prompt", "NaN")),
    Case("stack-background_negative-nan", lambda g, ck: sampled(g, ck, stack(
        g, ck, background_prompt=ref(encode(g, ck)), background_negative=ref(nan_conditioning(g, ck)))), STACK,
         ("background_negative", "NaN")),
    Case("stack-background_latent-16-channels", lambda g, ck: sampled(g, ck, stack(g, ck, background_latent=ref(
        sd3_latent(g)))), SAMPLER, ("background_latent", "16 channels")),
    Case("stack-background_latent-empty-16-channels", lambda g, ck: sampled(g, ck, stack(
        g, ck, background_latent=ref(g.add("EmptySD3LatentImage", width=256, height=256, batch_size=1)))),
         SAMPLER, ("background_latent", "channels")),
    Case("stack-background_latent-size", lambda g, ck: sampled(g, ck, stack(g, ck, background_latent=ref(
        empty_latent(g, 128, 128)))), SAMPLER, ("background_latent", "16x16")),
    Case("stack-background_image-without-vae", lambda g, ck: sampled(g, ck, stack(g, ck, background_image=ref(
        image(g)))), SAMPLER, ("background_image", "vae")),
    Case("stack-background_image-other-size-ok", lambda g, ck: sampled(g, ck, stack(
        g, ck, background_image=ref(image(g, 128, 128)), vae=ref(ck, 2))), expect="ok"),
    # Semantic Palette
    Case("palette-typo-hex", lambda g, ck: palette(g, ck, "#gg0000: a red wall"), PALETTE,
         ("palette line 1", "#gg0000", "is not a colour")),
    Case("palette-typo-second-line", lambda g, ck: palette(g, ck, "red: a wall\n#ff00: sky"), PALETTE,
         ("palette line 2", "#ff00")),
    Case("palette-no-separator", lambda g, ck: palette(g, ck, "red a wall"), PALETTE, ("palette line 1", "':'")),
    Case("palette-rgb-out-of-range", lambda g, ck: palette(g, ck, "300, 0, 0: a wall"), PALETTE,
         ("palette line 1", "0-255")),
    Case("palette-empty", lambda g, ck: palette(g, ck, ""), PALETTE, ("palette", "no 'colour: prompt'")),
    Case("palette-only-comments", lambda g, ck: palette(g, ck, "# a comment\n#todo: later"), PALETTE,
         ("palette", "no 'colour: prompt'")),
    Case("palette-duplicate", lambda g, ck: palette(g, ck, "red: a\n#ff0000: b"), PALETTE,
         ("palette line 2", "already used")),
    Case("palette-colour-absent", lambda g, ck: palette(g, ck, "red: a\nblue: b"), PALETTE,
         ("palette", "#0000ff", "tolerance")),
    Case("palette-empty-prompt", lambda g, ck: palette(g, ck, "red:   "), PALETTE, ("palette line 1", "empty prompt")),
    Case("palette-huge", lambda g, ck: palette(g, ck, "red: a\n" + "# x\n" * 60_000), PALETTE,
         ("palette", "limit")),
    Case("palette-tolerance-nan", lambda g, ck: palette(g, ck, tolerance=NAN), PALETTE, ("tolerance",)),
    Case("palette-mask_blur_std-nan", lambda g, ck: palette(g, ck, mask_blur_std=NAN), PALETTE, ("mask_blur_std",)),
    Case("palette-image-nan", lambda g, ck: palette(g, ck, img=nan_image(g)), PALETTE, ("palette_image", "NaN")),
    Case("palette-comment-ok", lambda g, ck: palette(g, ck, "# walls: red\nred: a wall"), expect="ok"),
    # Sampler
    Case("sampler-cfg-nan", lambda g, ck: sampled(g, ck, region(g, ck), cfg=NAN), SAMPLER, ("cfg", "NaN")),
    Case("sampler-denoise-nan", lambda g, ck: sampled(g, ck, region(g, ck), denoise=NAN), SAMPLER, ("denoise",)),
    Case("sampler-cover_alpha-nan", lambda g, ck: sampled(g, ck, region(g, ck), cover_alpha=NAN), SAMPLER,
         ("cover_alpha",)),
    Case("sampler-leak_sensitivity-nan", lambda g, ck: sampled(g, ck, region(g, ck), leak_sensitivity=NAN), SAMPLER,
         ("leak_sensitivity",)),
    Case("sampler-bootstrap_mix_steps-nan", lambda g, ck: sampled(g, ck, region(g, ck), bootstrap_mix_steps=NAN),
         SAMPLER, ("bootstrap_mix_steps",)),
    Case("sampler-cfg-inf", lambda g, ck: sampled(g, ck, region(g, ck), cfg=float("inf")), expect="validation",
         names=("cfg",)),
    Case("sampler-latent-nan", lambda g, ck: sampled(g, ck, region(g, ck), latent=nan_latent(g)), SAMPLER,
         ("latent_image", "NaN")),
    Case("sampler-latent-16-channels", lambda g, ck: sampled(g, ck, region(g, ck), latent=sd3_latent(g)), SAMPLER,
         ("latent_image", "16 channels", "4")),
    Case("sampler-empty-16-channel-latent-ok", lambda g, ck: sampled(g, ck, region(g, ck), latent=g.add(
        "EmptySD3LatentImage", width=256, height=256, batch_size=1)), expect="ok"),
    Case("sampler-huge-canvas", lambda g, ck: sampled(g, ck, eight_regions(g, ck), latent=empty_latent(
        g, 16384, 16384, batch=4)), SAMPLER, ("canvas", "GiB", "smaller")),
    Case("sampler-sampler_name-unknown", lambda g, ck: sampled(g, ck, region(g, ck), sampler_name="nope"), SAMPLER,
         ("sampler_name", "'nope'", "choices")),
    Case("sampler-scheduler-unknown", lambda g, ck: sampled(g, ck, region(g, ck), scheduler="nope"), SAMPLER,
         ("scheduler", "'nope'")),
    Case("sampler-mask_type-unknown", lambda g, ck: sampled(g, ck, region(g, ck), mask_type="nope"), SAMPLER,
         ("mask_type", "'nope'")),
    Case("sampler-steps-zero", lambda g, ck: sampled(g, ck, region(g, ck), steps=0), expect="validation",
         names=("steps",)),
    Case("sampler-denoise-zero-ok", lambda g, ck: sampled(g, ck, region(g, ck), denoise=0.0), expect="error_or_ok",
         names=("denoise",)),
    Case("sampler-batch-2-ok", lambda g, ck: sampled(g, ck, region(g, ck), latent=empty_latent(g, batch=2)),
         expect="ok"),
    # Guider (SamplerCustomAdvanced)
    Case("guider-cfg-nan", lambda g, ck: guider(g, ck, cfg=NAN), GUIDER, ("cfg", "NaN")),
    Case("guider-cover_alpha-nan", lambda g, ck: guider(g, ck, cover_alpha=NAN), GUIDER, ("cover_alpha",)),
    Case("guider-mask_type-unknown", lambda g, ck: guider(g, ck, mask_type="nope"), GUIDER, ("mask_type", "'nope'")),
    Case("guider-latent-16-channels", lambda g, ck: guider(g, ck, latent=sd3_latent(g)), GUIDER,
         ("latent", "16 channels")),
    Case("guider-latent-nan", lambda g, ck: guider(g, ck, latent=nan_latent(g)), GUIDER, ("latent", "NaN")),
    # SDEdit
    Case("sdedit-strength-nan", lambda g, ck: sdedit(g, ck, strength=NAN), SDEDIT, ("strength",)),
    Case("sdedit-cfg-nan", lambda g, ck: sdedit(g, ck, cfg=NAN), SDEDIT, ("cfg", "NaN")),
    Case("sdedit-guide-nan", lambda g, ck: sdedit(g, ck, guide=nan_latent(g)), SDEDIT, ("guide", "NaN")),
    Case("sdedit-guide-16-channels", lambda g, ck: sdedit(g, ck, guide=sd3_latent(g)), SDEDIT,
         ("guide", "16 channels")),
    Case("sdedit-mask-nan", lambda g, ck: sdedit(g, ck, mask=ref(solid(g, NAN))), SDEDIT, ("mask", "NaN")),
    Case("sdedit-mask-aspect", lambda g, ck: sdedit(g, ck, mask=ref(solid(g, 1.0, 512, 256))), SDEDIT,
         ("mask", "512x256")),
    Case("sdedit-mask-batch", lambda g, ck: sdedit(g, ck, mask=ref(mask_batch(g, 3))), SDEDIT,
         ("mask", "batch of 3")),
    Case("sdedit-noise_mask-nan", lambda g, ck: sdedit(g, ck, guide=g.add(
        "SetLatentNoiseMask", samples=ref(sampler(g, ck, region(g, ck))), mask=ref(solid(g, NAN)))), SDEDIT,
         ("guide.noise_mask", "NaN")),
    Case("sdedit-leak_sensitivity-nan", lambda g, ck: sdedit(g, ck, leak_sensitivity=NAN), SDEDIT,
         ("leak_sensitivity",)),
    Case("sdedit-sampler_name-unknown", lambda g, ck: sdedit(g, ck, sampler_name="nope"), SDEDIT,
         ("sampler_name", "'nope'")),
    Case("sdedit-strength-zero-ok", lambda g, ck: sdedit(g, ck, strength=0.0), expect="ok"),
    # Regional Edit
    Case("edit-background-prompt-only-ok", lambda g, ck: regional_edit(g, ck, target=g.add(
        "SemanticDrawRegionStack", regions_1=ref(region(g, ck)), background_prompt=ref(encode(g, ck)))),
         expect="ok"),
    Case("edit-source-16-channels", lambda g, ck: regional_edit(g, ck, source=sd3_latent(g)), EDIT,
         ("source", "16 channels")),
    Case("edit-source-nan", lambda g, ck: regional_edit(g, ck, source=nan_latent(g)), EDIT, ("source", "NaN")),
    Case("edit-cfg-nan", lambda g, ck: regional_edit(g, ck, cfg=NAN), EDIT, ("cfg", "NaN")),
    Case("edit-strength-nan", lambda g, ck: regional_edit(g, ck, strength=NAN), EDIT, ("strength",)),
    Case("edit-target-mask-aspect", lambda g, ck: regional_edit(g, ck, target=region(
        g, ck, mask=solid(g, 1.0, 512, 256), text="a pear")), EDIT, ("mask", "512x256")),
    Case("edit-no-change-ok", lambda g, ck: regional_edit(g, ck, target=region(g, ck)), expect="ok"),
    # Background Blend
    Case("blend-batch-mismatch", lambda g, ck: blend(g, ck, img=image(g, batch=2), background=image(g, batch=3)),
         BLEND, ("background_image", "batch of 3", "batch of 2")),
    Case("blend-size-mismatch", lambda g, ck: blend(g, ck, background=image(g, 128, 128)), BLEND,
         ("background_image", "128x128")),
    Case("blend-background-missing", lambda g, ck: blend(g, ck), BLEND, ("background_image", "missing")),
    Case("blend-image-nan", lambda g, ck: blend(g, ck, img=nan_image(g), background=image(g)), BLEND,
         ("image", "NaN")),
    Case("blend-background-nan", lambda g, ck: blend(g, ck, background=nan_image(g)), BLEND,
         ("background_image", "NaN")),
    Case("blend-mask-batch", lambda g, ck: blend(g, ck, background=image(g), regions=region(
        g, ck, mask=mask_batch(g))), BLEND, ("regions[0].mask", "[2, 256, 256]")),
    Case("blend-background-batch-1-ok", lambda g, ck: blend(g, ck, img=image(g, batch=2), background=image(g)),
         expect="ok"),
    # Stream Sampler
    Case("stream-t_index_list-commas", lambda g, ck: stream(g, ck, t_index_list=",,,"), STREAM,
         ("t_index_list", "no indices"), extra={"absent": "sigmas"}),
    Case("stream-t_index_list-words", lambda g, ck: stream(g, ck, t_index_list="a, b"), STREAM,
         ("t_index_list", "integers")),
    Case("stream-t_index_list-decreasing", lambda g, ck: stream(g, ck, t_index_list="0,12,8"), STREAM,
         ("t_index_list", "increasing")),
    Case("stream-t_index_list-range", lambda g, ck: stream(g, ck, t_index_list="0,60"), STREAM,
         ("t_index_list", "[0, 49]")),
    Case("stream-t_index_list-huge", lambda g, ck: stream(g, ck, t_index_list="1," * 50_000), STREAM,
         ("t_index_list", "limit")),
    Case("stream-schedule-malformed", lambda g, ck: stream(g, ck, prompt_schedule="first: a cat", clip=ref(ck, 1)),
         STREAM, ("prompt_schedule", "line 1")),
    Case("stream-schedule-redos", lambda g, ck: stream(g, ck, prompt_schedule="1@0:" + " " * 80_000 + "x",
                                                        clip=ref(ck, 1)), STREAM,
         ("prompt_schedule", "line 1", "limit")),
    Case("stream-schedule-redos-digits", lambda g, ck: stream(g, ck, prompt_schedule="1" * 80_000,
                                                               clip=ref(ck, 1)), STREAM, ("prompt_schedule", "line 1")),
    Case("stream-schedule-region", lambda g, ck: stream(g, ck, prompt_schedule="9@0: x", clip=ref(ck, 1)), STREAM,
         ("prompt_schedule", "region 9")),
    Case("stream-schedule-without-clip", lambda g, ck: stream(g, ck, prompt_schedule="1@0: x"), STREAM,
         ("clip", "prompt_schedule")),
    Case("stream-cfg_type-unknown", lambda g, ck: stream(g, ck, cfg_type="nope"), STREAM, ("cfg_type", "'nope'")),
    Case("stream-scheduler-unknown", lambda g, ck: stream(g, ck, scheduler="nope"), STREAM, ("scheduler", "'nope'")),
    Case("stream-cfg-nan", lambda g, ck: stream(g, ck, cfg=NAN), STREAM, ("cfg", "NaN")),
    Case("stream-delta-nan", lambda g, ck: stream(g, ck, delta=NAN), STREAM, ("delta",)),
    Case("stream-latent-nan", lambda g, ck: stream(g, ck, latent=nan_latent(g)), STREAM, ("latent_image", "NaN")),
    Case("stream-latent-16-channels", lambda g, ck: stream(g, ck, latent=sd3_latent(g)), STREAM,
         ("latent_image", "16 channels")),
    Case("stream-background_latent-16-channels", lambda g, ck: stream(g, ck, regions=stack(
        g, ck, background_latent=ref(sd3_latent(g)))), STREAM, ("background_latent", "16 channels")),
    Case("stream-mask-batch-frames", lambda g, ck: stream(g, ck, regions=region(g, ck, mask=mask_batch(g, 3)),
                                                          frame_count=2), STREAM, ("regions[0].mask", "frame_count")),
    Case("stream-max_batch", lambda g, ck: stream(g, ck, max_batch=1), STREAM, ("limit of 1",)),
    # another model's text encoder (issue 17: were raw torch errors), tiny windows, regions that cannot show
    Case("region-sd3-clip", lambda g, ck: sampled(g, ck, region(g, checkpoint(g, "sd3"))), SAMPLER,
         ("regions[0].positive", "width 4096", "width 768", "CLIP")),
    Case("stack-background_prompt-sd3-clip", lambda g, ck: sampled(g, ck, stack(
        g, ck, background_prompt=ref(encode(g, checkpoint(g, "sd3"))))), SAMPLER, ("background_prompt", "4096")),
    Case("stream-region-sd3-clip", lambda g, ck: stream(g, ck, regions=region(g, checkpoint(g, "sd3"))), STREAM,
         ("regions[0].positive", "4096", "768")),
    Case("edit-target-sd3-clip", lambda g, ck: regional_edit(g, ck, target=region(g, checkpoint(g, "sd3"),
                                                                                   text="a pear")), EDIT,
         ("target_regions[0].positive", "4096", "768")),
    Case("guider-sd3-clip", lambda g, ck: save_latent(g, g.add(
        "SamplerCustomAdvanced", noise=ref(g.add("RandomNoise", noise_seed=3)),
        guider=ref(g.add("SemanticDrawGuider", model=ref(ck), regions=ref(region(g, checkpoint(g, "sd3"))))),
        sampler=ref(g.add("KSamplerSelect", sampler_name="lcm")),
        sigmas=ref(g.add("BasicScheduler", model=ref(ck), scheduler="sgm_uniform", steps=1, denoise=1.0)),
        latent_image=ref(empty_latent(g)))), GUIDER, ("regions[0].positive", "4096")),
    Case("edit-source-empty-16-channels-ok", lambda g, ck: regional_edit(g, ck, source=g.add(
        "EmptySD3LatentImage", width=256, height=256, batch_size=1)), expect="ok"),
    Case("sampler-tile_size-8", lambda g, ck: sampled(g, ck, region(g, ck), tile_size=8), SAMPLER,
         ("tile_size", "8 pixels is too small", "256")),
    Case("sampler-tile_size-16", lambda g, ck: sampled(g, ck, region(g, ck), tile_size=16), SAMPLER,
         ("tile_size", "256")),
    Case("guider-tile_size-8", lambda g, ck: guider(g, ck, tile_size=8), GUIDER, ("tile_size", "256")),
    Case("region-mask_strength-zero-alone", lambda g, ck: sampled(g, ck, region(g, ck, mask_strength=0.0)), SAMPLER,
         ("regions[0].mask_strength", "is 0")),
    Case("stream-mask_strength-zero-alone", lambda g, ck: stream(g, ck, regions=region(g, ck, mask_strength=0.0)),
         STREAM, ("regions[0].mask_strength", "is 0")),
    Case("canvas-blank-background-prompt-ok", lambda g, ck: sampled(g, ck, g.add(
        "SemanticDrawCanvas", width=256, height=256, brushes="[]", background_prompt="a field", painting="",
        clip=ref(ck, 1))), expect="ok"),
    Case("canvas-blank-background-image-ok", lambda g, ck: sampled(g, ck, g.add(
        "SemanticDrawCanvas", width=256, height=256, brushes="[]", background_prompt="a field", painting="",
        clip=ref(ck, 1), vae=ref(ck, 2), background_image=ref(image(g)))), expect="ok"),
]


# ---------------------------------------------------------------- running

def fill_defaults(prompt: dict, info: dict) -> dict:
    """Every required widget a case leaves out gets the default the node declares."""
    for node in prompt.values():
        spec = info[node["class_type"]]["input"]
        for name, decl in spec.get("required", {}).items():
            opts = decl[1] if len(decl) > 1 and isinstance(decl[1], dict) else {}
            if name not in node["inputs"] and "default" in opts:
                node["inputs"][name] = opts["default"]
            elif name not in node["inputs"] and isinstance(decl[0], list):
                node["inputs"][name] = decl[0][0]
    return prompt


@dataclass
class Outcome:
    kind: str  # ok | error | validation | interrupted
    message: str
    exception_type: str = ""
    node_type: str = ""
    seconds: float = 0.0


def submit(server, prompt: dict, timeout: float = TIMEOUT) -> Outcome:
    """Queue a prompt and wait for its history entry; never raises for a failed prompt."""
    start = time.monotonic()
    try:
        prompt_id = server.queue(prompt)
    except ComfyError as e:
        return Outcome("validation", str(e), seconds=time.monotonic() - start)
    while time.monotonic() - start < timeout:
        entry = server.get(f"/history/{prompt_id}").get(prompt_id)
        if entry and entry.get("status", {}).get("completed") is not None:
            seconds = time.monotonic() - start
            for kind, data in entry["status"].get("messages", []):
                if kind == "execution_error":
                    return Outcome("error", data.get("exception_message", ""), data.get("exception_type", ""),
                                   data.get("node_type", ""), seconds)
                if kind == "execution_interrupted":
                    return Outcome("interrupted", json.dumps(data), seconds=seconds)
            assert_finite_outputs(server, entry)
            return Outcome("ok", json.dumps(entry.get("outputs", {}))[:2000], seconds=seconds)
        assert server.process.poll() is None, f"ComfyUI died:\n{server.log_tail()}"
        time.sleep(0.05)  # polling the history for a finished prompt, not timing anything
    server.interrupt()
    pytest.fail(f"prompt did not finish within {timeout} s (a hang)")


def assert_finite_outputs(server, entry: dict) -> None:
    """Every latent a successful prompt saved is finite (no silent NaN image)."""
    import safetensors.torch
    import torch
    files = [server.base / "output" / f.get("subfolder", "") / f["filename"]
             for out in entry.get("outputs", {}).values() for f in out.get("latents", [])]
    for path in files:
        for name, t in safetensors.torch.load_file(str(path)).items():
            assert torch.isfinite(t.float()).all(), f"{path.name}: {name} has NaN or infinite values"


def assert_healthy(server) -> None:
    assert "system" in server.get("/system_stats")
    queue = server.get("/queue")
    assert queue["queue_running"] == [] and queue["queue_pending"] == [], queue


@pytest.fixture(scope="module")
def info(comfy_server):
    return comfy_server.object_info()


def build(case: Case, info: dict) -> dict:
    g = Graph()
    case.build(g, checkpoint(g))
    return fill_defaults(g, info)


def check(case: Case, out: Outcome) -> None:
    if case.expect == "ok" or (case.expect == "error_or_ok" and out.kind == "ok"):
        assert out.kind == "ok", f"{case.id}: expected a run, got {out}"
        return
    if case.expect == "validation":
        assert out.kind == "validation", f"{case.id}: expected ComfyUI's validation error, got {out}"
    else:
        assert out.kind == "error", f"{case.id}: expected an error, got {out}"
        assert out.exception_type.endswith(OUR_ERROR), f"{case.id}: not our clear error: {out}"
        if case.node:
            assert out.message.startswith(case.node + ": "), f"{case.id}: the message must name {case.node}: {out}"
        assert "Traceback" not in out.message and "torch" not in out.message, out
    for word in case.names:
        assert word in out.message, f"{case.id}: the message must name '{word}': {out.message}"
    if "absent" in case.extra:
        assert case.extra["absent"] not in out.message, f"{case.id}: internal name in {out.message}"


REFERENCE_SEED = 20261201


def reference(info: dict, negative_text: str = "") -> dict:
    """A good prompt: a region stack with a background prompt, saved as a latent and an image. With cfg 1 the
    region's negative is not used, so another `negative_text` recomputes every pack node to the same result."""
    g = Graph()
    ck = checkpoint(g)
    regions = g.add("SemanticDrawRegionStack", regions_1=ref(region(g, ck, negative_text=negative_text)),
                    background_prompt=ref(encode(g, ck)))
    latent = sampler(g, ck, regions, seed=REFERENCE_SEED, steps=2, cfg=1.0)
    save_latent(g, latent)
    g.add("SaveImage", images=ref(g.add("VAEDecode", samples=ref(latent), vae=ref(ck, 2))),
          filename_prefix="bad_inputs_reference")
    return fill_defaults(g, info)


def reference_output(server, info, negative_text: str = "") -> tuple[bytes, bytes, bytes]:
    """(PNG file, its pixels, the latent's tensor bytes) of the reference prompt."""
    import numpy as np
    import safetensors.torch
    from PIL import Image
    entry = server.run(reference(info, negative_text))
    paths = server.images(entry)
    latents = [server.base / "output" / f.get("subfolder", "") / f["filename"]
               for out in entry["outputs"].values() for f in out.get("latents", [])]
    assert len(paths) == 1 and len(latents) == 1
    with Image.open(paths[0]) as im:
        pixels = np.asarray(im).tobytes()
    tensors = safetensors.torch.load_file(str(latents[0]))
    return paths[0].read_bytes(), pixels, b"".join(t.numpy().tobytes() for _, t in sorted(tensors.items()))


@pytest.fixture(scope="module")
def first_reference(comfy_server, info):
    return reference_output(comfy_server, info)


def test_case_count_and_coverage():
    assert len(CASES) >= 60 and len({c.id for c in CASES}) == len(CASES)
    nodes = {REGION, COND, STACK, PALETTE, SAMPLER, GUIDER, STREAM, SDEDIT, EDIT, BLEND}
    assert nodes <= {c.node for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input(comfy_server, info, first_reference, case):
    out = submit(comfy_server, build(case, info))
    check(case, out)
    assert_healthy(comfy_server)


def test_reference_reproduces_byte_for_byte_after_the_bad_inputs(comfy_server, info, first_reference):
    png, pixels, latent = reference_output(comfy_server, info)
    assert png == first_reference[0]  # served from the cache: nothing cached was changed by the bad inputs
    _, pixels, latent = reference_output(comfy_server, info, negative_text="recompute")
    assert (pixels, latent) == first_reference[1:]  # every pack node recomputed, same bytes
    assert_healthy(comfy_server)


# ---------------------------------------------------------------- in-process checks of two fixes

def test_canvas_memory_is_estimated_before_any_model_call(pack, sd15, monkeypatch):
    import comfy.model_management
    import torch
    from tools.inprocess import CallCounter
    from test_inprocess_nodes import sample, stack
    from semanticdraw.nodes.host.errors import NodeInputError
    def free(dev=None, torch_free_too=False):
        return (64 * 2 ** 20, 64 * 2 ** 20) if torch_free_too else 64 * 2 ** 20
    monkeypatch.setattr(comfy.model_management, "get_free_memory", free)
    counter = CallCounter(sd15.model)
    try:
        with pytest.raises(NodeInputError) as e:
            sample(pack, sd15, stack(pack), {"samples": torch.zeros(1, 4, 32, 32)})
    finally:
        sd15.model.apply_model = counter._inner
    assert counter.batches == []
    assert str(e.value).startswith("SemanticDraw Sampler: canvas: a 256x256 canvas with 3 regions"), str(e.value)
    assert "only 0.1 GiB is free" in str(e.value) and "smaller latent" in str(e.value)


def test_regional_edit_of_the_background_prompt_only(pack, sd15):
    """Only the background prompt changed (was an AttributeError): the area outside the regions is regenerated."""
    import torch
    from semanticdraw.nodes.edit import SemanticDrawRegionalEdit
    from test_inprocess_edit_stream import EDIT
    from test_inprocess_nodes import sample, stack
    from tools.inprocess import cond
    import dataclasses
    base = stack(pack)  # full prompt strength: a background change then touches no region's prompt (section 3)
    src = base.replace(regions=tuple(dataclasses.replace(r, prompt_strength=1.0) for r in base.regions))
    source = sample(pack, sd15, src, {"samples": torch.zeros(1, 4, 32, 32)})
    out, mask, report = SemanticDrawRegionalEdit.execute(sd15, source, src, src.replace(background_positive=cond(77)),
                                                         **(EDIT | dict(strength=0.7))).result
    assert report == "edited the background prompt (the area outside every region)"
    assert float(mask[0, 5, 200]) == 1.0 and float(mask[0, 128, 60]) == 0.0  # far outside / deep inside regions
    keep = torch.nn.functional.interpolate(mask[None], size=(32, 32), mode="bilinear")[0, 0] == 0
    assert torch.equal(out["samples"][..., keep], source["samples"][..., keep])
    assert (out["samples"][..., ~keep] - source["samples"][..., ~keep]).abs().max() > 1e-3
