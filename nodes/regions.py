"""The REGIONS value passed between nodes: an ordered stack of prompt-mask pairs plus a background.

Values are immutable: nodes build new stacks and never change the tensors or conditionings
they receive (ComfyUI caches node outputs and shares them between runs).
"""
from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Optional

import torch
from comfy_api.latest import io

from ..engine import SemanticDrawInputError
from ..engine.checks import require_channels, require_choice, require_finite

Regions = io.Custom("SEMANTICDRAW_REGIONS")


@dataclass(frozen=True)
class Region:
    """One prompt-mask pair (ALGORITHM.md section 1). `mask` is `[H, W]` or a `[F, H, W]` batch."""

    positive: list
    negative: Optional[list]
    mask: torch.Tensor
    mask_strength: float = 1.0
    mask_blur_std: float = 1.0
    prompt_strength: float = 1.0
    label: str = ""
    clip: Optional[object] = None  # the text encoder of `positive`; encodes the default prompt-strength target


@dataclass(frozen=True)
class RegionStack:
    """Regions in paint order (later covers earlier) and an optional background.

    background_image is a ComfyUI IMAGE, background_latent a LATENT's raw samples; the VAE, when
    given, encodes the image and an exact white latent for bootstrapping.
    """

    regions: tuple[Region, ...]
    background_positive: Optional[list] = None
    background_negative: Optional[list] = None
    background_image: Optional[torch.Tensor] = None
    background_latent: Optional[torch.Tensor] = None
    vae: Optional[object] = None
    clip: Optional[object] = None  # encodes the default prompt-strength target (engine/scene.py)

    def replace(self, **changes) -> "RegionStack":
        return dataclasses.replace(self, **changes)


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
    if torch.count_nonzero(samples) > 0:
        check_channels(node, name, samples, model.get_model_object("latent_format").latent_channels)
    return samples


def check_channels(node: str, name: str, samples: torch.Tensor, channels: int) -> None:
    """A latent with another model's channel count is an error naming the input (not a torch shape error)."""
    with node_errors(node):
        require_channels(name, samples, channels)
