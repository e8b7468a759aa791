"""The regional sampler node and the GUIDER node for SamplerCustomAdvanced."""
from __future__ import annotations

import comfy.samplers
from comfy_api.latest import io

from .host.errors import check_finite, check_latent
from .host.guider import SemanticDrawGuider, run_regional, schedule
from .host.regions import Regions
from .host.widgets import check_sampling, check_settings, settings_from, settings_inputs


class SemanticDrawSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SemanticDrawSampler",
            display_name="SemanticDraw Sampler",
            category="SemanticDraw",
            description="Region-based sampling with SemanticDraw: pre-averaged regional predictions, quantized masks "
                        "and "
                        "bootstrapping, stable with few-step samplers (LCM, Lightning, Hyper-SD, Turbo, flow models). "
                        "One batched model call per step for all regions; large canvases are tiled.",
            inputs=[
                io.Model.Input("model",
                               tooltip="Any model ComfyUI loads: SD1.x/2.x, SDXL, SD3, Flux, ... with LoRAs and "
                                       "patches."),
                Regions.Input("regions", tooltip="A region, a Region Stack or a Semantic Palette."),
                io.Latent.Input("latent_image", tooltip="The canvas: its size is the output size."),
                io.Int.Input("seed", default=0, min=0, max=0xffffffffffffffff, control_after_generate=True,
                             tooltip="Noise seed (bootstrapping noise uses seed + 1)."),
                io.Int.Input("steps", default=5, min=1, max=10000,
                             tooltip="4-8 for LCM, Lightning, Hyper-SD, Turbo and flow models."),
                io.Float.Input("cfg", default=1.0, min=0.0, max=100.0, step=0.1, round=0.01,
                               tooltip="Per-region classifier-free guidance; 1 skips the negative pass (few-step "
                                       "models)."),
                io.Combo.Input("sampler_name", options=comfy.samplers.SAMPLER_NAMES, default="lcm",
                               tooltip="Any ComfyUI sampler; it steps the pre-averaged prediction with one shared "
                                       "noise."),
                io.Combo.Input("scheduler", options=comfy.samplers.SCHEDULER_NAMES, default="sgm_uniform",
                               tooltip="sgm_uniform for LCM/Lightning (trailing spacing), simple for flow models."),
                io.Float.Input("denoise", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="As in KSampler: below 1 starts from the input latent, partly noised."),
                *settings_inputs(),
            ],
            outputs=[io.Latent.Output(tooltip="The sampled latent of the whole canvas; decode it with the VAE.")],
        )

    @classmethod
    def execute(cls, model, regions, latent_image, seed, steps, cfg, sampler_name, scheduler, denoise,
                **settings) -> io.NodeOutput:
        node = "SemanticDraw Sampler"
        check_finite(node, cfg=cfg, denoise=denoise)
        check_settings(node, settings)
        check_sampling(node, sampler_name, scheduler)
        check_latent(node, "latent_image", latent_image, model)
        sigmas = schedule(model, scheduler, steps, denoise)
        return io.NodeOutput(run_regional(model, regions, latent_image, seed, sigmas, cfg, sampler_name,
                                          settings_from(settings), node))


class SemanticDrawGuiderNode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SemanticDrawGuider",
            display_name="SemanticDraw Guider",
            category="SemanticDraw",
            description="GUIDER for SamplerCustomAdvanced: SemanticDraw regions with any SAMPLER, SIGMAS and NOISE.",
            inputs=[io.Model.Input("model",
                                   tooltip="Any model ComfyUI loads: SD1.x/2.x, SDXL, SD3, Flux, ... with LoRAs and "
                                           "patches."),
                    Regions.Input("regions", tooltip="A region, a Region Stack or a Semantic Palette."),
                    io.Float.Input("cfg", default=1.0, min=0.0, max=100.0, step=0.1, round=0.01,
                                   tooltip="Per-region classifier-free guidance; 1 skips the negative pass."),
                    *settings_inputs()],
            outputs=[io.Guider.Output(tooltip="A GUIDER for SamplerCustomAdvanced: regions with any noise, sampler "
                                              "and sigmas.")],
        )

    @classmethod
    def execute(cls, model, regions, cfg, **settings) -> io.NodeOutput:
        check_finite("SemanticDraw Guider", cfg=cfg)
        check_settings("SemanticDraw Guider", settings)
        return io.NodeOutput(SemanticDrawGuider(model, regions, cfg, settings_from(settings)))
