"""Drive a SemanticDraw live session from Python: a painting app (Krita, Photoshop, a tablet app) can use a ComfyUI
server with this pack as its live engine. Standard library plus Pillow. Protocol: README "Paint live".

    python tools/live_client.py --url http://127.0.0.1:8188 --prompt live_api.json --node 3 \\
        --brushes brushes.json --out frames/ canvas_0.png canvas_1.png ...

`--prompt` is an API-format prompt (ComfyUI's "Export (API)") holding a SemanticDrawCanvas node `--node`; the
client starts a session, queues the prompt with live on, sends each canvas image as an update, saves the frames
that follow it until the stream settles, then stops the session (the prompt then finishes with the last frame as
the node's output).
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Optional

from PIL import Image


class LiveClientError(RuntimeError):
    """The server refused a request; carries the HTTP status and the server's message."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status, self.message = status, message


def png_base64(image) -> str:
    """A PIL image, a path or PNG bytes as base64 PNG."""
    if isinstance(image, (str, Path)):
        image = Image.open(image)
    if isinstance(image, Image.Image):
        buf = io.BytesIO()
        image.convert("RGBA").save(buf, format="PNG")
        image = buf.getvalue()
    return base64.b64encode(image).decode()


class LiveClient:
    """One live session: `start`, then `update` / `read` / `status`, then `stop`."""

    def __init__(self, url: str, client_id: Optional[str] = None, timeout: float = 30):
        self.url, self.client_id, self.timeout = url.rstrip("/"), client_id or uuid.uuid4().hex, timeout
        self.session: Optional[str] = None
        self.token: Optional[str] = None

    def post(self, path: str, body: dict) -> dict:
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")
            try:
                message = json.loads(text).get("error", text)
            except (json.JSONDecodeError, AttributeError):
                message = text
            raise LiveClientError(e.code, message) from None

    def _live(self, action: str, **body) -> dict:
        return self.post(f"/semanticdraw/live/{action}", {"session": self.session, "token": self.token, **body})

    def start(self, node_id, width: int, height: int, timeout_s: float = 30) -> dict:
        out = self.post("/semanticdraw/live/start", {"client_id": self.client_id, "node_id": str(node_id),
                                                     "width": width, "height": height, "timeout_s": timeout_s})
        self.session, self.token = out["session"], out["token"]
        return out["status"]

    def queue(self, prompt: dict, node_id) -> str:
        """Queue `prompt` with live on for the canvas node (the executor then runs the session)."""
        prompt = json.loads(json.dumps(prompt))
        prompt[str(node_id)]["inputs"]["live"] = True
        return self.post("/prompt", {"prompt": prompt, "client_id": self.client_id})["prompt_id"]

    def update(self, painting=None, brushes=None, background_prompt: Optional[str] = None) -> dict:
        body = {}
        if painting is not None:
            body["painting"] = png_base64(painting)
        if brushes is not None:
            body["brushes"] = brushes
        if background_prompt is not None:
            body["background_prompt"] = background_prompt
        return self._live("update", **body)

    def request_frame(self) -> dict:
        return self._live("frame")

    def read(self) -> tuple[int, Optional[Image.Image], dict]:
        """The last frame sent (index, image or None) and the status; also asks for the next frame."""
        out = self._live("read")
        image = Image.open(io.BytesIO(base64.b64decode(out["image"]))) if out["image"] else None
        return out["index"], image, out["status"]

    def status(self) -> dict:
        return self._live("status")

    def stop(self) -> dict:
        return self._live("stop")

    def next_frame(self, after: int, timeout: float = 120) -> tuple[int, Image.Image, dict]:
        """Poll `read` until a frame newer than index `after` arrives."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            index, image, status = self.read()
            if image is not None and index > after:
                return index, image, status
            if status["state"] in ("ended", "failed"):
                raise LiveClientError(409, f"session ended: {status['message']}")
            time.sleep(0.02)  # polling interval of this simple client (the browser waits on the websocket instead)
        raise TimeoutError(f"no frame after index {after} within {timeout} s")

    def settle(self, after: int, timeout: float = 120) -> list[tuple[int, Image.Image]]:
        """Frames newer than index `after` until the stream is idle (the scene has stopped changing): the frames
        that follow one edit. With one frame in flight, frames computed while one was in transit are skipped."""
        frames, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            index, image, status = self.read()
            if image is not None and index > after:
                frames.append((index, image))
                after = index
            if status["state"] in ("ended", "failed"):
                raise LiveClientError(409, f"session ended: {status['message']}")
            if frames and not status["busy"] and status["frames"] == after + 1:
                return frames
            time.sleep(0.02)
        raise TimeoutError(f"the stream did not settle within {timeout} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8188")
    ap.add_argument("--prompt", type=Path, required=True, help="API-format prompt with a SemanticDrawCanvas node")
    ap.add_argument("--node", required=True, help="id of the SemanticDrawCanvas node in the prompt")
    ap.add_argument("--brushes", type=Path, help="brush table JSON (default: the node's)")
    ap.add_argument("--out", type=Path, default=Path("live_frames"))
    ap.add_argument("images", nargs="+", type=Path, help="canvas images (PNG, the canvas size), sent in order")
    a = ap.parse_args()
    prompt = json.loads(a.prompt.read_text())
    inputs = prompt[str(a.node)]["inputs"]
    client = LiveClient(a.url)
    client.start(a.node, inputs["width"], inputs["height"])
    prompt_id = client.queue(prompt, a.node)
    a.out.mkdir(parents=True, exist_ok=True)
    brushes = json.loads(a.brushes.read_text()) if a.brushes else None
    index = -1
    for n, path in enumerate(a.images):
        status = client.update(painting=path, brushes=brushes if n == 0 else None)
        for index, image in client.settle(index):
            image.save(a.out / f"frame_{n:03d}_{index:05d}.png")
        status = client.status()
        print(f"{path.name}: {status['fps']} frames/s, latency {status['latency_ms']} ms "
              f"({status['latency_frames']} frames)")
    print(json.dumps(client.stop()))
    print(f"prompt {prompt_id}: frames in {a.out}")


if __name__ == "__main__":
    main()
