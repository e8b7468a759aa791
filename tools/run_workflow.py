"""The main job: run a workflow from workflows/ through a headless ComfyUI and write its images.

    python tools/run_workflow.py workflows/sd15_lcm_three_regions.json --out out/ [--smoke]

Model files come from --models (default: the ComfyUI's own models/ folder). A missing one stops the
run with its name and the folder searched. --smoke makes small random-weight checkpoints and maps the
workflow's model names to them, so the whole path runs offline (the images are noise).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tools import tiny_models  # noqa: E402
from tools.comfy_host import ComfyError, ComfyServer, run_workflow  # noqa: E402
from tools.find_comfyui import REPO, find_comfyui  # noqa: E402


def needed_models(workflow: Path) -> list[tuple[str, str]]:
    """(models subfolder, file name) of every model file the workflow loads."""
    nodes = json.loads(workflow.read_text())["nodes"]
    out = []
    for node in nodes:
        for value in node.get("widgets_values") or []:
            if isinstance(value, str) and value.endswith((".safetensors", ".ckpt", ".pt", ".sft")):
                folder = "loras" if "Lora" in node["type"] else "diffusion_models" if node["type"] == "UNETLoader" else "checkpoints"
                out.append((folder, value))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workflow", type=Path)
    ap.add_argument("--out", type=Path, default=Path("out"))
    ap.add_argument("--comfyui", type=Path, help="ComfyUI folder (default: COMFYUI_PATH, the host of this pack, ~/ComfyUI)")
    ap.add_argument("--models", type=Path, help="models folder (default: <comfyui>/models)")
    ap.add_argument("--smoke", action="store_true", help="use generated random-weight checkpoints (offline)")
    ap.add_argument("--width", type=int, help="override the canvas width of Empty*LatentImage nodes")
    ap.add_argument("--height", type=int, help="override the canvas height")
    ap.add_argument("--steps", type=int, help="override the steps of the SemanticDraw samplers")
    args = ap.parse_args()

    comfyui = args.comfyui or find_comfyui()
    if comfyui is None or not (Path(comfyui) / "main.py").is_file():
        print("error: no ComfyUI found; pass --comfyui, set COMFYUI_PATH or put ComfyUI at ~/ComfyUI", file=sys.stderr)
        return 2
    models_dir = args.models or Path(comfyui) / "models"
    if args.smoke:
        files = tiny_models.ensure_all()
        models = {"checkpoints": [files["sd15"], files["sd3"]], "loras": [files["lora"]]}
        model_map = lambda name, value: tiny_models.LORA if name == "lora_name" else tiny_models.checkpoint_for(value)
    else:
        missing = [(f, n) for f, n in needed_models(args.workflow) if not (models_dir / f / n).is_file()]
        if missing:
            for folder, name in missing:
                print(f"error: model file '{name}' not found in {models_dir / folder}", file=sys.stderr)
            print("Download it there (the workflow's note says which), pass --models DIR, or run with --smoke "
                  "to try the pipeline with random-weight models.", file=sys.stderr)
            return 3
        models = {f: [models_dir / f / n] for f, n in needed_models(args.workflow)}
        model_map = None
    overrides = {}
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
            images = run_workflow(args.workflow, server, model_map=model_map, overrides=overrides)
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
