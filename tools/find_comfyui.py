"""Print the ComfyUI install the pack should use (exit 1 if none): see tools.comfy_host.find_comfyui."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tools.comfy_host import find_comfyui  # noqa: E402

path = find_comfyui()
if path is None:
    sys.exit(1)
print(path)
