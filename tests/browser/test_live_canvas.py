"""Paint live in the real frontend, on each frontend + rendering combination: the Editor opened by its button, two
strokes with two brushes by mouse, canvas pixels read back, Live on until the stream settles (frames at full canvas
resolution, shown in the editor and the node, never as a core preview on the node), a background image uploaded
through the editor reaches the stream (unpainted pixels take its colour), a new stroke changes the shown frame inside
its area and nowhere far from it, a prompt change reaches the stream, removing the image gives the unpainted pixels
back to the background prompt, Stop leaves the server idle, Escape returns to the graph, save + reload restore the
painting, the brushes and the background file, Queue Prompt renders an image. Then Live inside a subgraph (the node's
execution id is its subgraph path). Frames are compared once the stream has settled (idle, every computed frame
shown): a settled frame depends only on the scene (fixed per-slot noise). The tiny random model's prediction is about
its noisy input whatever the prompt, so a stroke is seen against the background image (image colour -> the brush's
prediction); prompt effects on the frame latents are measured in tests/host/test_live_inprocess.py."""
import json

from PIL import Image

from canvas_support import (CANVAS, CLEAR, HILL, SKY, at, canvas_value, drag, editor_button, idle, mean_colour,
                            mean_difference, near, open_editor, pixels, settled_frame, show_graph, small_workflow,
                            upload_background, wait_data, wait_idle)
from tools.browser import load_workflow

NO_CORE_PREVIEW = f"""() => {{
    const node = {CANVAS}.node;
    return [node.imgs?.length ?? 0, Object.keys(app.nodePreviewImages ?? {{}})];
}}"""


