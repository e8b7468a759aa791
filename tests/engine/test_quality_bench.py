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


def test_differences_benchmark_applies_each_reference_rule(tmp_path):
    """bench/differences.py (8 scenes, ~10 s): every re-measured row is there, each reference variant really changes
    a picture it is compared with (else its row would compare the pack with itself; plain scenes come out the same
    under both rules, the first change is in scene 6), and the pack's stream gives a static scene a steady picture
    (no cell changes colour between frames)."""
    out = tmp_path / "differences.json"
    subprocess.run([sys.executable, str(REPO / "bench" / "differences.py"), "--scenes", "8", "--out", str(out)],
                   check=True, capture_output=True, timeout=600)
    s = json.loads(out.read_text())["summary"]
    for reference in ("flow quantization m > n_k (reference)", "bootstrap noise fresh (reference)"):
        assert max(s[reference][setting]["latent_change"] for setting in ("euler 4", "lcm 4")) > 1e-3, s[reference]
    assert s["stream slot-0 noise fixed (pack)"]["stream T=4"]["flicker"] == 0.0
    assert "stream slot-0 noise fresh each call (reference)" in s
