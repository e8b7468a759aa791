"""Regenerate workflows/*.json (ComfyUI UI format) from compact graph specs.

Widget order and socket types come from a running ComfyUI's /object_info (or a saved copy), so
the files load by drag and drop exactly as if saved by the frontend:

    python tools/make_workflows.py --object-info object_info.json     # or --url http://127.0.0.1:8188
"""
from __future__ import annotations

import argparse
import json
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"


@dataclass
class Node:
    key: str
    type: str
    values: dict = field(default_factory=dict)  # widget name -> value, socket name -> (node key, output slot)


def rect_mask(key: str, size: tuple[int, int], box: tuple[int, int, int, int]) -> list[Node]:
    """A rectangular MASK from core nodes: an empty canvas with a filled box (x, y, w, h) added in."""
    x, y, w, h = box
    return [Node(f"{key}_canvas", "SolidMask", {"value": 0.0, "width": size[0], "height": size[1]}),
            Node(f"{key}_box", "SolidMask", {"value": 1.0, "width": w, "height": h}),
            Node(key, "MaskComposite", {"destination": (f"{key}_canvas", 0), "source": (f"{key}_box", 0),
                                        "x": x, "y": y, "operation": "add"})]


def region(key: str, text: str, mask: str, clip=("ckpt", 1), blur=8.0, negative="") -> Node:
    return Node(key, "SemanticDrawRegion", {"clip": clip, "text": text, "negative_text": negative, "mask": (mask, 0),
                                            "mask_strength": 1.0, "mask_blur_std": blur, "prompt_strength": 1.0})


def sampler(key="sampler", model=("ckpt", 0), regions=("stack", 0), latent=("latent", 0), steps=5, cfg=1.0,
            sampler_name="lcm", scheduler="sgm_uniform", tile_size=0, **kw) -> Node:
    values = {"model": model, "regions": regions, "latent_image": latent, "seed": 1234, "steps": steps, "cfg": cfg,
              "sampler_name": sampler_name, "scheduler": scheduler, "denoise": 1.0, "bootstrap_steps": 1,
              "bootstrap_mix_steps": 1.0, "leak_sensitivity": 0.2, "mask_type": "discrete", "cover_alpha": 0.3,
              "tile_size": tile_size}
    return Node(key, "SemanticDrawSampler", values | kw)


def decode_and_save(prefix: str, vae=("ckpt", 2), samples=("sampler", 0)) -> list[Node]:
    return [Node("decode", "VAEDecode", {"samples": samples, "vae": vae}),
            Node("save", "SaveImage", {"images": ("decode", 0), "filename_prefix": prefix})]


def text(key: str, prompt: str, clip=("ckpt", 1)) -> Node:
    return Node(key, "CLIPTextEncode", {"text": prompt, "clip": clip})


def sd15_lcm_base() -> list[Node]:
    return [Node("ckpt", "CheckpointLoaderSimple", {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}),
            Node("lora", "LoraLoader", {"model": ("ckpt", 0), "clip": ("ckpt", 1),
                                        "lora_name": "lcm-lora-sdv1-5.safetensors", "strength_model": 1.0,
                                        "strength_clip": 1.0}),
            Node("lcm", "ModelSamplingDiscrete", {"model": ("lora", 0), "sampling": "lcm", "zsnr": False})]


def sd15_three_regions() -> tuple[str, list[Node]]:
    size = (512, 512)
    return ("SD1.5 + LCM LoRA, three regions and a background prompt (SemanticDraw, 5 steps, cfg 1).\n\n"
            "Models: models/checkpoints/v1-5-pruned-emaonly.safetensors and models/loras/lcm-lora-sdv1-5.safetensors "
            "(or any SD1.5 checkpoint + the LCM LoRA; Hyper-SD 1.5 works the same way).\n"
            "Each region is a prompt + a mask; later regions cover earlier ones.", [
        *sd15_lcm_base(),
        *rect_mask("mask_sky", size, (0, 0, 512, 200)),
        *rect_mask("mask_house", size, (40, 180, 240, 280)),
        *rect_mask("mask_dog", size, (300, 280, 180, 200)),
        region("r_sky", "a dramatic sunset sky with orange clouds", "mask_sky", clip=("lora", 1)),
        region("r_house", "a small wooden cabin with a red door", "mask_house", clip=("lora", 1)),
        region("r_dog", "a golden retriever sitting on the grass", "mask_dog", clip=("lora", 1)),
        text("bg", "a green meadow, photo, high quality", clip=("lora", 1)),
        Node("stack", "SemanticDrawRegionStack", {"regions_1": ("r_sky", 0), "regions_2": ("r_house", 0),
                                                  "regions_3": ("r_dog", 0), "background_prompt": ("bg", 0),
                                                  "vae": ("ckpt", 2)}),
        Node("latent", "EmptyLatentImage", {"width": size[0], "height": size[1], "batch_size": 1}),
        sampler(model=("lcm", 0)),
        *decode_and_save("semanticdraw_sd15_lcm")])


