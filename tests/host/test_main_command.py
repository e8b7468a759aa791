"""The main command on a fresh machine (issue 16, item 4): `tools/run_workflow.py` with no model files renders the
default workflow with the toy-world checkpoint through a real ComfyUI server, with the LoRA and
ModelSamplingDiscrete nodes bypassed, and each region comes out in the colour its prompt names (the prompts of
workflows/sd15_lcm_three_regions.json: "a dramatic orange sky at sunset", "... cabin with red walls", "a dog with
yellow fur" over "a green meadow"). Boxes: the workflow's SolidMask + MaskComposite boxes (512 px),
scaled to the 128-pixel canvas; later regions cover earlier ones."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from test_toy_checkpoint import layout_shares
from tools.find_comfyui import REPO, find_comfyui


def test_main_command_without_models_paints_each_region_in_its_prompts_colour(tmp_path):
    comfyui = find_comfyui()
    if comfyui is None:
        pytest.skip("ComfyUI host not found: set COMFYUI_PATH or put ComfyUI at ~/ComfyUI")
    (tmp_path / "models").mkdir()
    run = subprocess.run([sys.executable, "tools/run_workflow.py", "workflows/sd15_lcm_three_regions.json",
                          "--models", str(tmp_path / "models"), "--out", str(tmp_path / "out"),
                          "--comfyui", str(comfyui)], cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "toy-world checkpoint" in run.stderr and "ModelSamplingDiscrete" in run.stderr, run.stderr[-3000:]
    saved = [p for p in (tmp_path / "out").iterdir() if p.name.startswith("semanticdraw")]
    assert len(saved) == 1, sorted(p.name for p in (tmp_path / "out").iterdir())
    image = torch.from_numpy(np.asarray(Image.open(saved[0]).convert("RGB"), dtype=np.float32) / 255)
    assert image.shape == (128, 128, 3)  # scaled to the toy's canvas
    shares = layout_shares(image)
    print(shares)
    assert all(share >= 0.6 for share in shares.values()), shares
