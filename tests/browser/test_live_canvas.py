"""Paint live in the real frontend (issue 10's script): two strokes with two brushes by mouse, canvas pixels read back,
Live on until 5 frames, a new stroke and a prompt change reach the stream, Stop leaves the server idle, save + reload
restore the painting and the brushes, Queue Prompt renders an image. The tiny random model barely reacts to prompts,
so the frame *content* change is asserted on latents in tests/host/test_live_inprocess.py; here the browser proves
each edit reached the stream (server counters) and new frames arrived after it."""
import json
import os

from tools import tiny_models
from tools.browser import load_workflow
from tools.find_comfyui import REPO

SIZE = 64
EDITOR = "app.graph.nodes.find(n => n.type === 'SemanticDrawCanvas').semanticdrawCanvas"
DATA = f"() => ({{...{EDITOR}.root.dataset}})"


def small_workflow() -> dict:
    wf = json.loads((REPO / "workflows" / "live_canvas.json").read_text())
    for node in wf["nodes"]:
        v = node.get("widgets_values")
        if node["type"] == "CheckpointLoaderSimple":
            v[0] = tiny_models.FILES["sd15"]
        elif node["type"] == "LoraLoader":
            v[0] = tiny_models.LORA
        elif node["type"] == "SemanticDrawCanvas":
            v[0] = v[1] = SIZE
            node["pos"] = [40, 40]
            node["size"] = [560, 900]
        elif node["type"] == "EmptyLatentImage":
            v[0] = v[1] = SIZE
        elif node["type"] == "SemanticDrawSampler":
            v[2] = 2  # steps
    return wf


def pixels(page) -> list:
    return page.evaluate(f"() => Array.from({EDITOR}.ctx.getImageData(0, 0, {SIZE}, {SIZE}).data)")


def at(data, x, y) -> tuple:
    i = (y * SIZE + x) * 4
    return tuple(data[i:i + 4])


def near(a, b, tolerance=2) -> bool:
    return max(abs(x - y) for x, y in zip(a, b)) <= tolerance


def drag(page, brush: int, points) -> None:
    """Select brush `brush` in the table and drag the mouse through canvas pixel `points`."""
    page.locator(".semanticdraw-brush input[type=radio]").nth(brush).check()
    box = page.locator(".semanticdraw-paint").bounding_box()
    to_page = [(box["x"] + (x + 0.5) * box["width"] / SIZE, box["y"] + (y + 0.5) * box["height"] / SIZE)
               for x, y in points]
    page.mouse.move(*to_page[0])
    page.mouse.down()
    for p in to_page[1:]:
        page.mouse.move(*p, steps=4)
    page.mouse.up()


def wait_data(page, condition: str, timeout=600_000) -> dict:
    page.wait_for_function(f"() => {{ const d = {EDITOR}.root.dataset; return {condition}; }}", timeout=timeout)
    return page.evaluate(DATA)


def idle(server) -> bool:
    q = server.get("/queue")
    return not q["queue_running"] and not q["queue_pending"]


