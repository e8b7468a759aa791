"""Screenshots of every workflow as the real ComfyUI frontend draws it, for the README (docs/workflows/*.png).

    python tools/workflow_screenshots.py [--out docs/workflows]

Starts a headless ComfyUI with this pack (no models needed: a workflow opens without them), opens each
workflow in Debian's Chromium, fits it to the view and saves a small palette PNG.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tools import browser  # noqa: E402
from tools.comfy_host import ComfyServer  # noqa: E402
from tools.find_comfyui import REPO, find_comfyui  # noqa: E402

VIEW = (2000, 1250)  # browser viewport; the PNG is scaled down to WIDTH
WIDTH = 1200
SETTINGS = {"Comfy.Minimap.Visible": False, "LiteGraph.Canvas.LowQualityRenderingZoomThreshold": 0.1}
FIT = """() => {
  const nodes = app.graph.nodes, b = nodes.map(n => n.getBounding());
  const x0 = Math.min(...b.map(r => r[0])), y0 = Math.min(...b.map(r => r[1]));
  const x1 = Math.max(...b.map(r => r[0] + r[2])), y1 = Math.max(...b.map(r => r[1] + r[3]));
  const c = app.canvas, w = c.canvas.clientWidth - 100, h = c.canvas.clientHeight - 120;
  const s = Math.min(1, w / (x1 - x0), h / (y1 - y0));
  c.ds.scale = s; c.ds.offset = [70 / s - x0, 60 / s - y0];
  c.setDirty(true, true); c.draw(true, true);
}"""


def shoot(page, workflow: Path, out: Path) -> Path:
    browser.load_workflow(page, json.loads(workflow.read_text()))
    page.wait_for_function("() => app.graph.nodes.filter(n => n.type === 'LoadImage')"
                           ".every(n => n.imgs && n.imgs.length && n.imgs[0].complete)", timeout=60_000)
    page.evaluate(FIT)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    return save_png(page.locator("#graph-canvas").screenshot(), out / f"{workflow.stem}.png")


def save_png(png: bytes, path: Path, width: int = WIDTH, colors: int = 96, keep: tuple = ()) -> Path:
    """A screenshot scaled to `width` (never up) and quantized to a small palette, saved to `path`. The `keep`
    colours ((r, g, b) tuples, e.g. brush swatches: too few pixels for median cut to give them an entry of their
    own) are in the palette exactly."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        im = im.convert("RGB")
        if im.width > width:
            im = im.resize((width, round(im.height * width / im.width)), Image.LANCZOS)
        palette = im.quantize(colors=colors - len(keep), method=Image.Quantize.MEDIANCUT).getpalette()
        palette = palette[:3 * (colors - len(keep))] + [c for rgb in keep for c in rgb]
        table = Image.new("P", (1, 1))
        table.putpalette(palette + [0] * (768 - len(palette)))
        im.quantize(palette=table, dither=Image.Dither.NONE).save(path, optimize=True)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "workflows")
    ap.add_argument("workflows", nargs="*", type=Path, help="default: every workflows/*.json")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    inputs = sorted((REPO / "workflows" / "assets").glob("*.png"))
    with ComfyServer(find_comfyui(), inputs=inputs) as server, browser.browser_session() as session:
        browser.set_settings(server.url, SETTINGS)
        page, errors = browser.open_frontend(session, server.url, *VIEW)
        for workflow in args.workflows or sorted((REPO / "workflows").glob("*.json")):
            path = shoot(page, workflow, args.out)
            print(f"{path} ({path.stat().st_size // 1024} KiB)")
        if errors:
            print(f"frontend errors: {errors}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
