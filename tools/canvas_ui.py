"""Driving the SemanticDraw Canvas in the real frontend as a person does (Playwright page, real mouse events): open a
workflow at scale 1, press the node's Editor button, pick a brush, drag strokes on the painting, press the editor's
buttons, wait on the node's live readout. Used by tests/browser and tools/canvas_screenshots.py."""
from __future__ import annotations

from tools.browser import load_workflow

CANVAS = "app.graph.nodes.find(n => n.type === 'SemanticDrawCanvas').semanticdrawCanvas"  # the first canvas node
FRAMES = "requestAnimationFrame(() => requestAnimationFrame(r))"


def show_graph(page, workflow: dict) -> None:
    """Open a workflow at scale 1, its top-left corner in view."""
    load_workflow(page, workflow)
    page.evaluate(f"() => new Promise(r => {{ app.canvas.ds.offset = [0, 0]; app.canvas.ds.scale = 1; "
                  f"app.canvas.setDirty(true, true); {FRAMES}; }})")


def open_editor(page) -> None:
    """Press the node's Editor button (a real click) and wait until the editor is laid out."""
    page.locator(".sd-node").get_by_role("button", name="Editor", exact=True).click()
    page.wait_for_function("() => { const p = document.querySelector('.sd-editor .sd-paint'); "
                           "return p && p.getBoundingClientRect().width > 100; }")


def editor_button(page, name: str):
    return page.locator(".sd-editor").get_by_role("button", name=name, exact=True)


def to_page(page, x: float, y: float, size: int) -> tuple:
    """Page coordinates of the centre of pixel (x, y) of the editor's size x size painting."""
    box = page.locator(".sd-editor .sd-paint").bounding_box()
    return box["x"] + (x + 0.5) * box["width"] / size, box["y"] + (y + 0.5) * box["height"] / size


def select_brush(page, brush: int) -> None:
    page.locator(".sd-editor .sd-brush .sd-select").nth(brush).check()


def drag(page, brush, points, size: int) -> None:
    """Select brush `brush` in the table (None: keep the tool's brush) and drag the mouse through canvas `points`."""
    if brush is not None:
        select_brush(page, brush)
    path = [to_page(page, x, y, size) for x, y in points]
    page.mouse.move(*path[0])
    page.mouse.down()
    for p in path[1:]:
        page.mouse.move(*p, steps=4)
    page.mouse.up()


def wait_data(page, condition: str, canvas: str = CANVAS, timeout=600_000) -> dict:
    """Wait until the node's live readout (its dataset `d`) meets `condition`; returns the readout. A timeout names
    the condition and the readout it last saw."""
    readout = f"() => ({{...{canvas}.root.dataset, status: {canvas}.statusText}})"
    try:
        page.wait_for_function(f"() => {{ const d = {canvas}.root.dataset; return {condition}; }}", timeout=timeout)
    except Exception as err:
        raise AssertionError(f"waiting for {condition!r}: the readout is {page.evaluate(readout)}") from err
    return page.evaluate(readout)
