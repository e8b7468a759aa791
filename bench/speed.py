"""Speed benchmark, side by side in one run: this pack vs the alternatives, against the model-call lower bound.

    python bench/speed.py [--quick] [--gpu] [--compile] [--channels-last] [--only still canvas stream] [--rounds N]
                          [--out bench/results.json]

Rows (wall time per image or frame, model calls, peak memory, ratios from the same process):
- still: this pack's sampler vs ComfyUI's native masked conditioning (ConditioningSetMask + Combine +
  KSampler, same sampler/steps/model) vs a MultiDiffusion reference (DDIM 50 + CFG 7.5, per-region
  denoise then averaging) vs the lower bound (exactly the model calls the pack needs, timed alone).
  ComfyUI's SD1.5-shaped UNet (320 channels; full size in fp16 with --gpu).
- canvas: 1536x512 and 768x1920, 9 regions, on one tiny random diffusers UNet: the pack's engine through
  `engine.standalone` vs the MultiDiffusion reference (64-pixel windows, stride 8) vs diffusers'
  `StableDiffusionPanoramaPipeline` (its MultiDiffusion, one prompt) vs the lower bound.
- stream: steady-state frame time vs one batched model call of T*p samples vs regenerating each frame.
Methods of a row run interleaved in rounds: the first round warms up and measures peak memory (CUDA
peak allocation, or on CPU the process RSS growth sampled every millisecond), the others are timed and
the minimum is reported. 50-step references are timed over a few steps and scaled (`*_steps_timed`).
On CPU the host runs with PyTorch SDPA attention, ComfyUI's default on GPUs.
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tools import inprocess  # noqa: E402

FULL_SD15 = {"channel_mult": [1, 2, 4, 4], "num_res_blocks": [2, 2, 2, 2],
             "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0],  # per res block, as ComfyUI's detection gives it
             "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]}
MD_CFG = 7.5


class PeakMemory:
    """Peak memory (MB) a run adds over what was held before it."""

    def __init__(self, device: torch.device):
        self.device, self.mb = device, 0.0

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _sample(self):
        while not self._stop.wait(0.001):
            self._peak = max(self._peak, self.rss())

    def __enter__(self):
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._base = torch.cuda.memory_allocated()
        else:
            try:
                ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed heap back, so the baseline is what is held
            except OSError:
                pass
            self._base = self._peak = self.rss()
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated()
        else:
            self._stop.set()
            self._thread.join()
            peak = max(self._peak, self.rss())
        self.mb = (peak - self._base) / 2 ** 20


def region_masks(p: int, H: int, W: int) -> list[torch.Tensor]:
    """`p` overlapping bands across the canvas' long side."""
    out, L = [], max(H, W)
    for i in range(p):
        m = torch.zeros(H, W)
        band = slice(max(0, i * L // p - L // 16), min(L, (i + 1) * L // p + L // 16))
        if W >= H:
            m[:, band] = 1
        else:
            m[band, :] = 1
        out.append(m)
    return out


def multidiffusion(denoise, masks, h: int, w: int, sigmas, views, steps: int, device):
    """MultiDiffusion (Bar-Tal et al.): every region in every window denoised (`denoise` applies CFG), one DDIM
    step (eta 0) per sample, next latents averaged by the masks. One batched call per step."""
    lat = [torch.nn.functional.interpolate(m[None, None], size=(h, w)).to(device) for m in masks]

    def run():
        x = torch.randn(1, 4, h, w, device=device) * sigmas[0]
        with torch.no_grad():
            for k in range(steps):
                where = [(v, i) for v in views for i, m in enumerate(lat) if m[..., v[0]:v[1], v[2]:v[3]].any()]
                xin = torch.cat([x[..., y0:y1, x0:x1] for (y0, y1, x0, x1), _ in where])
                x0 = denoise(xin, sigmas[k].expand(len(where)), torch.tensor([i for _, i in where], device=device))
                num, cnt = torch.zeros_like(x), torch.zeros_like(x[:, :1])
                for j, ((y0, y1, x0_, x1), i) in enumerate(where):
                    nxt = x0[j:j + 1] + (x[..., y0:y1, x0_:x1] - x0[j:j + 1]) * (sigmas[k + 1] / sigmas[k])
                    mv = lat[i][..., y0:y1, x0_:x1]
                    num[..., y0:y1, x0_:x1] += mv * nxt
                    cnt[..., y0:y1, x0_:x1] += mv
                x = num / cnt.clamp_min(1e-8)
        return x
    return run


class Bench:
    def __init__(self, gpu: bool, rounds: int, compile_model: bool = False, channels_last: bool = False):
        self.device = torch.device("cuda" if gpu else "cpu")
        inprocess.load_host(*([] if gpu else ["--use-pytorch-cross-attention"]), cpu=not gpu)
        import comfy.model_patcher
        if gpu:
            inprocess.SD15_UNET.update(FULL_SD15)
        self.model = inprocess.tiny_model("sd15")
        self.dtype = torch.float16 if gpu else torch.float32
        if gpu:
            self.model.model.diffusion_model.dtype = self.dtype  # what apply_model casts inputs to (built in fp32)
            self.model = comfy.model_patcher.ModelPatcher(self.model.model.to(self.device, self.dtype),
                                                          load_device=self.device, offload_device=self.device)
        self.base = self.model.model
        self.compile_model, self.channels_last = compile_model, channels_last
        self.speed_up(self.base.diffusion_model)
        self.counter = inprocess.CallCounter(self.base)
        self.rounds = rounds
        self.rows: list[dict] = []

    def speed_up(self, module: torch.nn.Module):
        """In place, so hooks, counters and pipelines keep the same module object."""
        if self.channels_last:
            module.to(memory_format=torch.channels_last)
        if self.compile_model:
            module.compile()

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def measure(self, methods: dict, batches: list, references: tuple = (), extra_rounds: int = 0) -> dict:
        """Run `methods` interleaved for `rounds` rounds; per method: seconds (min over timed rounds), peak MB,
        model calls and their batch sizes (from `batches`, which the model's call counter fills).
        `references` (the slow 50-step baselines, where a few percent do not matter) are timed once."""
        out = {name: {"s": float("inf")} for name in methods}
        for r in range(self.rounds + extra_rounds if self.rounds > 1 else 1):
            for name, fn in methods.items():
                if name in references and r > 1:
                    continue
                batches.clear()
                with PeakMemory(self.device) if r == 0 else contextlib.nullcontext() as mem:
                    self.sync()
                    t = time.perf_counter()
                    fn()
                    self.sync()
                    seconds = time.perf_counter() - t
                if r == 0:
                    out[name].update(mb=mem.mb, calls=len(batches), batch=max(batches, default=0))
                if r > 0 or self.rounds == 1:
                    out[name]["s"] = min(out[name]["s"], seconds)
        return out

    def add(self, **row):
        self.rows.append(row)
        print(" | ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)

    # -- still image: ComfyUI, SD1.5-shaped UNet --------------------------------------------------------
    def cond(self, i: int) -> torch.Tensor:
        return inprocess.cond(i)[0][0].to(self.device, self.dtype)

    def ours(self, masks, latent, steps):
        from semanticdraw.nodes.host.regions import Region, RegionStack
        from semanticdraw.nodes.sampling import SemanticDrawSampler
        stack = RegionStack(regions=tuple(Region(inprocess.cond(i + 1), inprocess.cond(0), m)
                                          for i, m in enumerate(masks)))
        kw = dict(bootstrap_steps=1, bootstrap_mix_steps=1.0, leak_sensitivity=0.2, mask_type="discrete",
                  cover_alpha=0.3, tile_size=0)
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

    def model_calls(self, batch: int, h: int, w: int, calls: int):
        """The lower bound: `calls` bare model calls of `batch` samples."""
        x = torch.randn(batch, 4, h, w, device=self.device, dtype=self.dtype)
        s = torch.full((batch,), 5.0, device=self.device)
        c = self.cond(0).expand(batch, -1, -1)

        def run():
            with torch.no_grad():
                for _ in range(calls):
                    self.counter(x, s, c_crossattn=c)
        return run

    def comfy_cfg_denoiser(self, n: int):
        """x0 with CFG 7.5 from ONE call of the ComfyUI model (regions 0..n-1 conditionings, uncond last)."""
        table = torch.cat([self.cond(i + 1) for i in range(n)] + [self.cond(0)])

        def denoise(x, s, c):
            out = self.counter(torch.cat([x, x]).to(self.dtype), torch.cat([s, s]),
                               c_crossattn=table[torch.cat([c, torch.full_like(c, n)])]).float()
            cond, uncond = out.chunk(2)
            return uncond + MD_CFG * (cond - uncond)
        return denoise

    def still(self, ps, h, steps, md_steps):
        import comfy.samplers
        from semanticdraw.engine import get_views
        sigmas = comfy.samplers.calculate_sigmas(self.base.model_sampling, "ddim_uniform", 50).to(self.device)
        warm = region_masks(1, 8 * h, 8 * h), torch.zeros(1, 4, h, h)
        self.ours(*warm, 1)(), self.native(*warm, 1)()  # first-use costs (host loading, allocator) stay out of rows
        for p in ps:
            masks = region_masks(p, 8 * h, 8 * h)
            latent = torch.zeros(1, 4, h, h)
            md = multidiffusion(self.comfy_cfg_denoiser(p), masks, h, h, sigmas, get_views(h, h, 0), md_steps,
                                self.device)
            r = self.measure({"ours": self.ours(masks, latent, steps), "native": self.native(masks, latent, steps),
                              "bound": self.model_calls(p, h, h, steps), "md": md}, self.counter.batches, ("md",))
            scale = 50 / md_steps
            self.add(row=f"still p={p} {8 * h}px", ours_s=r["ours"]["s"], ours_calls=r["ours"]["calls"],
                     ours_batch=r["ours"]["batch"], native_s=r["native"]["s"], native_calls=r["native"]["calls"],
                     multidiffusion_s=r["md"]["s"] * scale, md_calls=int(r["md"]["calls"] * scale),
                     md_steps_timed=md_steps, lower_bound_s=r["bound"]["s"], overhead=r["ours"]["s"] / r["bound"]["s"],
                     speedup_vs_md=r["md"]["s"] * scale / r["ours"]["s"], vs_native=r["ours"]["s"] / r["native"]["s"],
                     ours_mb=r["ours"]["mb"], native_mb=r["native"]["mb"], md_mb=r["md"]["mb"],
                     bound_mb=r["bound"]["mb"])

    # -- large canvas: one tiny diffusers UNet for every method ------------------------------------------
    def canvas(self, sizes, regions, steps_timed):
        import diffusers
        from semanticdraw.engine import get_views
        from semanticdraw.engine.standalone import UNetDenoiser, generate, scheduler_sigmas
        from tools.tiny_models import diffusers_ddim, diffusers_unet
        unet = diffusers_unet().to(self.device)
        unet = unet.half() if self.dtype == torch.float16 else unet
        self.speed_up(unet)
        batches = []
        unet.register_forward_pre_hook(lambda mod, args: batches.append(args[0].shape[0]))
        ddim = diffusers_ddim()
        lcm = diffusers.LCMScheduler.from_config(ddim.config)
        alphas = ddim.alphas_cumprod
        g = torch.Generator().manual_seed(0)
        pos = [torch.randn(1, 77, 32, generator=g).to(self.device) for _ in range(regions)]
        neg = torch.zeros(1, 77, 32, device=self.device)
        pano = diffusers.StableDiffusionPanoramaPipeline(vae=None, text_encoder=None, tokenizer=None, unet=unet,
                                                        scheduler=diffusers_ddim(), safety_checker=None,
                                                        feature_extractor=None, requires_safety_checker=False)
        pano.set_progress_bar_config(disable=True)
        steps = 4
        lcm_sigmas = scheduler_sigmas(lcm, steps)
        md_sigmas = scheduler_sigmas(diffusers_ddim(), 50).to(self.device)
        md_denoise = UNetDenoiser(unet, alphas, torch.cat(pos), torch.cat([neg] * regions), MD_CFG)
        for W, H in sizes:
            h, w = H // 8, W // 8
            masks = region_masks(regions, H, W)
            ours = lambda: generate(unet, lcm_sigmas, alphas, pos, masks, height=H, width=W, tile=96,
                                    generator=torch.Generator().manual_seed(0))
            batches.clear()
            ours()  # learns the batch the lower bound needs (and warms up)
            views = get_views(h, w, 96)
            shape = (batches[0], 4, views[0][1] - views[0][0], views[0][3] - views[0][2])
            x = torch.randn(shape, device=self.device, dtype=self.dtype)
            t = torch.full(shape[:1], 500.0, device=self.device)
            c = pos[0].expand(shape[0], -1, -1).to(self.dtype)

            def bound():
                with torch.no_grad():
                    for _ in range(steps):
                        unet(x, t, encoder_hidden_states=c)
            md = multidiffusion(md_denoise, masks, h, w, md_sigmas, get_views(h, w, 64, stride=8), steps_timed,
                                self.device)
            panorama = lambda: pano(prompt_embeds=pos[0], negative_prompt_embeds=neg, height=H, width=W,
                                    num_inference_steps=steps_timed, guidance_scale=MD_CFG, output_type="latent")
            # the tiny UNet's calls jitter by ~5%: more rounds for the bound
            r = self.measure({"ours": ours, "bound": bound, "md": md, "panorama": panorama}, batches,
                             ("md", "panorama"), extra_rounds=2)
            scale = 50 / steps_timed
            self.add(row=f"canvas {W}x{H} p={regions}", ours_s=r["ours"]["s"], ours_calls=r["ours"]["calls"],
                     ours_batch=r["ours"]["batch"], lower_bound_s=r["bound"]["s"],
                     overhead=r["ours"]["s"] / r["bound"]["s"],
                     multidiffusion_s=r["md"]["s"] * scale, md_calls=int(r["md"]["calls"] * scale),
                     panorama_s=r["panorama"]["s"] * scale, panorama_calls=int(r["panorama"]["calls"] * scale),
                     ref_steps_timed=steps_timed, speedup_vs_md=r["md"]["s"] * scale / r["ours"]["s"],
                     speedup_vs_panorama=r["panorama"]["s"] * scale / r["ours"]["s"], ours_mb=r["ours"]["mb"],
                     bound_mb=r["bound"]["mb"], md_mb=r["md"]["mb"], panorama_mb=r["panorama"]["mb"])

    # -- streaming ---------------------------------------------------------------------------------------
    def stream(self, T, p, h, frames):
        import comfy.samplers
        from semanticdraw.engine import eps_space, regional_x0
        from semanticdraw.engine.sampling import sample
        from semanticdraw.engine.stream import StreamConfig, StreamEngine, StreamGuidance, StreamRegion
        conds = [self.cond(i) for i in range(p + 1)]

        def denoiser_for(keys):
            table = torch.cat([conds[k] for k in keys])
            return lambda x, s, c, *stock: self.counter(x.to(table), s, c_crossattn=table[c]).float()
        sig = comfy.samplers.calculate_sigmas(self.base.model_sampling, "sgm_uniform", 50)[[0, 12, 25, 37, 45][:T]]
        masks = region_masks(p, 8 * h, 8 * h)
        stream = StreamEngine(denoiser_for, lambda key: key.prompt if isinstance(key.prompt, int) else p, eps_space(),
                              (4, h, h), (8 * h, 8 * h), StreamConfig(sigmas=sig, cfg_type="self"), device=self.device,
                              white=torch.zeros(1, 4, h, h, device=self.device))
        stream.update(regions=[StreamRegion(i, masks[i]) for i in range(p)])
        stream.flush()
        plan = stream.plan()
        denoise = StreamGuidance(denoiser_for(stream.conditionings()), p + 1, stream.config, stream.space)
        full = torch.cat([sig, sig.new_zeros(1)])
        noise = torch.randn(1, 4, h, h, device=self.device)

        def regenerate():  # the same frame from scratch: T steps of p samples
            with torch.no_grad():
                return sample(lambda x, s, k: regional_x0(x, s, k, plan, denoise, stream.space, stock_noise=noise),
                              noise, full, stream.space)
        r = self.measure({"stream": lambda: [stream.step() for _ in range(frames)],
                          "bound": self.model_calls(T * p, h, h, 1), "regenerate": regenerate,
                          "regenerate_bound": self.model_calls(p, h, h, T)}, self.counter.batches)
        frame = r["stream"]["s"] / frames
        self.add(row=f"stream T={T} p={p} {8 * h}px", frame_s=frame, fps=1 / frame,
                 calls_per_frame=r["stream"]["calls"] / frames, batch=r["stream"]["batch"],
                 one_batched_call_s=r["bound"]["s"], overhead=frame / r["bound"]["s"],
                 regenerate_s=r["regenerate"]["s"],
                 regenerate_calls=r["regenerate"]["calls"], speedup_vs_regenerate=r["regenerate"]["s"] / frame,
                 t_calls_of_p_s=r["regenerate_bound"]["s"],
                 model_batching_gain=r["regenerate_bound"]["s"] / r["bound"]["s"],
                 stream_mb=r["stream"]["mb"], regenerate_mb=r["regenerate"]["mb"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one round, for CI smoke runs")
    ap.add_argument("--gpu", action="store_true", help="full-size SD1.5 UNet, fp16, cuda")
    ap.add_argument("--compile", action="store_true",
                    help="torch.compile the UNets in place (every method alike; compiles in the warm-up round: "
                         "not with --quick)")
    ap.add_argument("--channels-last", action="store_true",
                    help="channels-last UNet weights (every method alike)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per row: 1 warm-up/memory + timed ones")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("results.json"))
    ap.add_argument("--only", nargs="+", choices=["still", "canvas", "stream"], default=["still", "canvas", "stream"])
    args = ap.parse_args()
    torch.manual_seed(0)
    bench = Bench(args.gpu, 1 if args.quick else args.rounds, args.compile, args.channels_last)
    if args.quick:
        bench.still([1, 3], h=16, steps=2, md_steps=1)
        bench.canvas([(256, 128)], regions=3, steps_timed=1)
        bench.stream(T=2, p=2, h=16, frames=2)
    else:
        h = 64 if args.gpu else 32
        if "still" in args.only:
            bench.still([1, 3, 8], h=h, steps=4, md_steps=2)
        if "canvas" in args.only:
            bench.canvas([(1536, 512), (768, 1920)], regions=9, steps_timed=1)
        if "stream" in args.only:
            bench.stream(T=5 if args.gpu else 4, p=3, h=h, frames=4)
    machine = (torch.cuda.get_device_name() if args.gpu else
               f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads")
    args.out.write_text(json.dumps({"machine": machine, "torch": torch.__version__, "argv": sys.argv[1:],
                                    "rows": bench.rows}, indent=1))
    print(f"wrote {args.out} ({machine})")


if __name__ == "__main__":
    main()
