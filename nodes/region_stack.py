"""Mask stacking: regions combine into one ordered stack (later covers earlier) with a background."""
from __future__ import annotations

from comfy_api.latest import io

from ..engine.palette import draw_layout
from .host.errors import check_finite
from .host.regions import Regions

MAX_STACK_INPUTS = 8
NODE = "SemanticDraw Region Stack"


class SemanticDrawRegionStack(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SemanticDrawRegionStack",
            display_name="SemanticDraw Region Stack",
            category="SemanticDraw",
            description="Stacks regions in order: a later region paints over earlier ones. Sets the background: "
                        "a prompt (becomes a region under everything when there is no background image), "
                        "an image (needs the vae) or a latent. Without any, uncovered pixels turn white.",
            inputs=[
                Regions.Input("regions_1", tooltip="Bottom of the stack."),
                *[Regions.Input(f"regions_{i}", optional=True, tooltip="Painted over the inputs above it.")
                  for i in range(2, MAX_STACK_INPUTS + 1)],
                io.Conditioning.Input("background_prompt", optional=True,
                                      tooltip="Background prompt; also the target of each region's prompt_strength."),
                io.Conditioning.Input("background_negative", optional=True,
                                      tooltip="Negative of the background prompt (cfg > 1)."),
                io.Image.Input("background_image", optional=True,
                               tooltip="Uncovered pixels follow this image; resized (centre crop) to the canvas."),
                io.Latent.Input("background_latent", optional=True,
                                tooltip="Like background_image, already encoded; must have the canvas' latent size."),
                io.Vae.Input("vae", optional=True,
                             tooltip="Encodes background_image and the white latent used by bootstrapping "
                                     "(without it, white is approximated from the model's latent format)."),
                io.Clip.Input("clip", optional=True,
                              tooltip="Encodes the target of prompt_strength < 1 when there is no background prompt "
                                      "('simple white background image'; an empty prompt with a background image), "
                                      "for regions made from conditioning."),
            ],
            outputs=[Regions.Output(display_name="regions", tooltip="The stacked regions and background."),
                     io.Image.Output(display_name="layout",
                                     tooltip="Where the regions are: one flat colour per region in paint order over "
                                             "the background (grey, or the background image). Preview it.")],
        )

    @classmethod
    def execute(cls, regions_1, background_prompt=None, background_negative=None, background_image=None,
                background_latent=None, vae=None, clip=None, **more) -> io.NodeOutput:
        check_finite(NODE, background_prompt=background_prompt, background_negative=background_negative,
                     background_image=background_image, background_latent=background_latent)
        stacks = [regions_1] + [more[f"regions_{i}"] for i in range(2, MAX_STACK_INPUTS + 1)
                                if more.get(f"regions_{i}") is not None]
        first = stacks[0]
        stack = first.replace(
            regions=tuple(r for s in stacks for r in s.regions),
            background_positive=background_prompt if background_prompt is not None else first.background_positive,
            background_negative=background_negative if background_negative is not None else first.background_negative,
            background_image=background_image if background_image is not None else first.background_image,
            background_latent=(background_latent["samples"] if background_latent is not None
                               else first.background_latent),
            vae=vae if vae is not None else first.vae, clip=clip if clip is not None else first.clip)
        background = stack.background_image[0] if stack.background_image is not None else None
        layout = draw_layout([r.mask for r in stack.regions], background)
        return io.NodeOutput(stack, layout[None])
