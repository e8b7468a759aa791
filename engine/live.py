"""Live painting: the canvas' brush table, painting -> region masks, and the live-session state machine.

Host-agnostic (torch and the standard library). A live session (ALGORITHM.md section 8.5, lazy edits) is
bound to an unguessable token; HTTP routes hand it canvas edits (latest wins: one pending state, never a
queue) and frame requests, while the host's executor thread runs `run_live`, which steps the stream,
applies the pending edit at the next call and sends a frame only when the client asked for one (at most
one in flight; frames computed meanwhile are dropped as stale). A session ends on Stop (with output), on
interrupt, on a closed websocket or after `timeout_s` without an update or a frame request.
"""
from __future__ import annotations

import json
import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol

import torch

from .errors import SemanticDrawInputError
from .palette import describe_colour, match_palette, parse_colour

MAX_SIDE = 2048  # canvas width/height cap, pixels
MAX_BRUSHES = 64
MAX_PROMPT = 4096  # characters per prompt
MAX_BODY = 24 << 20  # bytes of one route request
MAX_PIXELS = MAX_SIDE * MAX_SIDE  # decoded image cap
MAX_SESSIONS = 8  # live + queued sessions per server
PALETTE_TOLERANCE = 0.1  # colour distance of anti-aliased stroke edges still given to a brush
DEFAULT_TIMEOUT_S = 30.0
ENDED_KEEP_S = 60.0  # an ended session's final status stays readable this long


class LiveError(Exception):
    """A refused live request: `status` is the HTTP status a route answers with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Brush:
    """One brush of the canvas: a colour carrying a prompt (ALGORITHM.md section 1; streaming defaults, section 9)."""

    colour: tuple[int, int, int]
    prompt: str
    negative: str = ""
    mask_strength: float = 1.0
    blur: float = 8.0
    prompt_strength: float = 0.95


_BRUSH_RANGES = {"mask_strength": (0.0, 1.0), "blur": (0.0, 64.0), "prompt_strength": (0.0, 1.0)}


def check_canvas_size(width: int, height: int, name: str = "canvas") -> None:
    """Canvas sides must be positive multiples of 8 (latent size) and at most MAX_SIDE."""
    for side, value in (("width", width), ("height", height)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise SemanticDrawInputError(f"{name} {side}", f"must be an integer, got {value!r}")
        if not 8 <= value <= MAX_SIDE or value % 8:
            raise SemanticDrawInputError(f"{name} {side}", f"{value} is outside 8..{MAX_SIDE} or not a multiple of 8; "
                                                          f"choose a size up to {MAX_SIDE} pixels")


def check_prompt(text: Any, name: str) -> str:
    if not isinstance(text, str):
        raise SemanticDrawInputError(name, f"must be text, got {type(text).__name__}")
    if len(text) > MAX_PROMPT:
        raise SemanticDrawInputError(name, f"has {len(text)} characters; the limit is {MAX_PROMPT}")
    return text


def parse_brushes(value: Any) -> tuple[Brush, ...]:
    """The brush table from its JSON (a string or an already-parsed list of objects), validated.

    Each brush: `{"colour": "#rrggbb", "prompt": str, "negative"?: str, "mask_strength"?: 0-1,
    "blur"?: 0-64 pixels, "prompt_strength"?: 0-1}`; at most MAX_BRUSHES, colours distinct.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except json.JSONDecodeError as e:
            raise SemanticDrawInputError("brushes", f"is not valid JSON ({e.msg} at character {e.pos})") from None
    if not isinstance(value, list):
        raise SemanticDrawInputError("brushes", f"must be a JSON list of brushes, got {type(value).__name__}")
    if len(value) > MAX_BRUSHES:
        raise SemanticDrawInputError("brushes", f"has {len(value)} brushes; the limit is {MAX_BRUSHES}")
    out, seen = [], {}
    for i, b in enumerate(value):
        where = f"brushes[{i}]"
        if not isinstance(b, dict):
            raise SemanticDrawInputError(where, f"must be an object, got {type(b).__name__}")
        unknown = set(b) - {"colour", "prompt", "negative", *_BRUSH_RANGES}
        if unknown:
            raise SemanticDrawInputError(where, f"has unknown fields {sorted(unknown)}")
        try:
            colour = parse_colour(b.get("colour", "")) if isinstance(b.get("colour"), str) else None
        except ValueError:
            colour = None
        if colour is None:
            raise SemanticDrawInputError(f"{where}.colour", f"{b.get('colour')!r} is not a colour; use #rrggbb")
        if colour in seen:
            raise SemanticDrawInputError(f"{where}.colour", f"{describe_colour(colour)} is already brush "
                                                            f"{seen[colour]}; every brush needs its own colour")
        seen[colour] = i
        numbers = {}
        for key, (lo, hi) in _BRUSH_RANGES.items():
            v = b.get(key, getattr(Brush, key))
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
                raise SemanticDrawInputError(f"{where}.{key}", f"must be a number in [{lo:g}, {hi:g}], got {v!r}")
            numbers[key] = float(v)
        out.append(Brush(colour, check_prompt(b.get("prompt", ""), f"{where}.prompt"),
                         check_prompt(b.get("negative", ""), f"{where}.negative"), **numbers))
    return tuple(out)


