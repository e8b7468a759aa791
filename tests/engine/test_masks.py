import pytest
import torch
import torch.nn.functional as F

from engine import SemanticDrawInputError, eps_space, flow_space, noise_levels, process_masks, quantize
from engine.masks import apply_cover, gaussian_blur, validate_masks
from toys import lcm_sigmas

H, W, h, w = 64, 64, 8, 8


def half_mask(left=True):
    m = torch.zeros(H, W)
    if left:
        m[:, : W // 2] = 1
    else:
        m[:, W // 2:] = 1
    return m


def test_quantized_shape_and_monotonic_growth():
    levels = noise_levels(lcm_sigmas(5), eps_space())
    masks = [half_mask(), torch.rand(H, W), torch.ones(H, W)]
    out = process_masks(masks, (H, W), (h, w), levels, blur_stds=[4, 2, 0], strengths=[1, 0.9, 1],
                        mask_type="discrete")
    assert out.quantized.shape == (3, 5, 1, h, w)
    assert out.support.shape == (3, 1, h, w)
    # discrete masks grow as noise falls: on at step k implies on at step k+1
    q = out.quantized
    assert torch.all(q[:, 1:] >= q[:, :-1])
    assert set(q.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("space,sigmas", [(eps_space(), lcm_sigmas(4)),
                                          (flow_space(), torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0]))])
def test_continuous_in_unit_interval_and_full_where_discrete(space, sigmas):
    levels = noise_levels(sigmas, space)
    m = torch.rand(3, 1, h, w)
    cont = quantize(m, levels, "continuous")
    disc = quantize(m, levels, "discrete")
    semi = quantize(m, levels, "semi-continuous")
    assert cont.min() >= 0 and cont.max() <= 1
    assert torch.equal(cont == 1, disc == 1)
    assert torch.equal(semi[:, :-1], disc[:, :-1]) and torch.equal(semi[:, -1], cont[:, -1])


def test_full_mask_is_on_at_first_flow_step():
    levels = noise_levels(torch.tensor([1.0, 0.5, 0.0]), flow_space())
    assert quantize(torch.ones(1, 1, 2, 2), levels, "discrete")[:, 0].min() == 1


def test_cover_alpha_scales_earlier_masks_under_later():
    m = torch.stack([torch.ones(1, 4, 4), half_mask()[None, :4, :4] * 0 + torch.tensor([1., 1, 0, 0])[None, None, :]])
    out = apply_cover(m, 0.3)
    assert torch.allclose(out[0, 0, :, :2], torch.full((4, 2), 0.3))
    assert torch.allclose(out[0, 0, :, 2:], torch.ones(4, 2))
    assert torch.equal(out[1], m[1])
    assert torch.equal(apply_cover(m, 0.0), m)  # 0 disables covering, as the reference (section 2.2)
    assert torch.equal(apply_cover(m, 1.0), m)


def test_blur_keeps_constant_masks_and_zero_std_is_identity():
    ones = torch.ones(1, 1, 16, 16)
    assert torch.allclose(gaussian_blur(ones, 3.0), ones)
    m = half_mask()[None, None]
    assert torch.equal(gaussian_blur(m, 0), m)
    b = gaussian_blur(m, 2.0)
    assert 0 < b[0, 0, 0, W // 2 - 1] < 1 and b[0, 0, 0, 0] == pytest.approx(1.0)


def test_latent_size_masks_are_accepted():
    levels = noise_levels(lcm_sigmas(2), eps_space())
    out = process_masks([torch.ones(h, w)], (H, W), (h, w), levels, blur_stds=[0], strengths=[1])
    assert out.quantized.shape == (1, 2, 1, h, w)


def test_no_masks_give_the_processed_masks_of_no_region():
    """A blank canvas has no region; whether that is allowed is a scene rule (test_scene.py), not a mask error."""
    levels = noise_levels(lcm_sigmas(3), eps_space())
    out = process_masks([], (H, W), (h, w), levels, blur_stds=[], strengths=[])
    assert out.quantized.shape == (0, 3, 1, h, w) and out.support.shape == (0, 1, h, w)


@pytest.mark.parametrize("masks,needle", [
    ([torch.zeros(H, W)], "regions[0].mask: is empty"),
    ([half_mask(), torch.full((H, W), float("nan"))], "regions[1].mask: contains NaN"),
    ([torch.ones(H, 2 * W)], "regions[0].mask: is 128x64 but the canvas is 64x64"),
    ([torch.ones(3, H, W)], "regions[0].mask: expected one [H, W] mask"),
])
def test_bad_masks_name_the_input(masks, needle):
    with pytest.raises(SemanticDrawInputError) as e:
        validate_masks(masks, (H, W), (h, w))
    assert needle in str(e.value)


def test_more_prompts_than_masks_is_an_error():
    levels = noise_levels(lcm_sigmas(2), eps_space())
    with pytest.raises(SemanticDrawInputError, match="1 masks but 2 blur stds and 2 strengths"):
        process_masks([half_mask()], (H, W), (h, w), levels, blur_stds=[0, 0], strengths=[1, 1])


def test_bad_mask_type_is_named():
    with pytest.raises(SemanticDrawInputError, match="mask_type"):
        quantize(torch.ones(1, 1, 2, 2), torch.tensor([1.0, 0.0]), "fuzzy")


@pytest.mark.parametrize("std", [0.0, 0.7, 2.0, 5.0])
def test_strided_blur_equals_blur_then_nearest_downsample(std):
    m = (torch.rand(2, 1, H, W + 16) > 0.6).float()
    ref = F.interpolate(gaussian_blur(m, std), size=(h, (W + 16) // 8), mode="nearest")
    assert torch.allclose(gaussian_blur(m, std, stride=8), ref, atol=1e-6)


def test_process_masks_matches_the_image_size_pipeline_of_section_2():
    """Cover, blur and strength at image size, then nearest downsample and quantize (the spec's order)."""
    levels = noise_levels(lcm_sigmas(4), eps_space())
    masks = [half_mask(), (torch.rand(H, W) > 0.5).float() * 0.8, torch.ones(H // 2, W // 2)]
    stds, strengths = [3.0, 0.0, 1.5], [1.0, 0.7, 0.9]
    out = process_masks(masks, (H, W), (h, w), levels, blur_stds=stds, strengths=strengths, cover_alpha=0.3)
    m = torch.cat([masks[0][None, None], masks[1][None, None],
                   F.interpolate(masks[2][None, None], size=(H, W), mode="bilinear", align_corners=False)])
    covered = torch.stack([(m[i + 1:] > 0).any(0) for i in range(2)] + [torch.zeros_like(m[0], dtype=torch.bool)])
    m = torch.where(covered, 0.3 * m, m)
    blurred = torch.cat([gaussian_blur(m[i:i + 1], s) for i, s in enumerate(stds)])
    support = F.interpolate(blurred, size=(h, w), mode="nearest") * torch.tensor(strengths).view(-1, 1, 1, 1)
    assert torch.allclose(out.support, support, atol=1e-6)
    assert torch.equal(out.quantized, quantize(out.support, levels, "discrete"))
