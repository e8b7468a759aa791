"""The regional sampler node and the GUIDER node for SamplerCustomAdvanced."""
from __future__ import annotations

import comfy.model_management
import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview
from comfy_api.latest import io

from ..engine import MASK_TYPES
from .guider import RegionalSettings, SemanticDrawGuider
from .regions import Regions, check_choices, check_finite, check_latent


def settings_inputs() -> list[io.Input]:
    """Widgets shared by the sampler and the guider (ALGORITHM.md sections 2, 5, 6)."""
    d = RegionalSettings()
    return [
        io.Int.Input("bootstrap_steps", default=d.bootstrap_steps, min=0, max=100,
                     tooltip="First steps in which each region is drawn alone, centred, on a plain background."),
        io.Float.Input("bootstrap_mix_steps", default=d.bootstrap_mix_steps, min=0.0, max=100.0, step=0.1,
                       tooltip="Steps over which the bootstrap background fades from white to the background."),
        io.Float.Input("leak_sensitivity", default=d.leak_sensitivity, min=0.0, max=10.0, step=0.01,
                       tooltip="During bootstrapping, down-weights predictions that still look like the background "
                               "(0 = off)."),
        io.Combo.Input("mask_type", options=list(MASK_TYPES), default=d.mask_type,
                       tooltip="How masks are quantized per step: discrete grows blurred masks as noise falls."),
        io.Float.Input("cover_alpha", default=d.cover_alpha, min=0.0, max=1.0, step=0.01,
                       tooltip="Weight kept by a region where a later region covers it; 0 or 1 = no covering "
                               "(as the reference)."),
        io.Int.Input("tile_size", default=d.tile_size, min=0, max=16384, step=8,
                     tooltip="Window size in pixels for large canvases; 0 = 768 for SD1.x/2.x, 1024 for others."),
    ]


def check_settings(node: str, settings: dict) -> None:
    """Refuse NaN/infinite floats and unknown combo values among the shared settings, naming the input."""
    check_finite(node, **settings)
    check_choices(node, mask_type=(settings["mask_type"], MASK_TYPES))


def check_sampling(node: str, sampler_name: str, scheduler: str) -> None:
    check_choices(node, sampler_name=(sampler_name, comfy.samplers.SAMPLER_NAMES),
                  scheduler=(scheduler, comfy.samplers.SCHEDULER_NAMES))


def settings_from(kwargs: dict) -> RegionalSettings:
    return RegionalSettings(**{k: kwargs[k] for k in RegionalSettings.__dataclass_fields__})


def schedule(model, scheduler: str, steps: int, denoise: float):
    """Sigmas as KSampler computes them, `denoise` included."""
    sampling = model.get_model_object("model_sampling")
    if denoise >= 0.9999:
        return comfy.samplers.calculate_sigmas(sampling, scheduler, steps).cpu()
    total = int(steps / max(denoise, 1e-4))
    return comfy.samplers.calculate_sigmas(sampling, scheduler, total)[-(steps + 1):].cpu()


def run_regional(model, regions, latent_image: dict, seed: int, sigmas, cfg: float, sampler_name: str,
                 settings: RegionalSettings, node: str, denoise_mask=None) -> dict:
    """Sample a LATENT with the SemanticDraw guider and a ComfyUI sampler, as KSampler does (previews, progress,
    interruption, noise from the seed, the latent's noise_mask unless `denoise_mask` is given)."""
    latent = comfy.sample.fix_empty_latent_channels(model, latent_image["samples"])
    noise = comfy.sample.prepare_noise(latent, seed, latent_image.get("batch_index"))
    guider = SemanticDrawGuider(model, regions, cfg, settings, node=node)
    callback = latent_preview.prepare_callback(model, sigmas.shape[-1] - 1)
    mask = denoise_mask if denoise_mask is not None else latent_image.get("noise_mask")
    samples = guider.sample(noise, latent, comfy.samplers.sampler_object(sampler_name), sigmas, denoise_mask=mask,
                            callback=callback, disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=seed)
    out = latent_image.copy()
    out["samples"] = samples.to(comfy.model_management.intermediate_device())
    return out


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
