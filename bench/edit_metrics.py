"""Editing metrics (ALGORITHM.md sections 11-12): SSIM-i, SSIM-e and SDEdit faithfulness, as a table.

    python bench/edit_metrics.py [--ckpt path/to/sd15.safetensors] [--size 256] [--steps 4]

- SSIM-i: SSIM between source and regional-edit result over the unedited pixels (preservation).
- SSIM-e: SSIM over a band along the edited regions' boundary, between the result and a plain regional
  generation of the target stack with the same seed (coherence of the edit with its surroundings).
- SDEdit: L2 (RMS, pixels in [0,1]) between the result and the stroke guide for several t0.
Without --ckpt it runs the tiny random-weight SD1.5-shaped model and decodes with the model's latent
preview factors (a linear proxy of the VAE): the numbers then check the plumbing, not image quality.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tools import inprocess  # noqa: E402
from tools.metrics import boundary_band, masked_mean, ssim_map  # noqa: E402


class Decoder:
    """Latent -> `[N, H, W, 3]` image: the checkpoint's VAE, or the preview factors of the latent format."""

    def __init__(self, vae, latent_format):
        self.vae, self.fmt = vae, latent_format

    def __call__(self, latent: torch.Tensor) -> torch.Tensor:
        if self.vae is not None:
            return self.vae.decode(latent)[..., :3].clamp(0, 1)
        f = torch.tensor(self.fmt.latent_rgb_factors)
        bias = torch.tensor(self.fmt.latent_rgb_factors_bias or [0.0] * 3)
        rgb = self.fmt.process_in(latent).movedim(1, -1) @ f + bias
        return F.interpolate(((rgb + 1) / 2).clamp(0, 1).movedim(-1, 1), scale_factor=8, mode="bilinear").movedim(1, -1)


def stroke_latent(decode: Decoder, h: int, seed: int) -> torch.Tensor:
    """A crude 'painting': workflows/assets/strokes.png through the VAE, or flat colour blocks in latent space."""
    if decode.vae is not None:
        from PIL import Image
        img = Image.open(Path(__file__).resolve().parents[1] / "workflows/assets/strokes.png").convert("RGB")
        pixels = torch.tensor(list(img.resize((8 * h, 8 * h)).getdata()), dtype=torch.float32).view(1, 8 * h, 8 * h, 3)
        return decode.vae.encode(pixels / 255)
    g = torch.Generator().manual_seed(seed)
    blocks = torch.randn(1, 4, 3, 3, generator=g)
    return decode.fmt.process_out(F.interpolate(blocks, size=(h, h), mode="nearest"))


def load(ckpt: str | None):
    inprocess.load_host()
    if ckpt:
        import comfy.sd
        model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(ckpt, output_vae=True, output_clip=True)
        encode = lambda text: clip.encode_from_tokens_scheduled(clip.tokenize(text))
        return model, encode, Decoder(vae, model.model.latent_format)
    model = inprocess.tiny_model("sd15")
    encode = lambda text: inprocess.cond(sum(map(ord, text)))
    return model, encode, Decoder(None, model.model.latent_format)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt", help="an SD1.5-family checkpoint (with an LCM/Hyper-SD LoRA merged, ideally)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    model, encode, decode = load(args.ckpt)
    from semanticdraw.nodes.edit import sdedit, SemanticDrawRegionalEdit
    from semanticdraw.nodes.host.guider import RegionalSettings
    from semanticdraw.nodes.host.regions import Region, RegionStack
    from semanticdraw.nodes.host.guider import run_regional, schedule

    n, h = args.size, args.size // 8
    left, right = torch.zeros(n, n), torch.zeros(n, n)
    left[n // 4: 3 * n // 4, n // 16: n // 2 - n // 16] = 1
    right[n // 4: 3 * n // 4, n // 2 + n // 16: n - n // 16] = 1
    region = lambda text, mask: Region(encode(text), encode(""), mask, mask_blur_std=4.0, label=text)
    source_stack = RegionStack(regions=(region("a red apple", left), region("a glass of orange juice", right)),
                               background_positive=encode("a wooden table"))
    target_stack = source_stack.replace(regions=(source_stack.regions[0], region("a cup of black coffee", right)))
    settings = RegionalSettings()
    empty = {"samples": torch.zeros(1, 4, h, h)}
    sigmas = schedule(model, "sgm_uniform", args.steps, 1.0)
    generate = lambda stack, seed: run_regional(model, stack, empty, seed, sigmas, 1.0, "lcm", settings, "bench")
    source = generate(source_stack, args.seed)
    plain_target = decode(generate(target_stack, args.seed + 7)["samples"])

    rows = []
    for t0 in (0.5, 0.7, 0.9):
        out, mask, _ = SemanticDrawRegionalEdit.execute(
            model, source, source_stack, target_stack, seed=args.seed + 7, steps=args.steps, strength=t0, cfg=1.0,
            sampler_name="lcm", scheduler="sgm_uniform", **vars(settings)).result
        src_img, out_img = decode(source["samples"]), decode(out["samples"])
        keep = (mask[0] == 0).float()
        ssim_i = masked_mean(ssim_map(src_img, out_img)[0], keep)
        ssim_e = masked_mean(ssim_map(out_img, plain_target)[0], boundary_band(mask[0], 8))
        rows.append((f"regional edit t0={t0}", f"{ssim_i:.4f}", f"{ssim_e:.4f}", "-"))

    guide = {"samples": stroke_latent(decode, h, args.seed)}
    strokes = decode(guide["samples"])
    for t0 in (0.3, 0.5, 0.7, 0.9, 1.0):
        out = sdedit(model, target_stack, guide, args.seed, args.steps, t0, 1.0, "lcm", "sgm_uniform", settings,
                     "bench")
        l2 = float((decode(out["samples"]) - strokes).pow(2).mean().sqrt())
        rows.append((f"SDEdit t0={t0}", "-", "-", f"{l2:.4f}"))

    header = ("run", "SSIM-i (unedited)", "SSIM-e (edit boundary)", "L2 to guide")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]
    for r in [header, tuple("-" * w for w in widths)] + rows:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths)))
    print(f"\nmodel: {args.ckpt or 'tiny random-weight SD1.5-shaped UNet, preview-factor decoder'}; "
          f"{args.size}x{args.size}, {args.steps} LCM steps")


if __name__ == "__main__":
    main()
