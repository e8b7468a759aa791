"""The main job: run a workflow from workflows/ through a headless ComfyUI and write its images.

    python tools/run_workflow.py workflows/sd15_lcm_three_regions.json --out out/ [--smoke]

Model files come from --models (default: the ComfyUI's own models/ folder) and are used as they are. A missing
checkpoint is replaced by the toy-world checkpoint (tools/train_toy.py), which knows eight colours and three shapes,
so on a fresh machine each region comes out in the colour its prompt names; the patches meant for the missing model
(LoRA loaders, ModelSamplingDiscrete) are bypassed and the canvas is scaled to the toy's size. The run says so.
Workflows whose ControlNet or hook LoRA needs an SD1.5-shaped model get small random-weight stand-ins instead (the
image is noise), and so does every model with --smoke. --require-models stops instead.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tools import tiny_models, train_toy  # noqa: E402
from tools.comfy_host import ComfyError, ComfyServer, run_workflow  # noqa: E402
from tools.find_comfyui import REPO, find_comfyui  # noqa: E402


def needed_models(nodes: list[dict]) -> list[tuple[str, str]]:
    """(models subfolder, file name) of every model file a UI workflow's `nodes` load."""
    out = []
    for node in nodes:
        for value in node.get("widgets_values") or []:
            if isinstance(value, str) and value.endswith((".safetensors", ".ckpt", ".pt", ".sft")):
                folder = ("loras" if "Lora" in node["type"] else "controlnet" if "ControlNet" in node["type"]
                          else "diffusion_models" if node["type"] == "UNETLoader" else "checkpoints")
                out.append((folder, value))
    return out


TOY_SIZE = 128  # pixels: the shorter canvas side the toy checkpoint was trained at (16 latent pixels)
TOY_BYPASS = ("LoraLoader", "LoraLoaderModelOnly", "ModelSamplingDiscrete")  # patches for the missing model
TOY_UNSUPPORTED = ("ControlNetLoader", "CreateHookLora")  # their stand-ins are SD1.5-shaped
CANVAS_NODES = ("EmptyLatentImage", "EmptySD3LatentImage", "SemanticDrawCanvas")  # widgets: width, height, ...


def toy_canvas(nodes: list[dict]) -> dict[tuple[str, str], int]:
    """Overrides that scale each canvas node so its shorter side is `TOY_SIZE` (multiples of 16 pixels)."""
    out = {}
    for node in nodes:
        if node["type"] in CANVAS_NODES:
            width, height = node["widgets_values"][:2]
            scale = TOY_SIZE / min(width, height)
            out[(node["type"], "width")] = max(16, round(width * scale / 16) * 16)
            out[(node["type"], "height")] = max(16, round(height * scale / 16) * 16)
    return out


def toy_stand_in_serves(nodes: list[dict]) -> bool:
    return not {n["type"] for n in nodes} & set(TOY_UNSUPPORTED)


def tiny_model_name(input_name: str, value: str) -> str:
    """The stand-in file for a workflow's model name (flow-model names get the SD3-shaped checkpoint)."""
    if input_name == "control_net_name":
        return tiny_models.CONTROLNET
    return tiny_models.LORA if input_name == "lora_name" else tiny_models.checkpoint_for(value)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workflow", type=Path)
    ap.add_argument("--out", type=Path, default=Path("out"))
    ap.add_argument("--comfyui", type=Path,
                    help="ComfyUI folder (default: COMFYUI_PATH, the host of this pack, ~/ComfyUI, the installed one)")
    ap.add_argument("--models", type=Path, help="models folder (default: <comfyui>/models)")
    ap.add_argument("--smoke", action="store_true", help="use generated random-weight stand-ins for every model")
    ap.add_argument("--require-models", action="store_true", help="stop when a model file is missing")
    ap.add_argument("--width", type=int, help="override the canvas width of Empty*LatentImage nodes")
    ap.add_argument("--height", type=int, help="override the canvas height")
    ap.add_argument("--steps", type=int, help="override the steps of the SemanticDraw samplers")
    args = ap.parse_args()

    comfyui = args.comfyui or find_comfyui()
    if comfyui is None or not (Path(comfyui) / "main.py").is_file():
        print("error: no ComfyUI found; run tools/run_main.sh (it installs the pinned ComfyUI), pass --comfyui, or "
              "set COMFYUI_PATH", file=sys.stderr)
        return 2
    models_dir = args.models or Path(comfyui) / "models"
    nodes = json.loads(args.workflow.read_text())["nodes"]
    needed = needed_models(nodes)
    missing = needed if args.smoke else [(f, n) for f, n in needed if not (models_dir / f / n).is_file()]
    if missing and args.require_models:
        for folder, name in missing:
            print(f"error: model file '{name}' not found in {models_dir / folder}", file=sys.stderr)
        print("Download it there (the workflow's note says where from), or pass --models DIR.", file=sys.stderr)
        return 3
    models = {f: [models_dir / f / n] for f, n in needed if (f, n) not in missing}
    toy = any(f == "checkpoints" for f, _ in missing) and not args.smoke and toy_stand_in_serves(nodes)
    names, bypass, overrides, toy_file = ", ".join(n for _, n in missing), (), {}, None
    if toy:
        print(f"note: {names} not found in {models_dir}: rendering with the toy-world checkpoint (it knows 8 colours "
              f"and 3 shapes: each region comes out in the colour its prompt names), with the {', '.join(TOY_BYPASS)} "
              f"nodes bypassed (patches meant for the missing model) and the canvas scaled to {TOY_SIZE} px. For a "
              f"real image put the model files there (the workflow's note says where from) or pass --models DIR.",
              file=sys.stderr)
        toy_file = train_toy.checkpoint()
        models.setdefault("checkpoints", []).append(toy_file)
        bypass, overrides = TOY_BYPASS, toy_canvas(nodes)
    elif missing:
        print(f"note: {names} not found in {models_dir}: rendering with tiny random-weight stand-ins (the image is "
              f"noise). For a real image put the model files there (the workflow's note says where from) or pass "
              f"--models DIR.", file=sys.stderr)
    if missing:
        files = tiny_models.ensure_all()
        for folder, key in (("checkpoints", "sd15"), ("checkpoints", "sd3"), ("loras", "lora"),
                            ("controlnet", "controlnet")):
            models.setdefault(folder, []).append(files[key])
    stand_ins = {n: toy_file.name if toy_file and f == "checkpoints" else None for f, n in missing}

    def model_map(input_name: str, value: str) -> str:
        if value not in stand_ins:
            return value
        return stand_ins[value] or tiny_model_name(input_name, value)
    for cls in ("EmptyLatentImage", "EmptySD3LatentImage"):
        if args.width:
            overrides[(cls, "width")] = args.width
        if args.height:
            overrides[(cls, "height")] = args.height
    if args.steps:
        overrides |= {(cls, "steps"): args.steps for cls in ("SemanticDrawSampler", "SemanticDrawSDEdit",
                                                            "SemanticDrawRegionalEdit")}
    inputs = sorted((REPO / "workflows" / "assets").glob("*.png"))
    try:
        with ComfyServer(Path(comfyui), models=models, inputs=inputs) as server:
            images = run_workflow(args.workflow, server, model_map=model_map, overrides=overrides, bypass=bypass)
            args.out.mkdir(parents=True, exist_ok=True)
            for image in images:
                target = args.out / image.name
                shutil.copy(image, target)
                print(target)
    except ComfyError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
