"""Small random-weight single-file checkpoints that ComfyUI's own loaders accept (for tests and --smoke).

- `sd15.safetensors`: an SD1.5-shaped UNet (320 channels, context 768, two levels), the full CLIP-L
  text encoder and a TAESD-shaped VAE; CheckpointLoaderSimple detects it as SD15.
- `sd3.safetensors`: an SD3-shaped MMDiT (depth 2, flow matching, 16 latent channels), CLIP-L as its
  only text encoder and a 16-channel TAESD-shaped VAE; detected as SD3.
Files are made once into a cache (`SEMANTICDRAW_TINY_CACHE`, default ~/.cache/semanticdraw-tiny), from
a fixed seed, written under a temporary name and renamed. SDXL is too large to fake here: workflows
that name SDXL checkpoints run on the SD1.5-shaped file (`checkpoint_for`).

    python tools/tiny_models.py [--out DIR]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
FLOW_NAMES = ("sd3", "flux", "sd3.5", "chroma", "auraflow")
LORA = "tiny_empty_lora.safetensors"


def cache_dir() -> Path:
    return Path(os.environ.get("SEMANTICDRAW_TINY_CACHE", Path.home() / ".cache" / "semanticdraw-tiny"))


def _randomize(module: torch.nn.Module, g: torch.Generator) -> dict[str, torch.Tensor]:
    """Random small weights (norm scales at 1) for every float tensor; returns the fp16 state dict."""
    out = {}
    for name, t in module.state_dict().items():
        if t.is_floating_point():
            is_scale = name.endswith(("norm.weight", "norm1.weight", "norm2.weight", "norm_final.weight",
                                      "layer_norm1.weight", "layer_norm2.weight", "final_layer_norm.weight"))
            t = torch.ones(t.shape) if is_scale else torch.randn(t.shape, generator=g) * 0.02
        out[name] = t.to(torch.float16) if t.is_floating_point() else t
    return out


def _clip_l(g: torch.Generator) -> dict[str, torch.Tensor]:
    import comfy.sd1_clip
    return _randomize(comfy.sd1_clip.SDClipModel(device="cpu", dtype=torch.float32), g)


def _taesd(channels: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    import comfy.taesd.taesd
    sd = _randomize(comfy.taesd.taesd.TAESD(latent_channels=channels), g)
    sd["vae_scale"], sd["vae_shift"] = torch.tensor(1.0), torch.tensor(0.0)
    return sd


def _prefixed(prefix: str, sd: dict) -> dict:
    return {prefix + k: v for k, v in sd.items()}


def _build(kind: str) -> dict[str, torch.Tensor]:
    from tools import inprocess
    inprocess.load_host()
    g = torch.Generator().manual_seed(0)
    unet = inprocess.tiny_model(kind).model.diffusion_model
    sd = _prefixed("model.diffusion_model.", _randomize(unet, g))
    if kind == "sd15":
        sd |= _prefixed("cond_stage_model.", _clip_l(g)) | _prefixed("first_stage_model.", _taesd(4, g))
    else:
        sd |= _prefixed("text_encoders.clip_l.", _clip_l(g)) | _prefixed("first_stage_model.", _taesd(16, g))
    return sd


def _write(path: Path, sd: dict) -> Path:
    import safetensors.torch
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    safetensors.torch.save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp))
    tmp.replace(path)
    return path


def checkpoint(kind: str) -> Path:
    """Path of the tiny `sd15` or `sd3` checkpoint, made if missing."""
    path = cache_dir() / f"{kind}.safetensors"
    return path if path.is_file() else _write(path, _build(kind))


def empty_lora() -> Path:
    """A LoRA file with no tensors: LoraLoader accepts it and changes nothing (stands in for LCM/Lightning LoRAs)."""
    path = cache_dir() / LORA
    return path if path.is_file() else _write(path, {"semanticdraw.empty": torch.zeros(1)})


def checkpoint_for(name: str) -> str:
    """The tiny checkpoint file name standing in for a real one named in a workflow."""
    return "sd3.safetensors" if any(k in name.lower() for k in FLOW_NAMES) else "sd15.safetensors"


def diffusers_unet(seed: int = 0):
    """A tiny random diffusers `UNet2DConditionModel` (32-64 channels, cross-attention at the lowest level only,
    context 32), for the standalone adapter's tests and the canvas benchmark."""
    from diffusers import UNet2DConditionModel
    torch.manual_seed(seed)
    return UNet2DConditionModel(sample_size=64, block_out_channels=(32, 64, 64), layers_per_block=1,
                                down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
                                cross_attention_dim=32, attention_head_dim=8, norm_num_groups=16).eval()


def diffusers_ddim():
    """SD1.5's DDIM scheduler configuration (final alpha 1, so the last step lands on x0)."""
    from diffusers import DDIMScheduler
    return DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                         set_alpha_to_one=True, steps_offset=1)


def ensure_all() -> dict[str, Path]:
    return {"sd15": checkpoint("sd15"), "sd3": checkpoint("sd3"), "lora": empty_lora()}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="cache directory (default: %(default)s)", default=cache_dir())
    os.environ["SEMANTICDRAW_TINY_CACHE"] = str(ap.parse_args().out)
    sys.path.insert(0, str(REPO))
    for kind, path in ensure_all().items():
        print(f"{kind}: {path} ({path.stat().st_size / 2**20:.0f} MiB)")
