"""Node registry: every node of the pack, registered through ComfyUI's V3 extension API."""
from comfy_api.latest import ComfyExtension, io

from . import live_routes
from .blend import SemanticDrawBackgroundBlend
from .canvas import SemanticDrawCanvas
from .edit import SemanticDrawRegionalEdit, SemanticDrawSDEdit
from .palette import SemanticDrawPalette
from .region_prompt import SemanticDrawRegion, SemanticDrawRegionFromConditioning
from .region_stack import SemanticDrawRegionStack
from .sampling import SemanticDrawGuiderNode, SemanticDrawSampler
from .stream import SemanticDrawStreamSampler

NODES: list[type[io.ComfyNode]] = [
    SemanticDrawRegion,
    SemanticDrawRegionFromConditioning,
    SemanticDrawRegionStack,
    SemanticDrawPalette,
    SemanticDrawSampler,
    SemanticDrawGuiderNode,
    SemanticDrawStreamSampler,
    SemanticDrawSDEdit,
    SemanticDrawRegionalEdit,
    SemanticDrawBackgroundBlend,
    SemanticDrawCanvas,
]


class SemanticDrawExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return NODES


async def comfy_entrypoint() -> SemanticDrawExtension:
    live_routes.register_with_server()  # the live canvas' routes under /semanticdraw/live/
    return SemanticDrawExtension()
