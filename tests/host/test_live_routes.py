"""The canvas node through /prompt with no browser, and the live routes' validation, on the real server."""
import base64
import io
import json
import os
import uuid

import numpy as np
import pytest
from PIL import Image

from live_support import BRUSHES, SIZE, canvas_prompt, painting, raw_post
from tools.comfy_host import ComfyError
from tools.live_client import LiveClient, LiveClientError, png_base64

LIVE = "/semanticdraw/live"


def saved_outputs(prompt: dict) -> dict:
    """Save the palette map and the masks (as images) of canvas node "2" as output PNGs."""
    return prompt | {"5": {"class_type": "SaveImage", "inputs": {"images": ["2", 1], "filename_prefix": "canvas_map"}},
                     "6": {"class_type": "MaskToImage", "inputs": {"mask": ["2", 2]}},
                     "7": {"class_type": "SaveImage",
                           "inputs": {"images": ["6", 0], "filename_prefix": "canvas_masks"}}}


def healthy(server) -> None:
    assert server.get("/system_stats")["system"]
    queue = server.get("/queue")
    assert not queue["queue_running"] and not queue["queue_pending"]


def test_prompt_without_browser_reads_the_painting_and_outputs_masks_and_palette_map(comfy_server):
    im = painting(((4, 4, 27, 27), "#ff0000"), ((32, 32, 59, 59), "#0000ff"), ((20, 20, 40, 40), "#ff0000"))
    name = f"canvas_{uuid.uuid4().hex[:8]}.png"
    im.save(comfy_server.base / "input" / name)
    entry = comfy_server.run(saved_outputs(canvas_prompt(name)))
    files = sorted(comfy_server.images(entry))
    palette = np.asarray(Image.open(next(f for f in files if f.name.startswith("canvas_map"))).convert("RGB"))
    rgba = np.asarray(im, dtype=np.float64) / 255  # independent: alpha-composite over white
    expected = np.round((rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:])) * 255)
    assert np.abs(palette.astype(np.float64) - expected).max() <= 1
    masks = [np.asarray(Image.open(f).convert("L")) > 127 for f in files if f.name.startswith("canvas_masks")]
    red, blue = np.zeros((SIZE, SIZE), bool), np.zeros((SIZE, SIZE), bool)
    red[4:28, 4:28] = red[20:41, 20:41] = True  # PIL boxes include both corners
    blue[32:60, 32:60] = True
    blue[20:41, 20:41] = False  # the later red stroke paints over blue
    assert len(masks) == 2 and (masks[0] == red).all() and (masks[1] == blue).all()


def test_background_file_shows_under_the_strokes_centre_cropped_as_the_canvas_shows_it(comfy_server):
    """A 3:1 background of three bands on a square canvas: `cover` keeps only the middle band (a stretch would
    keep all three); painted pixels stay the brush colour."""
    bands = Image.new("RGB", (3 * SIZE, SIZE), "#ff8800")
    bands.paste(Image.new("RGB", (SIZE, SIZE), "#2060c0"), (SIZE, 0))
    name = f"bg_{uuid.uuid4().hex[:8]}.png"
    bands.save(comfy_server.base / "input" / name)
    im = painting(((4, 4, 27, 27), "#ff0000"))
    stroke = f"canvas_{uuid.uuid4().hex[:8]}.png"
    im.save(comfy_server.base / "input" / stroke)
    prompt = saved_outputs(canvas_prompt(stroke))
    prompt["2"]["inputs"]["background_file"] = name
    entry = comfy_server.run(prompt)
    palette = np.asarray(Image.open(next(f for f in comfy_server.images(entry) if f.name.startswith("canvas_map")))
                         .convert("RGB")).astype(int)
    expected = np.zeros((SIZE, SIZE, 3), int) + (0x20, 0x60, 0xc0)
    expected[4:28, 4:28] = (255, 0, 0)
    assert np.abs(palette - expected).max() <= 1


