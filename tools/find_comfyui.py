"""Locate the ComfyUI the pack runs in: COMFYUI_PATH, else the ComfyUI whose custom_nodes/ holds this
pack, else ~/ComfyUI. Run as a script it prints the path, or exits 1 when there is none."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]


def find_comfyui() -> Optional[Path]:
    candidates = [Path(os.environ["COMFYUI_PATH"])] if os.environ.get("COMFYUI_PATH") else []
    if REPO.parent.name == "custom_nodes":
        candidates.append(REPO.parent.parent)
    candidates.append(Path.home() / "ComfyUI")
    return next((c.resolve() for c in candidates if (c / "main.py").is_file()), None)


if __name__ == "__main__":
    path = find_comfyui()
    if path is None:
        sys.exit(1)
    print(path)
