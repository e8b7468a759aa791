"""SemanticDraw for ComfyUI: region-based, few-step and streaming generation (V3 node API)."""
from .nodes import comfy_entrypoint

__all__ = ["comfy_entrypoint"]