def palette_map() -> tuple[str, list[Node]]:
    return ("Semantic palette: paint a colour map, give each colour a prompt.\n\n"
            "Copy workflows/assets/palette_map.png into ComfyUI/input (or load your own map). "
            "Models: v1-5-pruned-emaonly.safetensors + lcm-lora-sdv1-5.safetensors, as in the SD1.5 workflow. "
            "Anti-aliased and JPEG edges are matched to the nearest palette colour; the report lists colours "
            "without a prompt.", [
        *sd15_lcm_base(),
        Node("map", "LoadImage", {"image": "palette_map.png"}),
        Node("palette", "SemanticDrawPalette", {
            "clip": ("lora", 1), "palette_image": ("map", 0), "tolerance": 0.1, "mask_strength": 1.0,
            "mask_blur_std": 4.0, "prompt_strength": 1.0,
            "palette": "#87ceeb: a clear blue summer sky\n#228b22: a lush green hill\n#b22222: a red brick house\n"
                       "#ff8c00: an orange tiled roof\n#ffd700: a bright yellow sun"}),
        Node("stack", "SemanticDrawRegionStack", {"regions_1": ("palette", 0), "vae": ("ckpt", 2)}),
        Node("latent", "EmptyLatentImage", {"width": 512, "height": 512, "batch_size": 1}),
        sampler(model=("lcm", 0)),
        *decode_and_save("semanticdraw_palette")])


def wide_canvas() -> tuple[str, list[Node]]:
    size = (1536, 512)
    return ("Wide canvas 1536x512 with tiling: windows of tile_size pixels (stride half a tile) carry all regions; "
            "every region of every window goes through one batched model call per step.\n\n"
            "Models: v1-5-pruned-emaonly.safetensors + lcm-lora-sdv1-5.safetensors.", [
        *sd15_lcm_base(),
        *rect_mask("mask_a", size, (0, 0, 512, 512)),
        *rect_mask("mask_b", size, (448, 64, 640, 448)),
        *rect_mask("mask_c", size, (1024, 0, 512, 512)),
        *rect_mask("mask_d", size, (0, 0, 1536, 160)),
        region("r_a", "a snowy pine forest", "mask_a", clip=("lora", 1)),
        region("r_b", "a frozen lake with a small red boat", "mask_b", clip=("lora", 1)),
        region("r_c", "a lighthouse on a rocky shore", "mask_c", clip=("lora", 1)),
        region("r_d", "a starry night sky with the milky way", "mask_d", clip=("lora", 1)),
        Node("stack", "SemanticDrawRegionStack", {"regions_1": ("r_a", 0), "regions_2": ("r_b", 0),
                                                  "regions_3": ("r_c", 0), "regions_4": ("r_d", 0), "vae": ("ckpt", 2)}),
        Node("latent", "EmptyLatentImage", {"width": size[0], "height": size[1], "batch_size": 1}),
        sampler(model=("lcm", 0), tile_size=768),
        *decode_and_save("semanticdraw_wide")])


