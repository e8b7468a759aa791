"""Live painting: the canvas' brush table, painting -> region masks, and the live-session state machine.

Host-agnostic (torch and the standard library). A live session (ALGORITHM.md section 8.5, lazy edits) is
bound to an unguessable token; HTTP routes hand it canvas edits (latest wins: one pending state, never a
queue) and frame requests, while the host's executor thread runs `run_live`, which steps the stream,
applies the pending edit at the next call and sends a frame only when the client asked for one (at most
one in flight; frames computed meanwhile are dropped as stale). A session ends on Stop (with output), on
interrupt, on a closed websocket or after `timeout_s` without an update or a frame request, and fails (state
`failed`, with the error's message) when the stream raises. Once the scene has settled the loop sleeps.
"""
from __future__ import annotations

import json
import math
import secrets
import threading
import time
from dataclasses import dataclass, replace
from enum import Enum
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


def shown(value: Any) -> str:
    """A client's JSON value as an error message shows it: a number as it is, text quoted and cut to 40 characters,
    anything else by its JSON type (never a repr of a large or nested value)."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return repr(value) if abs(value) < 1e300 or not math.isfinite(value) else "a huge number"
    if isinstance(value, str):
        return json.dumps(value[:40] + ("..." if len(value) > 40 else ""))
    return {list: "a list", dict: "an object"}.get(type(value), f"a {type(value).__name__}")


def check_canvas_size(width: int, height: int, name: str = "canvas") -> None:
    """Canvas sides must be positive multiples of 8 (latent size) and at most MAX_SIDE."""
    for side, value in (("width", width), ("height", height)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise SemanticDrawInputError(f"{name} {side}", f"must be an integer, got {shown(value)}")
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

    Each brush: `{"colour": "#rrggbb" (or "#rgb", "R,G,B", a CSS colour name, as the Semantic Palette reads them),
    "prompt": str, "negative"?: str, "mask_strength"?: 0-1, "blur"?: 0-64 pixels, "prompt_strength"?: 0-1}`; at most
    MAX_BRUSHES, colours distinct.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except json.JSONDecodeError as e:
            raise SemanticDrawInputError("brushes", f"is not valid JSON ({e.msg} at character {e.pos})") from None
        except (RecursionError, ValueError):
            raise SemanticDrawInputError("brushes", "is not valid JSON (nested too deeply or a number too long)") \
                from None
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
            raise SemanticDrawInputError(where, f"has unknown fields {sorted(k[:40] for k in unknown)[:8]}")
        try:
            colour = parse_colour(b.get("colour", "")) if isinstance(b.get("colour"), str) else None
        except ValueError:
            colour = None
        if colour is None:
            raise SemanticDrawInputError(f"{where}.colour", f"{shown(b.get('colour'))} is not a colour; use #rrggbb, "
                                                            "R,G,B or a CSS colour name")
        if colour in seen:
            raise SemanticDrawInputError(f"{where}.colour", f"{describe_colour(colour)} is already brush "
                                                            f"{seen[colour]}; every brush needs its own colour")
        seen[colour] = i
        numbers = {}
        for key, (lo, hi) in _BRUSH_RANGES.items():
            v = b.get(key, getattr(Brush, key))
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
                raise SemanticDrawInputError(f"{where}.{key}",
                                             f"must be a number in [{lo:g}, {hi:g}], got {shown(v)}")
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


def painted_regions(painting: torch.Tensor, brushes: tuple[Brush, ...]) -> list[tuple[Brush, torch.Tensor]]:
    """`(brush, mask)` for every brush with paint, in table order (later paints over earlier). Nothing painted is no
    region: the background prompt or image then fills the canvas (`engine.scene.check_scene`, a blank canvas)."""
    masks = painting_masks(painting, brushes)
    return [(b, m) for b, m in zip(brushes, masks) if bool(m.any())]


# -- live sessions -------------------------------------------------------------------------------------------
class LiveState(str, Enum):
    """A live session's state (the status `state` field is its value): queued until the executor claims it, running
    until it ends (Stop, interrupt, closed websocket, timeout: `ended`) or fails (`failed`, with the error)."""

    QUEUED = "queued"
    RUNNING = "running"
    ENDED = "ended"
    FAILED = "failed"


@dataclass
class LiveStats:
    """The status readout: frames computed and sent, frames/s, edit-to-visible latency (ms and frames: from an edit's
    arrival to the first frame sent that shows it in full, ALGORITHM.md 8.8), busy/idle, encode counters."""

    frames: int = 0
    sent: int = 0
    fps: float = 0.0
    latency_ms: Optional[float] = None
    latency_frames: Optional[int] = None
    busy: bool = False
    prompts_encoded: int = 0  # texts the host encoded (CLIP)
    mask_updates: int = 0  # painting updates applied
    conditionings_processed: int = 0  # prompt keys the stream encoded and processed (engine `StreamEngine.encodes`)
    masks_processed: int = 0  # masks the stream blurred and quantized (engine `StreamEngine.mask_processings`)


class LiveSession:
    """One live session, owner of its state: the token, the pending edit (latest wins), the frame request, the state
    machine (`LiveState`; every transition is a method) and the stats with the latest frame sent, all under one
    condition and read as one snapshot. Routes call the client-side methods, the hub `begin`/`end`, the executor's
    `run_live` the rest."""

    def __init__(self, session_id: str, token: str, client_id: str, node_id: str, width: int, height: int,
                 timeout_s: float, clock: Callable[[], float] = time.monotonic):
        self.id, self.token, self.client_id, self.node_id = session_id, token, client_id, node_id
        self.width, self.height, self.timeout_s, self.clock = width, height, timeout_s, clock
        self._cond = threading.Condition()
        self._state, self._reason, self._ended_at = LiveState.QUEUED, "", 0.0
        self._stats = LiveStats()
        self._frame: Any = None  # the last frame sent (a host image) and its index, for `read`
        self._index = -1
        self._pending: dict = {}
        self._pending_since: Optional[float] = None
        self._frame_requested = self._stop = False
        self._activity = clock()

    # -- reading ---------------------------------------------------------------------------------------
    @property
    def state(self) -> LiveState:
        with self._cond:
            return self._state

    @property
    def end_reason(self) -> str:
        with self._cond:
            return self._reason

    @property
    def ended_at(self) -> float:
        with self._cond:
            return self._ended_at

    def stats(self) -> LiveStats:
        """A copy of the stats."""
        with self._cond:
            return replace(self._stats)

    def status(self) -> dict:
        with self._cond:
            return self._status()

    def _status(self) -> dict:
        s = self._stats
        message = {LiveState.QUEUED: "queued: waiting for the executor (another live session or prompt is running); "
                                     "it starts when its prompt runs",
                   LiveState.RUNNING: "busy: rendering edits" if s.busy else "idle: frames are up to date",
                   LiveState.ENDED: f"ended: {self._reason}", LiveState.FAILED: f"failed: {self._reason}"}[self._state]
        return {"session": self.id, "state": self._state.value, "message": message, "frames": s.frames,
                "frames_sent": s.sent, "fps": round(s.fps, 2), "latency_ms": s.latency_ms,
                "latency_frames": s.latency_frames, "busy": s.busy, "pending": bool(self._pending),
                "prompts_encoded": s.prompts_encoded, "mask_updates": s.mask_updates,
                "conditionings_processed": s.conditionings_processed, "masks_processed": s.masks_processed,
                "width": self.width, "height": self.height}

    def _open(self) -> bool:
        return self._state in (LiveState.QUEUED, LiveState.RUNNING)

    def _check_open(self) -> None:
        if not self._open():
            raise LiveError(409, f"live session {self.id} has {self._state.value} ({self._reason}); press Live to "
                                 "start a new one")

    # -- client side (routes) --------------------------------------------------------------------------
    def update(self, edit: dict) -> dict:
        """Merge an edit into the one pending state (latest wins per field); returns the status."""
        with self._cond:
            self._check_open()
            self._pending.update(edit)
            if self._pending_since is None:
                self._pending_since = self.clock()
            self._activity = self.clock()
            self._cond.notify_all()
            return self._status()

    def request_frame(self) -> dict:
        """The client is ready for a frame (at most one in flight); also the keep-alive. Returns the status."""
        with self._cond:
            self._check_open()
            self._frame_requested, self._activity = True, self.clock()
            self._cond.notify_all()
            return self._status()

    def read(self) -> tuple[Any, int, dict]:
        """One snapshot: the last frame sent, its index and the status; asks for the next frame while open."""
        with self._cond:
            if self._open():
                self._frame_requested, self._activity = True, self.clock()
                self._cond.notify_all()
            return self._frame, self._index, self._status()

    def stop(self) -> dict:
        with self._cond:
            self._stop = True
            if self._state == LiveState.QUEUED:
                self._finish(LiveState.ENDED, "stopped before it started")
            self._cond.notify_all()
            return self._status()

    # -- hub side --------------------------------------------------------------------------------------------
    def begin(self) -> bool:
        """queued -> running (the executor claimed it); False when it is not queued."""
        with self._cond:
            if self._state != LiveState.QUEUED:
                return False
            self._state, self._activity = LiveState.RUNNING, self.clock()
            return True

    def end(self, reason: str) -> None:
        """-> ended, unless it already ended or failed."""
        with self._cond:
            if self._open():
                self._finish(LiveState.ENDED, reason)

    def fail(self, message: str) -> None:
        """-> failed with the error's message, unless it already ended or failed."""
        with self._cond:
            if self._open():
                self._finish(LiveState.FAILED, message[:1000] or "an unknown error")

    def _finish(self, state: LiveState, reason: str) -> None:
        self._state, self._reason, self._ended_at = state, reason, self.clock()
        self._stats.busy = False
        self._cond.notify_all()

    def expired(self) -> bool:
        with self._cond:
            return self.clock() - self._activity > self.timeout_s

    # -- executor side (run_live) -----------------------------------------------------------------------
    def stop_requested(self) -> bool:
        with self._cond:
            return self._stop

    def take_edit(self) -> tuple[dict, Optional[float]]:
        """The pending edit (emptied) and when its first part arrived; taking one makes the session busy, so that a
        status read never sees neither the edit pending nor its frames in progress."""
        with self._cond:
            edit, since = self._pending, self._pending_since
            self._pending, self._pending_since = {}, None
            self._stats.busy = self._stats.busy or bool(edit)
            return edit, since

    def computed(self, frame_s: Optional[float]) -> int:
        """A frame was computed (busy); `frame_s` since the previous one while busy, if any. Returns its index."""
        with self._cond:
            s = self._stats
            s.busy = True
            if frame_s is not None:
                rate = 1 / max(frame_s, 1e-6)
                s.fps = rate if s.fps == 0 else 0.8 * s.fps + 0.2 * rate
            s.frames += 1
            return s.frames - 1

    def take_frame_request(self, unsent: bool) -> bool:
        """Whether to send a frame now: the client asked and there is one it has not got (`unsent`). A request with
        nothing to show stays pending for the next frame."""
        with self._cond:
            if self._frame_requested and unsent:
                self._frame_requested = False
                return True
            return False

    def sent(self, image: Any, index: int, latency: Optional[tuple[float, int]] = None) -> None:
        """Frame `index` went to the client as `image`; `latency` (ms, frames) of the newest edit it shows first."""
        with self._cond:
            self._frame, self._index = image, index
            self._stats.sent += 1
            if latency is not None:
                self._stats.latency_ms, self._stats.latency_frames = latency
            self._cond.notify_all()

    def counters(self, **values: int) -> None:
        """Set the host's counters (`prompts_encoded`, `mask_updates`, `conditionings_processed`,
        `masks_processed`)."""
        with self._cond:
            for name, value in values.items():
                setattr(self._stats, name, value)

    def idle(self) -> None:
        with self._cond:
            self._stats.busy = False

    def wait_for_work(self, seconds: float, unsent: bool) -> None:
        """Sleep (the executor thread) until an edit, a stop, or a frame request with a frame to send (`unsent`)
        arrives, or `seconds` pass (the caller then checks interrupt, the websocket and the timeout)."""
        with self._cond:
            self._cond.wait_for(lambda: self._pending or self._stop or (self._frame_requested and unsent), seconds)


