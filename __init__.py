"""SemanticDraw for ComfyUI: region-based, few-step and streaming generation (V3 node API)."""
from .nodes import comfy_entrypoint

WEB_DIRECTORY = "./web"  # frontend extensions (plain ES modules), served by ComfyUI under /extensions/

__all__ = ["comfy_entrypoint", "WEB_DIRECTORY"]