def brushes_json(brushes: tuple[Brush, ...]) -> str:
    """Compact JSON of a brush table (the widget's format; `parse_brushes` reads it back)."""
    return json.dumps([{"colour": describe_colour(b.colour), "prompt": b.prompt, "negative": b.negative,
                        "mask_strength": b.mask_strength, "blur": b.blur, "prompt_strength": b.prompt_strength}
                       for b in brushes], separators=(",", ":"))


def painting_masks(painting: torch.Tensor, brushes: tuple[Brush, ...]) -> torch.Tensor:
    """`[p, H, W]` 0/1 masks of a painting `[H, W, 3|4]` in [0, 1]: a pixel belongs to the brush of the nearest
    colour (anti-aliased edges included, `match_palette`) where it is painted (alpha >= 0.5; erased is clear)."""
    if painting.ndim != 3 or painting.shape[-1] not in (3, 4):
        raise SemanticDrawInputError("painting", f"must be [H, W, 3|4], got {list(painting.shape)}")
    H, W = painting.shape[:2]
    if not brushes:
        return painting.new_zeros((0, H, W))
    masks = match_palette(painting[..., :3], [b.colour for b in brushes], PALETTE_TOLERANCE, min_fraction=1.0).masks
    if painting.shape[-1] == 4:
        masks = masks * (painting[..., 3] >= 0.5).to(masks)
    return masks


def painted_regions(painting: torch.Tensor, brushes: tuple[Brush, ...]) -> list[tuple[Optional[Brush], torch.Tensor]]:
    """`(brush, mask)` for every brush with paint, in table order (later paints over earlier). With no paint at all,
    one `(None, full mask)`: the background prompt covers the canvas (plain text-to-image)."""
    masks = painting_masks(painting, brushes)
    out = [(b, m) for b, m in zip(brushes, masks) if bool(m.any())]
    return out or [(None, painting.new_ones(painting.shape[:2]))]


# -- live sessions -------------------------------------------------------------------------------------------
@dataclass
class LiveStats:
    """The status readout: frames/s, stroke-to-frame latency (ms and frames), busy/idle, encode counters."""

    frames: int = 0
    sent: int = 0
    fps: float = 0.0
    latency_ms: Optional[float] = None
    latency_frames: Optional[int] = None
    busy: bool = False
    prompts_encoded: int = 0
    mask_updates: int = 0


