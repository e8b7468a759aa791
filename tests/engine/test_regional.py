import pytest
import torch

from engine import (SemanticDrawInputError, eps_space, flow_space, get_views, make_plan, noise_levels, process_masks,
                    regional_x0, view_weights)
from engine.regional import centering_shifts, roll2d
from engine.sampling import sample
from toys import ConvDenoiser, PixelDenoiser, lcm_sigmas

C, h, w = 4, 16, 16
H, W = 8 * h, 8 * w


def plan_for(masks, sigmas, space, *, blur=0.0, cover=0.0, mask_type="discrete", tile=0, **kw):
    levels = noise_levels(sigmas, space)
    pm = process_masks(masks, (H, W), (h, w), levels, blur_stds=[blur] * len(masks),
                       strengths=[1.0] * len(masks), cover_alpha=cover, mask_type=mask_type)
    kw.setdefault("bootstrap_steps", 0)
    return make_plan(pm, tile=tile, **kw)


def run(plan, model, sigmas, space, noise, seed_noises, **kw):
    fn = lambda x, s, k: regional_x0(x, s, k, plan, model, space, **kw)
    return sample(fn, noise, sigmas, space, step_noises=seed_noises)


def plain(model, cond, sigmas, space, noise, seed_noises):
    fn = lambda x, s, k: model(x, s, torch.full((x.shape[0],), cond))
    return sample(fn, noise, sigmas, space, step_noises=seed_noises)


def noises(n, seed=0, shape=(1, C, h, w)):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g) for _ in range(n)]


