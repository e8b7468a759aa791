"""Interrupt through a real server, driven by its own events (no sleeps): the test listens on the websocket,
sends /interrupt when the pack's sampler reports its first progress, and then requires an execution_interrupted
message long before the run's last step, a healthy server, and a rerun that equals an uninterrupted run byte for
byte. How many model calls may follow an interrupt (at most the one in flight) depends on when the HTTP request
lands, so tests/host/test_interrupt.py counts it in-process, where the interrupt is synchronised with the call."""
import asyncio
import concurrent.futures
import json
import uuid

import aiohttp
import pytest

from tools import tiny_models

CALLS = 30  # model calls (progress updates) of an uninterrupted run: the interrupt must land long before the last
SETTINGS = {"bootstrap_steps": 1, "bootstrap_mix_steps": 1.0, "leak_sensitivity": 0.0, "mask_type": "continuous",
            "cover_alpha": 0.3}


def prompt(kind: str) -> dict:
    p = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": tiny_models.FILES["sd15"]}},
         "2": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 256, "height": 256}},
         "3": {"class_type": "SemanticDrawRegion", "inputs": {
             "clip": ["1", 1], "text": "a red apple", "mask": ["2", 0], "negative_text": "", "mask_strength": 1.0,
             "mask_blur_std": 1.0, "prompt_strength": 1.0}},
         "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 256, "height": 256, "batch_size": 1}}}
    common = {"model": ["1", 0], "regions": ["3", 0], "latent_image": ["4", 0], "seed": 424242, **SETTINGS}
    if kind == "stream":
        p["5"] = {"class_type": "SemanticDrawStreamSampler", "inputs": {
            **common, "frame_count": CALLS - 2, "t_index_list": "0,16,32", "schedule_length": 50, "steps": 4,
            "scheduler": "sgm_uniform", "cfg_type": "self", "cfg": 1.2, "delta": 1.0, "frame_buffer": 1,
            "include_warmup": False, "max_batch": 64}}
    else:
        p["5"] = {"class_type": "SemanticDrawSampler", "inputs": {
            **common, "steps": CALLS, "cfg": 1.0, "sampler_name": "lcm", "scheduler": "sgm_uniform", "denoise": 1.0,
            "tile_size": 0}}
    p["6"] = {"class_type": "SaveLatent", "inputs": {"samples": ["5", 0], "filename_prefix": f"interrupt_{kind}"}}
    return p


async def run_and_interrupt(server, api_prompt: dict) -> dict:
    """Queue the prompt with a websocket open; interrupt on the sampler's first progress event."""
    client_id = str(uuid.uuid4())
    ws_url = server.url.replace("http", "ws") + f"/ws?clientId={client_id}"
    result = {"progress_before": 0, "progress_after": 0, "end": None}
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
        prompt_id = server.post("/prompt", {"prompt": api_prompt, "client_id": client_id})["prompt_id"]
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue  # binary preview images
            event = json.loads(msg.data)
            data = event.get("data") or {}
            if data.get("prompt_id") != prompt_id:
                continue
            if event["type"] == "progress" and data.get("node") == "5":
                if result["end"] is None and not result["progress_before"]:
                    result["progress_before"] += 1
                    server.interrupt()
                    result["end"] = "interrupt sent"
                else:
                    result["progress_after"] += 1
            if event["type"] in ("execution_interrupted", "execution_error", "execution_success"):
                result["end"] = event["type"]
                break
    result["prompt_id"] = prompt_id
    return result


def run_in_own_loop(coroutine) -> dict:
    """asyncio.run on a fresh thread: the main thread may hold a loop marked running (Playwright's sync API)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, asyncio.wait_for(coroutine, 600)).result()


def saved_latent(server, entry: dict) -> bytes:
    files = [f for out in entry["outputs"].values() for f in out.get("latents", [])]
    assert len(files) == 1
    return (server.base / "output" / files[0].get("subfolder", "") / files[0]["filename"]).read_bytes()


def drop_caches(server) -> None:
    server.post("/free", {"free_memory": True})
    server.run({"1": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
                "2": {"class_type": "SaveLatent", "inputs": {"samples": ["1", 0], "filename_prefix": "drop"}}})


@pytest.mark.parametrize("kind", ["stream", "sampler"])
def test_interrupt_stops_at_the_next_model_call_and_rerun_is_identical(comfy_server, kind):
    drop_caches(comfy_server)
    reference = saved_latent(comfy_server, comfy_server.run(prompt(kind)))
    drop_caches(comfy_server)
    result = run_in_own_loop(run_and_interrupt(comfy_server, prompt(kind)))
    assert result["end"] == "execution_interrupted", result
    assert result["progress_before"] == 1 and result["progress_after"] < CALLS // 2, result
    comfy_server.wait_idle()  # the interrupted prompt leaves queue_running just after the message is sent
    assert saved_latent(comfy_server, comfy_server.run(prompt(kind))) == reference