class LiveHub:
    """Every live session of a server (one runs at a time on the executor; the others are queued)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_sessions: int = MAX_SESSIONS):
        self.clock, self.max_sessions = clock, max_sessions
        self._sessions: dict[str, LiveSession] = {}
        self._lock = threading.Lock()

    def _sweep(self) -> None:
        for sid, s in list(self._sessions.items()):
            if s.state == LiveState.QUEUED and s.expired():
                s.end(f"no request for {s.timeout_s:g} s while queued")
            if s.state in (LiveState.ENDED, LiveState.FAILED) and self.clock() - s.ended_at > ENDED_KEEP_S:
                del self._sessions[sid]

    def start(self, client_id: str, node_id: str, width: int, height: int,
              timeout_s: float = DEFAULT_TIMEOUT_S) -> LiveSession:
        """A new queued session for `client_id`'s canvas node `node_id`; replaces that node's queued session."""
        with self._lock:
            self._sweep()
            for s in list(self._sessions.values()):
                if (s.client_id, s.node_id) == (client_id, node_id) and s.state == LiveState.QUEUED:
                    s.end("replaced by a new session for the same node")
                    del self._sessions[s.id]
            open_sessions = sum(s.state in (LiveState.QUEUED, LiveState.RUNNING) for s in self._sessions.values())
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
                if (s.client_id, s.node_id) == (client_id, node_id) and s.begin():
                    return s
        return None


class LiveHost(Protocol):
    """What `run_live` needs from the host: interrupt check, connection check, edits, one stream call, a frame out."""

    def check_interrupt(self) -> None: ...  # raises to abort
    def interrupted(self, error: BaseException) -> bool: ...  # whether `error` is the host's interrupt
    def connected(self) -> bool: ...
    def apply(self, edit: dict) -> int: ...  # queues the edit; returns its number (the stream's `update`)
    def step(self) -> Any: ...  # one stream call -> the frame shown (engine `StreamEngine.step`)
    def shown_edit(self) -> int: ...  # the newest edit the last frame shows in full (`StreamEngine.shown_edit`)
    def send(self, frame: Any, index: int) -> Any: ...  # a preview to the client; returns the image sent


class LiveAbort(Exception):
    """The live session ended without output (client gone or timed out); the host ends the prompt cleanly."""


@dataclass
class _Edit:
    number: int  # the stream's number of the edit
    since: float  # when its first part arrived
    frame: int  # the first frame computed with it


def run_live(session: LiveSession, host: LiveHost, slots: int, idle_wait_s: float = 0.2) -> Any:
    """Run the session on the executor thread until Stop; returns the last frame.

    Each loop: interrupt check -> end checks -> pending edit applied -> one stream call -> the frame is sent only if
    the client asked for one (else it is dropped). `slots` calls after the last edit the frames no longer change
    (every slot has entered with the scene; fixed per-slot noise), so the loop sleeps until an edit, a stop or a
    request for a frame not yet sent, waking every `idle_wait_s` to check interrupt, the websocket and the timeout.
    Latency (ms, frames) is measured from an edit's arrival to the first frame sent that shows it in full.
    A failure ends the session as failed, with the error's message, and propagates.
    """
    clock = session.clock
    last, last_index, last_shown, sent_index, quiet, t_prev = None, -1, 0, -1, 0, None
    in_flight: list[_Edit] = []
    try:
        while True:
            host.check_interrupt()
            if session.stop_requested():
                if last is None:
                    last, last_index = host.step(), session.computed(None)
                session.end("stopped")
                return last
            if not host.connected():
                session.end("the client's websocket closed")
                raise LiveAbort("the client's websocket closed")
            if session.expired():
                session.end(f"no update or frame request for {session.timeout_s:g} s")
                raise LiveAbort(session.end_reason)
            edit, since = session.take_edit()
            if edit:
                in_flight.append(_Edit(host.apply(edit), since, last_index + 1))
                quiet = 0
            if quiet >= slots:
                session.idle()
                t_prev = None
                if session.take_frame_request(last_index != sent_index):
                    sent_index = _send(session, host, last, last_index, last_shown, in_flight)
                session.wait_for_work(idle_wait_s, last_index != sent_index)
                continue
            last = host.step()
            now = clock()
            last_index, last_shown, quiet = session.computed(None if t_prev is None else now - t_prev), \
                host.shown_edit(), quiet + 1
            t_prev = now
            if session.take_frame_request(True):
                sent_index = _send(session, host, last, last_index, last_shown, in_flight)
    except LiveAbort:
        raise
    except BaseException as e:
        if host.interrupted(e):
            session.end("interrupted")
        else:
            session.fail(str(e) or type(e).__name__)
        raise


def _send(session: LiveSession, host: LiveHost, frame: Any, index: int, shown: int, in_flight: list[_Edit]) -> int:
    """Send frame `index` (showing edits up to `shown` in full) and record the latency of the newest edit it is the
    first to show; returns `index`."""
    image = host.send(frame, index)
    done = [e for e in in_flight if e.number <= shown]
    latency = None
    if done:
        newest = done[-1]
        latency = (round((session.clock() - newest.since) * 1000, 1), index - newest.frame + 1)
        in_flight[:] = [e for e in in_flight if e.number > shown]
    session.sent(image, index, latency)
    return index
