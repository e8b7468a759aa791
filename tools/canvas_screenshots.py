"""Screenshots of the SemanticDraw Canvas in every state, for the README and for looking at (docs/canvas/*.png):
the node's compact view, the Editor, the Editor during Live (frame beside the painting) and with the frame blended over
it; dark and light theme; the host's pinned frontend and the newest one (classic and Vue node rendering).

    python tools/canvas_screenshots.py [--checkpoint FILE.safetensors] [--lora FILE.safetensors] [--size 128]

Starts a headless ComfyUI with the checkpoint (default: the toy-world checkpoint of tools/train_toy.py, with the
workflow's LoRA and ModelSamplingDiscrete nodes bypassed as the main command does: each stroke in its brush's colour),
opens workflows/live_canvas.json, paints three strokes by mouse in the Editor, runs Live until the stream idles and
saves one PNG per state: `<frontend>-<rendering>-<theme>-<state>.png`.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tools import browser, tiny_models, train_toy  # noqa: E402
from tools.canvas_ui import CANVAS, drag, editor_button, open_editor, show_graph, wait_data  # noqa: E402
from tools.comfy_host import ComfyServer, bypass_nodes  # noqa: E402
from tools.find_comfyui import REPO, find_comfyui  # noqa: E402
from tools.run_workflow import TOY_BYPASS  # noqa: E402
from tools.workflow_screenshots import save_png  # noqa: E402

COMBOS = [("fe1.27.10", None, False), (f"fe{browser.NEWEST_FRONTEND}", "newest", False),
          (f"fe{browser.NEWEST_FRONTEND}", "newest", True)]
VIEW = (1600, 1200)
WIDTH = 1200  # PNG width; quantized to a small palette
STROKES = [(0, 10, [(4, 14), (96, 10), (188, 16), (252, 12)]),  # brush, size (% of the side), points on 256x256
           (1, 22, [(0, 230), (80, 200), (170, 215), (256, 190)]), (2, 12, [(200, 56), (206, 62)])]


def workflow(checkpoint: str, lora: str, size: int, bypass: bool) -> dict:
    wf = json.loads((REPO / "workflows" / "live_canvas.json").read_text())
    for node in wf["nodes"]:
        v = node.get("widgets_values")
        if node["type"] == "CheckpointLoaderSimple":
            v[0] = checkpoint
        elif node["type"] == "LoraLoader":
            v[0] = lora
        elif node["type"] in ("SemanticDrawCanvas", "EmptyLatentImage"):
            v[0] = v[1] = size
    return bypass_nodes(wf, TOY_BYPASS if bypass else ())


def brush_colours() -> tuple:
    """(r, g, b) of each brush of workflows/live_canvas.json: kept exact in the PNG palette (the swatches are too
    small for median cut to give them entries of their own)."""
    nodes = json.loads((REPO / "workflows" / "live_canvas.json").read_text())["nodes"]
    values = next(n for n in nodes if n["type"] == "SemanticDrawCanvas")["widgets_values"]
    brushes = next(json.loads(v) for v in values if isinstance(v, str) and v.startswith("[{"))
    return tuple(tuple(bytes.fromhex(b["colour"][1:])) for b in brushes)


def save(png: bytes, path: Path) -> None:
    save_png(png, path, WIDTH, colors=256, keep=brush_colours())
    print(f"{path} ({path.stat().st_size // 1024} KiB)")


def paint(page, size: int) -> None:
    """Three strokes by mouse in the open Editor (coordinates scaled from 256 to the canvas size)."""
    for brush, width, points in STROKES:
        page.evaluate(f"(s) => {CANVAS}.editor.setSize(s)", width * size // 100)
        drag(page, brush, [(x * size // 256, y * size // 256) for x, y in points], size)


def node_clip(page) -> dict:
    box = page.evaluate(f"""() => {{
        const n = {CANVAS}.node, c = app.canvas, [x, y, w, h] = n.getBounding(), r = c.canvas.getBoundingClientRect();
        const s = c.ds.scale, [ox, oy] = c.ds.offset;
        return [r.left + (x + ox) * s, r.top + (y + oy) * s, w * s, h * s];
    }}""")
    x, y, w, h = box
    return {"x": max(0, x - 20), "y": max(0, y - 20), "width": w + 40, "height": h + 40}


def shoot_combo(session, server, name: str, vue: bool, theme: str, args, out: Path) -> list[str]:
    browser.set_settings(server.url, {"Comfy.ColorPalette": theme})
    page, errors = browser.open_frontend(session, server.url, *VIEW, vue=vue)
    stem = f"{name}-{'vue' if vue else 'classic'}-{theme}"
    show_graph(page, workflow(args.checkpoint.name, args.lora.name, args.size, args.toy))
    page.evaluate(f"""() => new Promise(r => {{  // the canvas node at the top left, at scale 1
        const [x, y] = {CANVAS}.node.pos;
        app.canvas.ds.offset = [300 - x, 100 - y]; app.canvas.setDirty(true, true);
        requestAnimationFrame(() => requestAnimationFrame(r));
    }})""")
    open_editor(page)
    paint(page, args.size)
    page.wait_for_function(f"() => {CANVAS}.w.painting.value.startsWith('semanticdraw/canvas_')")
    save(page.screenshot(), out / f"{stem}-editor.png")
    editor_button(page, "Live").click()
    wait_data(page, "+d.previews >= 3 && d.busy === 'false' && +d.previews === +d.framesSent")
    save(page.screenshot(), out / f"{stem}-live.png")
    page.locator(".sd-editor").get_by_role("button", name="Blend", exact=True).click()
    save(page.screenshot(), out / f"{stem}-blend.png")
    editor_button(page, "Stop").click()
    wait_data(page, "d.liveState === 'ended'")
    editor_button(page, "Close").click()
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    save(page.screenshot(clip=node_clip(page)), out / f"{stem}-node.png")
    page.close()
    return errors


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, help="a checkpoint file (default: the toy-world checkpoint)")
    ap.add_argument("--lora", type=Path, help="an LCM LoRA file (default: the tiny empty LoRA: no change)")
    ap.add_argument("--size", type=int, default=128, help="canvas width and height (multiple of 8)")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "canvas")
    args = ap.parse_args()
    files = tiny_models.ensure_all()
    args.toy = args.checkpoint is None
    args.checkpoint = (args.checkpoint or train_toy.checkpoint()).resolve()
    args.lora = (args.lora or files["lora"]).resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    models = {"checkpoints": [args.checkpoint], "loras": [args.lora]}
    errors = []
    with browser.browser_session() as session:
        for newest in (False, True):
            root = browser.frontend_root() if newest else None
            with ComfyServer(find_comfyui(), models=models, front_end_root=root) as server:
                for name, which, vue in COMBOS:
                    if (which == "newest") != newest:
                        continue
                    for theme in ("dark", "light"):
                        errors += shoot_combo(session, server, name, vue, theme, args, args.out)
    if errors:
        print(f"frontend errors: {errors}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
