"""Run the canvas' live stream in-process on a scripted sequence of edits (tests and bench/live.py): the node's own
`run_live_canvas` (its stream host, live host and `engine.live.run_live`) on ComfyUI's model objects, with stand-ins
for the server (it records the frame events and plays the client: after each frame it queues the script's edit
and asks for the next frame) and for the VAE (it records each frame latent it decodes). Needs the host imported
(`tools.inprocess.load_host()`).
"""
from __future__ import annotations

import base64
import io
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image


@dataclass
class LiveRun:
    frames: list = field(default_factory=list)  # the latent of each frame sent (as the VAE decodes it)
    images: list = field(default_factory=list)  # each frame sent (PIL, decoded from the event's JPEG)
    indices: list = field(default_factory=list)  # each frame's index
    statuses: list = field(default_factory=list)  # the session's status as each frame is handed over (the
    # latency the frame completes is recorded right after: it shows in the next frame's status)
    sent_at: list = field(default_factory=list)  # perf_counter when each frame was sent
    edits_at: dict = field(default_factory=dict)  # frame number n -> perf_counter when its edit was queued
    session: object = None
    idle: threading.Event = field(default_factory=threading.Event)  # set by the script's "idle"
    output: object = None  # the node's final IMAGE (the last frame, VAE-decoded)
    state: tuple = ()  # the canvas state it ended with


class ScriptedClient:
    """What the live host uses of PromptServer (client_id, sockets, send_sync), playing a client
    that wants every frame: after frame n is sent (n from 1) it queues `script[n]` (an edit dict, "stop", or "idle":
    leave the stream idle with a frame request outstanding until someone stops the session) and asks for the next
    frame, as the browser does."""

    def __init__(self, script: dict, run: LiveRun, parse):
        self.client_id, self.sockets = "inprocess", {}
        self.script, self.run, self.parse = script, run, parse

    def send_sync(self, event, data, sid=None):
        run, session = self.run, self.run.session
        run.images.append(Image.open(io.BytesIO(base64.b64decode(data["image"]))))
        run.sent_at.append(time.perf_counter())
        run.statuses.append(session.status())
        run.indices.append(data["index"])
        action = self.script.get(len(run.images))
        if action == "stop":
            session.stop()
            return
        if action == "idle":
            session.request_frame()
            run.idle.set()
            return
        if action is not None:
            run.edits_at[len(run.images)] = time.perf_counter()
            session.update({k: self.parse(v) if k == "brushes" else v for k, v in action.items()})
        session.request_frame()


class RecordingVAE:
    """The graph's VAE, recording the latent of every frame the live host decodes."""

    def __init__(self, vae, run: LiveRun):
        self.vae, self.run, self.recording = vae, run, True

    def decode(self, samples):
        if self.recording:
            self.run.frames.append(samples.detach().float().cpu().clone())
        return self.vae.decode(samples)

    def __getattr__(self, name):
        return getattr(self.vae, name)


def rgba(image) -> torch.Tensor:
    """A PIL RGBA image as the `[H, W, 4]` float painting the routes decode."""
    return torch.from_numpy(np.asarray(image.convert("RGBA"), np.float32) / 255)


def run_scripted(model, clip, vae, brushes, background_prompt, painting, t_index_list: str, script: dict,
                 seed: int = 0, cfg_type: str = "none", guidance: float = 1.2, preview: str = "vae",
                 progressive: bool = True, background_image=None, timeout_s: float = 120,
                 run: LiveRun | None = None) -> LiveRun:
    """Stream until the script's "stop". `script[n]` is queued when frame n (call n, from 1) is sent, as a client
    would send it on seeing that frame; it applies at call n + 1. Brushes as JSON-like lists. The loop idles T calls
    after the last edit, so script an edit or "stop" by then (an idle session ends after `timeout_s`). Pass `run` to
    watch it from another thread (its `session` is set before the stream starts, `idle` when the script says so)."""
    from semanticdraw.engine.live import LiveHub, parse_brushes
    from semanticdraw.nodes.host.live import run_live_canvas

    hub = LiveHub()
    H, W = painting.shape[:2]
    run = run or LiveRun()
    run.session = hub.start("inprocess", "1", W, H, timeout_s=timeout_s)
    run.session.request_frame()
    recorder = RecordingVAE(vae, run)
    image, state = run_live_canvas(hub, ScriptedClient(script, run, parse_brushes), "1", model, clip, recorder,
                                   parse_brushes(brushes), background_prompt, painting, background_image, seed,
                                   t_index_list, "sgm_uniform", cfg_type, guidance, preview, progressive)
    run.output, run.state = image, state
    if preview == "vae":
        run.frames.pop()  # the node's output decode, not a frame sent
    return run