def test_paint_live_stop_save_reload_and_queue(canvas_page, tmp_path):
    page, server = canvas_page, canvas_page.server
    background = tmp_path / "orange.png"
    Image.new("RGB", (96, 64), (230, 140, 40)).save(background)
    show_graph(page, small_workflow())
    open_editor(page)
    page.evaluate(f"() => {CANVAS}.editor.setSize(6)")

    # 1-2: two strokes with two brushes, by mouse; the canvas holds exactly the brush colours there
    drag(page, 0, [(8, 10), (30, 10), (50, 10)])
    drag(page, 1, [(10, 40), (10, 55)])
    data = pixels(page)  # brush colours, up to the canvas' rounding where stroke segments overlap
    assert near(at(data, 30, 10), SKY) and near(at(data, 10, 48), HILL)
    assert at(data, 40, 40) == CLEAR  # unpainted stays clear (background)
    page.wait_for_function(f"() => {CANVAS}.w.painting.value.startsWith('semanticdraw/canvas_')")

    # 3: Live on; frames at the canvas size until the stream settles (idle: it computes only while a frame can still
    # change, and every computed frame is shown), in the editor and the node; no core preview on the node
    editor_button(page, "Live").click()
    start = wait_data(page, "d.liveState === 'running' && d.busy === 'false' && +d.liveFrames >= 2 "
                            "&& +d.previews === +d.framesSent")
    assert page.evaluate(f"() => {CANVAS}.editor.frame.src.startsWith('data:image/jpeg')")
    assert page.evaluate(NO_CORE_PREVIEW) == [0, []]

    # 4a: a background image uploaded through the editor reaches the stream: unpainted pixels take its colour
    unpainted = (44, 50, 64, 64)  # 20 pixels or more from every stroke (blur 8)
    upload_background(page, background)
    shown_under = page.evaluate(f"""async () => {{
        const img = {CANVAS}.editor.underlay, canvas = {CANVAS}.painting.canvas.getBoundingClientRect();
        await img.decode();
        const r = img.getBoundingClientRect();
        return [img.naturalWidth, img.naturalHeight, r.x === canvas.x && r.y === canvas.y && r.width === canvas.width,
                getComputedStyle(img).display !== "none"];
    }}""")
    assert shown_under == [96, 64, True, True]  # the uploaded image, right under the strokes
    first = settled_frame(page)
    shown = mean_colour(first, unpainted)
    print(f"unpainted pixels with the background image: {shown} (image: (230, 140, 40))")
    assert max(abs(a - b) for a, b in zip(shown, (230, 140, 40))) < 25

    # 4b: a new stroke reaches the stream without a restart: masks re-processed, no prompt encoded, and the frame
    # changes inside the stroke's area and not far from it. The brush's blur is set to 0 first (in its row), so the
    # stroke is a region from the first slot on: a blurred thin stroke only enters the last slots, where the random
    # model passes the background through almost unchanged.
    blur = page.locator(".sd-editor .sd-brush").nth(0).locator(".sd-blur")
    blur.fill("0")
    blur.press("Enter")
    blur.blur()
    page.wait_for_function(f"() => JSON.parse({CANVAS}.w.brushes.value)[0].blur === 0")
    first = settled_frame(page)
    page.evaluate(f"() => {CANVAS}.editor.setSize(12)")
    drag(page, 0, [(40, 24), (58, 24)])
    stroke = wait_data(page, f"+d.maskUpdates > {start['maskUpdates']} && +d.liveFrames > {start['liveFrames']} "
                             "&& d.latencyFrames !== ''")
    assert int(stroke["latencyFrames"]) <= 4 + 1
    stroked = settled_frame(page)
    stroke = wait_data(page, "true")
    assert stroke["promptsEncoded"] == start["promptsEncoded"]
    inside, far = mean_difference(first, stroked, (44, 20, 56, 28)), mean_difference(first, stroked, unpainted)
    print(f"frame change inside the stroke {inside:.2f}, far from it {far:.2f} (of 255)")
    assert inside > 20 and far < 2

    # 5: a brush prompt change in its multi-line field: exactly one prompt encoded, new frames follow
    prompt = page.locator(".sd-editor .sd-prompt").nth(0)
    prompt.fill("a green pear\non a table")
    prompt.blur()
    wait_data(page, f"+d.promptsEncoded === {int(stroke['promptsEncoded']) + 1} && "
                    f"+d.liveFrames > {stroke['liveFrames']}")

    # 5b: removing the image gives the unpainted pixels back to the background prompt
    editor_button(page, "No image").click()
    assert page.evaluate(f"() => getComputedStyle({CANVAS}.editor.underlay).display") == "none"
    shown = mean_colour(settled_frame(page), unpainted)
    assert max(abs(a - b) for a, b in zip(shown, (230, 140, 40))) > 25

    # 6: Stop: the session ends, the prompt finishes with the last frame saved, the server is idle and healthy
    previews = int(wait_data(page, "true")["previews"])
    editor_button(page, "Stop").click()
    wait_data(page, "d.liveState === 'ended'")
    wait_idle(page, server)
    assert server.get("/system_stats")["system"]
    history = server.get("/history")
    live = [e for e in history.values() if any(o.get("images") and o["images"][0]["filename"].startswith(
        "semanticdraw_live") for o in e.get("outputs", {}).values())]
    assert live and previews >= 1

    # Escape returns to the graph; the node shows the painting and the latest frame side by side, inside the node
    page.keyboard.press("Escape")
    assert page.locator(".sd-editor").count() == 0
    views = page.evaluate(f"""() => {{
        const c = {CANVAS}, r = (e) => e.getBoundingClientRect(), root = r(c.root), t = r(c.thumb), f = r(c.frame);
        const inside = (b) => b.width > 40 && b.height > 40 && b.left >= root.left - 0.5 && b.right <= root.right + 0.5
            && b.top >= root.top - 0.5 && b.bottom <= root.bottom + 0.5;
        return [inside(t), inside(f), t.right <= f.left + 0.5, c.frame.src.startsWith('data:image/jpeg')];
    }}""")
    assert views == [True, True, True, True]

    # 7: save and reload: the same painting (from the input folder), the same brushes and background file, all in
    # hidden widgets
    open_editor(page)
    background_name = upload_background(page, background)
    assert (server.base / "input" / background_name).read_bytes() == background.read_bytes()
    page.keyboard.press("Escape")
    before = pixels(page)
    page.evaluate(f"() => {CANVAS}.flushSave()")
    saved = page.evaluate("() => app.graph.serialize()")
    text = json.dumps(saved)
    assert "data:image" not in text and "base64" not in text and len(text) < 100_000
    canvas = next(n for n in saved["nodes"] if n["type"] == "SemanticDrawCanvas")
    name = canvas["widgets_values"][4]
    assert (server.base / "input" / name).is_file()
    hidden = page.evaluate(f"() => {CANVAS}.node.widgets.filter(w => w.hidden).map(w => w.name).sort()")
    assert hidden == ["background_file", "brushes", "live", "painting"]
    page.evaluate("() => app.graph.clear()")
    load_workflow(page, saved)
    page.wait_for_function(f"() => {CANVAS} && {CANVAS}.loaded")
    page.evaluate(f"() => {CANVAS}.loaded")
    after = pixels(page)
    assert max(abs(a - b) for a, b in zip(before, after)) <= 2
    open_editor(page)
    prompts = page.evaluate("() => Array.from(document.querySelectorAll('.sd-editor .sd-prompt')).map(e => e.value)")
    assert prompts == ["a green pear\non a table", "a green hill", "a bright yellow sun"]
    assert canvas_value(page, "w.background_file.value") == background_name
    assert background_name.split("/")[-1] in canvas_value(page, "editor.underlay.src")
    assert not page.evaluate("() => Object.values(localStorage).some(v => v.includes('data:image/png'))")
    page.keyboard.press("Escape")

    # 8: Queue Prompt renders the painting with the still sampler
    count = len(server.get("/history"))
    page.evaluate("() => app.queuePrompt(0, 1)")
    for _ in range(3000):
        if len(server.get("/history")) > count and idle(server):
            break
        page.wait_for_timeout(200)
    entry = list(server.get("/history").values())[-1]
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert any(i["filename"].startswith("semanticdraw_canvas") for o in entry["outputs"].values()
               for i in o.get("images", []))


