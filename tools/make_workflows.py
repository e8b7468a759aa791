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
HF = "https://huggingface.co"
# Every model file a workflow names: (models folder, download URL). The note lists them and each loader node carries
# them as the frontend's `properties.models`, so ComfyUI's missing-models dialog offers the download.
MODELS = {
    "v1-5-pruned-emaonly.safetensors":
        ("checkpoints", f"{HF}/Comfy-Org/stable-diffusion-v1-5-archive/resolve/main/v1-5-pruned-emaonly.safetensors"),
    "lcm-lora-sdv1-5.safetensors":
        ("loras", f"{HF}/latent-consistency/lcm-lora-sdv1-5/resolve/main/pytorch_lora_weights.safetensors"),
    "sd_xl_base_1.0.safetensors":
        ("checkpoints", f"{HF}/stabilityai/stable-diffusion-xl-base-1.0/resolve/main/sd_xl_base_1.0.safetensors"),
    "sdxl_lightning_4step_lora.safetensors":
        ("loras", f"{HF}/ByteDance/SDXL-Lightning/resolve/main/sdxl_lightning_4step_lora.safetensors"),
    "flux1-schnell-fp8.safetensors":
        ("checkpoints", f"{HF}/Comfy-Org/flux1-schnell/resolve/main/flux1-schnell-fp8.safetensors"),
    "pixel-art-xl.safetensors": ("loras", f"{HF}/nerijs/pixel-art-xl/resolve/main/pixel-art-xl.safetensors"),
    "control_v11p_sd15_canny_fp16.safetensors":
        ("controlnet", f"{HF}/comfyanonymous/ControlNet-v1-1_fp16_safetensors/resolve/main/"
                       "control_v11p_sd15_canny_fp16.safetensors"),
}
MODEL_WIDGETS = {"ckpt_name", "lora_name", "control_net_name"}
# Layout in graph units, as the frontend 1.27 sizes nodes: title bar, one row per socket, one per widget.
TITLE, SLOT, WIDGET, MULTILINE, GAP_X, GAP_Y = 30, 20, 24, 110, 70, 40
PREVIEW = {"LoadImage": 300, "PreviewImage": 280, "SaveImage": 280, "SaveAnimatedWEBP": 280,  # room for the image
           "SemanticDrawCanvas": 420}  # and for the canvas editor (web/semanticdraw_canvas.js)


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


def layout_preview(stack: str = "stack") -> Node:
    """Shows the Region Stack's colour-coded layout (its second output) before anything is sampled."""
    return Node(f"{stack}_layout", "PreviewImage", {"images": (stack, 1)})


def sd15_lcm_base() -> list[Node]:
    return [Node("ckpt", "CheckpointLoaderSimple", {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}),
            Node("lora", "LoraLoader", {"model": ("ckpt", 0), "clip": ("ckpt", 1),
                                        "lora_name": "lcm-lora-sdv1-5.safetensors", "strength_model": 1.0,
                                        "strength_clip": 1.0}),
            Node("lcm", "ModelSamplingDiscrete", {"model": ("lora", 0), "sampling": "lcm", "zsnr": False})]


def sd15_three_regions() -> tuple[str, list[Node]]:
    size = (512, 512)
    return ("SD1.5 + LCM LoRA, three regions and a background prompt (SemanticDraw, 5 steps, cfg 1).\n\n"
            "Any SD1.5 checkpoint + the LCM LoRA works; Hyper-SD 1.5 works the same way.\n"
            "Each region is a prompt + a mask; later regions cover earlier ones. The preview shows the layout.", [
        *sd15_lcm_base(),
        *rect_mask("mask_sky", size, (0, 0, 512, 200)),
        *rect_mask("mask_house", size, (40, 180, 240, 280)),
        *rect_mask("mask_dog", size, (300, 280, 180, 200)),
        region("r_sky", "a dramatic orange sky at sunset", "mask_sky", clip=("lora", 1)),
        region("r_house", "a small wooden cabin with red walls", "mask_house", clip=("lora", 1)),
        region("r_dog", "a dog with yellow fur", "mask_dog", clip=("lora", 1)),
        text("bg", "a green meadow, photo, high quality", clip=("lora", 1)),
        Node("stack", "SemanticDrawRegionStack", {"regions_1": ("r_sky", 0), "regions_2": ("r_house", 0),
                                                  "regions_3": ("r_dog", 0), "background_prompt": ("bg", 0),
                                                  "vae": ("ckpt", 2)}),
        layout_preview(),
        Node("latent", "EmptyLatentImage", {"width": size[0], "height": size[1], "batch_size": 1}),
        sampler(model=("lcm", 0)),
        *decode_and_save("semanticdraw_sd15_lcm")])


