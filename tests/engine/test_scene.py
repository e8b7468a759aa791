"""Scene rules (engine/scene.py) and the reference's background, leak and bootstrap rules (ALGORITHM.md 2-6).

Expected values are written out here from the formulas of ALGORITHM.md, not taken from the engine.
"""
import pytest
import torch
import torch.nn.functional as F

from engine import eps_space, flow_space, get_views, make_plan, noise_levels, process_masks, regional_x0, view_weights
from engine.scene import (DEFAULT_TARGET, IMAGE_TARGET, LATENT, PROMPT, WHITE, Text, background_kind, region_prompts,
                          scene_masks, strength_target, Zeroed)
from toys import lcm_sigmas

C, h, w = 8, 16, 16
H, W = 8 * h, 8 * w
EPS, FLOW = eps_space(), flow_space()


def three_masks():
    box = torch.zeros(H, W)
    box[16:80, 24:100] = 1
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    disc = (((yy - 80) ** 2 + (xx - 70) ** 2) < 40 ** 2).float()
    soft = torch.linspace(0, 1, W).expand(H, W) * (yy > 90)
    return [box, disc, soft]


def one_hot(x, sigma, cond):
    """Region `c` predicts the unit vector of channel `c` everywhere: the output's channels are the weights."""
    return F.one_hot(cond, C).float()[:, :, None, None].expand(-1, -1, *x.shape[-2:]).clone()


def unit(channel):
    return F.one_hot(torch.tensor([channel]), C).float()[:, :, None, None].expand(1, C, h, w)


@pytest.mark.parametrize("kind", [PROMPT, WHITE])
@pytest.mark.parametrize("blur,strengths,cover", [(0.0, [1, 1, 1], 0.0), (6.0, [1, 1, 1], 0.3),
                                                  (3.0, [0.7, 1.0, 0.9], 0.3), (8.0, [1, 0.8, 1], 1.0)])
@pytest.mark.parametrize("mask_type", ["discrete", "continuous", "semi-continuous"])
@pytest.mark.parametrize("tile", [0, 8])
def test_region_weights_with_background_sum_to_one_at_every_pixel_and_step(kind, blur, strengths, cover, mask_type,
                                                                           tile):
    sigmas = lcm_sigmas(4)
    fg = process_masks(three_masks(), (H, W), (h, w), noise_levels(sigmas, EPS), blur_stds=[blur] * 3,
                       strengths=strengths, cover_alpha=cover, mask_type=mask_type)
    white = unit(C - 1)
    chosen = scene_masks(fg, kind, white=white)
    plan = make_plan(chosen.masks, tile=tile, background=chosen.background, white=white, bootstrap_steps=0)
    first = 1 if kind == PROMPT else 0  # channel of the first foreground region
    uncovered = 0
    for k in range(4):
        out = regional_x0(torch.randn(1, C, h, w), sigmas[k], k, plan, one_hot, EPS)
        assert torch.allclose(out.sum(1), torch.ones(1, h, w), atol=1e-5)
        q = fg.quantized[:, k, 0]  # [3, h, w]
        bg = (1 - q.sum(0)).clamp(0, 1)  # W_k of section 4
        uncovered += int((bg > 0).sum())
        if kind == PROMPT:  # the background region's mask is W_k itself
            total = q.sum(0) + bg
            assert torch.allclose(out[0, 0], bg / total, atol=1e-5)
        else:  # white fills w_bg; the regions share the rest in proportion to their masks
            total = q.sum(0).clamp_min(1e-12) / (1 - bg)
            assert torch.allclose(out[0, C - 1], bg, atol=1e-5)
        for i in range(3):
            assert torch.allclose(out[0, first + i], q[i] / total, atol=1e-5)
    assert uncovered > 0  # the scene has a background to check