def sdxl_lightning() -> tuple[str, list[Node]]:
    size = (1024, 1024)
    return ("SDXL Lightning (4 steps, Euler, sgm_uniform i.e. trailing spacing, cfg 1) with two regions and a "
            "background prompt.\n\nModels: models/checkpoints/sd_xl_base_1.0.safetensors and "
            "models/loras/sdxl_lightning_4step_lora.safetensors (or the merged sdxl_lightning_4step.safetensors "
            "checkpoint without the LoRA node). SDXL Turbo works the same way at 512x512.", [
        Node("ckpt", "CheckpointLoaderSimple", {"ckpt_name": "sd_xl_base_1.0.safetensors"}),
        Node("lora", "LoraLoader", {"model": ("ckpt", 0), "clip": ("ckpt", 1),
                                    "lora_name": "sdxl_lightning_4step_lora.safetensors",
                                    "strength_model": 1.0, "strength_clip": 1.0}),
        *rect_mask("mask_cat", size, (96, 384, 448, 576)),
        *rect_mask("mask_vase", size, (576, 256, 352, 640)),
        region("r_cat", "a fluffy ginger cat", "mask_cat", clip=("lora", 1), blur=16.0),
        region("r_vase", "a blue porcelain vase with white flowers", "mask_vase", clip=("lora", 1), blur=16.0),
        text("bg", "a cozy living room, soft window light, photo", clip=("lora", 1)),
        Node("stack", "SemanticDrawRegionStack", {"regions_1": ("r_cat", 0), "regions_2": ("r_vase", 0),
                                                  "background_prompt": ("bg", 0), "vae": ("ckpt", 2)}),
        Node("latent", "EmptyLatentImage", {"width": size[0], "height": size[1], "batch_size": 1}),
        sampler(model=("lora", 0), steps=4, sampler_name="euler", scheduler="sgm_uniform"),
        *decode_and_save("semanticdraw_sdxl_lightning")])


def flux_schnell() -> tuple[str, list[Node]]:
    size = (1024, 1024)
    return ("Flow-matching model: FLUX.1 schnell (4 steps, Euler, simple, cfg 1) with regions. SD3/SD3.5 Turbo "
            "checkpoints work with the same graph.\n\nModels: models/checkpoints/flux1-schnell-fp8.safetensors "
            "(the all-in-one checkpoint with CLIP-L, T5-XXL and the VAE).", [
        Node("ckpt", "CheckpointLoaderSimple", {"ckpt_name": "flux1-schnell-fp8.safetensors"}),
        *rect_mask("mask_balloon", size, (128, 96, 384, 448)),
        *rect_mask("mask_castle", size, (448, 448, 512, 512)),
        region("r_balloon", "a colourful hot air balloon", "mask_balloon", blur=16.0),
        region("r_castle", "a medieval castle on a hill", "mask_castle", blur=16.0),
        text("bg", "a wide valley at dawn, misty, cinematic"),
        Node("stack", "SemanticDrawRegionStack", {"regions_1": ("r_balloon", 0), "regions_2": ("r_castle", 0),
                                                  "background_prompt": ("bg", 0), "vae": ("ckpt", 2)}),
        Node("latent", "EmptySD3LatentImage", {"width": size[0], "height": size[1], "batch_size": 1}),
        sampler(steps=4, sampler_name="euler", scheduler="simple", mask_type="semi-continuous"),
        *decode_and_save("semanticdraw_flux")])


