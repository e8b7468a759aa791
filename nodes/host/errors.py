"""User-facing errors that name the node and the input, and the input checks every node applies with them.

The pure rules live in `engine/checks.py` and raise `SemanticDrawInputError` naming the input; `node_errors`
prefixes the node's name, so a user reads e.g. `SemanticDraw Sampler: regions[2].mask: is empty (all zeros)`.
"""
from __future__ import annotations

import contextlib
from typing import Optional

import torch

from ...engine import SemanticDrawInputError
from ...engine.checks import require_channels, require_choice, require_finite
from ...engine.scene import is_empty_latent


class NodeInputError(ValueError):
    """A user-facing error naming the node and the input."""


@contextlib.contextmanager
def node_errors(node: str):
    """Re-raise engine input errors as `'<node>: <input>: <problem>'`."""
    try:
        yield
    except SemanticDrawInputError as e:
        raise NodeInputError(f"{node}: {e}") from None


def single_mask(mask: torch.Tensor, node: str, name: str) -> torch.Tensor:
    """A MASK input as one `[H, W]` mask; a batch of several is an error for still images."""
    if mask.ndim == 3 and mask.shape[0] == 1:
        mask = mask[0]
    if mask.ndim != 2:
        raise NodeInputError(f"{node}: {name} has shape {list(mask.shape)}; expected one mask (a batch of 1). "
                             "Mask batches (one per frame) are for the streaming sampler.")
    return mask


def check_finite(node: str, **values) -> None:
    """Refuse NaN or infinity in float widgets, tensors and LATENTs (samples and noise_mask), naming the input."""
    with node_errors(node):
        for name, value in values.items():
            if isinstance(value, dict):
                require_finite(name, value.get("samples"))
                require_finite(f"{name}.noise_mask", value.get("noise_mask"))
            elif isinstance(value, list):  # CONDITIONING: [[embedding, {"pooled_output": ...}], ...]
                for t, extra in value:
                    require_finite(name, t)
                    for key, v in extra.items():  # pooled_output, strength, ...
                        require_finite(f"{name} ({key})", v)
            else:
                require_finite(name, value)


def check_choices(node: str, **values) -> None:
    """Refuse combo values outside their options: `name=(value, options)` (the API passes any string through)."""
    with node_errors(node):
        for name, (value, options) in values.items():
            require_choice(name, value, options)


def check_latent(node: str, name: str, latent, model) -> torch.Tensor:
    """A LATENT input's samples, checked: finite, and with the model's channel count unless it is empty (all
    zeros: core's samplers give empty latents the model's channels)."""
    samples = latent.get("samples") if isinstance(latent, dict) else None
    if not isinstance(samples, torch.Tensor):
        raise NodeInputError(f"{node}: {name} is not a LATENT (no 'samples' tensor); connect a latent")
    check_finite(node, **{name: latent})
    if not is_empty_latent(samples):
        check_channels(node, name, samples, model.get_model_object("latent_format").latent_channels)
    return samples


def check_channels(node: str, name: str, samples: torch.Tensor, channels: int) -> None:
    """A latent with another model's channel count is an error naming the input (not a torch shape error)."""
    with node_errors(node):
        require_channels(name, samples, channels)


def context_width(model) -> Optional[int]:
    """The width of the text embeddings the model's cross-attention takes (SD1.x 768, SD2.x 1024, SDXL 2048, SD3 and
    Flux 4096), from its config; None when the config does not say (then nothing is checked)."""
    config = getattr(getattr(model, "model", None), "model_config", None)
    unet = getattr(config, "unet_config", None) or {}
    embedder = (unet.get("context_embedder_config") or {}).get("params", {})
    width = unet.get("context_dim") or embedder.get("in_features") or unet.get("context_in_dim")
    return width if isinstance(width, int) else None


def check_context(node: str, width: Optional[int], **conditionings) -> None:
    """Refuse a CONDITIONING whose embeddings another model's text encoder made (a 4096-wide SD3 prompt on an
    SD1.5 model is `mat1 and mat2 shapes cannot be multiplied` deep in torch), naming the input and both widths."""
    if width is None:
        return
    for name, cond in conditionings.items():
        for t, _ in cond or []:
            if t.ndim == 3 and t.shape[-1] != width:
                raise NodeInputError(f"{node}: {name} was encoded to width {t.shape[-1]} but this model takes text "
                                     f"embeddings of width {width}; encode it with the CLIP of the same checkpoint "
                                     "as the model")
