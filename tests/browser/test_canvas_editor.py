"""The Editor's brush table and background on each frontend + rendering combination: whole multi-line prompts shown
and stored, numbers shown as set, rows reordered by dragging their handle (real mouse), a new colour from the picker
repaints the brush's strokes, paint whose colour matches no brush is reported with an offer to add a brush for it,
an image file dropped on the painting or pasted into the editor (or dropped on the node) becomes the background
through the same upload, Close returns to the graph. Files cannot be dragged in from outside the page by a mouse, so
the drop and paste events carry a DataTransfer built in the page."""
import io
import json

from PIL import Image

from canvas_support import (CANVAS, HILL, SKY, at, canvas_value, drag, editor_button, near, open_editor, pixels,
                            show_graph, small_workflow)

LONG = "a clear blue summer sky with a few small white clouds drifting slowly\nover distant snowy mountains"
DELIVER = """async ({target, type, bytes, name}) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([new Uint8Array(bytes)], name, {type: 'image/png'}));
    const element = target === 'focus' ? document.activeElement : document.querySelector(target);
    const event = type === 'paste'
        ? new ClipboardEvent('paste', {clipboardData: transfer, bubbles: true, cancelable: true})
        : new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true});
    element.dispatchEvent(event);
    return event.defaultPrevented;
}"""


def png(colour) -> list:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(buf, format="PNG")
    return list(buf.getvalue())


def stored(page) -> list:
    return json.loads(canvas_value(page, "w.brushes.value"))


def deliver(page, target: str, kind: str, colour) -> str:
    """Drop or paste a PNG of `colour` on `target`; returns the background file it became."""
    before = canvas_value(page, "w.background_file.value")
    assert page.evaluate(DELIVER, {"target": target, "type": kind, "bytes": png(colour), "name": "x.png"})
    page.wait_for_function(f"(b) => {CANVAS}.w.background_file.value !== b", arg=before)
    return canvas_value(page, "w.background_file.value")


def test_brush_table_reorder_colours_unused_warning_and_background_drop_paste(canvas_page):
    page, server = canvas_page, canvas_page.server
    show_graph(page, small_workflow())
    open_editor(page)
    rows = page.locator(".sd-editor .sd-brush")

    # a whole multi-line prompt is shown (no hidden overflow) and stored; numbers are shown as they are set
    prompt = rows.nth(0).locator(".sd-prompt")
    prompt.fill(LONG)
    prompt.blur()
    assert stored(page)[0]["prompt"] == LONG
    fits = "e => e.scrollHeight <= e.clientHeight + 1 && e.scrollWidth <= e.clientWidth + 1 && e.clientWidth > 200"
    assert prompt.evaluate(fits) and prompt.input_value() == LONG
    assert rows.nth(0).locator(".sd-prompt_strength").input_value() == "0.95"
    mask = rows.nth(1).locator(".sd-mask_strength")
    mask.fill("0.35")
    mask.blur()
    assert stored(page)[1]["mask_strength"] == 0.35 and rows.nth(1).locator(".sd-mask_strength").input_value() == "0.35"
    assert mask.evaluate("e => e.scrollWidth <= e.clientWidth + 1")

    # drag the first row's handle below the last row: the order (and the paint order) changes, the active brush
    # stays the same brush
    drag(page, 0, [(4, 10), (60, 10)])
    start, end = rows.nth(0).locator(".sd-handle").bounding_box(), rows.nth(2).bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(start["x"] + 4, end["y"] + end["height"] * 0.8, steps=8)
    page.mouse.up()
    assert [b["prompt"] for b in stored(page)] == ["a green hill", "a bright yellow sun", LONG]
    assert canvas_value(page, "table.active") == 2

    # a new colour from the picker repaints the brush's strokes
    rows.nth(2).locator(".sd-colour").fill("#ff0000")
    page.wait_for_function(f"() => JSON.parse({CANVAS}.w.brushes.value)[2].colour === '#ff0000'")
    assert near(at(pixels(page), 30, 10), (255, 0, 0, 255))

    # removing a brush whose paint stays: its colour is reported; "Add brush" gives the paint a brush again
    drag(page, 0, [(4, 40), (60, 40)])
    assert near(at(pixels(page), 30, 40), HILL)
    warning = page.locator(".sd-editor .sd-warning")
    assert warning.inner_text() == ""
    rows.nth(0).get_by_role("button", name="✕").click()
    page.wait_for_function(f"() => {CANVAS}.table.warning.textContent.includes('#228b22')", timeout=30_000)
    assert "Unused colour #228b22" in warning.inner_text()
    warning.get_by_role("button", name="Add brush").click()
    assert stored(page)[-1]["colour"] == "#228b22" and warning.inner_text() == ""

    # an image dropped on the painting, or pasted into the editor, becomes the background through the upload
    dropped = deliver(page, ".sd-editor .sd-stage", "drop", (20, 200, 60))
    assert dropped.startswith("semanticdraw/background_") and (server.base / "input" / dropped).is_file()
    page.wait_for_function(f"() => {CANVAS}.editor.underlay.src.includes('{dropped.split('/')[-1]}')")
    page.locator(".sd-editor h2").click()  # focus stays in the editor, as after any click in it
    pasted = deliver(page, "focus", "paste", (200, 20, 60))
    assert pasted != dropped and (server.base / "input" / pasted).is_file()
    assert near(at(pixels(page), 30, 10), (255, 0, 0, 255)) and near(at(pixels(page), 30, 40), HILL)

    # Close returns to the graph; an image dropped on the node's view also becomes the background
    editor_button(page, "Close").click()
    assert page.locator(".sd-editor").count() == 0
    on_node = deliver(page, ".sd-node .sd-views", "drop", (60, 60, 200))
    assert on_node not in (dropped, pasted)
    page.wait_for_function(f"""() => {{  // unpainted pixels of the node's view show the new background
        const [r, g, b] = {CANVAS}.thumb.getContext('2d').getImageData(40, 60, 1, 1).data;
        return Math.abs(r - 60) + Math.abs(g - 60) + Math.abs(b - 200) <= 6; }}""")
    assert near(at(pixels(page), 30, 40), HILL) and not near(at(pixels(page), 30, 40), SKY)
