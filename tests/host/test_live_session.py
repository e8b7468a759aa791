"""Live sessions on the real server: frames as full-size live frame events to the owning client only (never a stock
preview), lazy edits counted, Stop / interrupt / websocket close / timeout, two clients. T=2 slots (t_index_list
"0,32") keeps CPU runs short.
That edits change the frames is measured on latents in test_live_inprocess.py (the tiny models' previews hide it)."""
import time
import uuid

import pytest

from live_support import BRUSHES, SIZE, WsClient, canvas_prompt, painting
from tools.comfy_host import ComfyError
from tools.live_client import LiveClient

SLOTS = 2


def wait_state(client: LiveClient, state: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.status()
        if status["state"] == state:
            return status
        time.sleep(0.1)
    raise AssertionError(f"session never reached {state}: {status}")


def settle(ws: WsClient, client: LiveClient, seen: int, timeout: float = 300) -> tuple[int, dict]:
    """Act as the browser: ask for a frame after each preview, until the stream idles with its last frame shown."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        client.request_frame()
        with ws.cond:
            ws.cond.wait_for(lambda: len(ws.previews) > seen, 0.5)
            seen = len(ws.previews)
        status = client.status()
        if seen and not status["busy"] and ws.previews[-1][0]["index"] == status["frames"] - 1:
            return seen, status
    raise AssertionError(f"the stream did not settle: {client.status()}")


def live_run(server, ws_client=None, timeout_s=30, **prompt):
    """A session started and its prompt queued, as the Live button does."""
    client = LiveClient(server.url, client_id=ws_client.client_id if ws_client else None)
    client.start("2", SIZE, SIZE, timeout_s=timeout_s)
    prompt_id = client.queue(canvas_prompt(**prompt), "2")
    return client, prompt_id


def test_edits_are_lazy_frames_follow_them_and_stop_returns_the_last_frame(comfy_server):
    ws = WsClient(comfy_server.url, uuid.uuid4().hex)
    try:
        client, prompt_id = live_run(comfy_server, ws)
        client.update(painting=painting(((4, 4, 27, 27), "#ff0000"), ((36, 36, 59, 59), "#0000ff")))
        seen, before = settle(ws, client, 0)
        meta, first = ws.previews[0]
        assert meta["node_id"] == "2" and meta["session"] == client.session and meta["prompt_id"] == prompt_id
        assert meta["mime"] == "image/jpeg" and first.size == (SIZE, SIZE) == (meta["width"], meta["height"])

        stroke = (36, 4, 59, 27)  # a new red stroke: masks change, no prompt is re-encoded
        client.update(painting=painting(((4, 4, 27, 27), "#ff0000"), ((36, 36, 59, 59), "#0000ff"),
                                        (stroke, "#ff0000")))
        seen, after_stroke = settle(ws, client, seen)
        assert after_stroke["prompts_encoded"] == before["prompts_encoded"]
        assert after_stroke["mask_updates"] == before["mask_updates"] + 1
        assert after_stroke["latency_frames"] <= SLOTS + 1

        brushes = [dict(BRUSHES[0], prompt="a green pear"), BRUSHES[1]]
        client.update(brushes=brushes)  # one prompt changed: exactly one encode
        seen, after_prompt = settle(ws, client, seen)
        assert after_prompt["prompts_encoded"] == before["prompts_encoded"] + 1
        assert after_prompt["mask_updates"] == after_stroke["mask_updates"]

        frames_at_stop = client.stop()["frames"]
        entry = comfy_server.wait(prompt_id, 300)
        status = client.status()
        assert status["state"] == "ended" and status["message"] == "ended: stopped"
        assert status["frames"] <= frames_at_stop + 1
        assert entry["status"]["status_str"] == "success" and entry["outputs"]["4"]["images"]  # the last frame
        assert not ws.binary_types  # no stock preview: the frontend would show it on the node as a second image
        queue = comfy_server.get("/queue")
        assert not queue["queue_running"] and not queue["queue_pending"]
    finally:
        ws.close()


def test_interrupt_ends_the_session_within_one_frame_without_output(comfy_server):
    client, prompt_id = live_run(comfy_server, seed=1)
    wait_state(client, "running")
    client.next_frame(-1)
    comfy_server.interrupt()
    frames = client.status()["frames"]
    with pytest.raises(ComfyError, match="failed|interrupt"):
        comfy_server.wait(prompt_id, 300)
    status = client.status()
    assert status["state"] == "ended" and status["frames"] <= frames + 1
    entry = comfy_server.get(f"/history/{prompt_id}")[prompt_id]
    assert any(m[0] == "execution_interrupted" for m in entry["status"]["messages"]) and not entry["outputs"].get("4")
    assert not comfy_server.get("/queue")["queue_running"]


def test_closed_websocket_ends_the_session(comfy_server):
    ws = WsClient(comfy_server.url, uuid.uuid4().hex)
    client, prompt_id = live_run(comfy_server, ws, seed=2)
    client.request_frame()
    ws.wait_previews(1)
    ws.close()
    with pytest.raises(ComfyError):
        comfy_server.wait(prompt_id, 300)
    status = client.status()
    assert status["state"] == "ended" and "websocket closed" in status["message"]
    assert not comfy_server.get("/queue")["queue_running"]


def test_no_request_for_the_timeout_ends_the_session(comfy_server):
    client, prompt_id = live_run(comfy_server, timeout_s=1, seed=3)
    with pytest.raises(ComfyError):
        comfy_server.wait(prompt_id, 300)
    assert "no update or frame request for 1 s" in client.status()["message"]


def test_two_clients_are_isolated_and_the_second_waits_in_the_queue(comfy_server):
    ws_a, ws_b = WsClient(comfy_server.url, uuid.uuid4().hex), WsClient(comfy_server.url, uuid.uuid4().hex)
    try:
        a, prompt_a = live_run(comfy_server, ws_a, seed=4)
        b, prompt_b = live_run(comfy_server, ws_b, timeout_s=600, seed=5)  # queued behind A however slow A runs
        wait_state(a, "running")
        assert b.status()["state"] == "queued" and "waiting" in b.status()["message"]
        settle(ws_a, a, 0)
        thief = LiveClient(comfy_server.url)
        thief.session, thief.token = a.session, b.token  # B's token cannot drive, read or stop A's session
        for call in (thief.stop, thief.read, thief.request_frame, lambda: thief.update(background_prompt="x")):
            with pytest.raises(Exception, match="404"):
                call()
        assert not ws_b.previews and a.status()["state"] == "running"
        a.stop()
        comfy_server.wait(prompt_a, 300)
        wait_state(b, "running")
        b.request_frame()
        meta, _ = ws_b.wait_previews(1)[0]
        assert meta["prompt_id"] == prompt_b
        assert all(m["prompt_id"] == prompt_a for m, _ in ws_a.previews)  # A never got B's frames
        b.stop()
        comfy_server.wait(prompt_b, 300)
    finally:
        ws_a.close()
        ws_b.close()
