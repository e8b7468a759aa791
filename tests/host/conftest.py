"""Host fixtures: one real ComfyUI server (CPU) with this pack and tiny generated checkpoints, and the
host imported in-process with tiny models built directly."""
import sys

import pytest

from tools import inprocess, tiny_models
from tools.comfy_host import ComfyServer
from tools.find_comfyui import REPO, find_comfyui


@pytest.fixture(scope="session")
def comfy_server():
    comfyui = find_comfyui()
    if comfyui is None:
        pytest.skip("ComfyUI host not found: set COMFYUI_PATH or put ComfyUI at ~/ComfyUI")
    files = tiny_models.ensure_all()
    models = {"checkpoints": [files["sd15"], files["sd3"]], "loras": [files["lora"]]}
    inputs = sorted((REPO / "workflows" / "assets").glob("*.png"))
    with ComfyServer(comfyui, models=models, inputs=inputs, python=sys.executable) as server:
        yield server


def tiny_model_map(name: str, value: str) -> str:
    return tiny_models.LORA if name == "lora_name" else tiny_models.checkpoint_for(value)


@pytest.fixture(scope="session")
def pack():
    try:
        return inprocess.load_host()
    except inprocess.HostNotFound as e:
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def sd15(pack):
    return inprocess.tiny_model("sd15")
