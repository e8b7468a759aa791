"""Live canvas benchmark (issues 10 and 17): what a painter waits for, side by side in one process.

    python bench/live.py [--size 256] [--slots 4] [--brushes 3] [--preview vae|latent2rgb] [--checkpoint FILE] [--gpu]

For one stroke on a settled scene (the brushes painted over a background image), edit -> visible in frames and ms for:
- the plain stream (`progressive` off): each pixel from the output slot;
- the progressive display (`progressive` on, the canvas' default, ALGORITHM.md 8.8);
- regenerating a still image per edit, as Krita's live mode does: the SemanticDraw Sampler on the new scene with as
  many steps as the stream has slots (LCM), one image per edit (the time of one render: the best case, when no
  render is in flight as the edit arrives).
Both streams run the node's own `run_live_canvas` in-process (tools/live_inprocess.py). A stroke is visible in the
first frame sent whose stroke cells are nearer (L2, latents) the new scene's settled frame than the old one; its ms
run from the moment the edit is queued to the moment that frame was sent. Also: the live frame time against one
batched `apply_model` call of T x brushes samples (the stream's batch: the background image is no region), the
status line's readout (latency_ms /
latency_frames) next to the measured values, and the CPU an idle session uses over 3 s with a frame request
outstanding (as the browser leaves one).

Default: the tiny random SD1.5-shaped checkpoint on CPU. GPU profile (SD1.5 size, 512x512, 3 brushes + background,
T=4, fp16): `python bench/live.py --gpu --checkpoint v1-5-pruned-emaonly.safetensors --size 512`.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "host"))
from tools import inprocess, tiny_models  # noqa: E402

COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0"]
T_INDEX = {1: "0", 2: "0,32", 3: "0,16,32", 4: "0,16,32,45", 5: "0,4,12,25,37"}
IDLE_S = 3.0


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


def background(size: int) -> torch.Tensor:
    """A colour ramp `[1, size, size, 3]`: where a stroke lands, the model's output differs clearly from it."""
    ramp = torch.linspace(0, 1, size)
    return torch.stack([ramp[None, :].expand(size, size), ramp[:, None].expand(size, size),
                        1 - ramp[None, :].expand(size, size)], -1)[None]