def halves():
    left = torch.zeros(H, W)
    left[:, : W // 2] = 1
    return [left, 1 - left]


@pytest.mark.parametrize("space,sigmas", [(eps_space(), lcm_sigmas(4)),
                                          (flow_space(), torch.tensor([1.0, 0.7, 0.4, 0.1, 0.0]))])
@pytest.mark.parametrize("blur", [0.0, 2.0])
def test_single_full_region_equals_plain_sampling(space, sigmas, blur):
    model = PixelDenoiser()
    plan = plan_for([torch.ones(H, W)], sigmas, space, blur=blur)
    ns = noises(5)
    ours = run(plan, model, sigmas, space, ns[0], ns[1:])
    ref = plain(model, 0, sigmas, space, ns[0], ns[1:])
    assert (ours - ref).abs().max() <= 1e-5


@pytest.mark.parametrize("bootstrap_steps", [0, 1])
def test_disjoint_masks_match_single_prompt_results_inside_regions(bootstrap_steps):
    space, sigmas = eps_space(), lcm_sigmas(4)
    model = PixelDenoiser()
    masks = halves()
    plan = plan_for(masks, sigmas, space, bootstrap_steps=bootstrap_steps, leak=0.0,
                    white=torch.full((1, C, h, w), 0.8))
    ns = noises(5)
    ours = run(plan, model, sigmas, space, ns[0], ns[1:])
    for i, m in enumerate(masks):
        ref = plain(model, i, sigmas, space, ns[0], ns[1:])
        inside = torch.nn.functional.interpolate(m[None, None], size=(h, w)).bool().expand_as(ours)
        assert (ours[inside] - ref[inside]).abs().max() <= 1e-5


def test_one_model_call_per_step_for_any_number_of_regions():
    space, sigmas = eps_space(), lcm_sigmas(4)
    for p in (1, 3, 8):
        model = PixelDenoiser()
        masks = [torch.rand(H, W) * 0.5 + 0.5 for _ in range(p)]
        plan = plan_for(masks, sigmas, space, bootstrap_steps=2, white=torch.zeros(1, C, h, w), cover=0.3)
        run(plan, model, sigmas, space, noises(1)[0], noises(4, 1))
        assert model.calls == [p] * 4


def test_uncovered_pixels_follow_background_latent():
    space, sigmas = eps_space(), lcm_sigmas(3)
    left = halves()[0]
    bg = torch.full((1, C, h, w), 0.25)
    plan = plan_for([left], sigmas, space, background=bg)
    out = run(plan, PixelDenoiser(), sigmas, space, *(lambda n: (n[0], n[1:]))(noises(4)))
    assert torch.allclose(out[..., w // 2:], bg[..., w // 2:])
    assert not torch.allclose(out[..., : w // 2], bg[..., : w // 2])


def test_centering_round_trip_and_bbox_centre():
    m = torch.zeros(2, 1, 1, h, w)
    m[0, 0, 0, 1:4, 2:7] = 1  # bbox centre (2, 4)
    m[1, 0, 0, 10:16, 9:16] = 1
    shifts = centering_shifts(m)
    assert shifts.shape == (2, 1, 2)
    x = torch.randn(2, 1, C, h, w)
    assert torch.equal(roll2d(roll2d(x, shifts), -shifts), x)
    moved = roll2d(m, shifts)
    for i in range(2):
        ys, xs = torch.nonzero(moved[i, 0, 0], as_tuple=True)
        assert abs((ys.min() + ys.max()).item() / 2 - (h - 1) / 2) <= 0.5
        assert abs((xs.min() + xs.max()).item() / 2 - (w - 1) / 2) <= 0.5
    # roll2d agrees with torch.roll
    assert torch.equal(roll2d(x, shifts)[0, 0], torch.roll(x[0, 0], tuple(shifts[0, 0].tolist()), dims=(-2, -1)))
    assert torch.equal(centering_shifts(torch.zeros(1, 1, h, w)), torch.zeros(1, 2, dtype=torch.long))


def test_bootstrapping_changes_only_early_steps():
    space, sigmas = eps_space(), lcm_sigmas(4)
    masks = [torch.zeros(H, W), torch.zeros(H, W)]
    masks[0][8:40, 8:40] = 1
    masks[1][64:120, 70:120] = 1
    white = torch.full((1, C, h, w), 0.9)
    model = ConvDenoiser()
    with_b = plan_for(masks, sigmas, space, bootstrap_steps=2, white=white, blur=2.0)
    without = plan_for(masks, sigmas, space, bootstrap_steps=0, white=white, blur=2.0)
    x = torch.randn(1, C, h, w) * 5
    noise = torch.randn(1, C, h, w)
    for k in range(4):
        a = regional_x0(x, sigmas[k], k, with_b, model, space, bootstrap_noise=noise)
        b = regional_x0(x, sigmas[k], k, without, model, space, bootstrap_noise=noise)
        assert torch.allclose(a, b) == (k >= 2), k


def test_leak_suppression_downweights_predictions_that_look_like_background():
    space, sigmas = eps_space(), lcm_sigmas(2)
    white = torch.zeros(1, C, h, w)
    plan_leak = plan_for(halves(), sigmas, space, bootstrap_steps=1, white=white, leak=0.2, background=white)
    plan_none = plan_for(halves(), sigmas, space, bootstrap_steps=1, white=white, leak=0.0, background=white)
    model = lambda x, s, c: torch.where((c == 0).view(-1, 1, 1, 1), torch.zeros_like(x), torch.ones_like(x))
    x = torch.randn(1, C, h, w)
    a = regional_x0(x, sigmas[0], 0, plan_leak, model, space)
    b = regional_x0(x, sigmas[0], 0, plan_none, model, space)
    # region 0 predicts exactly the background: its weight vanishes and the background fills in.
    assert torch.allclose(a[..., : w // 2], white[..., : w // 2])
    assert torch.allclose(b[..., : w // 2], torch.zeros(1, C, h, w // 2))
    # region 1 is far from the background (distance 1): weight 2*sigmoid(1/0.2)-1, the rest is background.
    keep = 2 * torch.sigmoid(torch.tensor(5.0)) - 1
    assert torch.allclose(a[..., w // 2:], keep.expand(1, C, h, w // 2))
    assert torch.allclose(b[..., w // 2:], torch.ones(1, C, h, w // 2))


def test_tile_weights_sum_to_one():
    for (hh, ww, tile) in [(16, 48, 16), (24, 40, 12), (64, 96, 20), (8, 8, 16)]:
        views = get_views(hh, ww, tile)
        weights = view_weights(views, hh, ww)
        total = torch.zeros(hh, ww)
        for wv, (y0, y1, x0, x1) in zip(weights, views):
            assert wv.min() >= 0
            total[y0:y1, x0:x1] += wv[0]
        assert torch.allclose(total, torch.ones(hh, ww), atol=1e-6)
    assert len(get_views(16, 48, 16)) == 5  # stride 8: x at 0, 8, 16, 24, 32


def test_canvas_within_one_tile_equals_untiled():
    space, sigmas = eps_space(), lcm_sigmas(3)
    ns = noises(4)
    model = ConvDenoiser()
    kw = dict(bootstrap_steps=1, white=torch.ones(1, C, h, w), blur=3.0)
    a = run(plan_for(halves(), sigmas, space, tile=h, **kw), model, sigmas, space, ns[0], ns[1:])
    b = run(plan_for(halves(), sigmas, space, tile=0, **kw), model, sigmas, space, ns[0], ns[1:])
    assert torch.equal(a, b)


def test_tiled_canvas_is_one_call_per_step_and_skips_absent_regions():
    space, sigmas = eps_space(), lcm_sigmas(3)
    masks = halves()
    model = PixelDenoiser()
    plan = plan_for(masks, sigmas, space, tile=8)  # 16x16 latent, tile 8 stride 4: 3x3 views
    assert len(plan.views) == 9
    out = run(plan, model, sigmas, space, noises(1)[0], noises(3, 2))
    # left-only columns of views see 1 region, the middle column sees both: 3 + 6 + 3
    assert model.calls == [12] * 3
    # tiling with a pixel-local model and disjoint masks changes nothing inside a region
    ref = run(plan_for(masks, sigmas, space), PixelDenoiser(), sigmas, space, noises(1)[0], noises(3, 2))
    assert (out - ref).abs().max() <= 1e-5


def test_batch_of_canvases_is_independent():
    space, sigmas = eps_space(), lcm_sigmas(3)
    plan = plan_for(halves(), sigmas, space, bootstrap_steps=1, white=torch.zeros(1, C, h, w), blur=1.0)
    model = ConvDenoiser()
    two = torch.randn(2, C, h, w)
    both = regional_x0(two, sigmas[0], 0, plan, model, space)
    one = regional_x0(two[1:], sigmas[0], 0, plan, model, space)
    assert torch.allclose(both[1:], one, atol=1e-6)


def test_plan_errors_name_inputs():
    space, sigmas = eps_space(), lcm_sigmas(2)
    with pytest.raises(SemanticDrawInputError, match="white"):
        plan_for(halves(), sigmas, space, bootstrap_steps=1)
    with pytest.raises(SemanticDrawInputError, match="background: latent is 8x8"):
        plan_for(halves(), sigmas, space, background=torch.zeros(1, C, 8, 8))