@dataclass
class LiveSession:
    """One live session: owner token, the pending edit (latest wins), the frame request flag, state and stats."""

    id: str
    token: str
    client_id: str
    node_id: str
    width: int
    height: int
    timeout_s: float
    clock: Callable[[], float] = time.monotonic
    state: str = "queued"  # queued -> running -> ended
    end_reason: str = ""
    ended_at: float = 0.0
    stats: LiveStats = field(default_factory=LiveStats)
    latest_frame: Any = None  # the last frame sent (a host image), for `read`
    latest_index: int = -1
    _pending: dict = field(default_factory=dict)
    _pending_since: Optional[float] = None
    _frame_requested: bool = False
    _stop: bool = False
    _activity: float = 0.0
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self):
        self._activity = self.clock()

    # -- client side (routes) --------------------------------------------------------------------------
    def update(self, edit: dict) -> None:
        """Merge an edit into the one pending state (latest wins per field)."""
        with self._cond:
            self._check_open()
            self._pending.update(edit)
            if self._pending_since is None:
                self._pending_since = self.clock()
            self._activity = self.clock()
            self._cond.notify_all()

    def request_frame(self) -> None:
        with self._cond:
            self._check_open()
            self._frame_requested = True
            self._activity = self.clock()
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            if self.state == "queued":
                self._end("stopped before it started")
            self._cond.notify_all()

    def status(self) -> dict:
        with self._cond:
            s = self.stats
            message = {"queued": "queued: waiting for the executor (another live session or prompt is running); "
                                 "it starts when its prompt runs",
                       "running": "busy: rendering edits" if s.busy else "idle: frames are up to date",
                       "ended": f"ended: {self.end_reason}"}[self.state]
            return {"session": self.id, "state": self.state, "message": message, "frames": s.frames,
                    "frames_sent": s.sent, "fps": round(s.fps, 2), "latency_ms": s.latency_ms,
                    "latency_frames": s.latency_frames, "busy": s.busy, "pending": bool(self._pending),
                    "prompts_encoded": s.prompts_encoded,
                    "mask_updates": s.mask_updates, "width": self.width, "height": self.height}

    def _check_open(self) -> None:
        if self.state == "ended":
            raise LiveError(409, f"live session {self.id} has ended ({self.end_reason}); press Live to start a new one")

    # -- executor side -----------------------------------------------------------------------------------
    def _end(self, reason: str) -> None:
        self.state, self.end_reason, self.stats.busy, self.ended_at = "ended", reason, False, self.clock()
        self._cond.notify_all()

    def end(self, reason: str) -> None:
        with self._cond:
            if self.state != "ended":
                self._end(reason)

    def expired(self) -> bool:
        return self.clock() - self._activity > self.timeout_s

    def take_pending(self) -> tuple[dict, Optional[float]]:
        """The pending edit (emptied) and when its first part arrived; taking one makes the session busy, so that a
        status read never sees neither the edit pending nor its frames in progress."""
        with self._cond:
            edit, since = self._pending, self._pending_since
            self._pending, self._pending_since = {}, None
            self.stats.busy = self.stats.busy or bool(edit)
            return edit, since

    def take_frame_request(self) -> bool:
        with self._cond:
            asked, self._frame_requested = self._frame_requested, False
            return asked

    def wait_for_activity(self, seconds: float) -> None:
        """Block (the executor thread) until an edit, a frame request or stop arrives, or `seconds` pass."""
        with self._cond:
            if not (self._pending or self._frame_requested or self._stop):
                self._cond.wait(seconds)


class LiveHub:
    """Every live session of a server (one runs at a time on the executor; the others are queued)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_sessions: int = MAX_SESSIONS):
        self.clock, self.max_sessions = clock, max_sessions
        self._sessions: dict[str, LiveSession] = {}
        self._lock = threading.Lock()

    def _sweep(self) -> None:
        for sid, s in list(self._sessions.items()):
            if s.state == "queued" and s.expired():
                s.end(f"no request for {s.timeout_s:g} s while queued")
            if s.state == "ended" and self.clock() - s.ended_at > ENDED_KEEP_S:
                del self._sessions[sid]

    def start(self, client_id: str, node_id: str, width: int, height: int,
              timeout_s: float = DEFAULT_TIMEOUT_S) -> LiveSession:
        """A new queued session for `client_id`'s canvas node `node_id`; replaces that node's queued session."""
        with self._lock:
            self._sweep()
            for s in list(self._sessions.values()):
                if (s.client_id, s.node_id) == (client_id, node_id) and s.state == "queued":
                    s.end("replaced by a new session for the same node")
                    del self._sessions[s.id]
            open_sessions = sum(s.state != "ended" for s in self._sessions.values())
            if open_sessions >= self.max_sessions:
                raise LiveError(429, f"{open_sessions} live sessions are open or queued on this server (the "
                                     f"limit is {self.max_sessions}); try again when one ends")
            session = LiveSession(secrets.token_urlsafe(9), secrets.token_urlsafe(32), client_id, node_id,
                                  width, height, timeout_s, clock=self.clock)
            self._sessions[session.id] = session
            return session

    def get(self, session_id: Any, token: Any) -> LiveSession:
        """The session, for the holder of its token only (a 404 never tells whether the id exists)."""
        with self._lock:
            self._sweep()
            s = self._sessions.get(session_id) if isinstance(session_id, str) else None
        if s is None or not isinstance(token, str) or not secrets.compare_digest(s.token.encode(), token.encode()):
            raise LiveError(404, "unknown live session or wrong token; press Live to start a session")
        return s

    def claim(self, client_id: Optional[str], node_id: str) -> Optional[LiveSession]:
        """For the executor: the queued session of this client's node, now running."""
        with self._lock:
            self._sweep()
            for s in self._sessions.values():
                if s.state == "queued" and (s.client_id, s.node_id) == (client_id, node_id):
                    with s._cond:
                        s.state, s._activity = "running", self.clock()
                    return s
        return None

    def running(self) -> Optional[LiveSession]:
        with self._lock:
            return next((s for s in self._sessions.values() if s.state == "running"), None)


