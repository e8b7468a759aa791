"""The real ComfyUI frontend in Debian's headless Chromium, driven by Playwright (never a downloaded browser).

    with browser_session() as browser:
        page, errors = open_frontend(browser, server.url)
        load_workflow(page, json.loads(Path("workflows/x.json").read_text()))
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import urllib.request
from pathlib import Path
from typing import Iterator, Optional

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
# First-run dialogs off. Navigation: the legacy mouse behaviour, set explicitly ("custom"): frontend 1.27.10 throws
# an uncaught TypeError at start-up when the mode is "legacy"/"standard" (its onChange sets settings not yet added).
SETTINGS = {"Comfy.TutorialCompleted": True, "Comfy.Workflow.ShowMissingModelsWarning": False,
            "Comfy.Canvas.NavigationMode": "custom", "Comfy.Canvas.LeftMouseClickBehavior": "panning",
            "Comfy.Canvas.MouseWheelScroll": "zoom", "Comfy.Minimap.Visible": False}


NEWEST_FRONTEND = "1.58.1"  # comfyui-frontend-package installed by tools/setup_env.sh beside the venv


def frontend_root(version: str = NEWEST_FRONTEND) -> Path:
    """The `static/` folder of a frontend that tools/setup_env.sh installed (for ComfyServer(front_end_root=...))."""
    cache = Path(os.environ.get("SEMANTICDRAW_CACHE", Path.home() / ".cache" / "semanticdraw"))
    return cache / f"frontend-{version}" / "comfyui_frontend_package" / "static"


def chromium_path() -> Optional[str]:
    return CHROMIUM if shutil.which(CHROMIUM) else shutil.which("chromium")


@contextlib.contextmanager
def browser_session() -> Iterator[object]:
    """A Playwright sync Browser on the system Chromium (RuntimeError when there is none)."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError("no chromium: install Debian's chromium (apt-get install -y chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def set_settings(url: str, settings: dict) -> None:
    for key, value in settings.items():
        req = urllib.request.Request(f"{url}/settings/{key}", data=json.dumps(value).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=30).close()


def open_frontend(browser, url: str, width: int = 1600, height: int = 1000, vue: bool = False):
    """A new page on the frontend at `url`, app and graph ready, first-run dialogs off; `vue`: the Vue node rendering
    (frontend setting Comfy.VueNodes.Enabled, "Nodes 2.0"), else the classic canvas rendering.

    Returns `(page, errors)`: `errors` collects uncaught page errors (a test should assert it stays empty)."""
    set_settings(url, {**SETTINGS, "Comfy.VueNodes.Enabled": vue})
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_function("() => window.app && window.app.graph && window.app.canvas", timeout=120_000)
    return page, errors


def load_workflow(page, workflow: dict) -> None:
    """Load a UI-format workflow as the user's Open does, and wait until the canvas has drawn it."""
    page.evaluate("async (wf) => { await window.app.loadGraphData(wf); window.app.canvas.setDirty(true, true); }",
                  workflow)
    page.wait_for_function("(n) => window.app.graph.nodes.length === n", arg=len(workflow["nodes"]), timeout=60_000)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