def test_paint_live_stop_save_reload_and_queue(comfy_page, comfy_server):
    page = comfy_page
    load_workflow(page, small_workflow())
    page.evaluate("() => { app.canvas.ds.offset = [0, 0]; app.canvas.ds.scale = 1; app.canvas.setDirty(true, true); }")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.evaluate(f"() => {EDITOR}.setTool('brush')")
    page.evaluate(f"() => {{ {EDITOR}.size = 6; }}")

    # 1-2: two strokes with two brushes, by mouse; the canvas holds exactly the brush colours there
    drag(page, 0, [(8, 10), (30, 10), (50, 10)])
    drag(page, 1, [(10, 40), (10, 55)])
    data = pixels(page)  # brush colours, up to the canvas' rounding where stroke segments overlap
    assert near(at(data, 30, 10), (0x87, 0xce, 0xeb, 255)) and near(at(data, 10, 48), (0x22, 0x8b, 0x22, 255))
    assert at(data, 40, 40) == (0, 0, 0, 0)  # unpainted stays clear (background)
    page.wait_for_function(f"() => {EDITOR}.w.painting.value.startsWith('semanticdraw/canvas_')")

    # 3: Live on; 5 or more frames, shown in the node
    page.locator(".semanticdraw-live").click()
    start = wait_data(page, "+d.liveFrames >= 5 && +d.previews >= 1 && d.liveState === 'running'")
    assert page.evaluate(f"() => {EDITOR}.frame.src.startsWith('blob:')")
    if os.environ.get("SEMANTICDRAW_SCREENSHOTS"):
        (REPO / "docs").mkdir(exist_ok=True)
        page.screenshot(path=str(REPO / "docs" / "live_canvas.png"), clip={"x": 0, "y": 0, "width": 700, "height": 980})

    # 4: a new stroke reaches the stream without a restart: masks re-processed, no prompt encoded, new frames
    drag(page, 0, [(40, 30), (58, 30)])
    stroke = wait_data(page, f"+d.maskUpdates > {start['maskUpdates']} && +d.liveFrames > {start['liveFrames']} "
                             "&& d.latencyFrames !== ''")
    assert stroke["promptsEncoded"] == start["promptsEncoded"] and int(stroke["latencyFrames"]) <= 4 + 1

    # 5: a brush prompt change: exactly one prompt encoded, new frames follow
    page.locator(".sd-prompt").nth(0).fill("a green pear")
    page.locator(".sd-prompt").nth(0).press("Enter")
    page.locator(".sd-prompt").nth(0).blur()
    wait_data(page, f"+d.promptsEncoded === {int(stroke['promptsEncoded']) + 1} && "
                    f"+d.liveFrames > {stroke['liveFrames']}")

    # 6: Stop: the session ends, the prompt finishes with the last frame saved, the server is idle and healthy
    previews = int(page.evaluate(DATA)["previews"])
    page.locator(".semanticdraw-live").click()
    wait_data(page, "d.liveState === 'ended'")
    for _ in range(600):
        if idle(comfy_server):
            break
        page.wait_for_timeout(200)
    assert idle(comfy_server) and comfy_server.get("/system_stats")["system"]
    history = comfy_server.get("/history")
    live = [e for e in history.values() if any(o.get("images") and o["images"][0]["filename"].startswith(
        "semanticdraw_live") for o in e.get("outputs", {}).values())]
    assert live and previews >= 1

    # 7: save and reload: the same painting (from the input folder) and the same brushes
    before = pixels(page)
    page.evaluate(f"() => {EDITOR}.flushSave()")
    saved = page.evaluate("() => app.graph.serialize()")
    text = json.dumps(saved)
    assert "data:image" not in text and "base64" not in text and len(text) < 100_000
    canvas = next(n for n in saved["nodes"] if n["type"] == "SemanticDrawCanvas")
    name = canvas["widgets_values"][4]
    assert (comfy_server.base / "input" / name).is_file()
    page.evaluate("() => app.graph.clear()")
    load_workflow(page, saved)
    page.wait_for_function(f"() => {EDITOR} && {EDITOR}.loaded")
    page.evaluate(f"() => {EDITOR}.loaded")
    after = pixels(page)
    assert max(abs(a - b) for a, b in zip(before, after)) <= 2
    prompts = page.evaluate("() => Array.from(document.querySelectorAll('.sd-prompt')).map(e => e.value)")
    assert prompts == ["a green pear", "a green hill", "a bright yellow sun"]
    assert not page.evaluate("() => Object.values(localStorage).some(v => v.includes('data:image/png'))")

    # 8: Queue Prompt renders the painting with the still sampler
    count = len(comfy_server.get("/history"))
    page.evaluate("() => app.queuePrompt(0, 1)")
    for _ in range(3000):
        if len(comfy_server.get("/history")) > count and idle(comfy_server):
            break
        page.wait_for_timeout(200)
    entry = list(comfy_server.get("/history").values())[-1]
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert any(i["filename"].startswith("semanticdraw_canvas") for o in entry["outputs"].values()
               for i in o.get("images", []))
