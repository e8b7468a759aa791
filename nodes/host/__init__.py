"""The adapter layer between ComfyUI's objects and the engine, in one place.

Node modules (`nodes/*.py`) import only this subpackage and `engine/`, never each other. Here:

- `regions`: the REGIONS value passed between nodes (`Region`, `RegionStack`);
- `errors`: user-facing errors naming the node and the input, and the input checks that raise them;
- `widgets`: inputs several nodes share (mask and sampler settings);
- `conditioning`: the scene rules of `engine/scene.py` on ComfyUI conditionings, white and background latents;
- `denoiser`: the engine's denoiser protocol over a ComfyUI model (one batched call, core's cond batching);
- `guider`: the regional CFGGuider and a sampler run through it (still images, SDEdit, regional edits);
- `checks`: run-time guards (memory before the first call, interrupt before every call);
- `stream`: the one stream host (an engine stream session over a ComfyUI model) of the Stream Sampler and the canvas;
- `live`: the live canvas as a thin `LiveHost` over the stream host, and its frame sending;
- `canvas`: the canvas' painting and background files and its painting -> regions rule.
"""
