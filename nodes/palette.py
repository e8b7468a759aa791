"""Semantic palette: a colour-coded map plus 'colour: prompt' lines becomes a region stack."""
from __future__ import annotations

import logging

import torch
from comfy_api.latest import io, ui

from ..engine.palette import describe_colour, match_palette, parse_palette
from .host.conditioning import encode_text
from .host.errors import NodeInputError, check_finite, node_errors
from .host.regions import Region, Regions, RegionStack
from .host.widgets import mask_inputs

NODE = "SemanticDraw Semantic Palette"


def palette_report(entries, match, frames: int) -> str:
    lines = [f"{describe_colour(e.colour)}: {float(match.masks[i].mean()) * 100:.1f}% -> {e.prompt}"
             for i, e in enumerate(entries)]
    lines.append(f"unassigned (background): {float(match.unassigned.float().mean()) * 100:.1f}%")
    lines += [f"WARNING: colour {describe_colour(c)} covers {f * 100:.1f}% of the map but has no prompt line"
              for c, f in match.unmatched_colours]
    if frames > 1:
        lines.append(f"{frames} frames")
    return "\n".join(lines)


class SemanticDrawPalette(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SemanticDrawPalette",
            display_name="SemanticDraw Semantic Palette",
            category="SemanticDraw",
            description="Turns a colour-coded map into regions: one line per colour, e.g. '#87ceeb: blue sky' or "
                        "'255,0,0: a red car | blurry'. Each pixel goes to the nearest palette colour within the "
                        "tolerance, so anti-aliased and JPEG edges work. Unassigned pixels are background; colours "
                        "in the map without a line are reported.",
            inputs=[
                io.Clip.Input("clip", tooltip="Encodes the prompt of each colour."),
                io.Image.Input("palette_image", tooltip="The colour map (a batch gives one mask per frame)."),
                io.String.Input("palette", multiline=True, default="#87ceeb: a clear blue sky\n#228b22: a green meadow",
                                tooltip="One 'colour: prompt | optional negative' per line; colours as #RRGGBB, "
                                        "R,G,B or a colour name. Later lines cover earlier ones."),
                io.Float.Input("tolerance", default=0.1, min=0.0, max=1.0, step=0.01,
                               tooltip="Max colour distance (0-1, RGB distance / sqrt(3)) to a palette colour."),
                *mask_inputs(),
            ],
            outputs=[Regions.Output(display_name="regions", tooltip="One region per palette line, in line order."),
                     io.Mask.Output(display_name="masks", tooltip="The mask of each palette line (first frame)."),
                     io.String.Output(display_name="report",
                                      tooltip="Coverage of each colour; colours in the map without a prompt line.")],
        )

    @classmethod
    def execute(cls, clip, palette_image, palette, tolerance, mask_strength, mask_blur_std,
                prompt_strength) -> io.NodeOutput:
        if clip is None:
            raise NodeInputError(f"{NODE}: clip is missing; the checkpoint has no text encoder")
        check_finite(NODE, palette_image=palette_image, tolerance=tolerance, mask_strength=mask_strength,
                     mask_blur_std=mask_blur_std, prompt_strength=prompt_strength)
        with node_errors(NODE):
            entries = parse_palette(palette)
            matches = [match_palette(frame, [e.colour for e in entries], tolerance) for frame in palette_image]
        masks = torch.stack([m.masks for m in matches], 1)  # [p, F, H, W]
        for i, e in enumerate(entries):
            if masks[i].max() == 0:
                raise NodeInputError(f"{NODE}: palette: colour {describe_colour(e.colour)} ('{e.prompt}') was not "
                                     f"found in palette_image within tolerance {tolerance}; check the colour or raise "
                                     "the tolerance")
        report = palette_report(entries, matches[0], len(matches))
        if matches[0].unmatched_colours:
            logging.warning("%s: %s", NODE, report.replace("\n", "; "))
        regions = tuple(Region(positive=encode_text(clip, e.prompt), negative=encode_text(clip, e.negative),
                               mask=masks[i, 0] if masks.shape[1] == 1 else masks[i], mask_strength=mask_strength,
                               mask_blur_std=mask_blur_std, prompt_strength=prompt_strength, label=e.prompt[:40])
                        for i, e in enumerate(entries))
        return io.NodeOutput(RegionStack(regions=regions), masks[:, 0], report, ui=ui.PreviewText(report))
