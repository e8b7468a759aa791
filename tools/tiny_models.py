"""Small random-weight single-file checkpoints that ComfyUI's own loaders accept (for tests and --smoke).

- `sd15_v2.safetensors`: an SD1.5-shaped UNet (320 channels, context 768, two levels), the full CLIP-L
  text encoder and a TAESD-shaped VAE that decodes like core's latent preview (`_taesd`); CheckpointLoaderSimple
  detects it as SD15.
- `sd3_pe96_v2.safetensors`: an SD3-shaped MMDiT (depth 2, flow matching, 16 latent channels), CLIP-L as its
  only text encoder and a 16-channel TAESD-shaped VAE of the same kind; detected as SD3.
- `tiny_sd15_lora.safetensors` (random LoRA of the SD1.5-shaped UNet's linears) and
  `tiny_sd15_controlnet.safetensors` (a random ControlNet for it): per-region LoRA and ControlNet.
- `tiny_sd15_gligen.safetensors` (GLIGEN for that UNet) and `tiny_sd15_t2i_adapter.safetensors` (an SD1.5 T2I
  adapter, for the two-res-block UNet `inprocess.tiny_model("sd15x2")`): GLIGEN and T2I adapters inside regions.
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
REGION_LORA = "tiny_sd15_lora.safetensors"
CONTROLNET = "tiny_sd15_controlnet.safetensors"
GLIGEN = "tiny_sd15_gligen.safetensors"
T2I_ADAPTER = "tiny_sd15_t2i_adapter.safetensors"
SD3_POS_EMBED = 96  # patches per side, read by ComfyUI from pos_embed: 96 x 2 x 8 = 1536 px >= the 1024 px workflows
FORMAT = 2  # raised whenever the files' contents change, so that caches of older files are not used
FILES = {"sd15": f"sd15_v{FORMAT}.safetensors", "sd3": f"sd3_pe{SD3_POS_EMBED}_v{FORMAT}.safetensors"}


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


def _taesd(latent_format, span: float) -> dict[str, torch.Tensor]:
    """A TAESD-shaped VAE that is linear like core's latent previews instead of random (random weights decode every
    latent to black): the decoder maps each model-space latent pixel `z` to `0.5 + factors^T (z / span)` with the
    format's `latent_rgb_factors`, upsampled 8x (nearest); `span` is the scale of what the random models output (their
    x0 is about their noisy input), so that it decodes to colours instead of saturating. The encoder averages 8x8
    pixels (tent filters) and maps colour back through the factors' pseudo-inverse, so `decode(encode(image))` keeps
    an image's colours at latent resolution. Every stage carries a value as a pair of ReLU-safe channels (`relu(v)`,
    `relu(-v)`); every residual block is the identity."""
    import comfy.taesd.taesd
    taesd = comfy.taesd.taesd.TAESD(latent_channels=latent_format.latent_channels)
    factors = torch.tensor(latent_format.latent_rgb_factors)  # [C, 3]: rgb = factors^T z + bias
    bias = torch.tensor(latent_format.latent_rgb_factors_bias or [0.0] * 3)
    C = factors.shape[0]
    sd = {k: torch.zeros_like(v) for k, v in taesd.state_dict().items()}

    def pair(n: int) -> torch.Tensor:  # [2n, n]: v -> (v, -v)
        return torch.cat([torch.eye(n), -torch.eye(n)])

    def per_channel(key: str, channels: int, taps: torch.Tensor) -> None:  # a conv acting on each channel alone
        for i in range(channels):
            sd[key][i, i] = taps
    point = torch.zeros(3, 3)
    point[1, 1] = 1
    tent = torch.outer(torch.tensor([1.0, 2.0, 1.0]), torch.tensor([1.0, 2.0, 1.0])) / 16
    # decoder: Clamp, conv(C, 64), ReLU, 3 x (Blocks, Upsample, conv(64, 64)), Block, conv(64, 3)
    sd["taesd_decoder.1.weight"][(slice(0, 2 * C), slice(None), 1, 1)] = pair(C)
    for key in ("taesd_decoder.7.weight", "taesd_decoder.12.weight", "taesd_decoder.17.weight"):
        per_channel(key, 2 * C, point)
    sd["taesd_decoder.19.weight"][(slice(None), slice(0, 2 * C), 1, 1)] = torch.cat([factors, -factors]).T
    sd["taesd_decoder.19.bias"] = 0.5 + bias
    # encoder (input in [0, 1]): conv(3, 64) centres colours, 3 x conv(64, 64, stride 2) average, conv(64, C) maps
    sd["taesd_encoder.0.weight"][(slice(0, 6), slice(None), 1, 1)] = pair(3)
    sd["taesd_encoder.0.bias"][:6] = torch.tensor([-0.5] * 3 + [0.5] * 3)
    for key in ("taesd_encoder.2.weight", "taesd_encoder.6.weight", "taesd_encoder.10.weight"):
        per_channel(key, 6, tent)
    inverse = torch.linalg.pinv(factors.T)  # [C, 3]
    sd["taesd_encoder.14.weight"][(slice(None), slice(0, 6), 1, 1)] = torch.cat([inverse, -inverse], 1)
    sd["taesd_encoder.14.bias"] = -inverse @ bias
    # raw VAE latents <-> model space / span (the latent format's process_in, scaled): what decoder and encoder see
    sd["vae_scale"] = torch.tensor(float(latent_format.scale_factor) / span)
    sd["vae_shift"] = torch.tensor(float(getattr(latent_format, "shift_factor", 0.0)))
    return {k: v.to(torch.float16) for k, v in sd.items()}


def _prefixed(prefix: str, sd: dict) -> dict:
    return {prefix + k: v for k, v in sd.items()}


def _build(kind: str) -> dict[str, torch.Tensor]:
    from tools import inprocess
    inprocess.load_host()
    g = torch.Generator().manual_seed(0)
    if kind == "sd3":
        import comfy.supported_models
        config = dict(inprocess.SD3_MMDIT, pos_embed_max_size=SD3_POS_EMBED, num_patches=SD3_POS_EMBED ** 2)
        unet = comfy.supported_models.SD3(config).get_model({}).diffusion_model
    else:
        unet = inprocess.tiny_model(kind).model.diffusion_model
    sd = _prefixed("model.diffusion_model.", _randomize(unet, g))
    import comfy.latent_formats
    if kind == "sd15":
        vae = _taesd(comfy.latent_formats.SD15(), span=32.0)  # eps model: x0 ~ noise of sigma_max 14.6
        sd |= _prefixed("cond_stage_model.", _clip_l(g)) | _prefixed("first_stage_model.", vae)
    else:
        vae = _taesd(comfy.latent_formats.SD3(), span=2.0)  # flow model: x0 ~ noise of sigma_max 1
        sd |= _prefixed("text_encoders.clip_l.", _clip_l(g)) | _prefixed("first_stage_model.", vae)
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
    path = cache_dir() / FILES[kind]
    return path if path.is_file() else _write(path, _build(kind))


def empty_lora() -> Path:
    """A LoRA file with no tensors: LoraLoader accepts it and changes nothing (stands in for LCM/Lightning LoRAs)."""
    path = cache_dir() / LORA
    return path if path.is_file() else _write(path, {"semanticdraw.empty": torch.zeros(1)})


def region_lora() -> Path:
    """A LoRA with random low-rank updates of every attention and feed-forward linear of the SD1.5-shaped UNet
    (kohya `lora_unet_*` keys), strong enough to change the image: for per-region LoRA (hooks) tests/workflows."""
    path = cache_dir() / REGION_LORA
    if path.is_file():
        return path
    from tools import inprocess
    inprocess.load_host()
    import comfy.lora
    model = inprocess.tiny_model("sd15").model
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(1)
    sd, rank = {}, 4
    for key, target in comfy.lora.model_lora_keys_unet(model, {}).items():
        shape = shapes.get(target, ())  # the key map also names layers this small UNet does not have
        if key.startswith("lora_unet_") and len(shape) == 2 and (".attn" in target or ".ff." in target):
            sd[f"{key}.lora_up.weight"] = torch.randn(shape[0], rank, generator=g) * 0.5
            sd[f"{key}.lora_down.weight"] = torch.randn(rank, shape[1], generator=g) * 0.5
            sd[f"{key}.alpha"] = torch.tensor(float(rank))
    return _write(path, {k: v.to(torch.float16) for k, v in sd.items()})


def ensure_controlnet() -> Path:
    """A ControlNet (ldm `control_model.*` keys) for the SD1.5-shaped UNet, random weights (zero convs included, so
    it changes the image), that ComfyUI's own `comfy.controlnet.load_controlnet` detects and loads."""
    path = cache_dir() / CONTROLNET
    if path.is_file():
        return path
    from tools import inprocess
    inprocess.load_host()
    import comfy.cldm.cldm
    config = {k: v for k, v in inprocess.SD15_UNET.items() if k != "out_channels"}
    net = comfy.cldm.cldm.ControlNet(hint_channels=3, **config)
    sd = _randomize(net, torch.Generator().manual_seed(2))
    sd = {k: v * 10 if k.startswith(("zero_convs.", "middle_block_out.")) else v for k, v in sd.items()}
    return _write(path, _prefixed("control_model.", sd))