def stream_palette_frames() -> tuple[str, list[Node]]:
    frames = [Node(f"frame{i}", "LoadImage", {"image": f"palette_frame_{i}.png"}) for i in range(4)]
    batch = [Node("batch01", "ImageBatch", {"image1": ("frame0", 0), "image2": ("frame1", 0)}),
             Node("batch012", "ImageBatch", {"image1": ("batch01", 0), "image2": ("frame2", 0)}),
             Node("batch", "ImageBatch", {"image1": ("batch012", 0), "image2": ("frame3", 0)})]
    return ("Streaming: a sequence of palette maps (a sun rising over a hill) becomes frames, one batched model "
            "call per frame (T slots x regions). Copy workflows/assets/palette_frame_*.png into ComfyUI/input.\n\n"
            "Models: v1-5-pruned-emaonly.safetensors + lcm-lora-sdv1-5.safetensors. Frames are saved as an "
            "animated WEBP and as PNGs.", [
        *sd15_lcm_base(),
        *frames, *batch,
        Node("palette", "SemanticDrawPalette", {
            "clip": ("lora", 1), "palette_image": ("batch", 0), "tolerance": 0.1, "mask_strength": 1.0,
            "mask_blur_std": 8.0, "prompt_strength": 0.95,
            "palette": "#87ceeb: a clear blue sky\n#228b22: a green hill\n#ffd700: a bright yellow sun"}),
        text("bg", "a peaceful landscape, morning light", clip=("lora", 1)),
        Node("stack", "SemanticDrawRegionStack", {"regions_1": ("palette", 0), "background_prompt": ("bg", 0),
                                                  "vae": ("ckpt", 2)}),
        Node("latent", "EmptyLatentImage", {"width": 512, "height": 512, "batch_size": 1}),
        Node("stream", "SemanticDrawStreamSampler", {
            "model": ("lcm", 0), "regions": ("stack", 0), "latent_image": ("latent", 0), "seed": 1234,
            "frame_count": 4, "t_index_list": "0,16,32,45", "schedule_length": 50, "steps": 4,
            "scheduler": "sgm_uniform", "cfg_type": "self", "cfg": 1.2, "delta": 1.0, "frame_buffer": 1,
            "bootstrap_steps": 1, "bootstrap_mix_steps": 1.0, "leak_sensitivity": 0.0, "mask_type": "continuous",
            "cover_alpha": 0.3, "include_warmup": False, "max_batch": 64, "prompt_schedule": "3@2: a red setting sun",
            "clip": ("lora", 1)}),
        Node("decode", "VAEDecode", {"samples": ("stream", 0), "vae": ("ckpt", 2)}),
        Node("save", "SaveImage", {"images": ("decode", 0), "filename_prefix": "semanticdraw_stream"}),
        Node("anim", "SaveAnimatedWEBP", {"images": ("decode", 0), "filename_prefix": "semanticdraw_stream",
                                          "fps": 4.0, "lossless": False, "quality": 85, "method": "default"})])


def edit_values(strength: float) -> dict:
    return {"model": ("lcm", 0), "seed": 1234, "steps": 4, "strength": strength, "cfg": 1.0, "sampler_name": "lcm",
            "scheduler": "sgm_uniform", "bootstrap_steps": 0, "bootstrap_mix_steps": 1.0, "leak_sensitivity": 0.2,
            "mask_type": "discrete", "cover_alpha": 0.3, "tile_size": 0}


def sdedit_strokes() -> tuple[str, list[Node]]:
    return ("Strokes to image (SDEdit + semantic palette): the stroke painting is both the guide (colour and "
            "layout, noised to strength t0) and the palette map (each stroke colour gets a prompt).\n\n"
            "Copy workflows/assets/strokes.png into ComfyUI/input. Models: v1-5-pruned-emaonly.safetensors + "
            "lcm-lora-sdv1-5.safetensors. Raise strength for a more realistic, less faithful result.", [
        *sd15_lcm_base(),
        Node("strokes", "LoadImage", {"image": "strokes.png"}),
        Node("encode", "VAEEncode", {"pixels": ("strokes", 0), "vae": ("ckpt", 2)}),
        Node("palette", "SemanticDrawPalette", {
            "clip": ("lora", 1), "palette_image": ("strokes", 0), "tolerance": 0.1, "mask_strength": 1.0,
            "mask_blur_std": 4.0, "prompt_strength": 1.0,
            "palette": "#4a90d9: a blue sky\n#3a9d23: a grassy meadow\n#8b4513: the trunk of an old oak tree\n"
                       "#006400: the leafy crown of an oak tree\n#ffffff: a white fluffy cloud"}),
        Node("stack", "SemanticDrawRegionStack", {"regions_1": ("palette", 0), "vae": ("ckpt", 2)}),
        Node("sdedit", "SemanticDrawSDEdit", {"regions": ("stack", 0), "guide": ("encode", 0), "repeats": 1,
                                              **edit_values(0.6)}),
        *decode_and_save("semanticdraw_strokes", samples=("sdedit", 0))])