def batched_call(model, n: int, latent_shape, context, device, dtype) -> float:
    """Seconds of one `apply_model` call on n samples (median of 7 after a warm-up, the statistic of the frames)."""
    import comfy.model_management
    comfy.model_management.load_models_gpu([model])
    x = torch.randn((n,) + tuple(latent_shape), device=device, dtype=dtype)
    t = torch.linspace(1.0, 14.0, n, device=device)
    c = context.to(device, dtype).expand(n, -1, -1)
    times = []
    with torch.no_grad():
        for _ in range(8):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            model.model.apply_model(x, t, c_crossattn=c)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def stream_run(files, brushes: str, a, progressive: bool) -> dict:
    """One live run: the scene settles, a stroke, it settles again, then it idles with a frame request outstanding.
    Returns edit -> visible (frames, ms), the readout, the frame time and the idle CPU share."""
    from tools.live_inprocess import LiveRun, rgba, run_scripted
    T = a.slots
    run = LiveRun()
    script = {T: {"painting": rgba(painting(a.size, a.brushes, True))}, 2 * T: "idle"}
    worker = threading.Thread(target=run_scripted, daemon=True, kwargs=dict(
        model=files[0], clip=files[1], vae=files[2], brushes=brushes, background_prompt="a field",
        painting=rgba(painting(a.size, a.brushes, False)), t_index_list=T_INDEX[T], script=script,
        preview=a.preview, progressive=progressive, background_image=background(a.size), run=run, timeout_s=600))
    worker.start()
    assert run.idle.wait(3600), "the live run did not reach its idle phase"
    cpu, wall = time.process_time(), time.monotonic()
    threading.Event().wait(IDLE_S)  # the measuring window
    idle_share = (time.process_time() - cpu) / (time.monotonic() - wall)
    run.session.stop()
    worker.join(600)
    f = run.frames
    x0, y0, x1, y1 = (v // 8 for v in stroke_box(a.size))
    cells = (..., slice(y0, y1 + 1), slice(x0, x1 + 1))
    old, new = f[T - 1], f[2 * T - 1]
    visible = next(n for n in range(T + 1, 2 * T + 1)
                   if (f[n - 1] - new)[cells].norm() < (f[n - 1] - old)[cells].norm())
    steady = [b - a_ for a_, b in zip(run.sent_at[1:T], run.sent_at[2:T])]  # frame to frame, no edit applied
    # the frame's own latency is recorded as it goes out: it shows in the next frame's status, or the final one
    readout = run.statuses[visible] if visible < len(run.statuses) else run.session.status()
    return {"latency_frames": visible - T, "latency_ms": round((run.sent_at[visible - 1] - run.edits_at[T]) * 1000, 1),
            "readout_frames": readout["latency_frames"], "readout_ms": readout["latency_ms"],
            "frame_s": round(statistics.median(steady), 4) if steady else None,
            "idle_cpu_share": round(idle_share, 4)}


def regenerate(files, brushes: str, a) -> dict:
    """A still render of the new scene per edit (Krita's way): T LCM steps of the SemanticDraw Sampler."""
    from semanticdraw.engine.live import parse_brushes
    from semanticdraw.nodes.canvas import canvas_outputs
    from semanticdraw.nodes.sampling import SemanticDrawSampler
    from tools.live_inprocess import rgba
    model, clip, vae = files
    regions, _, _ = canvas_outputs(clip, parse_brushes(brushes), "a field", rgba(painting(a.size, a.brushes, True)),
                                   background(a.size), vae)
    latent = {"samples": torch.zeros(1, 4, a.size // 8, a.size // 8)}
    times = []
    for _ in range(3):
        start = time.perf_counter()
        SemanticDrawSampler.execute(model, regions, latent, seed=0, steps=a.slots, cfg=1.0, sampler_name="lcm",
                                    scheduler="sgm_uniform", denoise=1.0, bootstrap_steps=1, bootstrap_mix_steps=1.0,
                                    leak_sensitivity=0.0, mask_type="continuous", cover_alpha=0.3, tile_size=0)
        times.append(time.perf_counter() - start)
    return {"latency_frames": 1, "latency_ms": round(statistics.median(times[1:]) * 1000, 1)}


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
    import comfy.sd

    path = a.checkpoint or str(tiny_models.checkpoint("sd15"))
    files = comfy.sd.load_checkpoint_guess_config(path, output_vae=True, output_clip=True)[:3]
    brushes = json.dumps([{"colour": COLOURS[i], "prompt": f"object {i}"} for i in range(a.brushes)])
    result = {"device": str(comfy.model_management.get_torch_device()), "checkpoint": Path(path).name,
              "size": a.size, "slots": a.slots, "brushes": a.brushes, "preview": a.preview}
    for name, progressive in (("stream", False), ("progressive", True)):  # interleaved below: run each twice
        result[name] = stream_run(files, brushes, a, progressive)
    result["regenerate"] = regenerate(files, brushes, a)
    for name, progressive in (("stream", False), ("progressive", True)):
        result[name + "_2"] = stream_run(files, brushes, a, progressive)
    model, clip = files[0], files[1]
    samples = a.slots * a.brushes  # the scene has a background image: no background-prompt region
    context = clip.encode_from_tokens_scheduled(clip.tokenize("object 0"))[0][0]
    call_s = batched_call(model, samples, (4, a.size // 8, a.size // 8), context,
                          comfy.model_management.get_torch_device(), model.model.get_dtype())
    frame_s = statistics.median([result[k]["frame_s"] for k in ("stream", "progressive", "stream_2", "progressive_2")
                                 if result[k]["frame_s"]])
    result.update({"samples_per_call": samples, "batched_call_s": round(call_s, 4), "frame_s": round(frame_s, 4),
                   "frame_over_call": round(frame_s / call_s, 3)})
    print(json.dumps(result, indent=1))
    if a.out:
        a.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
