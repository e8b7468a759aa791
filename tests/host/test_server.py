"""Through a real ComfyUI server: node registration and tooltips, every shipped workflow (content, not only sizes).
Interruption is tested event-driven in test_interrupt_server.py."""
import json

import numpy as np
import pytest
from PIL import Image

from conftest import tiny_model_map
from tools import tiny_models
from tools.comfy_host import MODEL_INPUTS, ui_to_api
from tools.find_comfyui import REPO
from tools.node_reference import reference, section

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
RUN_TIMEOUT = 1800  # seconds for one prompt: ~20 s on an idle CPU, far longer on a shared, loaded one
REGION_LORAS = {"pixel-art-xl.safetensors"}  # per-region LoRAs: the tiny random LoRA that changes the image


def workflow_models(name: str, value: str) -> str:
    """Tiny stand-ins for every model file a workflow names."""
    if name == "control_net_name":
        return tiny_models.CONTROLNET
    if name == "lora_name" and value in REGION_LORAS:
        return tiny_models.REGION_LORA
    return tiny_model_map(name, value)


def test_object_info_lists_every_node_with_its_inputs(comfy_server):
    info = comfy_server.object_info()
    assert PACK_NODES <= set(info)
    readme = (REPO / "README.md").read_text()
    for node in PACK_NODES:
        inputs = {**info[node]["input"].get("required", {}), **info[node]["input"].get("optional", {})}
        assert inputs, node
        entry = readme.split(f"(`{node}`)")[1].split("\n### ")[0]
        for name in inputs:
            assert f"`{name}`" in entry, f"README's node reference lacks {node}.{name}"
    stale = "README's node reference is stale: python tools/node_reference.py --readme README.md"
    assert section(readme) == reference(info).strip(), stale


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_runs_and_saves_images_of_the_requested_size(comfy_server, workflow):
    width, height = SIZES.get(workflow.name, (256, 256))
    overrides = dict(SMALL)
    if workflow.name == "wide_canvas_tiled.json":
        overrides |= {("EmptyLatentImage", "width"): width, ("EmptyLatentImage", "height"): height,
                      ("SemanticDrawSampler", "tile_size"): 256}
    _, prompt = workflow_prompt(comfy_server, workflow.name, overrides)
    savers = save_latents(prompt)
    entry = comfy_server.run(prompt, RUN_TIMEOUT)
    images = comfy_server.images(entry)
    assert images, f"{workflow.name} saved no image"
    for path in images:
        with Image.open(path) as im:
            assert im.size == (width, height), (path.name, im.size)
    if workflow.name == "stream_palette_frames.json":
        assert len([p for p in images if p.suffix == ".png"]) == 4  # one per palette frame
    for saver in savers.values():  # the tiny VAE decodes to black, so content is checked on the latents
        latent = latent_of(comfy_server, entry, saver)
        assert np.isfinite(latent).all(), f"{workflow.name}: NaN or inf in the sampled latent"
        assert latent.std(axis=(-1, -2)).min() > 1e-3, f"{workflow.name}: a constant latent channel"


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
                     "inputs": [{"name": "model", "link": 3},
                                {"name": "seed", "link": 4, "widget": {"name": "seed"}}]},
                    {"id": 8, "type": "Patch", "mode": 4,  # bypassed: its MODEL output passes its MODEL input on
                     "inputs": [{"name": "seed", "type": "INT", "link": 5}, {"name": "model", "type": "MODEL",
                                                                           "link": 6}],
                     "outputs": [{"name": "MODEL", "type": "MODEL"}, {"name": "LATENT", "type": "LATENT"}]},
                    {"id": 9, "type": "KSampler", "mode": 0, "widgets_values": [1, "fixed", 2, 3.0],
                     "inputs": [{"name": "model", "link": 7}, {"name": "latent", "link": 8}]}],
          "links": [[1, 1, 0, 2, 0, "MODEL"], [2, 2, 0, 3, 0, "MODEL"], [3, 1, 0, 7, 0, "MODEL"],
                    [4, 6, 0, 7, 1, "INT"], [5, 6, 0, 8, 0, "INT"], [6, 2, 0, 8, 1, "MODEL"], [7, 8, 0, 9, 0, "MODEL"],
                    [8, 8, 1, 9, 1, "LATENT"]]}
    api = ui_to_api(ui, info)
    assert set(api) == {"1", "3", "7", "9"}
    assert api["3"]["inputs"] == {"seed": 7, "steps": 4, "cfg": 1.5, "model": ["1", 0]}
    assert api["7"]["inputs"]["seed"] == 9
    assert api["9"]["inputs"] == {"seed": 1, "steps": 2, "cfg": 3.0, "model": ["1", 0]}  # no LATENT input to pass


