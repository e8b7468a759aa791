"""Drawing on images: SDEdit strokes-to-image and masked edits (ALGORITHM.md section 11), and regional
edits of an existing image (section 12, this pack's form of MRGD's task).

Both start from an existing latent noised to the strength `t0` (SDEdit's time: 1 = pure noise,
0 = the input unchanged) and run the regional sampler from there. With a mask, the known content
is re-imposed at every step, noised to the current level with the noise drawn at the start
(ComfyUI's inpainting path), and the result equals the source exactly where the mask is 0.
"""
from __future__ import annotations

import torch

import comfy.sample
import comfy.samplers
import comfy.utils
from comfy_api.latest import io, ui

from ..engine.blend import blurred_masks, region_union
from ..engine.scene import background_weight
from .host.errors import NodeInputError, check_finite, check_latent, node_errors, single_mask
from .host.guider import RegionalSettings, run_regional
from .host.regions import Regions, RegionStack
from .host.widgets import check_sampling, check_settings, settings_from, settings_inputs


def sdedit_sigmas(model, scheduler: str, steps: int, strength: float) -> torch.Tensor:
    """`steps` sigmas from the noise level of SDEdit time `t0 = strength` down to 0."""
    sampling = model.get_model_object("model_sampling")
    if strength >= 1.0:
        return comfy.samplers.calculate_sigmas(sampling, scheduler, steps).cpu()
    start = float(sampling.percent_to_sigma(1.0 - strength))
    total = max(steps, int(round(steps / max(strength, 1e-3))))
    tail = [float(s) for s in comfy.samplers.calculate_sigmas(sampling, scheduler, total) if float(s) < start]
    return torch.tensor([start] + tail[-steps:], dtype=torch.float32)


def latent_mask(mask: torch.Tensor, latent: torch.Tensor, node: str) -> torch.Tensor:
    """A MASK (or noise_mask) resized to the latent as ComfyUI's sampler does: `[B, C, h, w]`."""
    mask = mask.reshape((-1, 1) + tuple(mask.shape[-2:]))
    if mask.shape[0] not in (1, latent.shape[0]):
        raise NodeInputError(f"{node}: mask has a batch of {mask.shape[0]} but the latent has {latent.shape[0]}; "
                             "give one mask or one per latent")
    h, w = mask.shape[-2:]
    if abs(h * latent.shape[-1] - w * latent.shape[-2]) > 0.01 * h * latent.shape[-1]:
        raise NodeInputError(f"{node}: mask is {w}x{h} but the latent is {latent.shape[-1]}x{latent.shape[-2]} "
                             "(x8 in pixels); use a mask with the image's aspect ratio")
    return comfy.utils.reshape_mask(mask.float(), latent.shape).clamp(0, 1)


def sdedit(model, regions: RegionStack, guide: dict, seed: int, steps: int, strength: float, cfg: float,
           sampler_name: str, scheduler: str, settings: RegionalSettings, node: str, mask=None, repeats: int = 1,
           guide_name: str = "guide", regions_name: str = "regions") -> dict:
    """SDEdit with regions; with a mask only the masked area changes (section 11). An empty guide (all zeros) of
    another model's channels gets this model's, as core's samplers give it (`fix_empty_latent_channels`)."""
    if not 0.0 <= strength <= 1.0:
        raise NodeInputError(f"{node}: strength must lie in [0, 1], got {strength}")
    check_finite(node, cfg=cfg, mask=mask)
    check_sampling(node, sampler_name, scheduler)
    check_latent(node, guide_name, guide, model)
    mask = mask if mask is not None else guide.get("noise_mask")
    source = comfy.sample.fix_empty_latent_channels(model, guide["samples"])
    m = None if mask is None else latent_mask(mask, source, node)
    if strength == 0.0:
        return {k: v for k, v in guide.items() if k != "noise_mask"}
    current = dict(guide, samples=source)
    current.pop("noise_mask", None)
    if strength == 1.0 and m is None:  # t0 = 1 is the end of the SDE: pure noise, the guide plays no part
        current["samples"] = torch.zeros_like(source)
    sigmas = sdedit_sigmas(model, scheduler, steps, strength)
    for r in range(repeats):
        current = run_regional(model, regions, current, seed + r, sigmas, cfg, sampler_name, settings, node,
                               denoise_mask=m, name=regions_name)
    if m is not None:  # exact where the mask is 0, whatever the latent format's rounding
        m = m.to(current["samples"])
        current["samples"] = current["samples"] * m + source.to(m) * (1 - m)
    return current


