"""Through a real ComfyUI server: node registration, every shipped workflow, interruption."""
import json
import time

import pytest
from PIL import Image

from conftest import tiny_model_map
from tools.comfy_host import ComfyError, run_workflow, ui_to_api
from tools.find_comfyui import REPO

WORKFLOWS = sorted((REPO / "workflows").glob("*.json"))
PACK_NODES = {"SemanticDrawRegion", "SemanticDrawRegionFromConditioning", "SemanticDrawRegionStack",
              "SemanticDrawPalette", "SemanticDrawSampler", "SemanticDrawGuider", "SemanticDrawStreamSampler",
              "SemanticDrawSDEdit", "SemanticDrawRegionalEdit", "SemanticDrawBackgroundBlend"}
# Small canvases keep CPU runs short; aspect ratios stay as in the workflows, so masks still fit.
SMALL = {("EmptyLatentImage", "width"): 256, ("EmptyLatentImage", "height"): 256,
         ("EmptySD3LatentImage", "width"): 256, ("EmptySD3LatentImage", "height"): 256,
         ("SemanticDrawStreamSampler", "t_index_list"): "0,32"}
# (width, height) where the canvas is not 256x256: a shrunk wide canvas, or the size of a loaded image
SIZES = {"wide_canvas_tiled.json": (768, 256), "masked_edit.json": (512, 512), "sdedit_strokes.json": (512, 512)}


def test_object_info_lists_every_node_with_its_inputs(comfy_server):
    info = comfy_server.object_info()
    assert PACK_NODES <= set(info)
    readme = (REPO / "README.md").read_text()
    for node in PACK_NODES:
        inputs = {**info[node]["input"].get("required", {}), **info[node]["input"].get("optional", {})}
        assert inputs, node
        section = readme.split(f"(`{node}`)")[1].split("\n### ")[0]
        for name in inputs:
            assert f"`{name}`" in section, f"README's node reference lacks {node}.{name}"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_runs_and_saves_images_of_the_requested_size(comfy_server, workflow):
    width, height = SIZES.get(workflow.name, (256, 256))
    overrides = dict(SMALL)
    if workflow.name == "wide_canvas_tiled.json":
        overrides |= {("EmptyLatentImage", "width"): width, ("EmptyLatentImage", "height"): height,
                      ("SemanticDrawSampler", "tile_size"): 256}
    images = run_workflow(workflow, comfy_server, model_map=tiny_model_map, overrides=overrides)
    assert images, f"{workflow.name} saved no image"
    for path in images:
        with Image.open(path) as im:
            assert im.size == (width, height), (path.name, im.size)
    if workflow.name == "stream_palette_frames.json":
        assert len([p for p in images if p.suffix == ".png"]) == 4  # one per palette frame


def test_ui_to_api_handles_frontend_only_and_muted_nodes():
    info = {"KSampler": {"input": {"required": {"model": ["MODEL"], "seed": ["INT", {"control_after_generate": True}],
                                                "steps": ["INT", {}], "cfg": ["FLOAT", {}]}},
                         "input_order": {"required": ["model", "seed", "steps", "cfg"]}},
            "Loader": {"input": {"required": {"name": [["a", "b"]]}}}}
    ui = {"nodes": [{"id": 1, "type": "Loader", "mode": 0, "widgets_values": ["b"], "inputs": []},
                    {"id": 2, "type": "Reroute", "inputs": [{"name": "", "link": 1}]},
                    {"id": 3, "type": "KSampler", "mode": 0, "widgets_values": [7, "randomize", 4, 1.5],
                     "inputs": [{"name": "model", "link": 2}]},
                    {"id": 4, "type": "Note", "widgets_values": ["hi"]},
                    {"id": 5, "type": "KSampler", "mode": 2, "widgets_values": [1, "fixed", 1, 1.0], "inputs": []},
                    {"id": 6, "type": "PrimitiveNode", "widgets_values": [9]},
                    {"id": 7, "type": "KSampler", "mode": 0, "widgets_values": [1, "fixed", 2, 3.0],
                     "inputs": [{"name": "model", "link": 3}, {"name": "seed", "link": 4, "widget": {"name": "seed"}}]}],
          "links": [[1, 1, 0, 2, 0, "MODEL"], [2, 2, 0, 3, 0, "MODEL"], [3, 1, 0, 7, 0, "MODEL"], [4, 6, 0, 7, 1, "INT"]]}
    api = ui_to_api(ui, info)
    assert set(api) == {"1", "3", "7"}
    assert api["3"]["inputs"] == {"seed": 7, "steps": 4, "cfg": 1.5, "model": ["1", 0]}
    assert api["7"]["inputs"]["seed"] == 9


def test_interrupting_a_stream_leaves_the_server_healthy(comfy_server):
    info = comfy_server.object_info()
    prompt = ui_to_api(json.loads((REPO / "workflows" / "stream_palette_frames.json").read_text()), info)
    for node in prompt.values():
        inputs = node["inputs"]
        if "ckpt_name" in inputs:
            inputs["ckpt_name"] = tiny_model_map("ckpt_name", inputs["ckpt_name"])
        if "lora_name" in inputs:
            inputs["lora_name"] = tiny_model_map("lora_name", inputs["lora_name"])
        if node["class_type"] == "EmptyLatentImage":
            inputs.update(width=256, height=256)
        if node["class_type"] == "SemanticDrawStreamSampler":
            inputs.update(frame_count=4, t_index_list="0,16,32")  # 6 calls: long enough to interrupt
            inputs["seed"] = 991  # not cached from the workflow test
    prompt_id = comfy_server.queue(prompt)
    deadline = time.time() + 120
    while time.time() < deadline and not comfy_server.get("/queue")["queue_running"]:
        time.sleep(0.2)
    time.sleep(3)  # inside the stream loop
    comfy_server.interrupt()
    with pytest.raises(ComfyError, match="failed|interrupt"):
        comfy_server.wait(prompt_id, timeout=300)
    entry = comfy_server.get(f"/history/{prompt_id}")[prompt_id]
    assert any(m[0] == "execution_interrupted" for m in entry["status"]["messages"])
    workflow = REPO / "workflows" / "sd15_lcm_three_regions.json"
    images = run_workflow(workflow, comfy_server, model_map=tiny_model_map,
                          overrides=dict(SMALL) | {("SemanticDrawSampler", "seed"): 77})
    assert images
