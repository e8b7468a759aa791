"""The canvas' painting tools in the real frontend, driven by real mouse and keyboard events (no Live): eraser, fill,
clear, undo/redo of more than 50 steps, the B/E/F and [ ] shortcuts (not while typing a prompt) and the Alt+click
eyedropper. Expected pixels are the brush colours (or transparent), read back from the canvas. Ctrl+Z must undo the
stroke and leave the graph alone (the frontend's own undo would reload the node from its last saved painting)."""
from test_live_canvas import EDITOR, SIZE, at, drag, near, pixels, small_workflow
from tools.browser import load_workflow

SKY, HILL = (0x87, 0xce, 0xeb, 255), (0x22, 0x8b, 0x22, 255)  # brushes 0 and 1 of workflows/live_canvas.json
CLEAR = (0, 0, 0, 0)
GRAPH_UNDO_STEPS = "() => app.extensionManager.workflow.activeWorkflow.changeTracker.undoQueue.length"


def editor(page, expression: str):
    return page.evaluate(f"() => {EDITOR}.{expression}")


def key(page, name: str) -> None:
    """A key press after clicking in the node (the canvas or a button), as a user types while painting."""
    assert page.evaluate("() => document.activeElement.className") == "semanticdraw-keys"
    page.keyboard.press(name)


def click_canvas(page, x: int, y: int, hold: str = "") -> None:
    """A click on canvas pixel (x, y), with a modifier key held if given."""
    box = page.locator(".semanticdraw-paint").bounding_box()
    if hold:
        page.keyboard.down(hold)
    page.mouse.click(box["x"] + (x + 0.5) * box["width"] / SIZE, box["y"] + (y + 0.5) * box["height"] / SIZE)
    if hold:
        page.keyboard.up(hold)


def test_eraser_fill_clear_undo_redo_shortcuts_and_eyedropper(comfy_page):
    page = comfy_page
    load_workflow(page, small_workflow())
    page.evaluate("() => { app.canvas.ds.offset = [0, 0]; app.canvas.ds.scale = 1; app.canvas.setDirty(true, true); }")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.evaluate(f"() => {{ {EDITOR}.size = 6; }}")

    # a stroke with brush 0; the eraser (E) cuts it; undo brings the cut back, redo cuts again
    drag(page, 0, [(4, 10), (60, 10)])
    assert near(at(pixels(page), 30, 10), SKY)
    key(page, "e")
    assert editor(page, "tool") == "eraser"
    drag(page, 0, [(30, 2), (30, 20)])
    assert at(pixels(page), 30, 10) == CLEAR and near(at(pixels(page), 10, 10), SKY)
    page.evaluate(f"() => {EDITOR}.flushSave()")  # saved with the cut: a graph undo would bring that back
    graph_undo = page.evaluate(GRAPH_UNDO_STEPS)
    key(page, "Control+z")
    page.evaluate(f"async () => {{ await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r))); "
                  f"await {EDITOR}.loaded; }}")  # a graph undo, had it run, would have reloaded the node by now
    assert near(at(pixels(page), 30, 10), SKY)
    assert page.evaluate(GRAPH_UNDO_STEPS) == graph_undo >= 0
    key(page, "Control+y")
    assert at(pixels(page), 30, 10) == CLEAR

    # fill (F) with brush 1 fills the unpainted area it is clicked in, not the stroke
    key(page, "f")
    page.locator(".semanticdraw-brush input[type=radio]").nth(1).check()
    click_canvas(page, 40, 50)
    data = pixels(page)
    assert near(at(data, 40, 50), HILL) and near(at(data, 2, 60), HILL) and near(at(data, 10, 10), SKY)

    # Alt+click picks the brush under the pointer
    click_canvas(page, 10, 10, "Alt")
    assert editor(page, "active") == 0
    assert near(at(pixels(page), 10, 10), SKY)  # picking does not paint

    # clear, and undo of the clear
    before = pixels(page)
    page.get_by_role("button", name="Clear", exact=True).click()
    assert set(map(tuple, zip(*[iter(pixels(page))] * 4))) == {CLEAR}
    key(page, "Control+z")
    assert pixels(page) == before

    # [ and ] resize the brush; B switches back; keys typed into a prompt stay there
    size = editor(page, "size")
    key(page, "]")
    assert editor(page, "size") > size
    key(page, "[")
    key(page, "[")
    assert editor(page, "size") < size
    key(page, "b")
    assert editor(page, "tool") == "brush"
    prompt = page.locator(".sd-prompt").nth(0)
    prompt.click()
    page.keyboard.type(" fe")
    assert editor(page, "tool") == "brush" and " fe" in prompt.input_value()

    # more than 50 undo steps: 60 short strokes, undone 55 times, leave the first 5
    page.evaluate(f"() => {{ {EDITOR}.size = 2; }}")
    page.get_by_role("button", name="Clear", exact=True).click()
    for i in range(60):
        drag(page, i % 2, [(2 + i, 30), (2 + i, 31)])
    assert near(at(pixels(page), 61, 30), HILL)  # the last stroke (brush 1)
    for _ in range(55):
        key(page, "Control+z")
    data = pixels(page)
    assert near(at(data, 6, 30), SKY) and at(data, 8, 30) == CLEAR and at(data, 40, 30) == CLEAR
    for _ in range(55):
        key(page, "Control+y")
    assert near(at(pixels(page), 61, 30), HILL)
