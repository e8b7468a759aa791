"""Live mode of the canvas node: the stream host (`stream.py`, ALGORITHM.md section 8) runs inside the node's execute
on ComfyUI's executor, with the model, CLIP and VAE of the graph loaded by ComfyUI's model management.

`LiveCanvas` is the engine's `LiveHost` (engine/live.py), thin over `StreamHost`: a canvas edit becomes the stream
host's scene through the canvas' own painting -> regions rule (`canvas.canvas_stack`, texts encoded once each),
frames are decoded and sent to the owning client by `send_frame`, the one function that puts a frame on the wire.
"""
from __future__ import annotations

import base64
import io as pyio
from typing import Optional

import torch
from PIL import Image

import comfy.model_management
import comfy.samplers
import latent_preview
from comfy_execution.utils import get_executing_context

from ...engine.live import Brush, LiveHub, LiveSession, run_live
from ...engine.schedule_text import parse_t_index_list
from ...engine.stream import StreamConfig
from .canvas import NODE, canvas_stack
from .errors import NodeInputError, check_context, context_width, node_errors
from .stream import StreamHost

SCHEDULE_LENGTH = 50  # t_index_list indexes a 50-step schedule (LCM), as the Stream Sampler's default
HUB = LiveHub()  # the server's live sessions (routes in nodes/live_routes.py)
PREVIEWS = ("vae", "latent2rgb")  # frames decoded by the VAE, or approximated from the latent (fast, core's previews)
FRAME_EVENT = "semanticdraw.live_frame"  # the websocket event of a live frame (web/canvas/live.js listens to it)
FRAME_QUALITY = 90  # JPEG quality of a live frame


def prompt_server():
    """The running PromptServer (imported late: the host can be imported without its server, as in tests)."""
    from server import PromptServer
    return PromptServer.instance


def to_pil(image: torch.Tensor) -> Image.Image:
    """The first image of an IMAGE batch as an 8-bit RGB PIL image."""
    return Image.fromarray((image[0, ..., :3].float().clamp(0, 1) * 255).round().byte().cpu().numpy())


def send_frame(server, session: LiveSession, image: Image.Image, index: int, prompt_id: Optional[str]) -> None:
    """How a live frame reaches the browser: a JSON websocket event `FRAME_EVENT` to the session's client only, with
    the frame as a base64 JPEG at full canvas resolution. Not a stock preview message: the frontend would attach
    those to the node as a second, preview-size image (and to every subgraph node around it)."""
    buf = pyio.BytesIO()
    image.save(buf, format="JPEG", quality=FRAME_QUALITY)
    server.send_sync(FRAME_EVENT, {"session": session.id, "node_id": session.node_id, "prompt_id": prompt_id,
                                   "index": index, "width": image.width, "height": image.height,
                                   "mime": "image/jpeg", "image": base64.b64encode(buf.getvalue()).decode()},
                     session.client_id)


