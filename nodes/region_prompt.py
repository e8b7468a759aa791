"""Regional prompt encoding: a prompt (and negative) plus a mask and its strengths become a region."""
from __future__ import annotations

from comfy_api.latest import io

from .host.conditioning import encode_text
from .host.errors import NodeInputError, check_finite
from .host.regions import Region, Regions, RegionStack
from .host.widgets import mask_inputs


class SemanticDrawRegion(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SemanticDrawRegion",
            display_name="SemanticDraw Region (Text)",
            category="SemanticDraw",
            description="Encodes a prompt for one painted region. Connect regions to a Region Stack, or directly to "
                        "a sampler.",
            inputs=[
                io.Clip.Input("clip", tooltip="Text encoder of the model (LoRA-patched CLIP works)."),
                io.String.Input("text", multiline=True, dynamic_prompts=True, tooltip="What this region shows."),
                io.Mask.Input("mask", tooltip="Where the region is; any size with the canvas' aspect ratio."),
                io.String.Input("negative_text", multiline=True, default="", optional=True,
                                tooltip="Negative prompt for this region (used when cfg > 1)."),
                *mask_inputs(),
            ],
            outputs=[Regions.Output(display_name="regions",
                                    tooltip="A one-region stack: connect to a Region Stack or a sampler.")],
        )

    @classmethod
    def execute(cls, clip, text, mask, mask_strength, mask_blur_std, prompt_strength,
                negative_text="") -> io.NodeOutput:
        if clip is None:
            raise NodeInputError("SemanticDraw Region (Text): clip is missing; the checkpoint has no text encoder")
        check_finite("SemanticDraw Region (Text)", mask=mask, mask_strength=mask_strength, mask_blur_std=mask_blur_std,
                     prompt_strength=prompt_strength)
        region = Region(positive=encode_text(clip, text), negative=encode_text(clip, negative_text), mask=mask,
                        mask_strength=mask_strength, mask_blur_std=mask_blur_std, prompt_strength=prompt_strength,
                        label=text[:40], clip=clip)
        return io.NodeOutput(RegionStack(regions=(region,)))


class SemanticDrawRegionFromConditioning(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SemanticDrawRegionFromConditioning",
            display_name="SemanticDraw Region (Conditioning)",
            category="SemanticDraw",
            description="Makes a region from any CONDITIONING (model-specific text encoders, ControlNet-applied "
                        "conditioning, ...).",
            inputs=[
                io.Conditioning.Input("positive", tooltip="What this region shows, from any text-encode node."),
                io.Mask.Input("mask", tooltip="Where the region is; any size with the canvas' aspect ratio."),
                io.Conditioning.Input("negative", optional=True,
                                      tooltip="Unconditional branch for cfg > 1; defaults to the zeroed positive."),
                *mask_inputs(),
            ],
            outputs=[Regions.Output(display_name="regions",
                                    tooltip="A one-region stack: connect to a Region Stack or a sampler.")],
        )

    @classmethod
    def execute(cls, positive, mask, mask_strength, mask_blur_std, prompt_strength, negative=None) -> io.NodeOutput:
        check_finite("SemanticDraw Region (Conditioning)", positive=positive, negative=negative, mask=mask,
                     mask_strength=mask_strength, mask_blur_std=mask_blur_std, prompt_strength=prompt_strength)
        region = Region(positive=positive, negative=negative, mask=mask, mask_strength=mask_strength,
                        mask_blur_std=mask_blur_std, prompt_strength=prompt_strength, label="conditioning")
        return io.NodeOutput(RegionStack(regions=(region,)))
