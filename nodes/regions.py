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
