"""Live-session routes under /semanticdraw/live/ (aiohttp, on PromptServer.instance.routes); protocol in
README "Paint live". Thin: every request is size-capped and validated here, then handed to the engine's LiveHub.

All routes take and return JSON. `start` returns the session's unguessable token; every other route needs it
(unknown session or wrong token: 404). No route writes files or fetches URLs: paintings arrive in the body as
base64 PNG, decoded with a pixel cap; the one file a route reads is a `background_file` named in an update, through
the canvas node's own loader, confined to ComfyUI's input folder (realpath + commonpath) and pixel-capped.

Nothing slow runs on the server's event loop (it carries every client's websocket): parsing a body, decoding a
painting or a background image and encoding a PNG run on a worker thread (`asyncio.to_thread`). Any body gets a 4xx
JSON answer naming the field, never a server path or an object's repr.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import io as pyio
import json
import logging
import math

from aiohttp import web

from ..engine.errors import SemanticDrawInputError
from ..engine.live import DEFAULT_TIMEOUT_S, MAX_BODY, LiveError, check_canvas_size, check_prompt, parse_brushes
from .host.canvas import PAINTING_FORMATS, decode_rgba, load_background
from .host.errors import NodeInputError
from .host.live import HUB

PREFIX = "/semanticdraw/live"
EDIT_FIELDS = {"brushes", "background_prompt", "painting", "background_file"}
MAX_NAME = 512  # characters of a file name in the input folder


def parse_json(body: bytes) -> dict:
    """The body as a JSON object (a worker-thread job: a 24 MB body takes a while to parse)."""
    try:
        data = json.loads(body or b"{}")
    except RecursionError:
        raise LiveError(400, "body nests too deeply; a live request is a flat JSON object") from None
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError, and integers too long to convert
        where = f" at character {e.pos}" if isinstance(e, json.JSONDecodeError) else ""
        raise LiveError(400, f"body is not valid JSON{where}") from None
    if not isinstance(data, dict):
        raise LiveError(400, f"body must be a JSON object, got {type(data).__name__}")
    return data


async def read_json(request: web.Request) -> dict:
    """The body as a JSON object, refusing more than MAX_BODY bytes before reading them all."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise LiveError(413, f"request body of {request.content_length} bytes exceeds the limit of {MAX_BODY}")
    body = bytearray()
    while chunk := await request.content.read(1 << 16):
        body += chunk
        if len(body) > MAX_BODY:
            raise LiveError(413, f"request body exceeds the limit of {MAX_BODY} bytes")
    return await asyncio.to_thread(parse_json, bytes(body))


def decode_painting(value, width: int, height: int):
    """A base64 PNG (optionally a data: URL) -> `[H, W, 4]` tensor; must have the session's canvas size."""
    if not isinstance(value, str):
        raise LiveError(400, "painting must be a base64 PNG string (a data: URL works)")
    try:
        raw = base64.b64decode(value.split(",", 1)[1] if value.startswith("data:") else value, validate=True)
    except (binascii.Error, ValueError, IndexError):
        raise LiveError(400, "painting is not valid base64") from None
    try:
        image = decode_rgba(pyio.BytesIO(raw), "painting", PAINTING_FORMATS)
    except NodeInputError as e:
        raise LiveError(400, str(e)) from None
    if tuple(image.shape[:2]) != (height, width):
        raise LiveError(400, f"painting is {image.shape[1]}x{image.shape[0]} but the live canvas is {width}x{height}; "
                             "stop Live to change the canvas size")
    return image