def palette_map() -> tuple[str, list[Node]]:
    return ("Semantic palette: paint a colour map, give each colour a prompt.\n\n"
            "Copy workflows/assets/palette_map.png into ComfyUI/input (or load your own map). "
            "Anti-aliased and JPEG edges are matched to the nearest palette colour; the report lists colours "
            "without a prompt.", [
        *sd15_lcm_base(),
        Node("map", "LoadImage", {"image": "palette_map.png"}),
        Node("palette", "SemanticDrawPalette", {
            "clip": ("lora", 1), "palette_image": ("map", 0), "tolerance": 0.1, "mask_strength": 1.0,
            "mask_blur_std": 4.0, "prompt_strength": 1.0,
            "palette": "#87ceeb: a clear blue sky on a summer day\n#228b22: a lush green hill\n"
                       "#b22222: a house of red bricks\n#ff8c00: a steep orange roof\n"
                       "#ffd700: a bright yellow sun"}),
        Node("stack", "SemanticDrawRegionStack", {"regions_1": ("palette", 0), "vae": ("ckpt", 2)}),
        layout_preview(),
        Node("latent", "EmptyLatentImage", {"width": 512, "height": 512, "batch_size": 1}),
        sampler(model=("lcm", 0)),
        *decode_and_save("semanticdraw_palette")])


def wide_canvas() -> tuple[str, list[Node]]:
    size = (1536, 512)
    return ("Wide canvas 1536x512 with tiling: windows of tile_size pixels (stride half a tile) carry all regions; "
            "every region of every window goes through one batched model call per step.", [
        *sd15_lcm_base(),
        *rect_mask("mask_a", size, (0, 0, 512, 512)),
        *rect_mask("mask_b", size, (448, 64, 640, 448)),
        *rect_mask("mask_c", size, (1024, 0, 512, 512)),
        *rect_mask("mask_d", size, (0, 0, 1536, 160)),
        region("r_a", "a pine forest in white snow", "mask_a", clip=("lora", 1)),
        region("r_b", "a small red boat on a frozen blue lake", "mask_b", clip=("lora", 1)),
        region("r_c", "a lighthouse on a rocky shore of yellow sand", "mask_c", clip=("lora", 1)),
        region("r_d", "a starry black sky with the milky way", "mask_d", clip=("lora", 1)),
        Node("stack", "SemanticDrawRegionStack", {"regions_1": ("r_a", 0), "regions_2": ("r_b", 0),
                                                  "regions_3": ("r_c", 0), "regions_4": ("r_d", 0),
                                                  "vae": ("ckpt", 2)}),
        layout_preview(),
        Node("latent", "EmptyLatentImage", {"width": size[0], "height": size[1], "batch_size": 1}),
        sampler(model=("lcm", 0), tile_size=768),
        *decode_and_save("semanticdraw_wide")])


def sdxl_lightning() -> tuple[str, list[Node]]:
    size = (1024, 1024)
    return ("SDXL Lightning (4 steps, Euler, sgm_uniform i.e. trailing spacing, cfg 1) with two regions and a "
            "background prompt. The merged sdxl_lightning_4step.safetensors checkpoint works without the LoRA node; "
            "SDXL Turbo works the same way at 512x512.", [
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
        layout_preview(),
        Node("latent", "EmptyLatentImage", {"width": size[0], "height": size[1], "batch_size": 1}),
        sampler(model=("lora", 0), steps=4, sampler_name="euler", scheduler="sgm_uniform"),
        *decode_and_save("semanticdraw_sdxl_lightning")])


