"""Text widgets of the stream sampler (ALGORITHM.md section 8): the slot list and the prompt schedule.

Both parsers run in linear time (no backtracking regex) and cap their input, so a huge or hostile
widget value is refused at once instead of blocking the host.
"""
from __future__ import annotations

import re

from .errors import SemanticDrawInputError

MAX_T_INDEX_CHARS = 1_000
MAX_SCHEDULE_CHARS = 200_000
MAX_SCHEDULE_LINES = 10_000
MAX_PROMPT_CHARS = 4_000  # per line, prompt included: CLIP reads ~77 tokens per chunk; thousands of characters do
_SEPARATORS = re.compile(r"[,\s]+")
_INT = re.compile(r"-?[0-9]{1,9}")


def parse_t_index_list(text: str, length: int) -> list[int]:
    """`'0, 4, 12'` -> strictly increasing indices into a schedule of `length` steps (the stream's slots)."""
    if len(text) > MAX_T_INDEX_CHARS:
        raise SemanticDrawInputError("t_index_list", f"has {len(text)} characters; the limit is {MAX_T_INDEX_CHARS} "
                                                     "(write a few indices, e.g. '0, 16, 32')")
    parts = [v for v in _SEPARATORS.split(text.strip()) if v]
    if not parts:
        raise SemanticDrawInputError("t_index_list", f"'{text}' has no indices; write increasing steps of the base "
                                                     "schedule, e.g. '0, 16, 32', or leave it empty to use steps")
    if not all(_INT.fullmatch(v) for v in parts):
        raise SemanticDrawInputError("t_index_list", f"'{text[:80]}' is not a comma-separated list of integers "
                                                     "(e.g. '0, 16, 32')")
    idx = [int(v) for v in parts]
    if any(b <= a for a, b in zip(idx, idx[1:])):
        raise SemanticDrawInputError("t_index_list", f"indices must be strictly increasing, got {idx}")
    if idx[0] < 0 or idx[-1] >= length:
        raise SemanticDrawInputError("t_index_list", f"indices must lie in [0, {length - 1}] (schedule_length - 1), "
                                                     f"got {idx}")
    return idx


def _schedule_int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None


def parse_prompt_schedule(text: str, regions: int, frames: int) -> dict[int, list[tuple[int, str]]]:
    """`'R@F: prompt'` lines (region R counted from 1 in stack order, from frame F on) -> per-region changes
    `{region index: [(frame, prompt), ...]}` sorted by frame. Empty lines and `#` comments are skipped."""
    if len(text) > MAX_SCHEDULE_CHARS:
        raise SemanticDrawInputError("prompt_schedule", f"has {len(text)} characters; the limit is "
                                                        f"{MAX_SCHEDULE_CHARS}")
    out: dict[int, list[tuple[int, str]]] = {}
    lines = text.splitlines()
    if len(lines) > MAX_SCHEDULE_LINES:
        raise SemanticDrawInputError("prompt_schedule", f"has {len(lines)} lines; the limit is {MAX_SCHEDULE_LINES}")
    for n, line in enumerate(lines, 1):
        if len(line) > MAX_PROMPT_CHARS:
            raise SemanticDrawInputError("prompt_schedule", f"line {n} has {len(line)} characters; the limit is "
                                                            f"{MAX_PROMPT_CHARS}")
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        head, colon, prompt = line.partition(":")
        region, at, frame = head.partition("@")
        r, f = _schedule_int(region), _schedule_int(frame)
        if not colon or not at or r is None or f is None:
            shown = line if len(line) <= 60 else line[:57] + "..."
            raise SemanticDrawInputError("prompt_schedule", f"line {n}: '{shown}' is not 'region@frame: prompt' "
                                                            "(e.g. '1@8: a red car')")
        prompt = prompt.strip()
        if not 1 <= r <= regions:
            raise SemanticDrawInputError("prompt_schedule", f"line {n}: region {r} does not exist (1..{regions})")
        if not 0 <= f < frames:
            raise SemanticDrawInputError("prompt_schedule", f"line {n}: frame {f} is outside 0..{frames - 1}")
        out.setdefault(r - 1, []).append((f, prompt))
    return {r: sorted(v) for r, v in out.items()}
