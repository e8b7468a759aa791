"""Picture quality of regional methods on the toy world's EXACT denoiser (issue 16 item 5).

The model is `tools.toy_world.ExactDenoiser`: the exact posterior mean `E[x0 | x, caption]` of a world where colour
is meaning, so a picture is judged by which colour fills each region (`tools.metrics.colour_names`). Every method
below sees the same model, the same scenes and the same noises:

- the pack: masks (ALGORITHM.md section 2) -> `scene_masks` (section 4) -> `regional_x0` (pre-averaging, section 4;
  bootstrapping, section 5) inside `engine.sampling.sample`, for bootstrapping off / default (1) / 3 / 4 steps and
  each `MASK_TYPES` entry;
- ComfyUI's masked conditioning, EMULATED by core's `calc_cond_batch` formula on the same denoiser
  (`comfy_x0`): the per-cond x0 weighted by its bilinear-resized raw mask, plus the background prompt as an
  unmasked cond of strength 1, divided by the summed weights (+1e-37) - no cover, blur, quantization or bootstrap;
  also with the background cond masked by `1 - union` (a common workflow);
- MultiDiffusion-style latent averaging (the paper's baseline, section 4): every region steps its own canvas with
  its own noise and the stepped canvases are averaged with the masks after each step (`multidiffusion`);
- the Stream Sampler (`engine.stream.StreamEngine`, section 8) with its streaming defaults, `T` slots, run until the
  pipeline is full (its per-slot x0 of the last call is scored too), and at `T = 4` with the still mask settings.

Samplers: Karras schedules, `euler` (deterministic) and `lcm` (re-noises each step, section 4) at 4 and 20 steps.
Metrics on the picture at latent resolution (one latent cell = one judged pixel), with masks judged by the engine's
nearest downsample (section 2.6): per-region IoU of its colour with its visible mask (later regions cover earlier,
2.2), small-object recall, leak outside masks and background share (see `score`).

    python bench/quality.py [--quick]    # --quick: 8 scenes, 4-step settings, written to /tmp/quality
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from dataclasses import dataclass, replace
from typing import Callable, Optional

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from engine import MASK_TYPES, NoiseSpace, eps_space, make_plan, noise_levels, process_masks, regional_x0  # noqa: E402
from engine.sampling import STEPS, sample  # noqa: E402
from engine.scene import LATENT, PROMPT, scene_masks  # noqa: E402
from engine.stream import StreamConfig, StreamEngine, StreamRegion  # noqa: E402
from tools.metrics import colour_names  # noqa: E402
from tools.toy_world import COLOURS, Caption, ExactDenoiser, karras_sigmas, render, to_image, to_model  # noqa: E402

N = 32  # latent (= model) size; masks are given at the image size 8N
IMG = 8 * N
NAMES = list(COLOURS)
SPACE = eps_space()
WHITE = to_model(render(Caption(background="white"), N))[None].float()
SMALL = 0.05  # a visible mask of at most 5% of the canvas is a small object
LAYOUTS = ("random", "adjacent", "overlap", "small")
SETTINGS = {"euler 4": ("euler", 4), "lcm 4": ("lcm", 4), "euler 20": ("euler", 20), "lcm 20": ("lcm", 20)}


# -- scenes -------------------------------------------------------------------------------------------------------

def _edge(c: int) -> int:
    """Image row of a latent cell edge: halfway between the image pixels that latent cells sample (2.6, nearest:
    each block's first pixel), as test_semantic's `box`; the canvas border stays the border."""
    return 0 if c <= 0 else IMG if c >= N else 8 * c - 4


def rect(t: int, l: int, b: int, r: int) -> torch.Tensor:
    """Image-size mask of latent cells `[t, b) x [l, r)`."""
    m = torch.zeros(IMG, IMG)
    m[_edge(t):_edge(b), _edge(l):_edge(r)] = 1
    return m


def ellipse(cy: float, cx: float, ry: float, rx: float) -> torch.Tensor:
    """Image-size mask of an ellipse in latent coordinates (cell i is centred at image pixel 8i)."""
    t = torch.arange(IMG) / 8
    return ((((t[:, None] - cy) / ry) ** 2 + ((t[None, :] - cx) / rx) ** 2) <= 1).float()


@dataclass
class Scene:
    index: int
    layout: str
    kind: str  # PROMPT (background prompt) or LATENT (a plain-colour background image)
    background: str  # the background colour
    colours: list  # per region
    prompts: list  # per region
    masks: list  # per region, image size [8N, 8N]
    visible: torch.Tensor  # [p, N, N] bool, judged masks after covering
    small: list  # per region: visible area <= SMALL
    noise: torch.Tensor  # [1, 3, N, N]
    boot_noise: torch.Tensor
    step_noises: list  # 20 x [1, 3, N, N]
    own_noises: torch.Tensor  # [p + 1, 20, 1, 3, N, N]: MultiDiffusion's per-canvas re-noising

    @property
    def captions(self) -> list:
        """Denoiser captions: the background prompt first (region 0 of a PROMPT scene, section 4)."""
        return [f"a {self.background} background"] + self.prompts

    @functools.cached_property
    def model(self) -> ExactDenoiser:
        return ExactDenoiser(self.captions, N)

    @functools.cached_property
    def bg_latent(self) -> torch.Tensor:
        return to_model(render(Caption(background=self.background), N))[None].float()

    def denoiser(self):
        """The engine's denoiser for this scene: regions index captions from 1 when the background is a latent."""
        if self.kind == PROMPT:
            return self.model
        return lambda x, s, c, *rest, **kw: self.model(x, s, c + 1)


def _shape(g: torch.Generator, lo: int, hi: int, small: bool = False) -> torch.Tensor:
    """A random rectangle or ellipse with sides in [lo, hi] cells (small: 1-5% of the canvas)."""
    u = lambda a, b: int(torch.randint(a, b + 1, (1,), generator=g))
    h, w = (u(3, 6), u(3, 7)) if small else (u(lo, hi), u(lo, hi))
    t, l = u(1, N - h - 1), u(1, N - w - 1)
    if u(0, 1):
        return rect(t, l, t + h, l + w)
    return ellipse(t + (h - 1) / 2, l + (w - 1) / 2, h / 2 + 0.3, w / 2 + 0.3)


def _layout(g: torch.Generator, layout: str, p: int) -> list:
    u = lambda a, b: int(torch.randint(a, b + 1, (1,), generator=g))
    if layout == "random":  # anywhere (may overlap); the last one small
        return [_shape(g, 7, 16) for _ in range(p - 1)] + [_shape(g, 0, 0, small=True)]
    if layout == "adjacent":  # touching rectangles splitting a band
        t, b = u(2, 8), u(22, 30)
        cuts = sorted(torch.randperm(N - 9, generator=g)[:p - 1].add(5).tolist())
        while any(c2 - c1 < 3 for c1, c2 in zip([1] + cuts, cuts + [N - 1])):
            cuts = sorted(torch.randperm(N - 9, generator=g)[:p - 1].add(5).tolist())
        edges = [1] + cuts + [N - 1]
        vertical = u(0, 1)
        return [rect(t, a, b, c) if vertical else rect(a, t, c, b) for a, c in zip(edges[:-1], edges[1:])]
    if layout == "overlap":  # a chain of shapes each overlapping the previous one
        out, cy, cx = [], u(8, 12), u(8, 12)
        for _ in range(p):
            h, w = u(7, 12), u(7, 12)
            top, left = min(max(cy - h // 2, 0), N - h), min(max(cx - w // 2, 0), N - w)
            out.append(rect(top, left, top + h, left + w) if u(0, 1) else
                       ellipse(top + (h - 1) / 2, left + (w - 1) / 2, h / 2 + 0.3, w / 2 + 0.3))
            cy, cx = min(cy + u(3, 6), N - 6), min(cx + u(2, 6), N - 6)
        return out
    # small: one or two small masks over larger ones
    k = 1 if p == 2 else 2
    return [_shape(g, 8, 18) for _ in range(p - k)] + [_shape(g, 0, 0, small=True) for _ in range(k)]


def make_scene(i: int) -> Scene:
    """Scene `i`: layout `i % 4`, `2 + (i // 4) % 4` regions, a background image (LATENT) when `i % 5 == 4`."""
    g = torch.Generator().manual_seed(1000 + i)
    layout, p = LAYOUTS[i % 4], 2 + (i // 4) % 4
    while True:
        masks = _layout(g, layout, p)
        lat = torch.stack([m[::8, ::8] > 0.5 for m in masks])  # the engine's nearest downsample (2.6)
        later = torch.flip(torch.cumsum(torch.flip(lat.int(), [0]), 0), [0]) - lat.int()
        visible = lat & (later == 0)
        if int(visible.flatten(1).sum(1).min()) >= 6 and not bool(visible.any(0).all()):
            break
    regional = [c for c in NAMES if c != "white"]  # white is the bootstrap canvas (5.1): no region is white
    order = torch.randperm(len(regional), generator=g).tolist()
    colours = [regional[j] for j in order[:p]]
    background = [c for c in NAMES if c not in colours][int(torch.randint(8 - p, (1,), generator=g))]
    prompts = []
    for c, m in zip(colours, masks):
        plain = bool(torch.rand(1, generator=g) < 0.5)
        is_rect = bool((m.sum(1).unique() > 0).sum() <= 2 and (m.sum(0).unique() > 0).sum() <= 2)
        prompts.append(f"a {c} background" if plain else f"a {c} {'square' if is_rect else 'circle'}")
    area = visible.flatten(1).float().mean(1)
    ns = torch.randn(2 + 20 + (p + 1) * 20, 1, 3, N, N, generator=g)
    return Scene(i, layout, LATENT if i % 5 == 4 else PROMPT, background, colours, prompts, masks, visible,
                 [bool(a <= SMALL) for a in area], ns[0], ns[1], list(ns[2:22]), ns[22:].view(p + 1, 20, 1, 3, N, N))


# -- methods ------------------------------------------------------------------------------------------------------

def pack(sc: Scene, sigmas: torch.Tensor, step: str, mask_type: str = "discrete", boot: int = 1, mix: float = 1.0,
         blur: float = 1.0, leak: float = 0.2, boot_noise: Optional[torch.Tensor] = None, space: NoiseSpace = SPACE,
         denoise: Optional[Callable] = None, strict_quantize: bool = False) -> torch.Tensor:
    """The pack's still path (sections 2, 4, 5) with the still-image defaults of section 9, in `space` (the
    denoiser: `denoise`, default the scene's). `strict_quantize`: discrete masks on where `m > n_k`, the reference's
    comparison, instead of the pack's `m >= n_k` (2.5), from the same processed masks (bench/differences.py)."""
    p = len(sc.masks)
    levels = noise_levels(sigmas, space)
    fg = process_masks(sc.masks, (IMG, IMG), (N, N), levels, blur_stds=[blur] * p, strengths=[1.0] * p,
                       cover_alpha=0.3, mask_type=mask_type)
    if strict_quantize:
        above = fg.support[:, None] > levels[:-1].view(1, -1, 1, 1, 1)
        fg = replace(fg, quantized=above.to(fg.support))
    chosen = scene_masks(fg, sc.kind, latent=sc.bg_latent, white=WHITE)
    plan = make_plan(chosen.masks, background=chosen.background, white=WHITE, bootstrap_steps=boot,
                     bootstrap_mix_steps=mix, leak=leak)
    fn = functools.partial(regional_x0, plan=plan, denoise=denoise or sc.denoiser(), space=space,
                           bootstrap_noise=sc.boot_noise if boot_noise is None else boot_noise)
    return sample(fn, sc.noise, sigmas, space, step=step, step_noises=sc.step_noises[:len(sigmas) - 1])


def raw_masks(sc: Scene) -> torch.Tensor:
    """`[p, 1, N, N]`: the masks as core resizes them (bilinear, align_corners False), no cover/blur/quantization."""
    return F.interpolate(torch.stack(sc.masks)[:, None], size=(N, N), mode="bilinear", align_corners=False)


def canvas_x0(sc: Scene, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """`[p + 1, 3, N, N]`: the background's prediction (its prompt's x0, or the background image itself in a
    LATENT scene) then each region's, for the one canvas `x`."""
    conds = torch.arange(1, len(sc.masks) + 1) if sc.kind == LATENT else torch.arange(len(sc.masks) + 1)
    x0 = sc.model(x.expand(len(conds), -1, -1, -1), sigma.expand(len(conds)), conds)
    return torch.cat([sc.bg_latent, x0]) if sc.kind == LATENT else x0


def comfy_x0(x: torch.Tensor, sigma: torch.Tensor, k: int, sc: Scene, bg_masked: bool = False) -> torch.Tensor:
    """EMULATION of ComfyUI core's `calc_cond_batch` on the same denoiser: `out = sum_c mult_c * x0_c /
    (1e-37 + sum_c mult_c)` with `mult` the bilinear-resized mask (strength 1) of each masked cond and 1 for the
    unmasked background prompt (`bg_masked`: the background cond masked by `1 - union` instead, a common workflow).
    A LATENT scene has no background prompt: its image stands in as a constant prediction of that weight (our
    extension; core has no such cond)."""
    m, x0 = raw_masks(sc), canvas_x0(sc, x, sigma)
    bg = (1 - raw_masks_union(sc)) if bg_masked else torch.ones(1, 1, N, N)
    mult = torch.cat([bg, m])
    return (mult * x0).sum(0, keepdim=True) / (1e-37 + mult.sum(0, keepdim=True))


def raw_masks_union(sc: Scene) -> torch.Tensor:
    """`[1, 1, N, N]`: the union of the image masks, resized as core resizes a mask."""
    return F.interpolate(torch.stack(sc.masks).amax(0)[None, None], size=(N, N), mode="bilinear", align_corners=False)


def comfy(sc: Scene, sigmas: torch.Tensor, step: str, bg_masked: bool = False) -> torch.Tensor:
    fn = lambda x, s, k: comfy_x0(x, s[:1], k, sc, bg_masked)
    return sample(fn, sc.noise, sigmas, SPACE, step=step, step_noises=sc.step_noises[:len(sigmas) - 1])


def multidiffusion(sc: Scene, sigmas: torch.Tensor, step: str) -> torch.Tensor:
    """MultiDiffusion (the baseline of section 4): canvas `r` steps `x -> x_r` with its own x0 and its own noise,
    then `x = sum_r w_r x_r / sum_r w_r` with the raw (bilinear) masks and the background weight
    `clip(1 - sum m, 0, 1)`. The background is the background prompt's canvas, or the image's (its x0 is the image).
    Canvas 0 re-noises with the shared step noises, the others with their own."""
    m = raw_masks(sc)
    w = torch.cat([(1 - m.sum(0, keepdim=True)).clamp(0, 1), m])  # [p + 1, 1, N, N]
    p = len(m)
    step_fn = STEPS[step]
    x = SPACE.add_noise(torch.zeros_like(sc.noise), sc.noise, sigmas[:1])
    for k in range(len(sigmas) - 1):
        x0 = canvas_x0(sc, x, sigmas[k])
        noises = [sc.step_noises[k]] + [sc.own_noises[r, k] for r in range(1, p + 1)]
        xs = torch.cat([step_fn(x, x0[r:r + 1], sigmas[k], sigmas[k + 1], noises[r], SPACE) for r in range(p + 1)])
        x = (w * xs).sum(0, keepdim=True) / w.sum(0, keepdim=True).clamp_min(1e-8)
    return x


class _Stream(StreamEngine):
    """The Stream Sampler's engine, keeping every slot's x0 of the last call (section 8.2)."""

    def _display(self, x0: torch.Tensor) -> torch.Tensor:
        self.slot_x0 = x0.clone()
        return super()._display(x0)


def stream_engine(sc: Scene, slots: int, still_masks: bool = False, engine: type = _Stream) -> _Stream:
    """Section 8 with the streaming defaults (continuous masks, blur 8 image pixels, bootstrap 1, leak off, cfg none)
    or with `still_masks` the still defaults (discrete, blur 1, leak 0.2), and prompt strength 1 (the toy world
    cannot blend prompts, section 3); the slot noises are the still runs' noises, so once the pipeline is full the
    frame is the still `lcm` result of the same settings (8.7). Returns the `engine` with the scene set, not run."""
    captions = sc.captions
    encode = lambda key: captions.index(key.prompt) if key.prompt in captions else 0  # negatives: unused (cfg none)

    def denoiser_for(conds):
        table = torch.tensor(conds)
        return lambda x, s, c, *rest, **kw: sc.model(x, s, table[c])
    extra = dict(mask_type="discrete", leak=0.2) if still_masks else {}
    cfg = StreamConfig(sigmas=karras_sigmas(slots)[:-1], max_batch=10_000, **extra)
    eng = engine(denoiser_for, encode, SPACE, (3, N, N), (IMG, IMG), cfg, white=WHITE)
    eng.init_noise = torch.stack([sc.noise] + sc.step_noises[:slots - 1])
    blur = 1.0 if still_masks else 8.0
    regions = [StreamRegion(p, m, prompt_strength=1.0, mask_blur_std=blur) for p, m in zip(sc.prompts, sc.masks)]
    if sc.kind == PROMPT:
        eng.update(regions=regions, background_prompt=captions[0])
    else:
        eng.update(regions=regions, background_latent=sc.bg_latent)
    return eng


def stream(sc: Scene, slots: int, still_masks: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """`stream_engine`'s frame `[1, 3, N, N]` after `T` calls (the pipeline full) and every slot's x0
    `[T, 1, 3, N, N]` of that call."""
    eng = stream_engine(sc, slots, still_masks)
    frame = eng.flush()[-1]
    return frame, eng.slot_x0


# -- metrics ------------------------------------------------------------------------------------------------------

def score(x: torch.Tensor, sc: Scene) -> dict:
    """Colour is the segmentation (nearest named colour per latent cell). Per region: IoU of its colour's cells with
    its visible mask, the share of its mask in its colour (small-object hit when >= 1/2), and its leak = share of
    the cells outside its mask in its colour; background = share of the unpainted cells in the background colour."""
    names = colour_names(to_image(x[0]))
    regions = []
    for c, vis, small, prompt in zip(sc.colours, sc.visible, sc.small, sc.prompts):
        on = names == NAMES.index(c)
        regions.append({"iou": float((on & vis).sum() / (on | vis).sum()), "inside": float(on[vis].float().mean()),
                        "leak": float(on[~vis].float().mean()), "small": small,
                        "object": "background" not in prompt, "area": float(vis.float().mean())})
    rest = ~sc.visible.any(0)
    return {"regions": regions, "background": float((names[rest] == NAMES.index(sc.background)).float().mean())}


def summarise(scores: list) -> dict:
    regions = [r for s in scores for r in s["regions"]]
    mean = lambda v: sum(v) / len(v) if v else float("nan")
    small = [r["inside"] >= 0.5 for r in regions if r["small"]]
    return {"iou": mean([mean([r["iou"] for r in s["regions"]]) for s in scores]),
            "iou_plain": mean([r["iou"] for r in regions if not r["object"]]),
            "iou_object": mean([r["iou"] for r in regions if r["object"]]),
            "small_recall": mean(small), "small_n": len(small),
            "leak": mean([r["leak"] for r in regions]), "background": mean([s["background"] for s in scores]),
            "scenes": len(scores)}


# -- output -------------------------------------------------------------------------------------------------------

def target_picture(sc: Scene) -> torch.Tensor:
    """The scene as meant: each visible mask in its colour over the background colour, `[N, N, 3]` in [0, 1]."""
    img = torch.tensor(COLOURS[sc.background]).expand(N, N, 3).clone()
    for c, vis in zip(sc.colours, sc.visible):
        img[vis] = torch.tensor(COLOURS[c])
    return img


def grid(rows: list, columns: list, path: str, cell: int = 5) -> None:
    """`rows`: (label lines, [N, N, 3] pictures per column); nearest upsampling by `cell`, labels drawn with PIL."""
    from PIL import Image, ImageDraw
    side, left, top, pad = N * cell, 230, 44, 8
    im = Image.new("RGB", (left + len(columns) * (side + pad), top + len(rows) * (side + pad)), "white")
    d = ImageDraw.Draw(im)
    for j, name in enumerate(columns):
        for li, line in enumerate(name.split("\n")):
            d.text((left + j * (side + pad), 4 + 12 * li), line, fill="black")
    for i, (label, pics) in enumerate(rows):
        y = top + i * (side + pad)
        for li, line in enumerate(label):
            d.text((4, y + 12 * li), line, fill="black")
        for j, pic in enumerate(pics):
            arr = (pic.clamp(0, 1) * 255).round().byte().numpy()
            im.paste(Image.fromarray(arr).resize((side, side), Image.NEAREST), (left + j * (side + pad), y))
    im.save(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="8 scenes, 4-step settings only (a smoke run)")
    ap.add_argument("--scenes", type=int, default=36)
    ap.add_argument("--out", default=None, help="default: bench/, or /tmp/quality with --quick")
    args = ap.parse_args()
    args.out = args.out or ("/tmp/quality" if args.quick else os.path.join(ROOT, "bench"))
    n_scenes = 8 if args.quick else args.scenes
    settings = {k: v for k, v in SETTINGS.items() if not args.quick or v[1] == 4}
    methods = {"pack default (discrete, boot 1)": dict(),
               "pack boot 4 / mix 4": dict(boot=4, mix=4.0),
               "pack boot 3 / mix 3": dict(boot=3, mix=3.0),
               "pack boot off": dict(boot=0),
               **{f"pack {t} (boot 1)": dict(mask_type=t) for t in MASK_TYPES if t != "discrete"}}
    started = time.time()
    results = {name: {s: [] for s in settings} for name in list(methods) + ["comfy masked cond (emulated)",
                                                                          "comfy, bg masked 1-union (emulated)",
                                                                          "MultiDiffusion (own re-noising)",
                                                                          "stream (T slots, stream defaults)",
                                                                          "stream (T slots, still masks)"]}
    slot_scores, pictures, scenes, checks = {}, {}, [], []
    for i in range(n_scenes):
        sc = make_scene(i)
        scenes.append({"index": i, "layout": sc.layout, "kind": sc.kind, "background": sc.background,
                       "prompts": sc.prompts, "areas": sc.visible.flatten(1).float().mean(1).tolist()})
        for sname, (step, steps) in settings.items():
            sigmas = karras_sigmas(steps)
            outs = {name: pack(sc, sigmas, step, **kw) for name, kw in methods.items()}
            outs["comfy masked cond (emulated)"] = comfy(sc, sigmas, step)
            outs["comfy, bg masked 1-union (emulated)"] = comfy(sc, sigmas, step, bg_masked=True)
            outs["MultiDiffusion (own re-noising)"] = multidiffusion(sc, sigmas, step)
            if step == "lcm":  # the stream's slots re-noise (8.2): it is an lcm sampler
                frame, slots_x0 = stream(sc, steps)
                outs["stream (T slots, stream defaults)"] = frame
                slot_scores.setdefault(sname, []).append([score(x0, sc) for x0 in slots_x0])
                if steps == 4:  # T = 20 costs as much as the rest of the scene: once is enough
                    outs["stream (T slots, still masks)"] = stream(sc, steps, still_masks=True)[0]
                if i == 0:  # 8.7: the frame is the still lcm result with the stream's settings and noises
                    ref = pack(sc, sigmas, "lcm", mask_type="continuous", blur=8.0, leak=0.0, boot_noise=sc.noise)
                    checks.append({"setting": sname, "max_abs_diff_stream_vs_still": float((frame - ref).abs().max())})
            for name, x in outs.items():
                results[name][sname].append(score(x, sc))
            pictures[(i, sname)] = {name: to_image(x[0]) for name, x in outs.items()}
        print(f"scene {i:2d} {sc.layout:8s} {sc.kind:6s} p={len(sc.masks)} done at {time.time() - started:6.1f} s",
              flush=True)
    runtime = time.time() - started
    summary = {name: {s: summarise(v) for s, v in per.items() if v} for name, per in results.items()}
    results = {name: {s: v for s, v in per.items() if v} for name, per in results.items()}
    slots = {s: [summarise([per_scene[k] for per_scene in v]) for k in range(len(v[0]))]
             for s, v in slot_scores.items()}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "quality_results.json"), "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "runtime_s": round(runtime, 1),
                   "latent": N, "image": IMG, "threads": torch.get_num_threads(), "summary": summary,
                   "stream_slots_last_call": slots, "stream_parity_checks": checks, "scenes": scenes,
                   "raw": results}, f, indent=1)
    cols = ["pack default (discrete, boot 1)", "pack boot 4 / mix 4", "pack boot off", "comfy masked cond (emulated)",
            "MultiDiffusion (own re-noising)", "stream (T slots, stream defaults)"]
    short = {cols[0]: "pack default", cols[1]: "pack boot 4", cols[2]: "pack boot off", cols[3]: "comfy (emul.)",
             cols[4]: "MultiDiffusion", cols[5]: "stream T=4"}
    headers = ["scene (target)"] + [f"{short[c]}\nlcm 4" for c in cols] + \
        ([f"{short[c]}\neuler 20" for c in cols[:5]] if not args.quick else [])
    rows = []
    for i in [k for k in (0, 1, 2, 3, 4, 7, 9, 14) if k < n_scenes]:
        sc = scenes[i]
        label = [f"scene {i}: {sc['layout']}, {sc['kind']}", f"bg: {sc['background']}"] + \
            [p.replace("background", "bg") for p in sc["prompts"]]
        pics = [target_picture(make_scene(i))] + [pictures[(i, "lcm 4")][c] for c in cols]
        if not args.quick:
            pics += [pictures[(i, "euler 20")][c] for c in cols[:5]]
        rows.append((label, pics))
    grid(rows, headers, os.path.join(args.out, "quality_grid.png"))
    print(f"runtime {runtime:.1f} s")
    for name, per in summary.items():
        for s, v in per.items():
            print(f"{name:36s} {s:9s} iou {v['iou']:.3f} (plain {v['iou_plain']:.3f} object {v['iou_object']:.3f}) "
                  f"small {v['small_recall']:.3f}/{v['small_n']} leak {v['leak']:.3f} bg {v['background']:.3f}")
    for s, v in slots.items():
        print("stream slots", s, " ".join(f"{k}:{x['iou']:.3f}" for k, x in enumerate(v)))
    print("checks", checks)


if __name__ == "__main__":
    main()