class LiveCanvas:
    """The engine's `LiveHost` for the canvas: the canvas state (brush table, background prompt, painting,
    background image) shown through a `StreamHost`; `run` is the stream host's loop."""

    def __init__(self, session: LiveSession, host: StreamHost, vae, table: tuple[Brush, ...], background_prompt: str,
                 painting: torch.Tensor, background_image: Optional[torch.Tensor], preview: str, server):
        self.session, self.host, self.vae, self.preview, self.server = session, host, vae, preview, server
        self.table, self.background_prompt, self.painting = table, background_prompt, painting
        self.background_image, self.mask_updates = background_image, 0
        context = get_executing_context()
        self.prompt_id = context.prompt_id if context is not None else None
        self.had_socket = session.client_id in server.sockets

    def stack(self):
        return canvas_stack(self.host.text, self.table, self.background_prompt, self.painting, self.background_image,
                            self.vae, self.host.clip)

    def run(self, host: StreamHost, base: Optional[torch.Tensor]) -> torch.Tensor:
        """The stream host's loop: the canvas' scene, then the live session until Stop."""
        fmt = host.guider.inner_model.latent_format
        self.previewer = latent_preview.Latent2RGBPreviewer(fmt.latent_rgb_factors, fmt.latent_rgb_factors_bias) \
            if self.preview == "latent2rgb" and getattr(fmt, "latent_rgb_factors", None) is not None else None
        with node_errors(NODE):
            host.show(self.stack())
            return run_live(self.session, self, len(host.config.sigmas))

    # -- LiveHost ----------------------------------------------------------------------------------------
    def check_interrupt(self) -> None:
        comfy.model_management.throw_exception_if_processing_interrupted()

    def interrupted(self, error: BaseException) -> bool:
        return isinstance(error, comfy.model_management.InterruptProcessingException)

    def connected(self) -> bool:
        return not self.had_socket or self.session.client_id in self.server.sockets

    def apply(self, edit: dict) -> int:
        self.table = edit.get("brushes", self.table)
        self.background_prompt = edit.get("background_prompt", self.background_prompt)
        self.background_image = edit.get("background_image", self.background_image)
        if "painting" in edit:
            self.painting = edit["painting"]
            self.mask_updates += 1
        number = self.host.show(self.stack())
        self.session.counters(prompts_encoded=self.host.text_encodes, mask_updates=self.mask_updates)
        return number

    def step(self) -> torch.Tensor:
        stream = self.host.stream
        frame = stream.step()
        self.session.counters(prompts_encoded=self.host.text_encodes, conditionings_processed=stream.encodes,
                              masks_processed=stream.mask_processings)
        return frame

    def shown_edit(self) -> int:
        return self.host.stream.shown_edit

    def send(self, frame: torch.Tensor, index: int) -> Image.Image:
        """Decode the frame (VAE or latent2rgb preview) and send it; returns the image sent."""
        if self.previewer is not None:
            size = (self.session.width, self.session.height)
            image = self.previewer.decode_latent_to_preview(frame[:1].float()).resize(size, Image.Resampling.BILINEAR)
        else:
            image = to_pil(self.vae.decode(self.host.guider.inner_model.process_latent_out(frame[:1].float())))
        send_frame(self.server, self.session, image, index, self.prompt_id)
        return image


def live_config(model, t_index_list: str, scheduler: str, cfg_type: str, cfg: float, progressive: bool):
    """The live stream's settings: slots of a 50-step schedule (section 9 streaming defaults otherwise)."""
    sampling = model.get_model_object("model_sampling")
    sigmas = comfy.samplers.calculate_sigmas(sampling, scheduler, SCHEDULE_LENGTH)
    return StreamConfig(sigmas=sigmas[parse_t_index_list(t_index_list, SCHEDULE_LENGTH)].cpu(), cfg_type=cfg_type,
                        guidance=cfg, progressive=progressive)


def run_live_canvas(hub: LiveHub, server, node_id, model, clip, vae, table, background_prompt, painting,
                    background_image, seed, t_index_list, scheduler, cfg_type, cfg, preview="vae", progressive=True):
    """Run the live session started for this client's node (claimed from `hub`; frames to `server`, the
    PromptServer or a stand-in with `client_id`, `sockets`, `send_sync`) until Stop; returns
    the last frame (IMAGE) and the canvas state it ended with `(brushes, background_prompt, painting,
    background_image)`. Raises `LiveAbort` when it ended without output; core's interrupt propagates as usual; any
    other failure leaves the session failed with its message."""
    session = hub.claim(server.client_id, str(node_id))
    if session is None:
        raise NodeInputError(f"{NODE}: live is on but no live session was started for node {node_id} of this client; "
                             "press Live on the canvas (or POST /semanticdraw/live/start first, see README "
                             "'Paint live'), or turn live off to output the painting's regions")
    try:
        H, W = painting.shape[:2]
        if (session.height, session.width) != (H, W):
            raise NodeInputError(f"{NODE}: the live session was started for {session.width}x{session.height} but "
                                 f"the canvas is {W}x{H}; press Live again")
        with node_errors(NODE):
            config = live_config(model, t_index_list, scheduler, cfg_type, cfg, progressive)
        host = StreamHost(model, config, seed, clip, vae, NODE)
        check_context(NODE, context_width(model), clip=host.text(""))
        canvas = LiveCanvas(session, host, vae, table, background_prompt, painting, background_image, preview, server)
        channels = model.get_model_object("latent_format").latent_channels
        ratio = vae.spacial_compression_encode()
        frames = host.run(torch.zeros(1, channels, H // ratio, W // ratio), len(table) + 1, canvas.run)
    except BaseException as e:  # no-op when run_live already ended or failed the session
        if isinstance(e, comfy.model_management.InterruptProcessingException):
            session.end("interrupted")
        else:
            session.fail(str(e) or type(e).__name__)
        raise
    image = vae.decode(frames[:1].to(comfy.model_management.intermediate_device()))
    return image, (canvas.table, canvas.background_prompt, canvas.painting, canvas.background_image)
