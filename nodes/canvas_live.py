"""Live mode of the canvas node: the stream (engine StreamEngine, ALGORITHM.md section 8) runs inside the node's
execute on ComfyUI's executor, with the model, CLIP and VAE of the graph loaded by ComfyUI's model management.

`CanvasStream` is the engine's `LiveHost`: it turns canvas edits into stream updates (prompts encoded once per
distinct text, masks re-processed by the engine only when they change), steps the stream and sends frames to the
owning client at full canvas resolution as a custom websocket event (`send_frame`), which the frontend does not
attach to the node as a preview.
"""
from __future__ import annotations

import base64
import io as pyio
from collections import OrderedDict
from typing import Optional

import torch
from PIL import Image

import comfy.model_management
import comfy.samplers
import latent_preview
from comfy_execution.utils import get_executing_context

from ..engine.live import Brush, LiveHub, LiveSession, painted_regions, run_live
from ..engine.schedule_text import parse_t_index_list
from ..engine.scene import Text
from ..engine.stream import PromptKey, StreamConfig, StreamEngine, StreamRegion
from .host import noise_space
from .regions import NodeInputError, node_errors
from .scene import encode_pixels, encode_text, lerp_conditioning, white_latent
from .stream import StreamGuider

NODE = "SemanticDraw Canvas"
SCHEDULE_LENGTH = 50  # t_index_list indexes a 50-step schedule (LCM), as the Stream Sampler's default
TEXT_CACHE = 256  # encoded prompts kept per session (typing a prompt makes one per edit)
HUB = LiveHub()  # the server's live sessions (routes in live_routes.py)
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


class CanvasStream:
    """The engine's `LiveHost` over ComfyUI models; `run` is the StreamGuider's callback (models loaded)."""

    def __init__(self, session: LiveSession, clip, vae, table: tuple[Brush, ...], background_prompt: str,
                 painting: torch.Tensor, background_image: Optional[torch.Tensor], config: StreamConfig, seed: int,
                 preview: str = "vae", server=None):
        self.session, self.clip, self.vae, self.config, self.seed = session, clip, vae, config, seed
        self.server = server or prompt_server()  # sockets, send_sync
        self.preview = preview
        self.table, self.background_prompt, self.painting = table, background_prompt, painting
        self.background_image = background_image
        self.texts: OrderedDict[str, list] = OrderedDict()
        context = get_executing_context()
        self.prompt_id = context.prompt_id if context is not None else None
        self.had_socket = session.client_id in self.server.sockets

    # -- StreamGuider job -------------------------------------------------------------------------------
    def run(self, guider: StreamGuider, base_latent: torch.Tensor, device) -> torch.Tensor:
        """Called by the guider with the model loaded: build the stream session and run the live loop."""
        inner = guider.inner_model
        self.inner, self.process = inner, guider.process
        C, h, w = base_latent.shape[1:]
        size = (self.session.height, self.session.width)
        fmt = inner.latent_format
        self.previewer = latent_preview.Latent2RGBPreviewer(fmt.latent_rgb_factors, fmt.latent_rgb_factors_bias) \
            if self.preview == "latent2rgb" and getattr(fmt, "latent_rgb_factors", None) is not None else None
        white = white_latent(self.vae, fmt, C, size, (h, w)).to(device)
        self.stream = StreamEngine(guider.denoiser_for, self.encode, noise_space(inner.model_sampling), (C, h, w),
                                   size, self.config, white=white, seed=self.seed, device=device,
                                   dtype=base_latent.dtype)
        self.device = device
        self.apply({"background_image": self.background_image})
        with node_errors(NODE):
            return run_live(self.session, self, len(self.config.sigmas))

    def text(self, prompt) -> list:
        """CLIP conditioning of a prompt, encoded once per distinct text (counted in the status readout)."""
        prompt = prompt.text if isinstance(prompt, Text) else prompt
        if prompt not in self.texts:
            self.texts[prompt] = encode_text(self.clip, prompt)
            self.session.stats.prompts_encoded += 1
            if len(self.texts) > TEXT_CACHE:
                self.texts.popitem(last=False)
        self.texts.move_to_end(prompt)
        return self.texts[prompt]

    def encode(self, key: PromptKey) -> list:
        """The stream session's `encode`: a prompt blended toward its target by prompt strength (section 3)."""
        cond = self.text(key.prompt)
        if key.background is not None and key.strength != 1.0:
            cond = lerp_conditioning(self.text(key.background), cond, key.strength)
        return self.process(cond)

    # -- LiveHost ----------------------------------------------------------------------------------------
    def check_interrupt(self) -> None:
        comfy.model_management.throw_exception_if_processing_interrupted()

    def connected(self) -> bool:
        return not self.had_socket or self.session.client_id in self.server.sockets

    def apply(self, edit: dict) -> None:
        if "background_image" in edit:  # a new background file: its latent replaces the background (engine.scene)
            self.background_image = edit["background_image"]
            self.stream.update(background_latent=self.background_latent())
        self.table = edit.get("brushes", self.table)
        self.background_prompt = edit.get("background_prompt", self.background_prompt)
        if "painting" in edit:
            self.painting = edit["painting"]
            self.session.stats.mask_updates += 1
        painted = painted_regions(self.painting, self.table)
        regions = [StreamRegion(prompt=self.background_prompt, mask=m, mask_blur_std=0.0, prompt_strength=1.0)
                   if b is None else
                   StreamRegion(prompt=b.prompt, mask=m, negative=b.negative, mask_strength=b.mask_strength,
                                mask_blur_std=b.blur, prompt_strength=b.prompt_strength)
                   for b, m in painted]
        self.stream.update(regions=regions, background_prompt=self.background_prompt if painted[0][0] else None)

    def background_latent(self) -> Optional[torch.Tensor]:
        """The model-space latent of the background image at the canvas size, or None."""
        if self.background_image is None:
            return None
        size = (self.session.height, self.session.width)
        latent = encode_pixels(self.vae, self.background_image[:1, ..., :3].float(), size)
        return self.inner.latent_format.process_in(latent.to(self.device))

    def step(self) -> torch.Tensor:
        return self.stream.step()

    def send(self, frame: torch.Tensor, index: int) -> Image.Image:
        """Decode a frame at the canvas size and send it to the owning client (`send_frame`)."""
        if self.previewer is not None:
            size = (self.session.width, self.session.height)
            image = self.previewer.decode_latent_to_preview(frame[:1].float()).resize(size, Image.Resampling.BILINEAR)
        else:
            image = to_pil(self.vae.decode(self.inner.process_latent_out(frame[:1].float())))
        send_frame(self.server, self.session, self.prompt_id, image, index)
        return image


