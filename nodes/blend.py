"""Final pixel blend (ALGORITHM.md section 7): keep the background image outside the regions."""
from __future__ import annotations

from comfy_api.latest import io

from ..engine.blend import blend_pixels, region_union
from .host.errors import NodeInputError, check_finite, node_errors, single_mask
from .host.regions import Regions

NODE = "SemanticDraw Background Blend"


class SemanticDrawBackgroundBlend(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SemanticDrawBackgroundBlend",
            display_name="SemanticDraw Background Blend",
            category="SemanticDraw",
            description="Blends the decoded image with the background image in pixel space through the union of the "
                        "regions' blurred masks, so pixels outside every region keep the background exactly.",
            inputs=[
                io.Image.Input("image", tooltip="The decoded result of the sampler."),
                Regions.Input("regions", tooltip="The stack used for sampling (masks and blur)."),
                io.Image.Input("background_image", optional=True,
                               tooltip="Defaults to the stack's background image."),
            ],
            outputs=[io.Image.Output(tooltip="The image with uncovered pixels taken from the background image.")],
        )

    @classmethod
    def execute(cls, image, regions, background_image=None) -> io.NodeOutput:
        background = background_image if background_image is not None else regions.background_image
        if background is None:
            raise NodeInputError(f"{NODE}: background_image is missing; connect one here or on the Region Stack")
        check_finite(NODE, image=image, background_image=background)
        size = tuple(image.shape[1:3])
        masks = [single_mask(r.mask, NODE, f"regions[{i}].mask") for i, r in enumerate(regions.regions)]
        with node_errors(NODE):
            union = region_union(masks, size, [r.mask_blur_std for r in regions.regions])
            return io.NodeOutput(blend_pixels(image, background, union))
