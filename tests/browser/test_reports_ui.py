"""The palette's unmatched colours and the regional edit's changed regions are drawn on their nodes (web/reports.js),
end to end: the workflow is queued from the real frontend, runs on the server, and the report appears on the node."""
import json

from tools import tiny_models
from tools.browser import load_workflow
from tools.find_comfyui import REPO

# Tiny stand-ins for the workflow's model files, a small canvas, then queue it as the Run button does.
PREPARE_AND_QUEUE = """async ({ckpt, lora, palette}) => {
  for (const node of app.graph.nodes) {
    for (const w of node.widgets || []) {
      if (w.name === 'ckpt_name') w.value = ckpt;
      if (w.name === 'lora_name') w.value = lora;
      if ((w.name === 'width' || w.name === 'height') && node.type === 'EmptyLatentImage') w.value = 256;
      if (w.name === 'palette' && palette !== null) w.value = palette;
    }
  }
  await app.queuePrompt(0, 1);
}"""
REPORT_TEXT = """(type) => app.graph.nodes.find(n => n.type === type)?.semanticdrawReport?.textContent || null"""
# As the user looks at the node: zoomed to 100% and centred on it.
REPORT_SHOWN = """async (type) => {
  const node = app.graph.nodes.find(n => n.type === type), el = node.semanticdrawReport;
  app.canvas.ds.scale = 1; app.canvas.centerOnNode(node); app.canvas.setDirty(true, true);
  for (let i = 0; i < 5; i++) await new Promise(r => requestAnimationFrame(r));
  const box = el.getBoundingClientRect();
  return {text: el.textContent, visible: box.width > 20 && box.height > 20 && el.checkVisibility()};
}"""


def run_and_read_report(page, workflow: str, node_type: str, palette=None) -> dict:
    load_workflow(page, json.loads((REPO / "workflows" / workflow).read_text()))
    page.evaluate(PREPARE_AND_QUEUE, {"ckpt": tiny_models.FILES["sd15"], "lora": tiny_models.LORA,
                                      "palette": palette})
    page.wait_for_function(f"() => ({REPORT_TEXT})('{node_type}') !== null", timeout=1_800_000)  # a loaded CPU
    return page.evaluate(REPORT_SHOWN, node_type)


def test_palette_report_shows_colours_without_a_prompt_on_the_node(comfy_page):
    # the map's yellow sun and orange roof get no line: the report must name them
    palette = "#87ceeb: a clear blue summer sky\n#228b22: a lush green hill\n#b22222: a red brick house"
    report = run_and_read_report(comfy_page, "semantic_palette.json", "SemanticDrawPalette", palette)
    assert report["visible"], report
    assert "WARNING" in report["text"] and "#ffd700" in report["text"].lower(), report["text"]


def test_regional_edit_report_names_the_changed_region_on_the_node(comfy_page):
    report = run_and_read_report(comfy_page, "regional_edit.json", "SemanticDrawRegionalEdit")
    assert report["visible"], report
    assert "black coffee" in report["text"] and "red apple" not in report["text"], report["text"]