def sdedit_inputs() -> list[io.Input]:
    return [
        io.Int.Input("seed", default=0, min=0, max=0xffffffffffffffff, control_after_generate=True,
                     tooltip="Noise seed (repeat k uses seed + k)."),
        io.Int.Input("steps", default=4, min=1, max=10000, tooltip="Steps from t0 down to 0."),
        io.Float.Input("strength", default=0.5, min=0.0, max=1.0, step=0.01,
                       tooltip="SDEdit's t0: how far the guide is noised. 0 returns it, 1 ignores it; 0.3-0.6 usual, "
                               "higher for cruder strokes (more realistic, less faithful)."),
        io.Float.Input("cfg", default=1.0, min=0.0, max=100.0, step=0.1, round=0.01,
                       tooltip="Per-region classifier-free guidance; 1 skips the negative pass (few-step models)."),
        io.Combo.Input("sampler_name", options=comfy.samplers.SAMPLER_NAMES, default="lcm",
                       tooltip="Any ComfyUI sampler; it steps the pre-averaged prediction with one shared noise."),
        io.Combo.Input("scheduler", options=comfy.samplers.SCHEDULER_NAMES, default="sgm_uniform",
                       tooltip="Sigmas from t0 down to 0: sgm_uniform for LCM/Lightning, simple for flow models."),
    ]


class SemanticDrawSDEdit(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SemanticDrawSDEdit",
            display_name="SemanticDraw SDEdit (Strokes / Masked Edit)",
            category="SemanticDraw",
            description="Strokes to image: the encoded guide (a painting of coloured strokes, or a photo with strokes) "
                        "is noised to strength t0 and denoised with the regions' prompts, so strokes give colour and "
                        "layout and regions give meaning. With a mask (or the latent's noise_mask) only the masked "
                        "area changes; the rest equals the guide exactly.",
            inputs=[
                io.Model.Input("model", tooltip="Any model ComfyUI loads."),
                Regions.Input("regions", tooltip="Region prompts that give the strokes their meaning."),
                io.Latent.Input("guide", tooltip="The VAE-encoded guide image; it is also the canvas."),
                *sdedit_inputs(),
                io.Int.Input("repeats", default=1, min=1, max=16,
                             tooltip="Run the edit K times, each from the previous result (SDEdit's K)."),
                *settings_inputs(),
                io.Mask.Input("mask", optional=True,
                              tooltip="Only this area changes (1 = regenerate); resized to the guide."),
            ],
            outputs=[io.Latent.Output(tooltip="The edited latent, same size as the guide; decode it with the VAE.")],
        )

    @classmethod
    def execute(cls, model, regions, guide, seed, steps, strength, cfg, sampler_name, scheduler, repeats,
                mask=None, **settings) -> io.NodeOutput:
        node = "SemanticDraw SDEdit"
        check_settings(node, settings)
        return io.NodeOutput(sdedit(model, regions, guide, seed, steps, strength, cfg, sampler_name, scheduler,
                                    settings_from(settings), node, mask=mask, repeats=repeats))


def same_conditioning(a, b) -> bool:
    if a is b:
        return True
    if a is None or b is None or len(a) != len(b):
        return False
    for (ta, da), (tb, db) in zip(a, b):
        if ta.shape != tb.shape or not torch.equal(ta, tb):
            return False
        pa, pb = da.get("pooled_output"), db.get("pooled_output")
        if (pa is None) != (pb is None) or (pa is not None and not torch.equal(pa, pb)):
            return False
    return True


def same_region(a, b) -> bool:
    return (same_conditioning(a.positive, b.positive) and same_conditioning(a.negative, b.negative)
            and a.mask.shape == b.mask.shape and torch.equal(a.mask, b.mask)
            and (a.mask_strength, a.mask_blur_std, a.prompt_strength)
            == (b.mask_strength, b.mask_blur_std, b.prompt_strength))


