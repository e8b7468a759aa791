"""Scale-out: several ComfyUI backends behind one queue (SwarmUI multi-backend, API deployments) give the same image
for the same workflow and seed, because the pack keeps no cross-prompt state beyond caches keyed by their inputs."""
import contextlib
import hashlib
import json
import sys

import pytest

from tools import tiny_models
from tools.comfy_host import ComfyServer, ui_to_api
from tools.find_comfyui import REPO, find_comfyui

WORKFLOW = REPO / "workflows" / "sd15_lcm_three_regions.json"
TIMEOUT = 1800  # seconds per prompt (a loaded CPU)


def prompt_for(server: ComfyServer, seed: int) -> dict:
    prompt = ui_to_api(json.loads(WORKFLOW.read_text()), server.object_info())
    for node in prompt.values():
        inputs = node["inputs"]
        if "ckpt_name" in inputs:
            inputs["ckpt_name"] = tiny_models.checkpoint_for(inputs["ckpt_name"])
        if "lora_name" in inputs:
            inputs["lora_name"] = tiny_models.LORA
        if node["class_type"] == "EmptyLatentImage":
            inputs.update(width=256, height=256)
        if node["class_type"] == "SemanticDrawSampler":
            inputs["seed"] = seed
    return prompt


def digest(paths) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def test_two_servers_give_byte_identical_images_for_the_same_workflow_and_seed():
    comfyui = find_comfyui()
    if comfyui is None:
        pytest.skip("ComfyUI host not found: set COMFYUI_PATH or put ComfyUI at ~/ComfyUI")
    files = tiny_models.ensure_all()
    models = {"checkpoints": [files["sd15"]], "loras": [files["lora"]]}
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(ComfyServer(comfyui, models=models, python=sys.executable)) for _ in range(2)]
        # the first server runs another seed first: state left by an earlier prompt must not change the next one
        servers[0].run(prompt_for(servers[0], seed=5), TIMEOUT)
        ids = [s.queue(prompt_for(s, seed=1234)) for s in servers]  # both in flight at once
        digests = [digest(s.images(s.wait(i, TIMEOUT))) for s, i in zip(servers, ids)]
        other = digest(servers[1].images(servers[1].run(prompt_for(servers[1], seed=5), TIMEOUT)))
    assert digests[0] and digests[0] == digests[1], digests
    assert other != digests[0], "the seed changed nothing"