# -- content of the workflows' images -----------------------------------------------------------------------------
def pixels_of(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float32)


def workflow_prompt(server, name: str, overrides: dict = SMALL) -> tuple[dict, dict]:
    """(UI workflow, API prompt) of a shipped workflow with tiny models and the small canvas of `overrides`."""
    ui = json.loads((REPO / "workflows" / name).read_text())
    prompt = ui_to_api(ui, server.object_info())
    for node in prompt.values():
        for key, value in list(node["inputs"].items()):
            if key in MODEL_INPUTS:
                node["inputs"][key] = workflow_models(key, value)
            if (node["class_type"], key) in overrides:
                node["inputs"][key] = overrides[(node["class_type"], key)]
    return ui, prompt


def save_latents(prompt: dict) -> dict[str, str]:
    """Adds a SaveLatent of what every VAEDecode decodes; returns {VAEDecode id: SaveLatent id}."""
    savers = {}
    for nid, node in list(prompt.items()):
        if node["class_type"] == "VAEDecode":
            savers[nid] = f"9{nid}"
            prompt[savers[nid]] = {"class_type": "SaveLatent",
                                   "inputs": {"samples": node["inputs"]["samples"], "filename_prefix": f"l{nid}"}}
    return savers


def latent_of(server, entry: dict, saver: str) -> np.ndarray:
    """The first latent a SaveLatent node wrote, `[C, h, w]`."""
    from safetensors.numpy import load_file
    saved = entry["outputs"][saver]["latents"][0]
    return load_file(server.base / "output" / saved.get("subfolder", "") / saved["filename"])["latent_tensor"][0]


def node_id(ui: dict, node_type: str, widget_text: str = "") -> str:
    """The id of the one node of `node_type` with a widget value containing `widget_text`."""
    found = [str(n["id"]) for n in ui["nodes"] if n["type"] == node_type
             and any(widget_text in str(v) for v in n.get("widgets_values") or [""])]
    assert len(found) == 1, (node_type, widget_text, found)
    return found[0]


def run_images(server, prompt: dict) -> tuple[dict, dict[str, list[np.ndarray]]]:
    """Run a prompt; returns its history entry and the images (saved or previewed) of each output node."""
    entry = server.run(prompt, RUN_TIMEOUT)
    images = {nid: [pixels_of(server.base / img["type"] / img.get("subfolder", "") / img["filename"])
                    for img in out.get("images", [])] for nid, out in entry["outputs"].items()}
    return entry, images


def box_masks(size: int, box: tuple[int, int, int, int], scale: float, margin: int) -> tuple[np.ndarray, np.ndarray]:
    """(inside, outside) pixel masks of a workflow's mask box (x, y, w, h) drawn at `scale`: inside shrunk and
    outside grown by `margin` pixels, so the blurred border belongs to neither."""
    x, y, w, h = (round(v * scale) for v in box)
    yy, xx = np.mgrid[:size, :size]
    inside = (xx >= x + margin) & (xx < x + w - margin) & (yy >= y + margin) & (yy < y + h - margin)
    near = (xx >= x - margin) & (xx < x + w + margin) & (yy >= y - margin) & (yy < y + h + margin)
    return inside, ~near


def assert_change_stays_inside(before: np.ndarray, after: np.ndarray, box, scale: float, what: str,
                               margin: int = 2, ratio: float = 3.0) -> None:
    """`before`/`after`: `[C, h, w]` latents; `box` in the workflow's mask pixels, `scale` to latent pixels."""
    diff = np.abs(after - before).mean(0)
    inside, outside = box_masks(diff.shape[0], box, scale, margin)
    assert diff[inside].mean() > 0.02, f"{what}: the region did not change ({diff[inside].mean():.4f})"
    assert diff[inside].mean() > ratio * diff[outside].mean(), \
        f"{what}: change inside {diff[inside].mean():.2f} vs outside {diff[outside].mean():.2f}"


