"""Shared input rules (engine/checks.py) and the pixel blend's input checks (engine/blend.py)."""
import math

import pytest
import torch

from engine.blend import blend_pixels
from engine.checks import (plan_bytes, require_channels, require_choice, require_finite, require_memory,
                           require_tile_size, step_bytes)
from engine.errors import SemanticDrawInputError


@pytest.mark.parametrize("value, word", [(float("nan"), "is NaN"), (float("inf"), "is inf"), (-math.inf, "is -inf"),
                                         (torch.tensor([0.0, float("nan")]), "contains NaN"),
                                         (torch.tensor([[1.0], [float("-inf")]]), "contains infinite")])
def test_require_finite_names_the_input(value, word):
    with pytest.raises(SemanticDrawInputError) as e:
        require_finite("cfg", value)
    assert str(e.value).startswith("cfg: ") and word in str(e.value)


@pytest.mark.parametrize("value", [1.5, 0, True, None, "text", torch.zeros(0), torch.ones(3, dtype=torch.long),
                                   torch.full((2, 2), 1e30)])
def test_require_finite_accepts_finite_and_non_float(value):
    require_finite("x", value)


def test_require_channels_and_choice():
    require_channels("latent_image", torch.zeros(1, 4, 8, 8), 4)
    require_channels("latent_image", torch.zeros(1, 16, 2, 8, 8), 16)  # video latents: [B, C, T, h, w]
    with pytest.raises(SemanticDrawInputError, match="latent_image: has 16 channels but this model's latents have 4"):
        require_channels("latent_image", torch.zeros(1, 16, 8, 8), 4)
    with pytest.raises(SemanticDrawInputError, match=r"source: has shape \[4, 8\]"):
        require_channels("source", torch.zeros(4, 8), 4)
    require_choice("mask_type", "discrete", ["discrete", "continuous"])
    with pytest.raises(SemanticDrawInputError, match=r"sampler_name: 'x' is not one of the choices \(a, b, c, d, e, f, "
                                                     r"g, h, \.\.\.\)"):
        require_choice("sampler_name", "x", "abcdefghij")


def test_memory_estimates_and_refusal():
    # four float32 image-size copies per mask plus quantized steps; eight float32 copies per view sample
    assert plan_bytes(2, (64, 32), (8, 4), 3) == 4 * 2 * (4 * 64 * 32 + 2 * 3 * 8 * 4)
    assert step_bytes(5, (4, 6, 7)) == 4 * 8 * 5 * 4 * 6 * 7
    require_memory("canvas", 10.0, 10.0, "x", "y")
    with pytest.raises(SemanticDrawInputError, match="canvas: a big run needs about 2.0 GiB but only 1.0 GiB is free; "
                                                     "use less"):
        require_memory("canvas", 2 * 2 ** 30, 2 ** 30, "a big run", "use less")


def test_blend_checks_batches_sizes_and_channels():
    image, mask = torch.rand(2, 8, 8, 3), torch.rand(8, 8)
    one = blend_pixels(image, torch.zeros(1, 8, 8, 3), mask)  # one background for every image
    assert torch.allclose(one, image * mask[None, :, :, None])
    for bad, words in [(torch.zeros(3, 8, 8, 3), "is a batch of 3 but image is a batch of 2"),
                       (torch.zeros(2, 4, 8, 3), "is 8x4 but the image is 8x8"),
                       (torch.zeros(2, 8, 8, 1), "has 1 channels but image has 3"),
                       (torch.zeros(8, 8, 3), "has shape [8, 8, 3]")]:
        with pytest.raises(SemanticDrawInputError) as e:
            blend_pixels(image, bad, mask)
        assert str(e.value).startswith("background_image: ") and words in str(e.value), str(e.value)


@pytest.mark.parametrize("tile", [8, 16, 255])
def test_windows_below_256_pixels_are_refused(tile):
    with pytest.raises(SemanticDrawInputError, match=f"tile_size: {tile} pixels is too small"):
        require_tile_size("tile_size", tile)
    require_tile_size("tile_size", 0)  # automatic
    require_tile_size("tile_size", 256)
