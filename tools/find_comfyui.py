"""Locate the ComfyUI the pack runs in: COMFYUI_PATH, else the ComfyUI whose custom_nodes/ holds this
pack, else ~/ComfyUI, else the pinned host that tools/setup_env.sh installed into the cache.
Run as a script it prints the path, or exits 1 when there is none; `--cache` prints the cache path."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]
PINNED_TAG = "v0.3.64"


def cached_comfyui() -> Path:
    """Where the set-up installs the pinned host when no ComfyUI is found."""
    root = Path(os.environ.get("SEMANTICDRAW_CACHE", Path.home() / ".cache" / "semanticdraw"))
    return root / f"ComfyUI-{PINNED_TAG}"


def find_comfyui() -> Optional[Path]:
    if os.environ.get("COMFYUI_PATH"):
        path = Path(os.environ["COMFYUI_PATH"])
        return path.resolve() if (path / "main.py").is_file() else None  # an explicit choice is never overridden
    candidates = [REPO.parent.parent] if REPO.parent.name == "custom_nodes" else []
    candidates += [Path.home() / "ComfyUI", cached_comfyui()]
    return next((c.resolve() for c in candidates if (c / "main.py").is_file()), None)


if __name__ == "__main__":
    if sys.argv[1:] == ["--cache"]:
        print(cached_comfyui())
        sys.exit(0)
    path = find_comfyui()
    if path is None:
        sys.exit(1)
    print(path)
