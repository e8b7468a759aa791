"""Every shipped workflow opens clean in the real frontend: no node covers another (image previews included),
every widget fits inside its node, and each loader offers its model download in the missing-models dialog."""
import json

import pytest

from tools.browser import load_workflow
from tools.find_comfyui import REPO

WORKFLOWS = sorted((REPO / "workflows").glob("*.json"))
# Bounding boxes after the frontend has laid the graph out and drawn it (LoadImage previews loaded).
BOXES = """async () => {
  const loads = app.graph.nodes.filter(n => n.type === 'LoadImage');
  for (let i = 0; i < 200 && !loads.every(n => n.imgs && n.imgs.length && n.imgs[0].complete); i++)
    await new Promise(r => setTimeout(r, 50));
  app.canvas.draw(true, true);
  return app.graph.nodes.map(n => ({id: n.id, type: n.type, box: Array.from(n.getBounding()),
    size: Array.from(n.size), needed: Array.from(n.computeSize()),
    widgets: (n.widgets || []).map(w => ({name: w.name, type: w.type, y: w.y, height: w.computedHeight ?? 24,
                                           min: w.computeLayoutSize ? w.computeLayoutSize(n).minHeight : 0}))}));
}"""
MIN_TEXT_BOX = 80  # px of a multiline text box (prompts), so a prompt of a few lines shows whole


def overlapping(nodes: list[dict]) -> list[tuple]:
    pairs = []
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            (ax, ay, aw, ah), (bx, by, bw, bh) = a["box"], b["box"]
            if ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah:
                pairs.append((f"{a['type']} #{a['id']}", f"{b['type']} #{b['id']}"))
    return pairs


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_opens_without_overlaps_and_with_room_for_previews(comfy_page, workflow):
    load_workflow(comfy_page, json.loads(workflow.read_text()))
    nodes = comfy_page.evaluate(BOXES)
    assert not overlapping(nodes), f"{workflow.name}: overlapping nodes {overlapping(nodes)}"
    for n in nodes:
        where = f"{workflow.name}: {n['type']} #{n['id']}"
        assert n["size"][0] >= n["needed"][0] - 0.5 and n["size"][1] >= n["needed"][1] - 0.5, f"{where} too small"
        for w in n["widgets"]:
            assert w["y"] + w["height"] <= n["size"][1] + 0.5, f"{where}: widget {w['name']} is cut off"
            assert w["height"] >= w["min"] - 0.5, f"{where}: {w['name']} gets {w['height']} px of {w['min']}"
            if w["type"] == "customtext" and n["type"] != "Note":
                assert w["height"] >= MIN_TEXT_BOX, f"{where}: text box {w['name']} is cramped ({w['height']} px)"
        if n["type"] == "LoadImage":  # the preview is a widget below the others, at least its minimum height
            assert any(w["name"] == "$$canvas-image-preview" for w in n["widgets"]), f"{where}: no image preview"


def test_every_model_file_has_a_download_in_the_frontends_format():
    for workflow in WORKFLOWS:
        for node in [n for n in json.loads(workflow.read_text())["nodes"] if n["type"] != "Note"]:
            names = [v for v in node.get("widgets_values") or [] if isinstance(v, str) and v.endswith(".safetensors")]
            offered = {m["name"]: m for m in node.get("properties", {}).get("models", [])}
            for name in names:
                model = offered.get(name)
                assert model, f"{workflow.name}: {node['type']} loads {name} without properties.models"
                assert model["url"].startswith("https://huggingface.co/") and model["directory"], model
                note = next(n for n in json.loads(workflow.read_text())["nodes"] if n["type"] == "Note")
                assert model["url"] in note["widgets_values"][0], f"{workflow.name}: the note lacks {model['url']}"


def test_missing_models_dialog_offers_each_download(comfy_page):
    """The frontend itself reads the models metadata: opening a workflow whose files are missing lists them."""
    workflow = json.loads((REPO / "workflows" / "regional_controlnet.json").read_text())
    comfy_page.evaluate("""async (wf) => {
        await app.extensionManager.setting.set('Comfy.Workflow.ShowMissingModelsWarning', true);
        await app.loadGraphData(wf, true, true, null, {showMissingModelsDialog: true});
    }""", workflow)
    listed = comfy_page.locator(".comfy-missing-models").inner_text(timeout=60_000)
    for name in ("v1-5-pruned-emaonly.safetensors", "lcm-lora-sdv1-5.safetensors",
                 "control_v11p_sd15_canny_fp16.safetensors"):
        assert name in listed, listed
