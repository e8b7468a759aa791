"""Soak: N prompts through a real ComfyUI server (CPU, tiny checkpoint), reporting the server's RSS growth.

Prompts cycle over the sampler (region stack + background prompt), SDEdit with a mask, the stream sampler and
a bad prompt (NaN cfg, refused), each with a new seed so nothing is served from the cache. RSS is read from
/proc after a warm-up round and after the last prompt; growth beyond a few percent means something leaks.

    python bench/soak.py [--prompts 100] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tools import tiny_models  # noqa: E402
from tools.comfy_host import ComfyError, ComfyServer  # noqa: E402
from tools.find_comfyui import find_comfyui  # noqa: E402


def rss_mib(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MiB, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def prompt(kind: str, seed: int) -> dict:
    """A small API prompt of `kind` (sampler | sdedit | stream | bad) at 128x128, one step."""
    ck = ["1", 0]
    p = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": tiny_models.FILES["sd15"]}},
         "2": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 64, "height": 128}},
         "3": {"class_type": "SolidMask", "inputs": {"value": 0.0, "width": 128, "height": 128}},
         "4": {"class_type": "MaskComposite", "inputs": {"destination": ["3", 0], "source": ["2", 0], "x": seed % 64,
                                                         "y": 0, "operation": "add"}},
         "5": {"class_type": "SemanticDrawRegion", "inputs": {
             "clip": ["1", 1], "text": "a red apple", "mask": ["4", 0], "negative_text": "", "mask_strength": 1.0,
             "mask_blur_std": 1.0, "prompt_strength": 1.0}},
         "6": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "a wooden table"}},
         "7": {"class_type": "SemanticDrawRegionStack",
               "inputs": {"regions_1": ["5", 0], "background_prompt": ["6", 0]}},
         "8": {"class_type": "EmptyLatentImage", "inputs": {"width": 128, "height": 128, "batch_size": 1}}}
    settings = {"bootstrap_steps": 1, "bootstrap_mix_steps": 1.0, "leak_sensitivity": 0.2, "mask_type": "discrete",
                "cover_alpha": 0.3}
    sample = {"model": ck, "regions": ["7", 0], "seed": seed, "cfg": 1.0, "sampler_name": "lcm",
              "scheduler": "sgm_uniform", **settings}
    if kind in ("sampler", "bad", "sdedit"):
        p["9"] = {"class_type": "SemanticDrawSampler", "inputs": {**sample, "latent_image": ["8", 0], "steps": 1,
                                                                  "denoise": 1.0, "tile_size": 0,
                                                                  "cfg": float("nan") if kind == "bad" else 1.0}}
        out = ["9", 0]
    if kind == "sdedit":
        p["10"] = {"class_type": "SemanticDrawSDEdit", "inputs": {**sample, "guide": ["9", 0], "steps": 1,
                                                                  "strength": 0.5, "repeats": 1, "tile_size": 0,
                                                                  "mask": ["4", 0]}}
        out = ["10", 0]
    if kind == "stream":
        p["9"] = {"class_type": "SemanticDrawStreamSampler", "inputs": {
            "model": ck, "regions": ["7", 0], "latent_image": ["8", 0], "seed": seed, "frame_count": 1,
            "t_index_list": "0,32", "schedule_length": 50, "steps": 2, "scheduler": "sgm_uniform", "cfg_type": "self",
            "cfg": 1.2, "delta": 1.0, "frame_buffer": 1, "bootstrap_steps": 1, "bootstrap_mix_steps": 1.0,
            "leak_sensitivity": 0.0, "mask_type": "continuous", "cover_alpha": 0.3, "include_warmup": False,
            "max_batch": 64}}
        out = ["9", 0]
    p["20"] = {"class_type": "VAEDecode", "inputs": {"samples": out, "vae": ["1", 2]}}
    p["21"] = {"class_type": "PreviewImage", "inputs": {"images": ["20", 0]}}
    return p


KINDS = ("sampler", "sdedit", "stream", "bad")


def soak(server: ComfyServer, prompts: int) -> dict:
    pid = server.process.pid
    for i, kind in enumerate(KINDS):  # warm-up: every kind once (model load, first allocations)
        run(server, kind, 10_000 + i)
    start_rss, _ = rss_mib(pid)
    print(json.dumps({"rss_after_warmup_mib": round(start_rss, 1)}), flush=True)
    t0, errors = time.time(), 0
    for i in range(prompts):
        errors += run(server, KINDS[i % len(KINDS)], i)
        if (i + 1) % 4 == 0:  # progress, so a cut-short run still tells the trend
            print(json.dumps({"prompts_done": i + 1, "rss_mib": round(rss_mib(pid)[0], 1),
                              "seconds": round(time.time() - t0, 1)}), flush=True)
    end_rss, peak = rss_mib(pid)
    return {"prompts": prompts, "kinds": list(KINDS), "refused (expected: the bad ones)": errors,
            "rss_after_warmup_mib": round(start_rss, 1), "rss_end_mib": round(end_rss, 1),
            "rss_peak_mib": round(peak, 1), "rss_growth_pct": round(100 * (end_rss / start_rss - 1), 2),
            "seconds": round(time.time() - t0, 1)}


def run(server: ComfyServer, kind: str, seed: int) -> int:
    """Run one prompt; 1 if it was refused (only the bad kind may be), else 0."""
    try:
        server.run(prompt(kind, seed), timeout=600)
        assert kind != "bad", "the NaN-cfg prompt ran"
        return 0
    except ComfyError as e:
        if kind != "bad":
            raise
        assert "cfg" in str(e), e
        return 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=100)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    comfyui = find_comfyui()
    if comfyui is None:
        sys.exit("no ComfyUI found: set COMFYUI_PATH (bash tools/setup_env.sh installs one)")
    files = tiny_models.ensure_all()
    with ComfyServer(comfyui, models={"checkpoints": [files["sd15"]]}, python=sys.executable) as server:
        result = soak(server, args.prompts)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