def test_a_regions_prompt_shapes_that_region_only(comfy_server):
    ui, prompt = workflow_prompt(comfy_server, "sd15_lcm_three_regions.json")
    (saver,) = save_latents(prompt).values()
    before = latent_of(comfy_server, comfy_server.run(prompt, RUN_TIMEOUT), saver)
    prompt[node_id(ui, "SemanticDrawRegion", "yellow fur")]["inputs"]["text"] = "a bright red sports car"
    after = latent_of(comfy_server, comfy_server.run(prompt, RUN_TIMEOUT), saver)
    assert_change_stays_inside(before, after, (300, 280, 180, 200), 32 / 512, "dog -> car")


def test_region_stack_layout_preview_shows_each_region_in_paint_order(comfy_server):
    ui, prompt = workflow_prompt(comfy_server, "sd15_lcm_three_regions.json")
    _, images = run_images(comfy_server, prompt)
    layout = images[node_id(ui, "PreviewImage")][0]  # 512x512, the size of the workflow's masks
    sky, house, dog, background = (31, 119, 180), (255, 127, 14), (44, 160, 44), (200, 200, 200)
    for (x, y), colour in {(256, 100): sky, (160, 320): house, (160, 190): house,  # the house covers the sky
                           (390, 380): dog, (500, 500): background, (20, 300): background}.items():
        assert np.abs(layout[y, x] - colour).max() <= 3, ((x, y), layout[y, x], colour)


def test_regional_edit_changes_the_edited_region_and_keeps_the_others(comfy_server):
    ui, prompt = workflow_prompt(comfy_server, "regional_edit.json")
    savers = save_latents(prompt)
    kinds = {prompt[prompt[d]["inputs"]["samples"][0]]["class_type"]: s for d, s in savers.items()}
    entry = comfy_server.run(prompt, RUN_TIMEOUT)
    source, edited = (latent_of(comfy_server, entry, kinds[k]) for k in ("SemanticDrawSampler",
                                                                         "SemanticDrawRegionalEdit"))
    assert_change_stays_inside(source, edited, (280, 160, 200, 300), 32 / 512, "regional edit")
    report = "\n".join(entry["outputs"][node_id(ui, "SemanticDrawRegionalEdit")]["text"])
    assert "black coffee" in report and "red apple" not in report, report


@pytest.mark.parametrize("workflow, node_type, strength, box", [
    ("regional_lora.json", "CreateHookLora", ("strength_model", "strength_clip"), (96, 384, 448, 576)),
    ("regional_controlnet.json", "ControlNetApplyAdvanced", ("strength",), (112, 152, 232, 264))],
    ids=["lora", "controlnet"])
def test_per_region_model_patch_changes_its_region(comfy_server, workflow, node_type, strength, box):
    ui, prompt = workflow_prompt(comfy_server, workflow)
    (saver,), patch = save_latents(prompt).values(), node_id(ui, node_type)
    on = latent_of(comfy_server, comfy_server.run(prompt, RUN_TIMEOUT), saver)
    prompt[patch]["inputs"].update({name: 0.0 for name in strength})
    off = latent_of(comfy_server, comfy_server.run(prompt, RUN_TIMEOUT), saver)
    width = next(n for n in ui["nodes"] if n["type"] == "EmptyLatentImage")["widgets_values"][0]
    assert_change_stays_inside(off, on, box, 32 / width, node_type)


def test_every_input_and_output_of_every_node_has_a_tooltip(comfy_server):
    info = comfy_server.object_info()
    missing = []
    for node in sorted(k for k in info if k.startswith("SemanticDraw")):
        for section in ("required", "optional"):
            missing += [f"{node}.{name}" for name, spec in info[node]["input"].get(section, {}).items()
                        if not (len(spec) > 1 and spec[1].get("tooltip"))]
        tips = info[node].get("output_tooltips") or []
        missing += [f"{node} output {i} ({name})" for i, name in enumerate(info[node]["output_name"])
                    if i >= len(tips) or not tips[i]]
    assert not missing, f"no tooltip: {missing}"