def flux_schnell() -> tuple[str, list[Node]]:
    size = (1024, 1024)
    return ("Flow-matching model: FLUX.1 schnell (4 steps, Euler, simple, cfg 1) with regions. SD3/SD3.5 Turbo "
            "checkpoints work with the same graph. The checkpoint is the all-in-one file with CLIP-L, T5-XXL and "
            "the VAE.", [
        Node("ckpt", "CheckpointLoaderSimple", {"ckpt_name": "flux1-schnell-fp8.safetensors"}),
        *rect_mask("mask_balloon", size, (128, 96, 384, 448)),
        *rect_mask("mask_castle", size, (448, 448, 512, 512)),
        region("r_balloon", "a colourful hot air balloon", "mask_balloon", blur=16.0),
        region("r_castle", "a medieval castle on a hill", "mask_castle", blur=16.0),
        text("bg", "a wide valley at dawn, misty, cinematic"),
        Node("stack", "SemanticDrawRegionStack", {"regions_1": ("r_balloon", 0), "regions_2": ("r_castle", 0),
                                                  "background_prompt": ("bg", 0), "vae": ("ckpt", 2)}),
        layout_preview(),
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
            "Frames are saved as an animated WEBP and as PNGs.", [
        *sd15_lcm_base(),
        *frames, *batch,
        Node("palette", "SemanticDrawPalette", {
            "clip": ("lora", 1), "palette_image": ("batch", 0), "tolerance": 0.1, "mask_strength": 1.0,
            "mask_blur_std": 8.0, "prompt_strength": 0.95,
            "palette": "#87ceeb: a clear blue sky\n#228b22: a green hill\n#ffd700: a bright yellow sun"}),
        text("bg", "a peaceful green field in morning light", clip=("lora", 1)),
        Node("stack", "SemanticDrawRegionStack", {"regions_1": ("palette", 0), "background_prompt": ("bg", 0),
                                                  "vae": ("ckpt", 2)}),
        layout_preview(),
        Node("latent", "EmptyLatentImage", {"width": 512, "height": 512, "batch_size": 1}),
        Node("stream", "SemanticDrawStreamSampler", {
            "model": ("lcm", 0), "regions": ("stack", 0), "latent_image": ("latent", 0), "seed": 1234,
            "frame_count": 4, "t_index_list": "0,16,32,45", "schedule_length": 50, "steps": 4,
            "scheduler": "sgm_uniform", "cfg_type": "self", "cfg": 1.2, "delta": 1.0, "frame_buffer": 1,
            "bootstrap_steps": 1, "bootstrap_mix_steps": 1.0, "leak_sensitivity": 0.0, "mask_type": "continuous",
            "cover_alpha": 0.3, "include_warmup": False, "max_batch": 64, "prompt_schedule": "3@2: a red sun, setting",
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
            "Copy workflows/assets/strokes.png into ComfyUI/input. Raise strength for a more realistic, less "
            "faithful result.", [
        *sd15_lcm_base(),
        Node("strokes", "LoadImage", {"image": "strokes.png"}),
        Node("encode", "VAEEncode", {"pixels": ("strokes", 0), "vae": ("ckpt", 2)}),
        Node("palette", "SemanticDrawPalette", {
            "clip": ("lora", 1), "palette_image": ("strokes", 0), "tolerance": 0.1, "mask_strength": 1.0,
            "mask_blur_std": 4.0, "prompt_strength": 1.0,
            "palette": "#4a90d9: a blue sky\n#3a9d23: a meadow of green grass\n#8b4513: the trunk of an old oak tree\n"
                       "#006400: the leafy crown of an oak tree\n#ffffff: fluffy white clouds"}),
        Node("stack", "SemanticDrawRegionStack", {"regions_1": ("palette", 0), "vae": ("ckpt", 2)}),
        layout_preview(),
        Node("sdedit", "SemanticDrawSDEdit", {"regions": ("stack", 0), "guide": ("encode", 0), "repeats": 1,
                                              **edit_values(0.6)}),
        *decode_and_save("semanticdraw_strokes", samples=("sdedit", 0))])


def masked_edit() -> tuple[str, list[Node]]:
    size = (512, 512)
    return ("Masked edit of a photo: only the masked area is regenerated (SDEdit with the known content re-imposed "
            "at every step); the rest stays pixel-exact through the final composite.\n\n"
            "Load your photo (the example uses workflows/assets/palette_map.png, copied into ComfyUI/input) and "
            "paint the mask (here a rectangle).", [
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
            "The report (shown on the edit node) says which regions were edited; the composite keeps every other "
            "pixel of the source.", [
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
        layout_preview("stack_new"),
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


def regional_lora() -> tuple[str, list[Node]]:
    size = (1024, 1024)
    return ("Per-region LoRA through ComfyUI hooks: CreateHookLora + SetClipHooks attach a style LoRA to the cat's "
            "conditioning only, so the LoRA patches the model for that region's evaluations and nowhere else "
            "(SDXL Lightning, 4 steps). Any LoRA for the base model works; strength_clip also applies it to the "
            "text encoder of that prompt.", [
        Node("ckpt", "CheckpointLoaderSimple", {"ckpt_name": "sd_xl_base_1.0.safetensors"}),
        Node("lora", "LoraLoader", {"model": ("ckpt", 0), "clip": ("ckpt", 1),
                                    "lora_name": "sdxl_lightning_4step_lora.safetensors",
                                    "strength_model": 1.0, "strength_clip": 1.0}),
        Node("hook", "CreateHookLora", {"lora_name": "pixel-art-xl.safetensors", "strength_model": 1.0,
                                        "strength_clip": 1.0}),
        Node("hooked_clip", "SetClipHooks", {"clip": ("lora", 1), "apply_to_conds": True, "schedule_clip": False,
                                             "hooks": ("hook", 0)}),
        *rect_mask("mask_cat", size, (96, 384, 448, 576)),
        *rect_mask("mask_window", size, (576, 96, 352, 544)),
        text("cat_prompt", "pixel art, a fluffy ginger cat", clip=("hooked_clip", 0)),
        Node("r_cat", "SemanticDrawRegionFromConditioning", {"positive": ("cat_prompt", 0), "mask": ("mask_cat", 0),
                                                             "mask_strength": 1.0, "mask_blur_std": 16.0,
                                                             "prompt_strength": 1.0}),
        region("r_window", "a tall window with morning sunlight", "mask_window", clip=("lora", 1), blur=16.0),
        text("bg", "a cozy living room, soft window light, photo", clip=("lora", 1)),
        Node("stack", "SemanticDrawRegionStack", {"regions_1": ("r_window", 0), "regions_2": ("r_cat", 0),
                                                  "background_prompt": ("bg", 0), "vae": ("ckpt", 2)}),
        layout_preview(),
        Node("latent", "EmptyLatentImage", {"width": size[0], "height": size[1], "batch_size": 1}),
        sampler(model=("lora", 0), steps=4, sampler_name="euler", scheduler="sgm_uniform"),
        *decode_and_save("semanticdraw_regional_lora")])


def regional_controlnet() -> tuple[str, list[Node]]:
    size = (512, 512)
    return ("Per-region ControlNet: ControlNetApplyAdvanced on the house's conditioning only, so the Canny edges "
            "of the sketch shape the house and nothing else (SD1.5 + LCM, 5 steps). Copy "
            "workflows/assets/palette_map.png into ComfyUI/input (any photo or drawing works as the control image).", [
        *sd15_lcm_base(),
        Node("sketch", "LoadImage", {"image": "palette_map.png"}),
        Node("edges", "Canny", {"image": ("sketch", 0), "low_threshold": 0.4, "high_threshold": 0.8}),
        Node("controlnet", "ControlNetLoader", {"control_net_name": "control_v11p_sd15_canny_fp16.safetensors"}),
        *rect_mask("mask_house", size, (112, 152, 232, 264)),
        *rect_mask("mask_sky", size, (0, 0, 512, 200)),
        text("house_prompt", "a cottage with white walls and a thatched roof", clip=("lora", 1)),
        text("house_negative", "", clip=("lora", 1)),
        Node("apply_cn", "ControlNetApplyAdvanced", {"positive": ("house_prompt", 0), "negative": ("house_negative", 0),
                                                     "control_net": ("controlnet", 0), "image": ("edges", 0),
                                                     "strength": 1.0, "start_percent": 0.0, "end_percent": 1.0}),
        Node("r_house", "SemanticDrawRegionFromConditioning", {"positive": ("apply_cn", 0), "negative": ("apply_cn", 1),
                                                               "mask": ("mask_house", 0), "mask_strength": 1.0,
                                                               "mask_blur_std": 4.0, "prompt_strength": 1.0}),
        region("r_sky", "a stormy sky with dark clouds", "mask_sky", clip=("lora", 1)),
        text("bg", "a green meadow in spring, photo", clip=("lora", 1)),
        Node("stack", "SemanticDrawRegionStack", {"regions_1": ("r_sky", 0), "regions_2": ("r_house", 0),
                                                  "background_prompt": ("bg", 0), "vae": ("ckpt", 2)}),
        layout_preview(),
        Node("latent", "EmptyLatentImage", {"width": size[0], "height": size[1], "batch_size": 1}),
        sampler(model=("lcm", 0)),
        *decode_and_save("semanticdraw_regional_controlnet")])


def live_canvas() -> tuple[str, list[Node]]:
    return ("Paint live: pick a brush in the SemanticDraw Canvas node, paint, and press Live; frames follow your "
            "strokes. Stop returns the last frame (saved below). Queue Prompt renders the painting with the still "
            "sampler at full quality.", [
        *sd15_lcm_base(),
        Node("canvas", "SemanticDrawCanvas", {
            "width": 512, "height": 512, "background_prompt": "a green meadow in soft sunlight", "painting": "",
            "brushes": '[{"colour":"#87ceeb","prompt":"a clear blue sky","negative":"","mask_strength":1,"blur":8,'
                       '"prompt_strength":0.95},{"colour":"#228b22","prompt":"a green hill","negative":"",'
                       '"mask_strength":1,"blur":8,"prompt_strength":0.95},{"colour":"#ffd700","prompt":"a bright '
                       'yellow sun","negative":"","mask_strength":1,"blur":8,"prompt_strength":0.95}]',
            "background_file": "", "clip": ("lora", 1), "model": ("lcm", 0), "vae": ("ckpt", 2), "live": False,
            "seed": 1234, "t_index_list": "0,16,32,45", "scheduler": "sgm_uniform", "cfg_type": "none", "cfg": 1.2,
            "preview": "vae", "progressive": True}),
        Node("save_live", "SaveImage", {"images": ("canvas", 3), "filename_prefix": "semanticdraw_live"}),
        Node("map", "PreviewImage", {"images": ("canvas", 1)}),
        Node("latent", "EmptyLatentImage", {"width": 512, "height": 512, "batch_size": 1}),
        sampler(model=("lcm", 0), regions=("canvas", 0), steps=4, cfg=1.0),
        *decode_and_save("semanticdraw_canvas")])


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
    "regional_lora": regional_lora,
    "regional_controlnet": regional_controlnet,
    "live_canvas": live_canvas,
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


def node_size(node_type: str, object_info: dict) -> tuple[int, int]:
    """Width and body height (title excluded) that show every socket, widget and image preview."""
    info = object_info[node_type]
    rows = [(spec, w) for _, spec, w in _inputs(info)]
    sockets = max(sum(not w for _, w in rows), len(info["output"]))
    widgets = 0
    for spec, is_widget in rows:
        opts = spec[1] if len(spec) > 1 else {}
        if is_widget:
            widgets += MULTILINE if opts.get("multiline") else WIDGET * (2 if opts.get("control_after_generate") else 1)
    multiline = any(w and len(spec) > 1 and spec[1].get("multiline") for spec, w in rows)
    return (400 if multiline else 340), 16 + SLOT * sockets + widgets + PREVIEW.get(node_type, 0)


def note_text(note: str, nodes: list[Node]) -> str:
    """The workflow's note, ending with where each model file it loads comes from."""
    files = [v for n in nodes for k, v in n.values.items() if k in MODEL_WIDGETS]
    lines = [f"- models/{MODELS[f][0]}/{f}\n  {MODELS[f][1]}" for f in dict.fromkeys(files)]
    renamed = [f for f in dict.fromkeys(files) if not MODELS[f][1].endswith("/" + f)]
    tail = f"\n(save {', '.join(renamed)} under that name)" if renamed else ""
    return f"{note}\n\nModel files (download each into the folder shown):\n" + "\n".join(lines) + tail


def to_ui(note: str, nodes: list[Node], object_info: dict) -> dict:
    """Build the UI-format workflow: a Note on top, then nodes in columns by dependency depth, each sized to show
    all its widgets and previews, none overlapping."""
    ids = {n.key: i + 2 for i, n in enumerate(nodes)}
    depth: dict[str, int] = {}
    for n in nodes:  # specs list producers before consumers
        depth[n.key] = 1 + max([depth[v[0]] for v in n.values.values() if isinstance(v, tuple)], default=-1)
    for n in reversed(nodes):  # then each producer moves right, next to its nearest consumer
        consumers = [depth[c.key] for c in nodes
                     if any(v[0] == n.key for v in c.values.values() if isinstance(v, tuple))]
        depth[n.key] = min(consumers) - 1 if consumers else depth[n.key]
    text = note_text(note, nodes)
    note_h = 24 + 16 * sum(1 + len(line) // 100 for line in text.splitlines())
    top = 40 + TITLE + note_h + GAP_Y + TITLE
    sizes = {n.key: node_size(n.type, object_info) for n in nodes}
    columns = sorted(set(depth.values()))
    col_x, x = {}, 40
    for col in columns:
        col_x[col] = x
        x += max(sizes[n.key][0] for n in nodes if depth[n.key] == col) + GAP_X
    col_y = {col: top for col in columns}
    links, ui_nodes, outputs = [], [], {n.key: {} for n in nodes}
    for n in nodes:
        info = object_info[n.type]
        inputs, widgets = [], []
        for name, spec, is_widget in _inputs(info):
            value = n.values.get(name)
            if isinstance(value, tuple):
                link_id = len(links) + 1
                src, slot = value
                links.append([link_id, ids[src], slot, ids[n.key], len(inputs),
                              object_info[nodes_by(nodes, src).type]["output"][slot]])
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
        (w, h), y = sizes[n.key], col_y[col]
        col_y[col] = y + h + GAP_Y + TITLE
        properties = {"Node name for S&R": n.type}
        models = [{"name": v, "url": MODELS[v][1], "directory": MODELS[v][0]}
                  for k, v in n.values.items() if k in MODEL_WIDGETS]
        if models:
            properties["models"] = models
        ui_nodes.append({"id": ids[n.key], "type": n.type, "pos": [col_x[col], y], "size": [w, h],
                         "flags": {}, "order": 0, "mode": 0, "inputs": inputs, "outputs": [],
                         "properties": properties, "widgets_values": widgets, "_key": n.key})
    for i, node in enumerate(sorted(ui_nodes, key=lambda u: depth[u["_key"]])):
        node["order"] = i
    for node in ui_nodes:
        info = object_info[node["type"]]
        names, links_of = info.get("output_name", info["output"]), outputs[node.pop("_key")]
        node["outputs"] = [{"name": names[s], "type": t, "links": links_of.get(s, []), "slot_index": s}
                           for s, t in enumerate(info["output"])]
    width = max(x - GAP_X - 40, 900)
    note_node = {"id": 1, "type": "Note", "pos": [40, 40 + TITLE], "size": [min(width, 1100), note_h], "flags": {},
                 "order": len(ui_nodes), "mode": 0, "inputs": [], "outputs": [], "properties": {"text": ""},
                 "widgets_values": [text]}
    height = max(col_y.values())
    scale = round(min(1.0, 1500 / (width + 80), 850 / (height + 40)), 2)
    return {"last_node_id": len(nodes) + 1, "last_link_id": len(links), "nodes": [note_node] + ui_nodes,
            "links": links, "groups": [], "config": {},
            "extra": {"ds": {"scale": scale, "offset": [0, 0]}}, "version": 0.4}


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
