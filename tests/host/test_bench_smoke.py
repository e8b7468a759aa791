"""The speed benchmark's quick profile runs and reports every row (no timing assertions)."""
import json
import subprocess
import sys

from tools.find_comfyui import REPO


def test_speed_benchmark_quick_profile(pack, tmp_path):
    out = tmp_path / "results.json"
    subprocess.run([sys.executable, str(REPO / "bench" / "speed.py"), "--quick", "--out", str(out)], check=True,
                   capture_output=True, timeout=600)
    rows = {r["row"]: r for r in json.loads(out.read_text())["rows"]}
    assert set(rows) == {"still p=1 128px", "still p=3 128px", "canvas 256x128 p=3", "stream T=2 p=2 128px"}
    for name in ("still p=1 128px", "still p=3 128px"):
        r = rows[name]
        assert r["ours_calls"] == 2 and r["native_calls"] == 2  # one batched call per step, 2 steps
        assert min(r["ours_s"], r["native_s"], r["multidiffusion_s"], r["lower_bound_s"]) > 0
        assert r["ours_batch"] == int(name.split("=")[1][0])  # all regions in that call
        assert min(r["ours_mb"], r["native_mb"], r["md_mb"], r["bound_mb"]) > 0
    canvas = rows["canvas 256x128 p=3"]
    assert canvas["ours_calls"] == 4 and canvas["ours_batch"] == 3
    assert min(canvas["ours_s"], canvas["multidiffusion_s"], canvas["panorama_s"], canvas["lower_bound_s"]) > 0
    assert rows["stream T=2 p=2 128px"]["calls_per_frame"] == 1
