"""Pictures the engine paints with the toy world's exact denoiser as its model (tools/toy_world.py), judged as a
person would: which colour fills each region. The real sampling path: masks at image size (8 x the "latent", here
pixels in model space) through `process_masks` (ALGORITHM.md section 2), the background prompt as region 0
(`scene_masks`, section 4), `regional_x0` (sections 4-5) and 8 deterministic Euler steps of a Karras schedule.
"""
import functools

import torch

from engine import eps_space, make_plan, noise_levels, process_masks, regional_x0
from engine.sampling import sample
from engine.scene import PROMPT, scene_masks
from tools.metrics import classify, colour_share
from tools.toy_world import Caption, ExactDenoiser, karras_sigmas, render, to_image, to_model

torch.set_num_threads(1)


def box(n: int, top: int, left: int, bottom: int, right: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A rectangle of latent cells `[top, bottom) x [left, right)`: as an image-size mask `[8n, 8n]` whose edges lie
    halfway between the image pixels that the latent samples (2.6: nearest, each block's first pixel), and as the
    latent mask `[n, n]` that judges the picture."""
    image = torch.zeros(8 * n, 8 * n)
    image[8 * top - 4:8 * bottom - 4, 8 * left - 4:8 * right - 4] = 1
    latent = torch.zeros(n, n)
    latent[top:bottom, left:right] = 1
    return image, latent


def paint(n: int, prompts: list[str], masks: list[torch.Tensor], background: str, seeds: int,
          bootstrap_steps: int = 0, bootstrap_mix_steps: float = 1.0) -> torch.Tensor:
    """`seeds` canvases (one batch) of the regions over a background prompt: pictures `[seeds, n, n, 3]` in [0, 1].
    Mask settings are the still-image defaults of section 9 (blur std 1 image pixel, cover 0.3, discrete)."""
    space, sigmas = eps_space(), karras_sigmas()
    fg = process_masks(masks, (8 * n, 8 * n), (n, n), noise_levels(sigmas, space), blur_stds=[1.0] * len(masks),
                       strengths=[1.0] * len(masks), cover_alpha=0.3)
    white = to_model(render(Caption(background="white"), n))[None].float()
    plan = make_plan(scene_masks(fg, PROMPT).masks, white=white, bootstrap_steps=bootstrap_steps,
                     bootstrap_mix_steps=bootstrap_mix_steps)
    model = ExactDenoiser([background] + prompts, n)  # section 4: the background region comes first
    g = torch.Generator().manual_seed(0)
    noise, boot_noise = (torch.randn(seeds, 3, n, n, generator=g) for _ in range(2))
    x0_fn = functools.partial(regional_x0, plan=plan, denoise=model, space=space, bootstrap_noise=boot_noise)
    x = sample(x0_fn, noise, sigmas, space, step="euler")
    return to_image(x)


def test_two_regions_get_their_colours_and_the_background_the_rest():
    n = 16
    (left, left_cells), (right, right_cells) = box(n, 2, 1, 14, 7), box(n, 2, 9, 14, 15)
    rest = 1 - left_cells - right_cells
    for boot in (0, 1):
        pictures = paint(n, ["a red background", "Blue background, please"], [left, right], "a white background",
                         seeds=3, bootstrap_steps=boot)
        for picture in pictures:
            shares = {"red in left": colour_share(picture, left_cells, "red"),
                      "blue in right": colour_share(picture, right_cells, "blue"),
                      "white elsewhere": colour_share(picture, rest, "white"),
                      "red outside left": colour_share(picture, 1 - left_cells, "red"),
                      "blue outside right": colour_share(picture, 1 - right_cells, "blue")}
            print(f"bootstrap_steps={boot}:", ", ".join(f"{k} {v:.3f}" for k, v in shares.items()))
            assert min(shares["red in left"], shares["blue in right"], shares["white elsewhere"]) >= 0.9, shares
            assert max(shares["red outside left"], shares["blue outside right"]) < 0.05, shares


def test_small_off_centre_object_appears_in_its_mask_with_bootstrapping():
    """Section 5 on a 5 x 5 mask (2.4% of a 32 x 32 canvas): the region drawn alone on white (5.1-5.2), centred
    (5.3), leak-suppressed (5.4). Bootstrapping on four steps (mix steps 4: white for all of them) is asserted;
    the others are measured and printed."""
    n, seeds = 32, 8
    mask, cells = box(n, 5, 21, 10, 26)
    for boot, mix in ((0, 1.0), (1, 1.0), (3, 3.0), (4, 4.0)):
        pictures = paint(n, ["a yellow circle"], [mask], "a green background", seeds, boot, mix)
        shares = [colour_share(p, cells, "yellow") for p in pictures]
        print(f"bootstrap_steps={boot} mix={mix}: yellow share of the mask per seed",
              " ".join(f"{v:.2f}" for v in shares), f"mean {sum(shares) / seeds:.3f}")
    assert min(shares) >= 0.5, shares  # the last run: bootstrapping on
    for picture in pictures:
        assert classify(picture)[0::2] == ("yellow", "green")
        assert colour_share(picture, 1 - cells, "yellow") < 0.01
