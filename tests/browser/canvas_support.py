"""Helpers of the canvas browser tests: the live canvas workflow on the tiny checkpoint at 64x64, the Editor opened by
its button, strokes by real mouse drags, canvas and frame pixels read back with page.evaluate, waits on the node's
live readout (its dataset) rather than sleeps."""
import json

from tools import canvas_ui, tiny_models
from tools.canvas_ui import CANVAS, editor_button, open_editor, select_brush, show_graph, wait_data  # noqa: F401
from tools.find_comfyui import REPO

SIZE = 64
SKY, HILL, SUN = (0x87, 0xce, 0xeb, 255), (0x22, 0x8b, 0x22, 255), (0xff, 0xd7, 0x00, 255)  # the workflow's brushes
CLEAR = (0, 0, 0, 0)


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
            node["pos"] = [260, 160]  # clear of the side bar and the menus of both frontends at scale 1
            node["size"] = [480, 760]
        elif node["type"] == "EmptyLatentImage":
            v[0] = v[1] = SIZE
        elif node["type"] == "SemanticDrawSampler":
            v[2] = 2  # steps
    return wf


def canvas_value(page, expression: str, canvas: str = CANVAS):
    return page.evaluate(f"() => {canvas}.{expression}")


def pixels(page, canvas: str = CANVAS) -> list:
    return page.evaluate(f"() => Array.from({canvas}.painting.image().data)")


def at(data, x, y) -> tuple:
    i = (y * SIZE + x) * 4
    return tuple(data[i:i + 4])


def near(a, b, tolerance=2) -> bool:
    return max(abs(x - y) for x, y in zip(a, b)) <= tolerance


def drag(page, brush, points) -> None:
    canvas_ui.drag(page, brush, points, SIZE)


def click_canvas(page, x: int, y: int, hold: str = "") -> None:
    """A click on canvas pixel (x, y), with a modifier key held if given."""
    if hold:
        page.keyboard.down(hold)
    page.mouse.click(*canvas_ui.to_page(page, x, y, SIZE))
    if hold:
        page.keyboard.up(hold)


def upload_background(page, path) -> str:
    """Choose a background image through the editor's Image… button (the browser's file chooser)."""
    with page.expect_file_chooser() as chooser:
        editor_button(page, "Image…").click()
    chooser.value.set_files(str(path))
    page.wait_for_function(f"() => {CANVAS}.w.background_file.value.startsWith('semanticdraw/background_')")
    return canvas_value(page, "w.background_file.value")


FRAME_PIXELS = """async (canvas) => {
    const img = canvas.frame;
    await img.decode();
    const c = new OffscreenCanvas(img.naturalWidth, img.naturalHeight), ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    return [img.naturalWidth, img.naturalHeight, Array.from(ctx.getImageData(0, 0, c.width, c.height).data)];
}"""


def settled_frame(page, canvas: str = CANVAS, size: int = SIZE) -> list:
    """RGBA pixels of the frame shown once every edit was sent and applied, the stream idles (its frames no longer
    change) and the last frame sent is the one shown. The readout is polled, so each condition is read after the
    edits were sent: a poll that began earlier is awaited first. Frames come at full canvas resolution."""
    page.wait_for_function(f"() => {{ const l = {canvas}.live; return l.running && !l.sending && !l.pending; }}")
    page.evaluate(f"() => {canvas}.live.poll()")
    wait_data(page, "d.pending === 'false' && d.busy === 'false' && +d.previews === +d.framesSent", canvas)
    width, height, data = page.evaluate(f"() => ({FRAME_PIXELS})({canvas})")
    assert (width, height) == (size, size)
    return data


def mean_difference(a: list, b: list, box) -> float:
    """Mean absolute RGB difference of two frames inside `box` (x0, y0, x1, y1), exclusive ends."""
    x0, y0, x1, y1 = box
    diffs = [abs(a[(y * SIZE + x) * 4 + c] - b[(y * SIZE + x) * 4 + c])
             for y in range(y0, y1) for x in range(x0, x1) for c in range(3)]
    return sum(diffs) / len(diffs)


def mean_colour(a: list, box) -> tuple:
    x0, y0, x1, y1 = box
    n = (x1 - x0) * (y1 - y0)
    return tuple(sum(a[(y * SIZE + x) * 4 + c] for y in range(y0, y1) for x in range(x0, x1)) / n for c in range(3))


def idle(server) -> bool:
    q = server.get("/queue")
    return not q["queue_running"] and not q["queue_pending"]


def wait_idle(page, server, polls: int = 3000) -> None:
    """Wait (polling the server's queue between animation frames' worth of page time) until nothing runs."""
    for _ in range(polls):
        if idle(server):
            return
        page.wait_for_timeout(200)
    raise AssertionError(f"the server is still busy: {server.get('/queue')}")