def ensure_gligen() -> Path:
    """A GLIGEN text-box model for the SD1.5-shaped UNet that `comfy.sd.load_gligen` loads: one gated self-attention
    `fuser` per transformer block, in the UNet's order (core indexes them by `transformer_index`), with non-zero
    gates so that it changes the image, and the `position_net` grounding boxes with 768-wide text embeddings."""
    path = cache_dir() / GLIGEN
    if path.is_file():
        return path
    from tools import inprocess
    inprocess.load_host()
    import comfy.gligen
    from comfy.ldm.modules.attention import SpatialTransformer
    unet = inprocess.tiny_model("sd15").model.diffusion_model
    g, sd = torch.Generator().manual_seed(4), {}
    for name, block in unet.named_modules():
        if isinstance(block, SpatialTransformer):
            dim = block.transformer_blocks[0].attn1.to_q.in_features
            fuser = _randomize(comfy.gligen.GatedSelfAttentionDense(dim, 768, 8, dim // 8), g)
            fuser |= {"alpha_attn": torch.tensor(1.0), "alpha_dense": torch.tensor(1.0)}  # tanh(1) = 0.76 gates
            sd |= _prefixed(f"model.diffusion_model.{name}.transformer_blocks.0.fuser.", fuser)
    sd |= _prefixed("position_net.", _randomize(comfy.gligen.PositionNet(768, 768), g))
    return _write(path, {k: v.to(torch.float16) for k, v in sd.items()})


def ensure_t2i_adapter() -> Path:
    """A T2I adapter laid out as SD1.5's full adapters (`Adapter`: 1x1 kernels, skip connections, pooled
    downsampling; channels 320/640/1280/1280) that `comfy.controlnet.load_controlnet` detects and loads. Its
    features land after input blocks 2, 5, 8 and 11 (SD1.5's second res block of each level), so it needs the UNet
    `inprocess.tiny_model("sd15x2")`; random weights scaled up so that it changes the image."""
    path = cache_dir() / T2I_ADAPTER
    if path.is_file():
        return path
    from tools import inprocess
    inprocess.load_host()
    import comfy.t2i_adapter.adapter
    net = comfy.t2i_adapter.adapter.Adapter(cin=3 * 64, channels=[320, 640, 1280, 1280], nums_rb=2, ksize=1, sk=True,
                                            use_conv=False, xl=False)
    sd = {k: v * 10 for k, v in _randomize(net, torch.Generator().manual_seed(5)).items()}
    return _write(path, sd)


def checkpoint_for(name: str) -> str:
    """The tiny checkpoint file name standing in for a real one named in a workflow."""
    return FILES["sd3"] if any(k in name.lower() for k in FLOW_NAMES) else FILES["sd15"]


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
    return {"sd15": checkpoint("sd15"), "sd3": checkpoint("sd3"), "lora": empty_lora(), "region_lora": region_lora(),
            "controlnet": ensure_controlnet()}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="cache directory (default: %(default)s)", default=cache_dir())
    os.environ["SEMANTICDRAW_TINY_CACHE"] = str(ap.parse_args().out)
    sys.path.insert(0, str(REPO))
    for kind, path in ensure_all().items():
        print(f"{kind}: {path} ({path.stat().st_size / 2**20:.0f} MiB)")