def masked_edit() -> tuple[str, list[Node]]:
    size = (512, 512)
    return ("Masked edit of a photo: only the masked area is regenerated (SDEdit with the known content re-imposed "
            "at every step); the rest stays pixel-exact through the final composite.\n\n"
            "Load your photo (the example uses workflows/assets/palette_map.png, copied into ComfyUI/input) and "
            "paint the mask (here a rectangle). Models: v1-5-pruned-emaonly.safetensors + lcm-lora-sdv1-5.safetensors.", [
        *sd15_lcm_base(),
        Node("photo", "LoadImage", {"image": "palette_map.png"}),
        Node("encode", "VAEEncode", {"pixels": ("photo", 0), "vae": ("ckpt", 2)}),
        *rect_mask("mask_edit", size, (96, 200, 192, 200)),
        region("r_edit", "a small stone tower with a pointed roof", "mask_edit", clip=("lora", 1), blur=4.0),
        Node("sdedit", "SemanticDrawSDEdit", {"regions": ("r_edit", 0), "guide": ("encode", 0), "repeats": 1,
                                              "mask": ("mask_edit", 0), **edit_values(0.8)}),
        Node("decode", "VAEDecode", {"samples": ("sdedit", 0), "vae": ("ckpt", 2)}),
        Node("composite", "ImageCompositeMasked", {"destination": ("photo", 0), "source": ("decode", 0), "x": 0,
                                                   "y": 0, "resize_source": False, "mask": ("mask_edit", 0)}),
        Node("save", "SaveImage", {"images": ("composite", 0), "filename_prefix": "semanticdraw_masked_edit"})])


def regional_edit() -> tuple[str, list[Node]]:
    size = (512, 512)
    return ("Regional edit: generate an image from regions, then change one region's prompt; only that region is "
            "regenerated while the others stay anchored to the source (MRGD's task, SemanticDraw-style).\n\n"
            "Models: v1-5-pruned-emaonly.safetensors + lcm-lora-sdv1-5.safetensors. The report says which regions "
            "were edited; the composite keeps every other pixel of the source.", [
        *sd15_lcm_base(),
        *rect_mask("mask_left", size, (32, 160, 200, 300)),
        *rect_mask("mask_right", size, (280, 160, 200, 300)),
        region("r_left", "a red apple on a table", "mask_left", clip=("lora", 1)),
        region("r_right", "a glass of orange juice on a table", "mask_right", clip=("lora", 1)),
        region("r_right_new", "a cup of black coffee on a table", "mask_right", clip=("lora", 1)),
        text("bg", "a wooden kitchen table, soft daylight, photo", clip=("lora", 1)),
        Node("stack", "SemanticDrawRegionStack", {"regions_1": ("r_left", 0), "regions_2": ("r_right", 0),
                                                  "background_prompt": ("bg", 0), "vae": ("ckpt", 2)}),
        Node("stack_new", "SemanticDrawRegionStack", {"regions_1": ("r_left", 0), "regions_2": ("r_right_new", 0),
                                                      "background_prompt": ("bg", 0), "vae": ("ckpt", 2)}),
        Node("latent", "EmptyLatentImage", {"width": size[0], "height": size[1], "batch_size": 1}),
        sampler(model=("lcm", 0)),
        Node("edit", "SemanticDrawRegionalEdit", {"source": ("sampler", 0), "source_regions": ("stack", 0),
                                                  "target_regions": ("stack_new", 0), **edit_values(0.7)}),
        Node("decode_source", "VAEDecode", {"samples": ("sampler", 0), "vae": ("ckpt", 2)}),
        Node("decode", "VAEDecode", {"samples": ("edit", 0), "vae": ("ckpt", 2)}),
        Node("composite", "ImageCompositeMasked", {"destination": ("decode_source", 0), "source": ("decode", 0),
                                                   "x": 0, "y": 0, "resize_source": False, "mask": ("edit", 1)}),
        Node("save_source", "SaveImage", {"images": ("decode_source", 0), "filename_prefix": "semanticdraw_source"}),
        Node("save", "SaveImage", {"images": ("composite", 0), "filename_prefix": "semanticdraw_regional_edit"})])


SPECS = {
    "sd15_lcm_three_regions": sd15_three_regions,
    "semantic_palette": palette_map,
    "wide_canvas_tiled": wide_canvas,
    "sdxl_lightning_regions": sdxl_lightning,
    "flux_schnell_regions": flux_schnell,
    "stream_palette_frames": stream_palette_frames,
    "sdedit_strokes": sdedit_strokes,
    "masked_edit": masked_edit,
    "regional_edit": regional_edit,
}


def _inputs(info: dict) -> list[tuple[str, list, bool]]:
    """(name, spec, is_widget) in the frontend's order: required, then optional."""
    out = []
    for section in ("required", "optional"):
        for name, spec in info["input"].get(section, {}).items():
            kind = spec[0]
            is_widget = (isinstance(kind, list) or kind in WIDGET_TYPES) and not spec[1:2] == [{"forceInput": True}]
            out.append((name, spec, is_widget))
    return out