def region_changes(source: RegionStack, target: RegionStack) -> tuple[list, list[str], bool]:
    """Regions to regenerate (with the source or target region they come from), a report, and whether the
    background prompt changed. Regions are matched by their position in the stack."""
    edits, report = [], []
    for i in range(max(len(source.regions), len(target.regions))):
        s = source.regions[i] if i < len(source.regions) else None
        t = target.regions[i] if i < len(target.regions) else None
        name = f"region {i + 1}"
        if s is None:
            edits.append(t)
            report.append(f"added {name} ('{t.label}')")
        elif t is None:
            edits.append(s)
            report.append(f"removed {name} ('{s.label}')")
        elif not same_region(s, t):
            edits += [s, t]
            report.append(f"edited {name} ('{s.label}' -> '{t.label}')")
    background = not same_conditioning(source.background_positive, target.background_positive)
    if background:
        report.append("edited the background prompt (the area outside every region)")
        # the background prompt is every region's prompt-strength target (engine/scene.py)
        blended = [(i, t) for i, t in enumerate(target.regions)
                   if t.prompt_strength != 1.0 and not any(t is e for e in edits)]
        edits += [t for _, t in blended]
        report += [f"re-blended region {i + 1} ('{t.label}') toward the new background prompt" for i, t in blended]
    return edits, report, background


class SemanticDrawRegionalEdit(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SemanticDrawRegionalEdit",
            display_name="SemanticDraw Regional Edit",
            category="SemanticDraw",
            description="Multi-region editing: give the source latent with the region stack it was made from and a "
                        "target stack in which some prompts changed or regions were added or removed. Only those "
                        "regions (their blurred masks) are regenerated; inherent regions stay anchored to the source "
                        "at every step. Outputs the edit mask for a pixel-exact composite and a report.",
            inputs=[
                io.Model.Input("model", tooltip="Any model ComfyUI loads."),
                io.Latent.Input("source", tooltip="The latent of the image to edit."),
                Regions.Input("source_regions", tooltip="The regions the source was made with."),
                Regions.Input("target_regions", tooltip="The same stack with some regions changed, added or removed."),
                *sdedit_inputs(),
                *settings_inputs(),
            ],
            outputs=[io.Latent.Output(tooltip="The edited latent; regions that did not change stay anchored."),
                     io.Mask.Output(display_name="edit_mask",
                                    tooltip="Union of the changed regions' masks (1 = edited); composite with it."),
                     io.String.Output(display_name="report", tooltip="Which regions changed, were added or removed.")],
        )

    @classmethod
    def execute(cls, model, source, source_regions, target_regions, seed, steps, strength, cfg, sampler_name,
                scheduler, **settings) -> io.NodeOutput:
        node = "SemanticDraw Regional Edit"
        check_finite(node, cfg=cfg)
        check_settings(node, settings)
        check_latent(node, "source", source, model)
        edits, report, background = region_changes(source_regions, target_regions)
        h, w = source["samples"].shape[-2:]
        size = (h * 8, w * 8)
        union = torch.zeros(size)
        with node_errors(node):
            if edits:
                masks = [single_mask(r.mask, node, "edited regions' mask") for r in edits]
                # the edited regions in full, with their blur as a soft border outside them
                union = torch.maximum(region_union(masks, size, [r.mask_blur_std for r in edits]),
                                      region_union(masks, size, [0.0] * len(masks)))
            if background:
                kept = [single_mask(r.mask, node, f"target_regions[{i}].mask")
                        for i, r in enumerate(target_regions.regions)]
                blurs = [r.mask_blur_std for r in target_regions.regions]
                union = torch.maximum(union, background_weight(blurred_masks(kept, size, blurs))[0, 0])
        if not report:
            text = "no region changed; returned the source latent"
            return io.NodeOutput(source, union[None], text, ui=ui.PreviewText(text))
        out = sdedit(model, target_regions, source, seed, steps, strength, cfg, sampler_name, scheduler,
                     settings_from(settings), node, mask=union[None], guide_name="source",
                     regions_name="target_regions")
        text = "; ".join(report)
        return io.NodeOutput(out, union[None], text, ui=ui.PreviewText(text))