@pytest.mark.parametrize("boot,leak", [(1, 0.2), (2, 0.05)])
def test_weights_sum_to_one_with_bootstrap_and_leak_suppression(boot, leak):
    sigmas = lcm_sigmas(3)
    fg = process_masks(three_masks(), (H, W), (h, w), noise_levels(sigmas, EPS), blur_stds=[4.0] * 3,
                       strengths=[1, 1, 1], cover_alpha=0.3)
    for kind in (PROMPT, WHITE):
        chosen = scene_masks(fg, kind, white=unit(C - 1))
        plan = make_plan(chosen.masks, background=chosen.background, white=unit(C - 1), bootstrap_steps=boot,
                         leak=leak)
        for k in range(3):
            out = regional_x0(torch.randn(1, C, h, w), sigmas[k], k, plan, one_hot, EPS,
                              bootstrap_noise=torch.randn(1, C, h, w))
            assert torch.allclose(out.sum(1), torch.ones(1, h, w), atol=1e-5)


def test_no_background_where_masks_cover_every_pixel_at_every_step():
    """Reference: without uncovered pixels there is no background latent; weights below 1 after leak
    suppression are normalised, not blended with white (section 4)."""
    sigmas = lcm_sigmas(3)
    left = torch.zeros(H, W)
    left[:, : W // 2] = 1
    fg = process_masks([left, 1 - left], (H, W), (h, w), noise_levels(sigmas, EPS), blur_stds=[0, 0],
                       strengths=[1, 1], cover_alpha=0.3)
    white = torch.zeros(1, C, h, w)
    chosen = scene_masks(fg, WHITE, white=white)
    assert chosen.background is None
    plan = make_plan(chosen.masks, background=chosen.background, white=white, bootstrap_steps=1, leak=0.2)
    out = regional_x0(torch.randn(1, C, h, w), sigmas[0], 0, plan, lambda x, s, c: torch.full_like(x, 2.0), EPS,
                      bootstrap_noise=torch.randn(1, C, h, w))
    assert torch.allclose(out, torch.full_like(out, 2.0))
    some = process_masks([left], (H, W), (h, w), noise_levels(sigmas, EPS), blur_stds=[0], strengths=[1])
    assert scene_masks(some, WHITE, white=white).background is white
    assert scene_masks(some, LATENT, latent=-white).background is not None


def centred_box():
    m = torch.zeros(H, W)
    m[32:96, 32:96] = 1  # bbox centre at the canvas centre: centering moves nothing
    return m


@pytest.mark.parametrize("space,sigma", [(EPS, 3.5), (FLOW, 0.7)])
def test_leak_distance_is_to_the_noised_bootstrap_background(space, sigma):
    """5.4: a region whose prediction equals the *noised* bootstrap background B_k (as the reference holds
    it: `alpha * B + beta * n` for eps models, `(1 - s) * B + s * n` for flow) gets weight 0."""
    box = centred_box()
    sigmas = torch.tensor([sigma, 0.0])
    fg = process_masks([box, 1 - box], (H, W), (h, w), noise_levels(sigmas, space), blur_stds=[0, 0],
                       strengths=[1, 1], cover_alpha=0.0)
    white, bg = torch.full((1, C, h, w), 0.5), torch.full((1, C, h, w), -1.0)
    noise = torch.randn(1, C, h, w)
    s = torch.tensor(sigma)
    if space is EPS:
        noised = (white + s * noise) / torch.sqrt(1 + s * s)  # r_0 = 1: B_0 = white
    else:
        noised = (1 - s) * white + s * noise
    plan = make_plan(fg, background=bg, white=white, bootstrap_steps=1, leak=0.2)
    model = lambda x, sg, c: torch.where((c == 0).view(-1, 1, 1, 1), noised.expand_as(x), torch.full_like(x, 3.0))
    out = regional_x0(torch.randn(1, C, h, w), sigma, 0, plan, model, space, bootstrap_noise=noise)
    inside = F.interpolate(box[None, None], size=(h, w)).bool().expand_as(out)
    assert torch.allclose(out[inside], torch.full_like(out[inside], -1.0), atol=1e-6)  # the background fills it
    assert torch.allclose(out[~inside], torch.full_like(out[~inside], 3.0), atol=1e-2)


@pytest.mark.parametrize("space,sigma", [(EPS, 3.5), (FLOW, 0.7)])
def test_bootstrap_without_background_latent_renoises_the_latent(space, sigma):
    """5.1: with no background latent, B_k is `x_k` (in the model's input scale) noised again to level k."""
    box = centred_box()
    sigmas = torch.tensor([sigma, 0.0])
    fg = process_masks([box], (H, W), (h, w), noise_levels(sigmas, space), blur_stds=[0], strengths=[1])
    plan = make_plan(fg, background=None, white=torch.zeros(1, C, h, w), bootstrap_steps=1, bootstrap_mix_steps=0.0)
    x, noise = torch.randn(1, C, h, w), torch.randn(1, C, h, w)
    seen = []
    regional_x0(x, sigma, 0, plan, lambda xi, s, c: seen.append(xi) or xi, space, bootstrap_noise=noise)
    s = torch.tensor(sigma)
    expected = x / torch.sqrt(1 + s * s) + s * noise if space is EPS else (1 - s) * x + s * noise
    outside = ~F.interpolate(box[None, None], size=(h, w)).bool().expand_as(x)
    assert torch.allclose(seen[0][outside], expected[outside], atol=1e-5)
    assert torch.allclose(seen[0][~outside], x[~outside])


def test_background_choice():
    assert background_kind(has_prompt=True, has_latent=False) == PROMPT
    assert background_kind(has_prompt=True, has_latent=True) == LATENT
    assert background_kind(has_prompt=False, has_latent=True) == LATENT
    assert background_kind(has_prompt=False, has_latent=False) == WHITE


def test_prompt_strength_targets():
    assert strength_target() == (Text("simple white background image"), Text(""))
    assert DEFAULT_TARGET == "simple white background image" and IMAGE_TARGET == ""
    assert strength_target(has_latent=True) == (Text(""), Text(""))
    assert strength_target("bg", None) == ("bg", Zeroed("bg"))  # the missing-negative rule
    assert strength_target("bg", "bgneg", has_latent=True) == ("bg", "bgneg")
    lerp = lambda t, c, s: (t, c, s)
    pos, neg = region_prompts([("a", "na", 0.5), ("b", "nb", 1.0)], PROMPT, "bg", "bgneg", ("T", "TN"), lerp)
    assert pos == ["bg", ("T", "a", 0.5), "b"] and neg == ["bgneg", ("TN", "na", 0.5), "nb"]
    pos, neg = region_prompts([("a", "na", 0.5)], WHITE, None, None, ("T", "TN"), lerp)
    assert pos == [("T", "a", 0.5)] and neg == [("TN", "na", 0.5)]


def reference_window_weights(height, width, window):
    """The reference's `get_panorama_views` (src/util.py), written out for windows at the regular stride."""
    stride = window // 2
    nh, nw = (height - window + stride - 1) // stride + 1, (width - window + stride - 1) // stride + 1
    half = torch.linspace(0, 1, (window + 1) // 2)
    c = torch.cat((half, half.flip(0)[window % 2:]))
    f, b = c.clone(), c.clone()
    f[:window // 2] = 1
    b[-(window // 2):] = 1
    rows = [torch.ones_like(c)] if nh == 1 else [f] + [c] * (nh - 2) + [b]
    cols = [torch.ones_like(c)] if nw == 1 else [f] + [c] * (nw - 2) + [b]
    return [rows[i][:, None] * cols[j][None, :] for i in range(nh) for j in range(nw)]


@pytest.mark.parametrize("height,width,window", [(16, 48, 16), (32, 32, 16), (16, 40, 16), (24, 24, 12)])
def test_window_weights_are_the_reference_ramps(height, width, window):
    views = get_views(height, width, window)
    ours = view_weights(views, height, width)
    ref = reference_window_weights(height, width, window)
    assert len(ref) == len(views)
    for o, r in zip(ours, ref):
        assert torch.allclose(o[0], r, atol=1e-6)
