"""The Editor's painting tools in the real frontend, driven by real mouse and keyboard events (no Live): eraser, fill,
clear, undo/redo of more than 50 steps, the B/E/F and [ ] shortcuts (not while typing a prompt) and the Alt+click
eyedropper. Expected pixels are the brush colours (or transparent), read back from the canvas. Ctrl+Z must undo the
stroke and leave the graph alone (the frontend's own undo would reload the node from its last saved painting)."""
from canvas_support import (CANVAS, CLEAR, HILL, SKY, at, canvas_value, click_canvas, drag, editor_button, near,
                            open_editor, pixels, select_brush, show_graph, small_workflow)

GRAPH_UNDO_STEPS = "() => app.extensionManager.workflow.activeWorkflow.changeTracker.undoQueue.length"


def test_eraser_fill_clear_undo_redo_shortcuts_and_eyedropper(canvas_page):
    page = canvas_page
    show_graph(page, small_workflow())
    open_editor(page)
    page.evaluate(f"() => {CANVAS}.editor.setSize(6)")

    # a stroke with brush 0; the eraser (E) cuts it; undo brings the cut back, redo cuts again
    drag(page, 0, [(4, 10), (60, 10)])
    assert near(at(pixels(page), 30, 10), SKY)
    page.keyboard.press("e")
    assert canvas_value(page, "painting.tool") == "eraser"
    drag(page, None, [(30, 2), (30, 20)])
    assert at(pixels(page), 30, 10) == CLEAR and near(at(pixels(page), 10, 10), SKY)
    page.evaluate(f"() => {CANVAS}.flushSave()")  # saved with the cut: a graph undo would bring that back
    graph_undo = page.evaluate(GRAPH_UNDO_STEPS)
    page.keyboard.press("Control+z")
    page.evaluate(f"async () => {{ await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r))); "
                  f"await {CANVAS}.loaded; }}")  # a graph undo, had it run, would have reloaded the node by now
    assert near(at(pixels(page), 30, 10), SKY)
    assert page.evaluate(GRAPH_UNDO_STEPS) == graph_undo >= 0
    page.keyboard.press("Control+y")
    assert at(pixels(page), 30, 10) == CLEAR

    # fill (F) with brush 1 fills the unpainted area it is clicked in, not the stroke
    page.keyboard.press("f")
    select_brush(page, 1)
    click_canvas(page, 40, 50)
    data = pixels(page)
    assert near(at(data, 40, 50), HILL) and near(at(data, 2, 60), HILL) and near(at(data, 10, 10), SKY)

    # Alt+click picks the brush under the pointer
    click_canvas(page, 10, 10, "Alt")
    assert canvas_value(page, "table.active") == 0
    assert near(at(pixels(page), 10, 10), SKY)  # picking does not paint

    # clear, and undo of the clear
    before = pixels(page)
    editor_button(page, "Clear").click()
    assert set(map(tuple, zip(*[iter(pixels(page))] * 4))) == {CLEAR}
    page.keyboard.press("Control+z")
    assert pixels(page) == before

    # [ and ] resize the brush; B switches back; keys typed into a prompt stay there
    size = canvas_value(page, "painting.size")
    page.keyboard.press("]")
    assert canvas_value(page, "painting.size") > size
    page.keyboard.press("[")
    page.keyboard.press("[")
    assert canvas_value(page, "painting.size") < size
    page.keyboard.press("b")
    assert canvas_value(page, "painting.tool") == "brush"
    prompt = page.locator(".sd-editor .sd-prompt").nth(0)
    prompt.click()
    page.keyboard.type(" fe")
    assert canvas_value(page, "painting.tool") == "brush" and " fe" in prompt.input_value()

    # more than 50 undo steps: 60 short strokes, undone 55 times, leave the first 5
    page.evaluate(f"() => {CANVAS}.editor.setSize(2)")
    editor_button(page, "Clear").click()
    for i in range(60):
        drag(page, i % 2, [(2 + i, 30), (2 + i, 31)])
    assert near(at(pixels(page), 61, 30), HILL)  # the last stroke (brush 1)
    for _ in range(55):
        page.keyboard.press("Control+z")
    data = pixels(page)
    assert near(at(data, 6, 30), SKY) and at(data, 8, 30) == CLEAR and at(data, 40, 30) == CLEAR
    for _ in range(55):
        page.keyboard.press("Control+y")
    assert near(at(pixels(page), 61, 30), HILL)
