"""ComfyUI and this pack loaded in-process, with tiny random-weight models of the real architectures.

Used by the in-process host tests and the benchmarks; the server tests use checkpoint files instead.
"""
from __future__ import annotations

import importlib.util
import sys

import torch

from .find_comfyui import REPO, find_comfyui


class HostNotFound(RuntimeError):
    """No ComfyUI install was found."""

SD15_UNET = {"context_dim": 768, "model_channels": 320, "use_linear_in_transformer": False, "adm_in_channels": None,
             "use_temporal_attention": False, "in_channels": 4, "out_channels": 4, "num_res_blocks": [1, 1],
             "channel_mult": [1, 2], "transformer_depth": [1, 1], "transformer_depth_output": [1, 1, 1, 1],
             "transformer_depth_middle": 1, "num_head_channels": 64, "num_heads": -1, "use_spatial_transformer": True,
             "legacy": False, "image_size": 32, "dims": 2, "use_checkpoint": False}
SD15_UNET_2RB = {**SD15_UNET, "num_res_blocks": [2, 2], "transformer_depth": [1, 1, 1, 1],
                 "transformer_depth_output": [1] * 6}  # SD1.5's two res blocks per level, where T2I adapters add
SDXL_UNET = {**SD15_UNET, "context_dim": 2048, "adm_in_channels": 2816, "use_linear_in_transformer": True,
             "num_classes": "sequential"}
SD3_MMDIT = {"in_channels": 16, "out_channels": 16, "patch_size": 2, "depth": 2, "input_size": None,
             "adm_in_channels": 2048, "pos_embed_scaling_factor": None, "pos_embed_max_size": 32, "num_patches": 1024,
             "context_embedder_config": {"target": "torch.nn.Linear",
                                         "params": {"in_features": 4096, "out_features": 128}}}


def load_host(*host_args: str, cpu: bool = True):
    """Import ComfyUI (on CPU unless `cpu=False`; plus `host_args` flags) and the pack as package `semanticdraw`.

    Raises HostNotFound without a ComfyUI. Flags only apply to the first load in a process."""
    if "semanticdraw" in sys.modules:
        return sys.modules["semanticdraw"]
    path = find_comfyui()
    if path is None:
        raise HostNotFound("ComfyUI host not found: set COMFYUI_PATH or put ComfyUI at ~/ComfyUI")
    sys.path.insert(0, str(path))
    argv, sys.argv = sys.argv, [sys.argv[0], *(["--cpu"] if cpu else []), *host_args]
    try:
        import comfy.options
        comfy.options.enable_args_parsing()
        import comfy.cli_args  # noqa: F401  (parses the flags)
    finally:
        sys.argv = argv
    spec = importlib.util.spec_from_file_location("semanticdraw", REPO / "__init__.py",
                                                  submodule_search_locations=[str(REPO)])
    pack = importlib.util.module_from_spec(spec)
    sys.modules["semanticdraw"] = pack
    spec.loader.exec_module(pack)
    return pack


class CallCounter:
    """Wraps a BaseModel's apply_model to count model calls and their batch sizes."""

    def __init__(self, model):
        self.batches: list[int] = []
        self._inner = model.apply_model
        model.apply_model = self

    def __call__(self, x, t, **kwargs):
        self.batches.append(x.shape[0])
        return self._inner(x, t, **kwargs)


def tiny_model(kind: str = "sd15", seed: int = 0):
    """A ModelPatcher over a tiny random-weight SD1.5- or SDXL-shaped UNet or SD3-shaped MMDiT, on CPU.

    `sd15v` is the SD1.5-shaped UNet as a v-prediction model (as SD2.x 768-v checkpoints load); `sd15x2` has SD1.5's
    two res blocks per level (input blocks 2 and 5 are res blocks, where SD1.5 T2I adapters add their features; the
    one-res-block UNet has a downsampler at block 2 and core skips the feature with "control could not be applied")."""
    import comfy.model_base
    import comfy.model_patcher
    import comfy.supported_models

    config = {"sd15": lambda: comfy.supported_models.SD15(dict(SD15_UNET)),
              "sd15v": lambda: comfy.supported_models.SD15(dict(SD15_UNET)),
              "sd15x2": lambda: comfy.supported_models.SD15(dict(SD15_UNET_2RB)),
              "sdxl": lambda: comfy.supported_models.SDXL(dict(SDXL_UNET)),
              "sd3": lambda: comfy.supported_models.SD3(dict(SD3_MMDIT))}[kind]()
    if kind == "sd15v":
        model = comfy.model_base.BaseModel(config, model_type=comfy.model_base.ModelType.V_PREDICTION)
    else:
        model = config.get_model({})
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in [*model.diffusion_model.parameters(), *model.diffusion_model.buffers()]:
            if t.is_floating_point():  # buffers too: some (pos_embed) start uninitialised
                t.copy_(torch.randn(t.shape, generator=g) * 0.02)
    return comfy.model_patcher.ModelPatcher(model, load_device=torch.device("cpu"), offload_device=torch.device("cpu"))


def cond(seed: int, kind: str = "sd15") -> list:
    """A CONDITIONING with a random embedding of the model's context shape."""
    g = torch.Generator().manual_seed(seed)
    if kind in ("sd15", "sd15v"):
        return [[torch.randn(1, 77, 768, generator=g), {}]]
    if kind == "sdxl":
        return [[torch.randn(1, 77, 2048, generator=g), {"pooled_output": torch.randn(1, 1280, generator=g)}]]
    return [[torch.randn(1, 77, 4096, generator=g), {"pooled_output": torch.randn(1, 2048, generator=g)}]]
