import pytest
import torch

from engine import SemanticDrawInputError
from engine.blend import blend_pixels, region_union
from engine.prompts import lerp_prompt, match_tokens


def test_prompt_strength_one_keeps_the_region_prompt():
    g = torch.Generator().manual_seed(0)  # fixed inputs: unseeded, rounding near 0 tripped allclose's rtol now and then
    region, bg = torch.randn(1, 77, 8, generator=g), torch.randn(1, 77, 8, generator=g)
    assert lerp_prompt(bg, region, 1.0) is region
    assert torch.allclose(lerp_prompt(bg, region, 0.0), bg)
    assert torch.allclose(lerp_prompt(bg, region, 0.25), 0.75 * bg + 0.25 * region)


def test_prompts_of_different_lengths_are_repeated_to_a_common_length():
    a, b = torch.randn(1, 77, 4), torch.randn(1, 154, 4)
    ma, mb = match_tokens(a, b)
    assert ma.shape == mb.shape == (1, 154, 4)
    assert torch.equal(ma[:, 77:], a)
    assert lerp_prompt(a, b, 0.5).shape == (1, 154, 4)


def test_blend_keeps_background_outside_regions_and_image_inside():
    image, bg = torch.rand(1, 16, 16, 3), torch.rand(1, 16, 16, 3)
    mask = torch.zeros(16, 16)
    mask[4:12, 4:12] = 1
    out = blend_pixels(image, bg, region_union([mask], (16, 16), [0.0]))
    assert torch.equal(out[:, 4:12, 4:12], image[:, 4:12, 4:12])
    assert torch.equal(out[:, :4], bg[:, :4])
    soft = region_union([mask], (16, 16), [2.0])
    assert 0 < soft[3, 8] < 1 and soft.max() <= 1


def test_blend_rejects_a_background_of_another_size():
    with pytest.raises(SemanticDrawInputError, match="background_image: is 8x8 but the image is 16x16"):
        blend_pixels(torch.rand(1, 16, 16, 3), torch.rand(1, 8, 8, 3), torch.ones(16, 16))
