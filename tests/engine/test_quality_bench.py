"""bench/quality.py --quick (8 toy-world scenes, exact denoiser, ~15 s): it runs and writes its table and grid, the
Stream Sampler's frame equals the still sampler with the stream's settings (ALGORITHM.md 8.7), and the pictures say
what bench/QUALITY.md reads from them: plain regions get their colour (pre-averaging, section 4) far better than
core's masked-conditioning formula with an unmasked background, and at least as well as MultiDiffusion."""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_quality_benchmark_quick_run(tmp_path):
    subprocess.run([sys.executable, str(REPO / "bench" / "quality.py"), "--quick", "--out", str(tmp_path)],
                   check=True, capture_output=True, timeout=600)
    out = json.loads((tmp_path / "quality_results.json").read_text())
    assert (tmp_path / "quality_grid.png").stat().st_size > 10_000
    assert [c["max_abs_diff_stream_vs_still"] for c in out["stream_parity_checks"]] == [0.0]
    s = {name: per["lcm 4"] for name, per in out["summary"].items()}
    pack, comfy = s["pack default (discrete, boot 1)"], s["comfy masked cond (emulated)"]
    multidiffusion = s["MultiDiffusion (own re-noising)"]
    assert pack["iou_plain"] >= 0.75 and pack["background"] >= 0.95, pack
    assert pack["iou_plain"] > comfy["iou_plain"] + 0.3 and pack["iou_plain"] >= multidiffusion["iou_plain"]
    assert pack["leak"] <= multidiffusion["leak"]