def parse_edit(data: dict, width: int, height: int) -> dict:
    """The validated edit of an update body: brushes, background_prompt, painting and/or background_file (a
    worker-thread job: it decodes images)."""
    unknown = sorted(str(k)[:40] for k in set(data) - EDIT_FIELDS - {"session", "token"})
    if unknown:
        raise LiveError(400, f"unknown fields {unknown[:8]}; an update takes {sorted(EDIT_FIELDS)}")
    edit = {}
    if "brushes" in data:
        edit["brushes"] = parse_brushes(data["brushes"])
    if "background_prompt" in data:
        edit["background_prompt"] = check_prompt(data["background_prompt"], "background_prompt")
    if "painting" in data:
        edit["painting"] = decode_painting(data["painting"], width, height)
    if "background_file" in data:
        name = data["background_file"]
        if not isinstance(name, str) or len(name) > MAX_NAME or "\0" in name:
            raise LiveError(400, f"background_file must be a file name in the input folder (at most {MAX_NAME} "
                                 "characters) or empty for none")
        try:
            edit["background_image"] = load_background(name)
        except NodeInputError as e:
            raise LiveError(400, str(e)) from None
    return edit


def png_base64(image) -> str:
    buf = pyio.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return base64.b64encode(buf.getvalue()).decode()


async def start(request: web.Request) -> web.Response:
    data = await read_json(request)
    client_id, node_id = data.get("client_id"), data.get("node_id")
    if not isinstance(client_id, str) or not client_id or len(client_id) > 256:
        raise LiveError(400, "client_id must be the websocket's client id (a non-empty string)")
    if not isinstance(node_id, (str, int)) or isinstance(node_id, bool) or len(str(node_id)) > 64:
        raise LiveError(400, "node_id must be the canvas node's execution id: its id, or inside a subgraph the path "
                             "of node ids joined by ':' (e.g. '12:5'), at most 64 characters")
    timeout = data.get("timeout_s", DEFAULT_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) \
            or not 1 <= timeout <= 600:
        raise LiveError(400, "timeout_s must be a number of seconds in [1, 600]")
    width, height = data.get("width"), data.get("height")
    check_canvas_size(width, height)
    session = HUB.start(client_id, str(node_id), width, height, float(timeout))
    return web.json_response({"session": session.id, "token": session.token, "status": session.status()})


async def owned_session(request: web.Request):
    """The request's JSON body and the session its `session` + `token` name (4xx JSON for any other)."""
    data = await read_json(request)
    return data, HUB.get(data.get("session"), data.get("token"))


async def update(request: web.Request) -> web.Response:
    data, session = await owned_session(request)
    edit = await asyncio.to_thread(parse_edit, data, session.width, session.height)
    return web.json_response(session.update(edit))


async def frame(request: web.Request) -> web.Response:
    """Ask for the next frame (the client is ready for one); also the keep-alive."""
    _, session = await owned_session(request)
    return web.json_response(session.request_frame())


async def read(request: web.Request) -> web.Response:
    """The last frame sent (base64 PNG, its index; null before the first) and a request for the next one."""
    _, session = await owned_session(request)
    image, index, status = session.read()
    png = None if image is None else await asyncio.to_thread(png_base64, image)
    return web.json_response({"index": index, "image": png, "status": status})


async def stop(request: web.Request) -> web.Response:
    _, session = await owned_session(request)
    return web.json_response(session.stop())


async def status(request: web.Request) -> web.Response:
    _, session = await owned_session(request)
    return web.json_response(session.status())


HANDLERS = {"start": start, "update": update, "frame": frame, "read": read, "stop": stop, "status": status}


async def dispatch(request: web.Request) -> web.Response:
    """One entry for every live route: refusals become 4xx JSON `{"error": message}`; an unexpected error is logged
    with its traceback and answered 500 without details."""
    action = request.match_info["action"]
    handler = HANDLERS.get(action)
    if handler is None:
        return web.json_response({"error": f"unknown live action; use one of {sorted(HANDLERS)}"}, status=404)
    try:
        return await handler(request)
    except LiveError as e:
        return web.json_response({"error": e.message}, status=e.status)
    except SemanticDrawInputError as e:
        return web.json_response({"error": str(e)}, status=400)
    except Exception:
        logging.exception("SemanticDraw live route %s failed", action)
        return web.json_response({"error": f"{action} failed inside the server; see the server log"}, status=500)


def register_with_server() -> None:
    """Add the routes to the running server (none when the host is imported without one, as in tests)."""
    from server import PromptServer
    server = getattr(PromptServer, "instance", None)
    if server is not None:
        server.routes.post(PREFIX + "/{action}")(dispatch)
