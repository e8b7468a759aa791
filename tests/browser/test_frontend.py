"""The pack in the real ComfyUI frontend: every node definition reaches the node library, and a workflow opened
there is sent back to the server as the prompt our own converter makes."""
import json

from tools.browser import load_workflow
from tools.comfy_host import ui_to_api
from tools.find_comfyui import REPO


def test_every_pack_node_is_registered_in_the_frontend(comfy_page, comfy_server):
    ours = sorted(k for k in comfy_server.object_info() if k.startswith("SemanticDraw"))
    registered = comfy_page.evaluate("() => Object.keys(LiteGraph.registered_node_types)")
    assert ours and not set(ours) - set(registered)


def test_frontend_prompt_equals_the_converter(comfy_page, comfy_server):
    workflow = json.loads((REPO / "workflows" / "sd15_lcm_three_regions.json").read_text())
    load_workflow(comfy_page, workflow)
    sent = comfy_page.evaluate("async () => (await window.app.graphToPrompt()).output")
    sent = {nid: {k: v for k, v in node.items() if k != "_meta"} for nid, node in sent.items()}
    assert sent == ui_to_api(workflow, comfy_server.object_info())
