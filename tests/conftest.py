"""Suite-wide rule: under CI=true a skipped test is a failure (a skipped host or browser test verified nothing)."""
import os
import sys

import pytest

from tools import browser, tiny_models, train_toy
from tools.comfy_host import ComfyServer
from tools.find_comfyui import REPO, find_comfyui

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped under CI=true, which counts as a failure: {reason}"


def make_server(front_end_root=None) -> ComfyServer:
    """A ComfyServer with the tiny checkpoints, the toy-world checkpoint and the workflow assets (not started);
    `front_end_root` serves another frontend than the host's pinned one."""
    comfyui = find_comfyui()
    if comfyui is None:
        pytest.skip("ComfyUI host not found: set COMFYUI_PATH or put ComfyUI at ~/ComfyUI")
    files = tiny_models.ensure_all()
    models = {"checkpoints": [files["sd15"], files["sd3"], train_toy.checkpoint()],
              "loras": [files["lora"], files["region_lora"]],
              "controlnet": [files["controlnet"]]}
    inputs = sorted((REPO / "workflows" / "assets").glob("*.png"))
    return ComfyServer(comfyui, models=models, inputs=inputs, python=sys.executable, front_end_root=front_end_root)


@pytest.fixture(scope="session")
def toy_checkpoint():
    """The toy-world checkpoint file (tools/train_toy.py), which every test server also serves."""
    if find_comfyui() is None:
        pytest.skip("ComfyUI host not found: set COMFYUI_PATH or put ComfyUI at ~/ComfyUI")
    return train_toy.checkpoint()


@pytest.fixture(scope="session")
def comfy_server():
    with make_server() as server:
        yield server


@pytest.fixture(scope="session")
def newest_comfy_server():
    """A second server with the same models, serving the newest frontend (tools/browser.py NEWEST_FRONTEND, installed
    by tools/setup_env.sh) through --front-end-root."""
    root = browser.frontend_root()
    if not (root / "index.html").is_file():
        pytest.skip(f"comfyui-frontend-package {browser.NEWEST_FRONTEND} is not installed at {root}: run "
                    "tools/setup_env.sh")
    with make_server(root) as server:
        yield server