class LiveHost(Protocol):
    """What `run_live` needs from the host: interrupt check, connection check, edits, one stream call, a frame out."""

    def check_interrupt(self) -> None: ...  # raises to abort
    def connected(self) -> bool: ...
    def apply(self, edit: dict) -> None: ...  # re-encodes only changed prompts, re-processes only changed masks
    def step(self) -> Any: ...  # one stream call -> the frame leaving the last slot
    def send(self, frame: Any, index: int) -> Any: ...  # a preview to the client; returns the image sent


class LiveAbort(Exception):
    """The live session ended without output (client gone or timed out); the host ends the prompt cleanly."""


def run_live(session: LiveSession, host: LiveHost, slots: int, idle_wait_s: float = 0.05) -> Any:
    """Run the session on the executor thread until Stop; returns the last frame.

    Each loop: interrupt check -> end checks -> pending edit applied -> one stream call -> the frame is sent only if
    the client asked for one (else it is dropped). After `slots + 1` calls without an edit the frames no longer
    change (fixed per-slot noise), so the loop idles until the next edit or frame request.
    """
    clock, stats = session.clock, session.stats
    last, last_index, sent_index, quiet = None, -1, -1, 0
    edit_frame, edit_since, t_prev = None, None, None
    try:
        while True:
            host.check_interrupt()
            if session._stop:
                if last is None:
                    last, last_index = host.step(), 0
                session.end("stopped")
                return last
            if not host.connected():
                session.end("the client's websocket closed")
                raise LiveAbort("the client's websocket closed")
            if session.expired():
                session.end(f"no update or frame request for {session.timeout_s:g} s")
                raise LiveAbort(session.end_reason)
            edit, since = session.take_pending()
            if edit:
                host.apply(edit)
                quiet, edit_frame = 0, stats.frames
                edit_since = since if edit_since is None else edit_since
            if quiet > slots:
                stats.busy = False
                if session.take_frame_request():
                    if last_index != sent_index:
                        session.latest_frame, session.latest_index = host.send(last, last_index), last_index
                        sent_index, stats.sent = last_index, stats.sent + 1
                    else:
                        session._frame_requested = True  # nothing new: keep the request for the next frame
                session.wait_for_activity(idle_wait_s)
                t_prev = None
                continue
            stats.busy = True
            last = host.step()
            last_index, quiet, stats.frames = stats.frames, quiet + 1, stats.frames + 1
            now = clock()
            if t_prev is not None:
                dt = max(now - t_prev, 1e-6)
                stats.fps = 1 / dt if stats.fps == 0 else 0.8 * stats.fps + 0.2 / dt
            t_prev = now
            if session.take_frame_request():
                session.latest_frame, session.latest_index = host.send(last, last_index), last_index
                sent_index, stats.sent = last_index, stats.sent + 1
                if edit_since is not None:
                    stats.latency_ms = round((clock() - edit_since) * 1000, 1)
                    stats.latency_frames = stats.frames - edit_frame
                    edit_since = None
    finally:
        session.end(session.end_reason or "interrupted")