def test_fingerprint_hashes_the_painting_file(comfy_server):
    name = f"canvas_{uuid.uuid4().hex[:8]}.png"
    painting(((4, 4, 27, 27), "#ff0000")).save(comfy_server.base / "input" / name)
    prompt = saved_outputs(canvas_prompt(name))
    comfy_server.run(prompt)
    cached = comfy_server.run(prompt)
    assert any(m[0] == "execution_cached" and "2" in m[1]["nodes"] for m in cached["status"]["messages"])
    painting(((4, 4, 40, 40), "#ff0000")).save(comfy_server.base / "input" / name)  # same name, new content
    rerun = comfy_server.run(prompt)
    assert not any(m[0] == "execution_cached" and "2" in m[1]["nodes"] for m in rerun["status"]["messages"])


@pytest.mark.parametrize("name", ["../comfyui.log", "/etc/hostname", "link_out.png"])
def test_painting_file_is_confined_to_the_input_folder(comfy_server, name):
    link = comfy_server.base / "input" / "link_out.png"
    if not link.exists():
        os.symlink(comfy_server.base / "comfyui.log", link)
    with pytest.raises(ComfyError, match="outside ComfyUI's input folder"):
        comfy_server.run(canvas_prompt(name, seed=hash(name) % 1000))
    healthy(comfy_server)


def test_canvas_above_the_size_cap_is_refused_clearly(comfy_server):
    prompt = canvas_prompt()
    prompt["2"]["inputs"]["width"] = 4096
    with pytest.raises(ComfyError, match="4096.*2048|2048.*4096"):
        comfy_server.run(prompt)


def start(server, client_id="route-tests", node="2", **body):
    status, out = raw_post(server.url + LIVE + "/start", json.dumps(
        {"client_id": client_id, "node_id": node, "width": SIZE, "height": SIZE, **body}).encode())
    assert status == 200, out
    return out


def jpeg_base64() -> str:
    buf = io.BytesIO()
    painting(((4, 4, 27, 27), "#ff0000"), size=SIZE).convert("RGB").save(buf, format="JPEG")
    return base64.b64encode(buf.getvalue()).decode()


def assert_no_internals(server, message: str) -> None:
    """Issue 17 defect 5: no server path (the input or temp folder), no object repr, no decoder's own words."""
    for leak in (str(server.base), "/tmp", "object at 0x", "<_io", "cannot identify image file", "Traceback"):
        assert leak not in message, (leak, message)


@pytest.mark.parametrize("body, message", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    ({"brushes": [{"colour": f"#{i:06x}", "prompt": "p"} for i in range(65)]}, "limit is 64"),
    ({"brushes": [{"colour": "#ff0000", "prompt": "x" * 4097}]}, "limit is 4096"),
    ({"background_prompt": 3}, "must be text"),
    ({"painting": "%%%"}, "base64"),
    ({"painting": png_base64(painting(size=32))}, "32x32 but the live canvas is 64x64"),
    ({"painting": base64.b64encode(b"not a png").decode()}, "painting is not a readable image"),
    ({"painting": jpeg_base64()}, "painting is a JPEG image; it must be a PNG"),
    ({"brushes": [{"colour": "reddish", "prompt": "x"}]}, "brushes[0].colour: \"reddish\" is not a colour"),
    ({"brushes": [{"colour": "#ff0000", "prompt": "x", "blur": "9" * 5000}]}, "brushes[0].blur"),
    ({"brushes": "[" * 100_000 + "]" * 100_000}, "brushes: is not valid JSON"),
    ({"url": "http://example.com/x.png"}, "unknown fields"),
    ({"background_file": "../comfyui.log"}, "outside ComfyUI's input folder"),
    ({"background_file": "/etc/hostname"}, "outside ComfyUI's input folder"),
    ({"background_file": "no_such_background.png"}, "is not in ComfyUI's input folder"),
    ({"background_file": ["x.png"]}, "background_file must be a file name"),
])
def test_bad_updates_get_a_clear_400_and_the_session_survives(comfy_server, body, message):
    session = start(comfy_server)
    auth = {"session": session["session"], "token": session["token"]}
    data = json.dumps({**body, **auth}).encode() if isinstance(body, dict) else body
    code, out = raw_post(comfy_server.url + LIVE + "/update", data)
    assert code == 400 and message in out["error"], out
    assert_no_internals(comfy_server, out["error"])
    code, out = raw_post(comfy_server.url + LIVE + "/status", json.dumps(auth).encode())
    assert code == 200 and out["state"] == "queued"
    healthy(comfy_server)


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,  # 200 kB of nesting (was a 500 with a RecursionError traceback)
    b'{"brushes": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"session": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_001,
    b'{"width": ' + b"9" * 5000 + b"}",  # an integer too long to convert
    b'{"session": "x", "token": NaN}', b"\xff\xfe", b"null", b'"text"', b"1e999",
])
def test_any_body_gets_a_4xx_never_a_500(comfy_server, body):
    for action in ("start", "update", "frame", "read", "stop", "status"):
        code, out = raw_post(comfy_server.url + LIVE + f"/{action}", body)
        assert 400 <= code < 500 and out["error"], (action, code, out)
        assert_no_internals(comfy_server, out["error"])
    healthy(comfy_server)


