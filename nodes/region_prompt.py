"""Regional prompt encoding: a prompt (and negative) plus a mask and its strengths become a region."""
from __future__ import annotations

from comfy_api.latest import io

from .regions import NodeInputError, Region, Regions, RegionStack, check_finite


def mask_inputs() -> list[io.Input]:
    """Widgets every region carries (ALGORITHM.md section 1, defaults of section 9)."""
    return [
        io.Float.Input("mask_strength", default=1.0, min=0.0, max=1.0, step=0.01,
                       tooltip="Scales the mask before quantization; below ~0.96 the region may appear late or not "
                               "at all."),
        io.Float.Input("mask_blur_std", default=1.0, min=0.0, max=64.0, step=0.5,
                       tooltip="Gaussian blur std of the mask in image pixels; blurred borders are decided late and "
                               "blend smoothly."),
        io.Float.Input("prompt_strength", default=1.0, min=0.0, max=1.0, step=0.01,
                       tooltip="Blends this prompt (and its negative) towards the background prompt, or without one "
                               "'simple white background image': 1 keeps it as written."),
    ]


def encode(clip, text: str) -> list:
    tokens = clip.tokenize(text)
    return clip.encode_from_tokens_scheduled(tokens)


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
        region = Region(positive=encode(clip, text), negative=encode(clip, negative_text), mask=mask,
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
