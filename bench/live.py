"""Live canvas benchmark (issue 10): stroke-to-first-changed-frame latency in frames and ms, and the live frame time
against one batched model call of T x (brushes + background) samples of the same model, side by side in one process.

    python bench/live.py [--size 256] [--slots 4] [--brushes 3] [--preview vae|latent2rgb] [--checkpoint FILE] [--gpu]

Default: the tiny random SD1.5-shaped checkpoint on CPU (32x32 latents). A run drives the node's own live stream
(`CanvasStream` + `engine.live.run_live`) in-process through `tools/live_inprocess.py`: the scene settles, a stroke
is queued during call `n`, and the latency is the first call whose frame differs (inside the stroke) from a run
without the stroke, same seed and noises. The batched call is `apply_model` on T*(brushes+1) samples with the same
latent size and conditioning shape, timed alone. Timings: median of the steady calls (no edit applied) and median of 7
timed batched calls after a warm-up. GPU profile (SD1.5 size, 512x512, 3 brushes + background, T=4, fp16):
`--gpu --checkpoint v1-5-pruned-emaonly.safetensors --size 512` (not run: no GPU was lent, see bench/RESULTS.md).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "host"))
from tools import inprocess, tiny_models  # noqa: E402

COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0"]
T_INDEX = {1: [0], 2: [0, 32], 3: [0, 16, 32], 4: [0, 16, 32, 45], 5: [0, 4, 12, 25, 37]}


def painting(size: int, brushes: int, stroke: bool):
    from PIL import Image, ImageDraw
    im = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    band = size // (brushes + 1)
    for i in range(brushes):
        d.ellipse((i * band, i * band, i * band + 2 * band, i * band + 2 * band), fill=COLOURS[i])
    if stroke:
        d.rectangle(stroke_box(size), fill=COLOURS[0])
    return im


def stroke_box(size: int) -> tuple[int, int, int, int]:
    return (size * 5 // 8, size // 16, size * 15 // 16, size * 5 // 16)


def batched_call(model, n: int, latent_shape, context, device, dtype) -> float:
    """Seconds of one `apply_model` call on n samples (median of 7 after a warm-up, the statistic of the frames)."""
    import comfy.model_management
    comfy.model_management.load_models_gpu([model])
    x = torch.randn((n,) + tuple(latent_shape), device=device, dtype=dtype)
    t = torch.linspace(1.0, 14.0, n, device=device)
    c = context.to(device, dtype).expand(n, -1, -1)
    times = []
    with torch.no_grad():
        for i in range(8):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            model.model.apply_model(x, t, c_crossattn=c)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--slots", type=int, default=4, choices=sorted(T_INDEX))
    ap.add_argument("--brushes", type=int, default=3, choices=range(1, 7))
    ap.add_argument("--preview", default="vae", choices=["vae", "latent2rgb"])
    ap.add_argument("--checkpoint", help="an SD1.5 checkpoint (default: the tiny random one)")
    ap.add_argument("--gpu", action="store_true")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    inprocess.load_host(cpu=not a.gpu, *(["--force-fp16"] if a.gpu else []))
    import comfy.model_management
    import comfy.samplers
    import comfy.sd
    from tools.live_inprocess import rgba, run_scripted

    path = a.checkpoint or str(tiny_models.checkpoint("sd15"))
    model, clip, vae = comfy.sd.load_checkpoint_guess_config(path, output_vae=True, output_clip=True)[:3]
    brushes = json.dumps([{"colour": COLOURS[i], "prompt": f"object {i}"} for i in range(a.brushes)])
    sampling = model.get_model_object("model_sampling")
    sigmas = comfy.samplers.calculate_sigmas(sampling, "sgm_uniform", 50)[T_INDEX[a.slots]]
    T, settle = a.slots, a.slots + 1
    n = settle  # the stroke is queued during call n (the scene has settled), stop after it settles again
    stroke = {"painting": rgba(painting(a.size, a.brushes, True))}
    same = {"background_prompt": "a field"}  # an edit that changes nothing keeps the baseline run streaming
    base = rgba(painting(a.size, a.brushes, False))
    args = (model, clip, vae, brushes, "a field", base, sigmas)
    ref = run_scripted(*args, {n: same, 2 * n: "stop"}, preview=a.preview)
    run = run_scripted(*args, {n: stroke, 2 * n: "stop"}, preview=a.preview)
    x0, y0, x1, y1 = (v // 8 for v in stroke_box(a.size))
    changed = [k for k in range(n, 2 * n) if not torch.equal(run.frames[k][..., y0:y1 + 1, x0:x1 + 1],
                                                            ref.frames[k][..., y0:y1 + 1, x0:x1 + 1])]
    first = changed[0] + 1 if changed else None  # 1-based call number
    latency_frames = None if first is None else first - n
    latency_ms = None if first is None else (run.ends[first - 1] - run.edits_at[n]) * 1000
    steady = [t for k, t in enumerate(run.times, 1) if k not in (1, n + 1)]  # no encode, no edit applied
    frame_s = statistics.median(steady)
    samples = T * (a.brushes + 1)
    device = comfy.model_management.get_torch_device()
    dtype = model.model.get_dtype()
    context = clip.encode_from_tokens_scheduled(clip.tokenize("object 0"))[0][0]
    call_s = batched_call(model, samples, run.frames[0].shape[1:], context, device, dtype)
    result = {"device": str(device), "checkpoint": Path(path).name, "size": a.size, "slots": T, "brushes": a.brushes,
              "samples_per_call": samples, "frame_s": round(frame_s, 4), "batched_call_s": round(call_s, 4),
              "frame_over_call": round(frame_s / call_s, 3), "fps": round(1 / frame_s, 2),
              "preview": a.preview, "preview_s": round(statistics.median(run.send_times), 4),
              "stroke_frame_s": round(run.times[n], 4), "latency_frames": latency_frames,
              "latency_ms": None if latency_ms is None else round(latency_ms, 1), "target_latency_frames": T + 1}
    print(json.dumps(result, indent=1))
    if a.out:
        a.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
