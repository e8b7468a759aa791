"""Live frames follow the brushes' prompts (issue 16, item 4), in the newest frontend (classic rendering, what users
run): workflows/live_canvas.json with the toy-world checkpoint (tools/train_toy.py; its LoRA and ModelSamplingDiscrete
nodes bypassed, as the main command bypasses them for this stand-in) on a 128-pixel canvas. A stroke by mouse with
a blue brush ("a clear blue sky") and one with a red brush ("a barn with red walls"): once the stream settles, the
live frame is blue inside the blue stroke, red inside the red one, and far from both it has the background prompt's
colour ("a green meadow in soft sunlight"). Colours are named per pixel by tools/metrics.py (nearest toy colour)."""
import json

import torch

from canvas_support import CANVAS, editor_button, open_editor, settled_frame, show_graph, small_workflow, wait_data
from tools.canvas_ui import drag
from tools.comfy_host import bypass_nodes
from tools.metrics import colour_share
from tools.run_workflow import TOY_BYPASS

SIZE = 128
BRUSHES = [{"colour": "#87ceeb", "prompt": "a clear blue sky", "negative": "", "mask_strength": 1, "blur": 0,
            "prompt_strength": 0.95},
           {"colour": "#b22222", "prompt": "a barn with red walls", "negative": "", "mask_strength": 1, "blur": 0,
            "prompt_strength": 0.95}]
# (x0, y0, x1, y1) boxes well inside each 24-pixel stroke band, and the unpainted band between them
BLUE_BOX, RED_BOX, UNPAINTED_BOX = (24, 18, 104, 30), (24, 98, 104, 110), (24, 56, 104, 72)


def toy_live_workflow(checkpoint: str) -> dict:
    workflow = small_workflow()
    for node in workflow["nodes"]:
        v = node.get("widgets_values")
        if node["type"] == "CheckpointLoaderSimple":
            v[0] = checkpoint
        elif node["type"] in ("SemanticDrawCanvas", "EmptyLatentImage"):
            v[0] = v[1] = SIZE
            if node["type"] == "SemanticDrawCanvas":
                v[2] = json.dumps(BRUSHES)
        elif node["type"] == "SemanticDrawSampler":
            v[2] = 4  # the workflow's steps (small_workflow shortens them)
    return bypass_nodes(workflow, TOY_BYPASS)  # as the main command bypasses them for this stand-in


def share(frame: list, box: tuple, colour: str) -> float:
    image = torch.tensor(frame, dtype=torch.float32).reshape(SIZE, SIZE, 4)[..., :3] / 255
    mask = torch.zeros(SIZE, SIZE)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = 1
    return colour_share(image, mask, colour)


def test_live_frame_paints_each_stroke_in_its_brushs_colour(newest_page, toy_checkpoint):
    page = newest_page
    show_graph(page, toy_live_workflow(toy_checkpoint.name))
    open_editor(page)
    assert page.evaluate(f"() => JSON.parse({CANVAS}.w.brushes.value).map(b => b.prompt)") == \
        [b["prompt"] for b in BRUSHES]
    page.evaluate(f"() => {CANVAS}.editor.setSize(24)")
    drag(page, 0, [(p * SIZE // 64, 24 * SIZE // 128) for p in (2, 20, 40, 62)], SIZE)
    drag(page, 1, [(p * SIZE // 64, 104 * SIZE // 128) for p in (2, 20, 40, 62)], SIZE)
    page.wait_for_function(f"() => {CANVAS}.w.painting.value.startsWith('semanticdraw/canvas_')")
    editor_button(page, "Live").click()
    frame = settled_frame(page, size=SIZE)
    shares = {"blue": share(frame, BLUE_BOX, "blue"), "red": share(frame, RED_BOX, "red"),
              "green": share(frame, UNPAINTED_BOX, "green")}
    print(f"live frame colour shares: {shares}")
    assert all(v >= 0.6 for v in shares.values()), shares
    editor_button(page, "Stop").click()
    wait_data(page, "d.liveState === 'ended'")