def to_ui(note: str, nodes: list[Node], object_info: dict) -> dict:
    """Build the UI-format workflow: nodes laid out left to right in dependency order, with a Note."""
    ids = {n.key: i + 2 for i, n in enumerate(nodes)}
    depth: dict[str, int] = {}
    for n in nodes:  # specs list producers before consumers
        depth[n.key] = 1 + max([depth[v[0]] for v in n.values.values() if isinstance(v, tuple)], default=-1)
    rows: dict[int, int] = {}
    links, ui_nodes, outputs = [], [], {n.key: {} for n in nodes}
    for n in nodes:
        info = object_info[n.type]
        inputs, widgets = [], []
        for name, spec, is_widget in _inputs(info):
            value = n.values.get(name)
            if isinstance(value, tuple):
                link_id = len(links) + 1
                src, slot = value
                links.append([link_id, ids[src], slot, ids[n.key], len(inputs), object_info[nodes_by(nodes, src).type]["output"][slot]])
                outputs[src].setdefault(slot, []).append(link_id)
                entry = {"name": name, "type": spec[0] if not isinstance(spec[0], list) else "COMBO", "link": link_id}
                if is_widget:
                    entry["widget"] = {"name": name}
                inputs.append(entry)
            elif is_widget:
                if name not in n.values:
                    raise KeyError(f"{n.key} ({n.type}) has no value for widget '{name}'")
                widgets.append(value)
                if (spec[1] if len(spec) > 1 else {}).get("control_after_generate"):
                    widgets.append("fixed")
                if n.type == "LoadImage" and name == "image":
                    widgets.append("image")
            elif not (len(spec) > 1 and spec[1].get("optional")) and name in info["input"].get("required", {}):
                raise KeyError(f"{n.key} ({n.type}) has no link for required input '{name}'")
            else:
                inputs.append({"name": name, "type": spec[0], "link": None})
        col = depth[n.key]
        row = rows.get(col, 0)
        rows[col] = row + 1
        ui_nodes.append({"id": ids[n.key], "type": n.type, "pos": [40 + 360 * col, 40 + 260 * row], "size": [320, 220],
                         "flags": {}, "order": 0, "mode": 0, "inputs": inputs, "outputs": [],
                         "properties": {"Node name for S&R": n.type}, "widgets_values": widgets, "_key": n.key})
    for i, node in enumerate(sorted(ui_nodes, key=lambda u: depth[u["_key"]])):
        node["order"] = i
    for node in ui_nodes:
        info = object_info[node["type"]]
        names, links_of = info.get("output_name", info["output"]), outputs[node.pop("_key")]
        node["outputs"] = [{"name": names[s], "type": t, "links": links_of.get(s, []), "slot_index": s}
                           for s, t in enumerate(info["output"])]
    note_node = {"id": 1, "type": "Note", "pos": [40, -260], "size": [720, 220], "flags": {}, "order": len(ui_nodes),
                 "mode": 0, "inputs": [], "outputs": [], "properties": {"text": ""}, "widgets_values": [note]}
    return {"last_node_id": len(nodes) + 1, "last_link_id": len(links), "nodes": [note_node] + ui_nodes,
            "links": links, "groups": [], "config": {}, "extra": {"ds": {"scale": 0.6, "offset": [0, 300]}},
            "version": 0.4}


def nodes_by(nodes: list[Node], key: str) -> Node:
    return next(n for n in nodes if n.key == key)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--object-info", type=Path, help="a saved /object_info JSON")
    src.add_argument("--url", help="a running ComfyUI with this pack loaded")
    args = ap.parse_args()
    if args.url:
        with urllib.request.urlopen(f"{args.url.rstrip('/')}/object_info") as r:
            object_info = json.load(r)
    else:
        object_info = json.loads(args.object_info.read_text())
    for name, spec in SPECS.items():
        note, nodes = spec()
        path = WORKFLOWS / f"{name}.json"
        path.write_text(json.dumps(to_ui(note, nodes, object_info), indent=1) + "\n")
        print(path)


if __name__ == "__main__":
    main()