def test_fields_of_every_json_type_get_a_4xx_naming_the_field(comfy_server):
    session = start(comfy_server)
    auth = {"session": session["session"], "token": session["token"]}
    values = [None, True, -1, 1e308, "x" * 5000, [], [[[]]], {}, {"a": {"b": []}}]
    for field in ("brushes", "background_prompt", "painting", "background_file"):
        for value in values:
            code, out = raw_post(comfy_server.url + LIVE + "/update", json.dumps({field: value, **auth}).encode())
            if code == 200:
                continue  # e.g. an empty brush table or an empty background file name
            assert code == 400 and field in out["error"], (field, value, code, out)
            assert_no_internals(comfy_server, out["error"])
    for field in ("client_id", "node_id", "width", "height", "timeout_s"):
        for value in values:
            body = {"client_id": "c", "node_id": "2", "width": SIZE, "height": SIZE, field: value}
            code, out = raw_post(comfy_server.url + LIVE + "/start", json.dumps(body).encode())
            assert code in (200, 400), (field, value, code, out)
            assert code == 200 or field.split("_")[0] in out["error"], (field, value, out)
    healthy(comfy_server)


def test_a_background_file_in_the_input_folder_is_accepted_and_an_empty_name_removes_it(comfy_server):
    session = start(comfy_server)
    auth = {"session": session["session"], "token": session["token"]}
    (comfy_server.base / "input" / "semanticdraw").mkdir(exist_ok=True)
    painting(((0, 0, 63, 31), "#336699"), size=96).save(comfy_server.base / "input" / "semanticdraw" / "bg_test.png")
    for name in ("semanticdraw/bg_test.png", ""):
        body = json.dumps({"background_file": name, **auth}).encode()
        code, out = raw_post(comfy_server.url + LIVE + "/update", body)
        assert code == 200 and out["state"] == "queued", out


def test_oversized_body_and_huge_image_are_refused_before_decoding(comfy_server):
    session = start(comfy_server)
    code, out = raw_post(comfy_server.url + LIVE + "/update", b" " * (24 * 2**20 + 1))
    assert code == 413 and "exceeds the limit" in out["error"]
    buf = io.BytesIO()
    Image.new("1", (4100, 4100)).save(buf, format="PNG")  # ~2 KB of PNG, 16.8 M pixels
    code, out = raw_post(comfy_server.url + LIVE + "/update", json.dumps(
        {"session": session["session"], "token": session["token"],
         "painting": base64.b64encode(buf.getvalue()).decode()}).encode())
    assert code == 400 and "the limit is 4194304 pixels" in out["error"], out
    healthy(comfy_server)


