"""Speed benchmark, side by side in one run: this pack vs ComfyUI's native masked conditioning vs a
MultiDiffusion reference, against the model-call lower bound; large canvases; streaming.

    python bench/speed.py [--quick] [--gpu] [--out bench/results.json]

Rows report wall time per image (or frame), model calls, and ratios measured in the same process.
The MultiDiffusion reference (DDIM 50 steps, CFG 7.5, per-region denoise then averaging of the next
latents) and large canvases are timed over a few steps and scaled to their full step count, since
each step costs the same; the `steps_timed` column says so. CPU runs use the tiny random-weight
SD1.5-shaped UNet (320 channels, two levels); `--gpu` uses a full-size SD1.5 UNet config in fp16.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tools import inprocess  # noqa: E402

FULL_SD15 = {"channel_mult": [1, 2, 4, 4], "num_res_blocks": [2, 2, 2, 2], "transformer_depth": [1, 1, 1, 0],
             "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]}


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    out, best = None, float("inf")
    for _ in range(repeat):
        sync()
        t = time.perf_counter()
        out = fn()
        sync()
        best = min(best, time.perf_counter() - t)
    return best, out


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def region_masks(p: int, H: int, W: int) -> list[torch.Tensor]:
    """`p` overlapping vertical bands covering the canvas."""
    out = []
    for i in range(p):
        m = torch.zeros(H, W)
        m[:, max(0, i * W // p - W // 16): min(W, (i + 1) * W // p + W // 16)] = 1
        out.append(m)
    return out


class Bench:
    def __init__(self, gpu: bool):
        inprocess.load_host()
        import comfy.model_patcher
        self.device = torch.device("cuda" if gpu else "cpu")
        if gpu:
            inprocess.SD15_UNET.update(FULL_SD15)
        self.model = inprocess.tiny_model("sd15")
        if gpu:
            self.model = comfy.model_patcher.ModelPatcher(self.model.model.half().to(self.device),
                                                          load_device=self.device, offload_device=self.device)
        self.base = self.model.model
        self.counter = inprocess.CallCounter(self.base)
        self.rows: list[dict] = []

    def count(self, fn):
        self.counter.batches.clear()
        seconds, out = timed(fn)
        return seconds, len(self.counter.batches), out

    def lower_bound(self, batch: int, h: int, w: int, steps: int) -> float:
        x = torch.randn(batch, 4, h, w, device=self.device, dtype=self.base.get_dtype())
        s = torch.full((batch,), 5.0, device=self.device)
        c = inprocess.cond(0)[0][0].to(x).expand(batch, -1, -1)
        call = lambda: self.counter._inner(x, s, c_crossattn=c)
        with torch.no_grad():
            call()
            return steps * timed(call, 2)[0]

    def ours(self, masks, latent, steps, tile=0):
        from semanticdraw.nodes.regions import Region, RegionStack
        from semanticdraw.nodes.sampling import SemanticDrawSampler
        stack = RegionStack(regions=tuple(Region(inprocess.cond(i + 1), inprocess.cond(0), m) for i, m in enumerate(masks)))
        kw = dict(bootstrap_steps=1, bootstrap_mix_steps=1.0, leak_sensitivity=0.2, mask_type="discrete",
                  cover_alpha=0.3, tile_size=tile)
        return lambda: SemanticDrawSampler.execute(self.model, stack, {"samples": latent}, 1, steps, 1.0, "lcm",
                                                   "sgm_uniform", 1.0, **kw)

    def native(self, masks, latent, steps):
        import nodes
        positive = None
        for i, m in enumerate(masks):
            c = nodes.ConditioningSetMask().append(inprocess.cond(i + 1), m[None], "default", 1.0)[0]
            positive = c if positive is None else nodes.ConditioningCombine().combine(positive, c)[0]
        return lambda: nodes.common_ksampler(self.model, 1, steps, 1.0, "lcm", "sgm_uniform", positive,
                                             inprocess.cond(0), {"samples": latent})

    def multidiffusion(self, masks, h, w, steps, tile=None):
        """MultiDiffusion: each region (and window) denoised with CFG 7.5, DDIM steps of every region's latent,
        then the next latents averaged by masks. One batched call per step (2 x windows x regions samples)."""
        from semanticdraw.engine import get_views
        import comfy.samplers
        ms = self.base.model_sampling
        sigmas = comfy.samplers.calculate_sigmas(ms, "ddim_uniform", 50).to(self.device)
        lat = [torch.nn.functional.interpolate(m[None, None], size=(h, w)).to(self.device) for m in masks]
        views = get_views(h, w, tile or 0)
        conds = torch.cat([inprocess.cond(i + 1)[0][0] for i in range(len(masks))] + [inprocess.cond(0)[0][0]]).to(self.device)

        def run():
            x = torch.randn(1, 4, h, w, device=self.device) * sigmas[0]
            with torch.no_grad():
                for k in range(steps):
                    xs, cs, where = [], [], []
                    for y0, y1, x0, x1 in views:
                        for i, m in enumerate(lat):
                            if m[..., y0:y1, x0:x1].any():
                                xs.append(x[..., y0:y1, x0:x1])
                                cs.append(i)
                                where.append((y0, y1, x0, x1, i))
                    xin = torch.cat(xs + xs).to(self.base.get_dtype())
                    c = conds[torch.tensor(cs + [len(lat)] * len(cs))]
                    s = sigmas[k].expand(xin.shape[0])
                    den = self.counter(xin, s, c_crossattn=c).float()
                    cond, unc = den.chunk(2)
                    x0 = unc + 7.5 * (cond - unc)
                    num, cnt = torch.zeros_like(x), torch.zeros_like(x[:, :1])
                    for j, (y0, y1, x0_, x1, i) in enumerate(where):
                        xv = x[..., y0:y1, x0_:x1]
                        nxt = x0[j:j + 1] + (xv - x0[j:j + 1]) * (sigmas[k + 1] / sigmas[k])  # DDIM (eta 0)
                        mv = lat[i][..., y0:y1, x0_:x1]
                        num[..., y0:y1, x0_:x1] += mv * nxt
                        cnt[..., y0:y1, x0_:x1] += mv
                    x = num / cnt.clamp_min(1e-8)
            return x
        return run

    def add(self, **row):
        self.rows.append(row)
        print(" | ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)

    def still(self, ps, h, steps, md_steps):
        for p in ps:
            masks = region_masks(p, 8 * h, 8 * h)
            latent = torch.zeros(1, 4, h, h)
            ours_t, ours_calls, _ = self.count(self.ours(masks, latent, steps))
            ours_t, ours_calls, _ = self.count(self.ours(masks, latent, steps))  # warm
            nat_t, nat_calls, _ = self.count(self.native(masks, latent, steps))
            md_t, md_calls, _ = self.count(self.multidiffusion(masks, h, h, md_steps))
            md_t *= 50 / md_steps
            bound = self.lower_bound(p, h, h, steps)
            self.add(row=f"still p={p} {8 * h}px", ours_s=ours_t, ours_calls=ours_calls, native_s=nat_t,
                     native_calls=nat_calls, multidiffusion_s=md_t, md_steps_timed=md_steps, lower_bound_s=bound,
                     overhead=ours_t / bound, speedup_vs_md=md_t / ours_t, vs_native=ours_t / nat_t)

    def large(self, sizes, regions, steps_timed):
        for W, H in sizes:
            masks = region_masks(regions, H, W)
            ours = self.ours(masks, torch.zeros(1, 4, H // 8, W // 8), steps_timed, tile=768)
            ours_t, calls, _ = self.count(ours)
            md_t, md_calls, _ = self.count(self.multidiffusion(masks, H // 8, W // 8, steps_timed, tile=96))
            ours_full, md_full = ours_t * 4 / steps_timed, md_t * 50 / steps_timed
            self.add(row=f"canvas {W}x{H} p={regions}", ours_s=ours_full, ours_calls_per_step=calls // steps_timed,
                     multidiffusion_s=md_full, steps_timed=steps_timed, speedup_vs_md=md_full / ours_full)

    def stream(self, T, p, h, frames):
        from semanticdraw.engine import eps_space
        from semanticdraw.engine.stream import StreamConfig, StreamEngine, StreamRegion
        from semanticdraw.engine.sampling import sample
        import comfy.samplers
        conds = [inprocess.cond(i)[0][0].to(self.device, self.base.get_dtype()) for i in range(p + 1)]

        def denoiser_for(keys):
            table = torch.cat([conds[k] for k in keys])
            return lambda x, s, c, *stock: self.counter(x.to(table), s, c_crossattn=table[c]).float()
        sig = comfy.samplers.calculate_sigmas(self.base.model_sampling, "sgm_uniform", 50)[[0, 12, 25, 37, 45][:T]]
        masks = region_masks(p, 8 * h, 8 * h)
        stream = StreamEngine(denoiser_for, lambda key: key.prompt if key.prompt != "" else p, eps_space(), (4, h, h),
                              (8 * h, 8 * h), StreamConfig(sigmas=sig, cfg_type="self"), device=self.device,
                              white=torch.zeros(1, 4, h, h, device=self.device))
        stream.update(regions=[StreamRegion(i, masks[i]) for i in range(p)])
        for _ in range(T):
            stream.step()
        self.counter.batches.clear()
        frame_t = timed(lambda: [stream.step() for _ in range(frames)])[0] / frames
        calls = len(self.counter.batches) / frames
        plan, denoise = stream._plan(False), stream._guided(denoiser_for(stream._conditionings()[0]), p + 1)
        from semanticdraw.engine import regional_x0
        full = torch.cat([sig, sig.new_zeros(1)])
        noise = torch.randn(1, 4, h, h, device=self.device)
        regen = lambda: sample(lambda x, s, k: regional_x0(x, s, k, plan, denoise, stream.space, stock_noise=noise),
                               noise, full,
                               stream.space)
        with torch.no_grad():
            regen_t = timed(regen, 2)[0]
        bound = self.lower_bound(T * p, h, h, 1)
        self.add(row=f"stream T={T} p={p} {8 * h}px", frame_s=frame_t, calls_per_frame=calls,
                 one_batched_call_s=bound, overhead=frame_t / bound, regenerate_s=regen_t,
                 speedup_vs_regenerate=regen_t / frame_t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, for CI smoke runs")
    ap.add_argument("--gpu", action="store_true", help="full-size SD1.5 UNet, fp16, cuda")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("results.json"))
    ap.add_argument("--only", nargs="+", choices=["still", "large", "stream"], default=["still", "large", "stream"])
    args = ap.parse_args()
    torch.manual_seed(0)
    bench = Bench(args.gpu)
    if args.quick:
        bench.still([1, 3], h=16, steps=2, md_steps=1)
        bench.stream(T=2, p=2, h=16, frames=2)
    else:
        h = 64 if args.gpu else 32
        if "still" in args.only:
            bench.still([1, 3, 8], h=h, steps=4, md_steps=2)
        if "large" in args.only:
            bench.large([(1536, 512), (768, 1920)], regions=9, steps_timed=1)
        if "stream" in args.only:
            bench.stream(T=5 if args.gpu else 4, p=3, h=h, frames=4)
    machine = torch.cuda.get_device_name() if args.gpu else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    args.out.write_text(json.dumps({"machine": machine, "argv": sys.argv[1:], "rows": bench.rows}, indent=1))
    print(f"wrote {args.out} ({machine})")


if __name__ == "__main__":
    main()