SUBGRAPH = """() => {
    const graph = app.graph, node = graph.nodes.find(n => n.type === 'SemanticDrawCanvas');
    const { node: outer } = graph.convertToSubgraph(new Set([node]));
    app.canvas.setDirty(true, true);
    return String(outer.id);
}"""
INNER = "app.graph.nodes.find(n => n.isSubgraphNode?.()).subgraph.nodes.find(n => n.type === 'SemanticDrawCanvas')"
OPEN_SUBGRAPH = """() => new Promise(r => {
    const outer = app.graph.nodes.find(n => n.isSubgraphNode?.());
    app.canvas.openSubgraph(outer.subgraph, outer);
    app.canvas.ds.offset = [0, 0]; app.canvas.ds.scale = 1; app.canvas.setDirty(true, true);
    requestAnimationFrame(() => requestAnimationFrame(r));
})"""


def test_live_inside_a_subgraph_sends_the_subgraph_path_and_gets_frames(canvas_page):
    """The canvas moved into a subgraph: Live starts its session under the execution id "<subgraph node>:<canvas>",
    which the executor runs the node as, and the frames find the node by that path."""
    page, server = canvas_page, canvas_page.server
    show_graph(page, small_workflow())
    outer = page.evaluate(SUBGRAPH)
    inner = f"{INNER}.semanticdrawCanvas"
    path = page.evaluate(f"() => [{INNER}.id, {inner}.live.host.executionId()]")
    assert path[1] == f"{outer}:{path[0]}"
    page.evaluate(OPEN_SUBGRAPH)
    open_editor(page)
    drag(page, 0, [(8, 10), (50, 10)])
    editor_button(page, "Live").click()
    wait_data(page, "+d.previews >= 2 && d.liveState === 'running'", canvas=inner)
    assert page.evaluate(f"() => {inner}.editor.frame.src.startsWith('data:image/jpeg')")
    editor_button(page, "Stop").click()
    wait_data(page, "d.liveState === 'ended'", canvas=inner)
    wait_idle(page, server)
    prompt_nodes = [entry["prompt"][2] for entry in server.get("/history").values()]
    assert any(f"{outer}:{path[0]}" in nodes for nodes in prompt_nodes)
