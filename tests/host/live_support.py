"""Helpers of the live tests: a canvas prompt for the tiny SD1.5 checkpoint, paintings, raw route calls and a
websocket client that records the live frame events (and any binary message) as the frontend receives them."""
from __future__ import annotations

import asyncio
import base64
import io
import json
import struct
import threading
import time
import urllib.error
import urllib.request

import aiohttp
from PIL import Image, ImageDraw

from tools import tiny_models

SIZE = 64
FRAME_EVENT = "semanticdraw.live_frame"  # nodes/host/live.py send_frame: a live frame to the owning client
BRUSHES = [{"colour": "#ff0000", "prompt": "a red apple"}, {"colour": "#0000ff", "prompt": "a blue lake"}]


def canvas_prompt(painting: str = "", brushes=None, live: bool = False, size: int = SIZE, seed: int = 0,
                  t_index_list: str = "0,32", preview: str = "latent2rgb", background_file: str = "",
                  progressive: bool = True) -> dict:
    """Checkpoint -> SemanticDrawCanvas (node "2") -> previews of the palette map ("3") and the live frame ("4").
    Live previews default to latent2rgb here: cheaper than the vae, and exact enough for the tests."""
    ckpt = tiny_models.FILES["sd15"]
    return {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
            "2": {"class_type": "SemanticDrawCanvas", "inputs": {
                "width": size, "height": size, "brushes": json.dumps(brushes or BRUSHES),
                "background_prompt": "a field", "painting": painting, "background_file": background_file,
                "clip": ["1", 1], "model": ["1", 0], "vae": ["1", 2], "live": live, "seed": seed,
                "t_index_list": t_index_list, "scheduler": "sgm_uniform", "cfg_type": "none", "cfg": 1.2,
                "preview": preview, "progressive": progressive}},
            "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 1]}},
            "4": {"class_type": "PreviewImage", "inputs": {"images": ["2", 3]}}}


def painting(*strokes, size: int = SIZE) -> Image.Image:
    """A transparent canvas with filled boxes `((x0, y0, x1, y1), "#rrggbb")`."""
    im = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(im)
    for box, colour in strokes:
        draw.rectangle(box, fill=colour)
    return im


def raw_post(url: str, data: bytes, headers=None) -> tuple[int, dict]:
    """POST bytes as they are; returns (status, JSON body)."""
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


class WsClient:
    """A websocket client of ComfyUI's /ws (as the frontend: it announces `supports_preview_metadata`), on its own
    thread; records live frame events `(metadata, PIL image)`, the type of every binary message, and wakes
    waiters."""

    def __init__(self, url: str, client_id: str):
        self.url, self.client_id = url.replace("http", "ws", 1) + f"/ws?clientId={client_id}", client_id
        self.previews: list[tuple[dict, Image.Image]] = []
        self.arrivals: list[float] = []  # time.monotonic() when each preview arrived
        self.binary_types: list[int] = []
        self.cond = threading.Condition()
        self.connected = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._run(),), daemon=True)
        self.thread.start()
        assert self.connected.wait(30), "websocket did not connect"

    async def _run(self):
        self.closing = asyncio.Event()
        async with aiohttp.ClientSession() as http, http.ws_connect(self.url) as ws:
            await ws.send_str(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
            self.connected.set()
            reader = asyncio.ensure_future(self._read(ws))
            await self.closing.wait()
            reader.cancel()
            await ws.close()

    async def _read(self, ws):
        async for msg in ws:
            with self.cond:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    self.binary_types.append(struct.unpack(">I", msg.data[:4])[0])
                elif msg.type == aiohttp.WSMsgType.TEXT and (event := json.loads(msg.data))["type"] == FRAME_EVENT:
                    meta = dict(event["data"])
                    image = Image.open(io.BytesIO(base64.b64decode(meta.pop("image")))).convert("RGB")
                    self.previews.append((meta, image))
                    self.arrivals.append(time.monotonic())
                self.cond.notify_all()

    def wait_previews(self, count: int, timeout: float = 300) -> list[tuple[dict, Image.Image]]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.previews) >= count, timeout), \
                f"{self.client_id}: {len(self.previews)} previews, expected {count} within {timeout} s"
            return list(self.previews)

    def close(self):
        self.loop.call_soon_threadsafe(self.closing.set)
        self.thread.join(30)
