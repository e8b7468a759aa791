"""The README's deliberate differences from the reference, re-measured on pictures (issue 16 item 5).

Same scenes, exact toy-world denoiser, noises and metrics as `bench/quality.py` (IoU / small-object recall / leak /
background). For each difference that the toy world can show, the reference's rule is written out here and run
against the pack's:

- discrete quantization (ALGORITHM.md 2.5) on a flow schedule (SD3 / Flux: level = sigma, shift 3, 4 steps, so
  `n_0 = 1`): the reference's `m > n_k` against the pack's `m >= n_k`. The exact denoiser is eps-space; a flow
  model's `x = (1 - s) x0 + s n` is `x / (1 - s) = x0 + s / (1 - s) n` in its terms (`flow_denoiser`).
  On eps schedules every level is below 1 and the rules agree wherever a mask is not exactly a level.
- bootstrap noise (section 5): drawn once from the seed (pack) against fresh noise per run (reference).
- stream slot-0 noise (section 8.2): fixed per slot (pack) against fresh noise every call (reference): frames of a
  static scene after the pipeline is full, scored, and their flicker (share of cells whose colour changes from
  one frame to the next).

Rows not measured here, and why, are in bench/QUALITY.md.

    python bench/differences.py [--scenes N]    # writes bench/differences_results.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quality as q  # noqa: E402  (also puts the repository on sys.path)
from engine import flow_space  # noqa: E402
from tools.metrics import colour_names  # noqa: E402
from tools.toy_world import to_image  # noqa: E402

FLOW = flow_space()
SHIFT = 3.0  # SD3's sampling shift


def flow_sigmas(steps: int) -> torch.Tensor:
    """A flow model's `simple` schedule: uniform in t, shifted (`s = shift t / (1 + (shift - 1) t)`), ending at 0."""
    t = torch.linspace(1, 0, steps + 1)
    return SHIFT * t / (1 + (SHIFT - 1) * t)


def flow_denoiser(eps_denoiser):
    """The eps-space exact denoiser as a flow model: `x0(x, s) = D(x / (1 - s), s / (1 - s))`, `s` kept below 1."""
    def denoise(x, s, c, *rest, **kw):
        s = s.clamp(max=0.999)
        scale = (1 - s).view(-1, 1, 1, 1).to(x)
        return eps_denoiser(x / scale, s / (1 - s), c)
    return denoise


def pack_flow(sc: q.Scene, steps: int, step: str, reference_quantize: bool) -> torch.Tensor:
    """The pack's still path on a flow schedule; `reference_quantize`: the reference's `m > n_k`."""
    return q.pack(sc, flow_sigmas(steps), step, space=FLOW, denoise=flow_denoiser(sc.denoiser()),
                  strict_quantize=reference_quantize)


class FreshSlotNoise(q._Stream):
    """The reference's stream: slot 0 draws fresh noise at every call."""
    fresh = torch.Generator().manual_seed(1234)

    def step(self, base_latent=None):
        self.init_noise[0] = torch.randn(self.init_noise[0].shape, generator=self.fresh).to(self.init_noise)
        return super().step(base_latent)


def stream_frames(sc: q.Scene, engine: type, frames: int = 4, slots: int = 4) -> list:
    """`frames` output frames of a static scene once the pipeline is full (stream defaults, `slots` slots)."""
    eng = q.stream_engine(sc, slots, engine=engine)
    eng.flush()
    return [eng.step() for _ in range(frames)]


def flicker(frames: list) -> float:
    """Share of cells whose nearest named colour changes between consecutive frames."""
    names = [colour_names(to_image(f[0])) for f in frames]
    return sum(float((a != b).float().mean()) for a, b in zip(names, names[1:])) / (len(names) - 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenes", type=int, default=36)
    ap.add_argument("--out", default=os.path.join(q.ROOT, "bench", "differences_results.json"))
    args = ap.parse_args()
    started, scores, flickers, changes = time.time(), {}, {}, {}
    add = lambda name, setting, x, sc: scores.setdefault(name, {}).setdefault(setting, []).append(q.score(x, sc))
    # how far the reference's rule moves the final latent (mean |difference|): proof that the variant ran
    change = lambda name, setting, a, b: changes.setdefault(name, {}).setdefault(setting, []).append(
        float((a - b).abs().mean()))
    for i in range(args.scenes):
        sc = q.make_scene(i)
        fresh_boot = torch.randn(sc.boot_noise.shape, generator=torch.Generator().manual_seed(10_000 + i))
        for step in ("euler", "lcm"):
            setting = f"{step} 4"
            ours, theirs = pack_flow(sc, 4, step, False), pack_flow(sc, 4, step, True)
            add("flow quantization m >= n_k (pack)", setting, ours, sc)
            add("flow quantization m > n_k (reference)", setting, theirs, sc)
            change("flow quantization m > n_k (reference)", setting, theirs, ours)
            sigmas = q.karras_sigmas(4)
            ours, theirs = q.pack(sc, sigmas, step), q.pack(sc, sigmas, step, boot_noise=fresh_boot)
            add("bootstrap noise once from the seed (pack)", setting, ours, sc)
            add("bootstrap noise fresh (reference)", setting, theirs, sc)
            change("bootstrap noise fresh (reference)", setting, theirs, ours)
        for name, engine in (("stream slot-0 noise fixed (pack)", q._Stream),
                             ("stream slot-0 noise fresh each call (reference)", FreshSlotNoise)):
            frames = stream_frames(sc, engine)
            for f in frames:
                add(name, "stream T=4", f, sc)
            flickers.setdefault(name, []).append(flicker(frames))
        print(f"scene {i:2d} done at {time.time() - started:6.1f} s", flush=True)
    summary = {name: {s: q.summarise(v) for s, v in per.items()} for name, per in scores.items()}
    for name, v in flickers.items():
        summary[name]["stream T=4"]["flicker"] = sum(v) / len(v)
    for name, per in changes.items():
        for setting, v in per.items():
            summary[name][setting]["latent_change"] = sum(v) / len(v)
    with open(args.out, "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                   "runtime_s": round(time.time() - started, 1), "scenes": args.scenes, "summary": summary}, f,
                  indent=1)
    print("| difference | setting | IoU | small recall | leak | background | flicker | latent change |")
    print("|---|---|---|---|---|---|---|---|")
    for name, per in summary.items():
        for s, v in per.items():
            extra = [f"{v[k]:.3f}" if k in v else "-" for k in ("flicker", "latent_change")]
            print(f"| {name} | {s} | {v['iou']:.3f} | {v['small_recall']:.3f} | {v['leak']:.3f} | "
                  f"{v['background']:.3f} | {' | '.join(extra)} |")


if __name__ == "__main__":
    main()
