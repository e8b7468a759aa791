"""A headless ComfyUI for tests and the main job: start it, talk to its HTTP API, run UI workflows.

The server listens on 127.0.0.1 only, uses a temporary base directory with this pack linked into
`custom_nodes/` and the given model files linked into `models/`.
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Callable, Optional

from .find_comfyui import REPO

FRONTEND_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
NEVER, BYPASS = 2, 4  # node modes: muted (its consumers lose the input), bypassed (they get its input of that type)
MODEL_INPUTS = {"ckpt_name": "checkpoints", "unet_name": "diffusion_models", "lora_name": "loras", "vae_name": "vae",
                "control_net_name": "controlnet"}


class ComfyError(RuntimeError):
    """The server refused a prompt or a node failed; the message carries ComfyUI's own error."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ComfyServer:
    """`with ComfyServer(comfyui, models={"checkpoints": [path]}) as server: ...`; `front_end_root` serves another
    frontend (a `comfyui_frontend_package/static` folder) than the host's pinned one."""

    def __init__(self, comfyui: Path, models: Optional[dict[str, list[Path]]] = None,
                 inputs: Optional[list[Path]] = None, python: str = sys.executable, timeout: float = 180,
                 front_end_root: Optional[Path] = None):
        self.comfyui, self.models, self.inputs = Path(comfyui), models or {}, inputs or []
        self.front_end_root = front_end_root  # a frontend's static/ folder; None: the one the host pins
        self.python, self.timeout = python, timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "ComfyServer":
        self.base = Path(tempfile.mkdtemp(prefix="semanticdraw-comfy-"))
        (self.base / "custom_nodes").mkdir()
        (self.base / "custom_nodes" / "ComfyUI-SemanticDraw").symlink_to(REPO, target_is_directory=True)
        for folder, files in self.models.items():
            (self.base / "models" / folder).mkdir(parents=True, exist_ok=True)
            for f in files:
                (self.base / "models" / folder / Path(f).name).symlink_to(Path(f).resolve())
        (self.base / "input").mkdir()
        for f in self.inputs:
            shutil.copy(f, self.base / "input" / Path(f).name)
        self.log_path = self.base / "comfyui.log"
        self._log = open(self.log_path, "w")
        cmd = [self.python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
               "--base-directory", str(self.base), "--disable-auto-launch",
               "--database-url", f"sqlite:///{self.base / 'comfyui.db'}"]
        if self.front_end_root is not None:
            cmd += ["--front-end-root", str(self.front_end_root)]
        self.process = subprocess.Popen(cmd, cwd=self.comfyui, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.time() + self.timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise ComfyError(f"ComfyUI exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                self.get("/system_stats")
                return self
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        self.__exit__(None, None, None)
        raise ComfyError(f"ComfyUI did not answer within {self.timeout} s:\n{self.log_tail()}")

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        shutil.rmtree(self.base, ignore_errors=True)

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    # -- HTTP --------------------------------------------------------------------------------
    def get(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=30) as r:
            return json.load(r)

    def post(self, path: str, body: Optional[dict] = None):
        data = json.dumps(body or {}).encode()
        req = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                text = r.read()
                return json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            raise ComfyError(f"POST {path} -> {e.code}: {e.read().decode(errors='replace')}") from None

    def object_info(self) -> dict:
        return self.get("/object_info")

    def queue(self, prompt: dict) -> str:
        return self.post("/prompt", {"prompt": prompt, "client_id": str(uuid.uuid4())})["prompt_id"]

    def interrupt(self) -> None:
        self.post("/interrupt")

    def wait(self, prompt_id: str, timeout: float = 600) -> dict:
        """The history entry of a finished prompt; raises ComfyError with the node's error if it failed."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            entry = self.get(f"/history/{prompt_id}").get(prompt_id)
            if entry and entry.get("status", {}).get("completed") is not None:
                status = entry["status"]
                if status.get("status_str") == "error":
                    errors = [m[1] for m in status.get("messages", []) if m[0] == "execution_error"]
                    raise ComfyError(f"prompt {prompt_id} failed: {json.dumps(errors)[:4000]}")
                return entry
            if self.process.poll() is not None:
                raise ComfyError(f"ComfyUI died while running {prompt_id}:\n{self.log_tail()}")
            time.sleep(0.25)
        raise ComfyError(f"prompt {prompt_id} did not finish within {timeout} s")

    def wait_idle(self, timeout: float = 60) -> None:
        """Wait until nothing is running or pending (condition polled; ComfyError after `timeout`)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            queue = self.get("/queue")
            if not queue["queue_running"] and not queue["queue_pending"]:
                return
            time.sleep(0.05)
        raise ComfyError(f"the server is still busy after {timeout} s: {self.get('/queue')}")

    def images(self, entry: dict) -> list[Path]:
        return [self.base / "output" / img.get("subfolder", "") / img["filename"]
                for out in entry.get("outputs", {}).values() for img in out.get("images", [])
                if img.get("type") == "output"]

    def run(self, prompt: dict, timeout: float = 600) -> dict:
        return self.wait(self.queue(prompt), timeout)


def _widget_names(info: dict) -> list[tuple[str, bool]]:
    """Widget inputs in frontend order, each with whether a 'control_after_generate' value follows it."""
    order = info.get("input_order") or {s: list(info["input"].get(s, {})) for s in ("required", "optional")}
    out = []
    for section in ("required", "optional"):
        for name in order.get(section, []):
            spec = info["input"][section][name]
            kind, opts = spec[0], (spec[1] if len(spec) > 1 else {})
            is_widget = isinstance(kind, list) or kind in ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")
            if is_widget and not opts.get("forceInput"):
                out.append((name, bool(opts.get("control_after_generate")) or name in ("seed", "noise_seed")))
    return out


def ui_to_api(workflow: dict, object_info: dict) -> dict:
    """Convert a UI-format workflow (as saved by the frontend) into an API prompt.

    Notes and muted nodes are dropped; Reroutes are followed to their source, and so are bypassed nodes, as the
    frontend does (an output takes the node's first input of the same type; none: the consumer loses the input);
    a PrimitiveNode's value goes into the widget it drives.
    """
    nodes = {n["id"]: n for n in workflow["nodes"]}
    links = {l[0]: l for l in workflow["links"]}

    def source(link_id):
        _, src, slot = links[link_id][:3]
        node = nodes[src]
        while node["type"] == "Reroute" or node.get("mode", 0) == BYPASS:
            kind = node["outputs"][slot]["type"] if node.get("mode", 0) == BYPASS else None
            through = [i for i in node.get("inputs", []) if kind is None or i.get("type") == kind]
            if not through or through[0].get("link") is None:
                return None, None
            _, src, slot = links[through[0]["link"]][:3]
            node = nodes[src]
        return node, slot

    prompt = {}
    for nid, node in nodes.items():
        if node["type"] in FRONTEND_ONLY or node.get("mode", 0) in (NEVER, BYPASS):
            continue
        if node["type"] not in object_info:
            raise ComfyError(f"node {nid}: type '{node['type']}' is not installed on this ComfyUI")
        inputs, values = {}, list(node.get("widgets_values") or [])
        for name, has_control in _widget_names(object_info[node["type"]]):
            if not values:
                break
            inputs[name] = values.pop(0)
            if has_control and values and values[0] in ("fixed", "increment", "decrement", "randomize"):
                values.pop(0)
        for inp in node.get("inputs", []):
            if inp.get("link") is None:
                continue
            src, slot = source(inp["link"])
            if src is not None and src["type"] == "PrimitiveNode":
                inputs[inp["name"]] = src["widgets_values"][0]
            elif src is not None and src.get("mode", 0) != NEVER:
                inputs[inp["name"]] = [str(src["id"]), slot]
        prompt[str(nid)] = {"class_type": node["type"], "inputs": inputs}
    return prompt


def bypass_nodes(workflow: dict, types: tuple[str, ...]) -> dict:
    """Bypass the UI workflow's nodes of the given types, as the frontend bypasses a node (in place; returned)."""
    for node in workflow["nodes"]:
        if node["type"] in types:
            node["mode"] = BYPASS
    return workflow


def run_workflow(path: Path, server: ComfyServer, model_map: Optional[Callable[[str, str], str]] = None,
                 overrides: Optional[dict[tuple[str, str], object]] = None, timeout: float = 900,
                 bypass: tuple[str, ...] = ()) -> list[Path]:
    """Run a UI workflow file; `model_map(input_name, file)` renames model files, `overrides` sets
    `{(class_type, input): value}`, nodes of the types in `bypass` are bypassed as the frontend bypasses them.
    Returns the images it saved."""
    workflow = bypass_nodes(json.loads(Path(path).read_text()), bypass)
    prompt = ui_to_api(workflow, server.object_info())
    for node in prompt.values():
        for name, value in list(node["inputs"].items()):
            if model_map is not None and name in MODEL_INPUTS and isinstance(value, str):
                node["inputs"][name] = model_map(name, value)
            if (node["class_type"], name) in (overrides or {}):
                node["inputs"][name] = overrides[(node["class_type"], name)]
    return server.images(server.run(prompt, timeout))
