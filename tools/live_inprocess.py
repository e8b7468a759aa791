"""Run the canvas' live stream in-process on a scripted sequence of edits (tests and bench/live.py): the node's own
`CanvasStream` and the engine's `run_live` on ComfyUI's model objects, with a stand-in for the server that records
the preview messages. Needs the host imported (`tools.inprocess.load_host()`)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch


class RecordingServer:
    """What CanvasStream uses of PromptServer: sockets, sockets_metadata, send_sync (recorded)."""

    def __init__(self):
        self.sockets, self.sockets_metadata, self.sent = {}, {}, []

    def send_sync(self, event, data, sid=None):
        self.sent.append((event, data, sid))


@dataclass
class LiveRun:
    frames: list = field(default_factory=list)  # latent per stream call, model space
    counters: list = field(default_factory=list)  # (CLIP encodes, stream PromptKey encodes, mask processings) per call
    times: list = field(default_factory=list)  # seconds per stream call
    ends: list = field(default_factory=list)  # perf_counter at the end of each stream call
    send_times: list = field(default_factory=list)  # seconds per preview (decode + encode + hand-off)
    edits_at: dict = field(default_factory=dict)  # call number -> perf_counter when its edit was queued
    session: object = None
    host: object = None


def rgba(image) -> torch.Tensor:
    """A PIL RGBA image as the `[H, W, 4]` float painting the routes decode."""
    return torch.from_numpy(np.asarray(image.convert("RGBA"), np.float32) / 255)


def run_scripted(model, clip, vae, brushes, background_prompt, painting, sigmas, script: dict, seed: int = 0,
                 cfg_type: str = "none", guidance: float = 1.2, preview: str = "latent2rgb",
                 request_every_frame: bool = True) -> LiveRun:
    """Stream until the script's "stop": `script[n]` is an edit dict (or "stop") queued during call `n` (from 1),
    as a client would send it while that call runs; applied at call n + 1. Brushes as JSON-like lists. The loop
    idles once the scene has settled (T + 1 calls without an edit), so script an edit or "stop" before that."""
    from semanticdraw.engine.live import LiveHub, parse_brushes
    from semanticdraw.engine.stream import StreamConfig
    from semanticdraw.nodes.canvas_live import CanvasStream
    from semanticdraw.nodes.stream import StreamGuider

    hub = LiveHub()
    H, W = painting.shape[:2]
    session = hub.start("inprocess", "1", W, H, timeout_s=1e9)
    hub.claim("inprocess", "1")
    config = StreamConfig(sigmas=sigmas, cfg_type=cfg_type, guidance=guidance)
    run = LiveRun(session=session)

    class Scripted(CanvasStream):
        def step(self):
            start = time.perf_counter()
            frame = super().step()
            run.ends.append(time.perf_counter())
            run.times.append(run.ends[-1] - start)
            run.frames.append(frame.detach().float().cpu().clone())
            run.counters.append((session.stats.prompts_encoded, self.stream.encodes, self.stream.mask_processings))
            n = len(run.frames)
            action = script.get(n)
            if action == "stop":
                session.stop()
            elif action is not None:
                run.edits_at[n] = time.perf_counter()
                session.update({k: parse_brushes(v) if k == "brushes" else v for k, v in action.items()})
            if request_every_frame:
                session.request_frame()
            return frame

        def send(self, frame, index):
            start = time.perf_counter()
            image = super().send(frame, index)
            run.send_times.append(time.perf_counter() - start)
            return image

    host = Scripted(session, clip, vae, parse_brushes(brushes), background_prompt, painting, None, config, seed,
                    preview, RecordingServer())
    run.host = host
    channels = model.get_model_object("latent_format").latent_channels
    ratio = vae.spacial_compression_encode()
    latent = torch.zeros(1, channels, H // ratio, W // ratio)
    StreamGuider(model, host).sample(torch.zeros_like(latent), latent, None, config.sigmas, seed=seed)
    return run