def test_unknown_or_foreign_sessions_get_404_json(comfy_server):
    mine, theirs = start(comfy_server, "client-a"), start(comfy_server, "client-b")
    for action in ("update", "frame", "read", "stop", "status"):
        for body in ({"session": mine["session"], "token": theirs["token"]}, {"session": "nope", "token": "x"}, {}):
            code, out = raw_post(comfy_server.url + LIVE + f"/{action}", json.dumps(body).encode())
            assert code == 404 and "unknown live session" in out["error"], (action, body, out)
    code, out = raw_post(comfy_server.url + LIVE + "/status", json.dumps(
        {"session": mine["session"], "token": mine["token"]}).encode())
    assert code == 200 and out["state"] == "queued"  # the foreign stop did not touch it
    code, out = raw_post(comfy_server.url + LIVE + "/nothing", b"{}")
    assert code == 404 and "unknown live action" in out["error"]


@pytest.mark.parametrize("body, message", [
    ({"width": 4096}, "2048"), ({"width": 60}, "multiple of 8"), ({"client_id": ""}, "client_id"),
    ({"timeout_s": 0}, "timeout_s"), ({"node_id": None}, "node_id")])
def test_bad_starts_are_refused(comfy_server, body, message):
    payload = {"client_id": "c", "node_id": "2", "width": SIZE, "height": SIZE, **body}
    code, out = raw_post(comfy_server.url + LIVE + "/start", json.dumps(payload).encode())
    assert code == 400 and message in out["error"], out


def test_live_prompt_without_a_session_fails_clearly(comfy_server):
    with pytest.raises(ComfyError, match="no live session was started"):
        comfy_server.run(canvas_prompt(live=True))
    healthy(comfy_server)


def test_client_raises_the_servers_message(comfy_server):
    client = LiveClient(comfy_server.url)
    client.start("2", SIZE, SIZE)
    with pytest.raises(LiveClientError, match="already brush 0"):
        client.update(brushes=[BRUSHES[0], BRUSHES[0]])
    client.stop()
    assert client.status()["state"] == "ended"


def test_decoding_and_encoding_images_never_block_the_event_loop(pack, monkeypatch):
    """The event loop carries every client's websocket: while an update decodes its painting (held here until the
    test releases it) and while `read` encodes its PNG, other requests on the same loop are answered."""
    import asyncio
    import concurrent.futures
    import threading

    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from semanticdraw.nodes import live_routes

    entered, release = threading.Event(), threading.Event()

    def held(function):
        def run(*args, **kwargs):
            entered.set()
            assert release.wait(30), "never released"
            return function(*args, **kwargs)
        return run
    monkeypatch.setattr(live_routes, "decode_rgba", held(live_routes.decode_rgba))
    monkeypatch.setattr(live_routes, "png_base64", held(live_routes.png_base64))

    async def scenario():
        app = web.Application()
        app.router.add_post(LIVE + "/{action}", live_routes.dispatch)
        async with TestClient(TestServer(app)) as client:
            started = await (await client.post(LIVE + "/start", json={"client_id": "loop", "node_id": "1",
                                                                       "width": SIZE, "height": SIZE})).json()
            auth = {"session": started["session"], "token": started["token"]}
            session = live_routes.HUB.get(auth["session"], auth["token"])
            for slow, after in ((client.post(LIVE + "/update", json={**auth, "painting": png_base64(painting())}),
                                 None),
                                (client.post(LIVE + "/read", json=auth), "image")):
                if after == "image":
                    session.sent(painting().convert("RGB"), 0)  # a frame to encode
                entered.clear()
                release.clear()
                task = asyncio.ensure_future(slow)
                assert await asyncio.to_thread(entered.wait, 30)
                status = await asyncio.wait_for(client.post(LIVE + "/status", json=auth), 10)  # loop still free
                assert status.status == 200 and not task.done()
                release.set()
                assert (await task).status == 200
            session.end("test over")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # a loop of its own: the browser tests' Playwright (sync
        pool.submit(asyncio.run, scenario()).result()  # API) leaves this thread's event loop marked running