def send_frame(server, session: LiveSession, prompt_id: Optional[str], image: Image.Image, index: int) -> None:
    """How a live frame reaches the browser: a JSON websocket event `FRAME_EVENT` to the session's client only, with
    the frame as a base64 JPEG at full canvas resolution. Not a stock preview message: the frontend would attach
    those to the node as a second, preview-size image (and to every subgraph node around it)."""
    buf = pyio.BytesIO()
    image.save(buf, format="JPEG", quality=FRAME_QUALITY)
    server.send_sync(FRAME_EVENT, {"session": session.id, "node_id": session.node_id, "prompt_id": prompt_id,
                                   "index": index, "width": image.width, "height": image.height,
                                   "mime": "image/jpeg", "image": base64.b64encode(buf.getvalue()).decode()},
                     session.client_id)


def run_live_canvas(node_id, model, clip, vae, table, background_prompt, painting, background_image, seed,
                    t_index_list, scheduler, cfg_type, cfg, preview="vae"):
    """Run the live session started for this client's node until Stop; returns the last frame (IMAGE) and the
    canvas state it ended with `(brushes, background_prompt, painting, background_image)`. Raises `LiveAbort` when it
    ended without output; core's interrupt propagates as usual."""
    session = HUB.claim(prompt_server().client_id, str(node_id))
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
            sampling = model.get_model_object("model_sampling")
            sigmas = comfy.samplers.calculate_sigmas(sampling, scheduler, SCHEDULE_LENGTH)
            config = StreamConfig(sigmas=sigmas[parse_t_index_list(t_index_list, SCHEDULE_LENGTH)].cpu(),
                                  cfg_type=cfg_type, guidance=cfg)
        host = CanvasStream(session, clip, vae, table, background_prompt, painting, background_image, config, seed,
                            preview)
        channels = model.get_model_object("latent_format").latent_channels
        ratio = vae.spacial_compression_encode()
        latent = torch.zeros(1, channels, H // ratio, W // ratio)
        frames = StreamGuider(model, host).sample(torch.zeros_like(latent), latent, None, config.sigmas, seed=seed)
    finally:
        session.end(session.end_reason or "failed")
    image = vae.decode(frames[:1].to(comfy.model_management.intermediate_device()))
    return image, (host.table, host.background_prompt, host.painting, host.background_image)

