"""The toy world (tools/toy_world.py): captions, the exact denoiser against brute force, and the picture classifier."""
import itertools

import pytest
import torch

from tools.metrics import classify, colour_share
from tools.toy_world import (AREAS, COLOURS, SHAPES, Caption, ExactDenoiser, colour_table, object_masks, parse, render,
                             sample_images, to_model)

torch.set_num_threads(1)


@pytest.mark.parametrize("prompt,meaning", [
    ("a red circle on a yellow background", Caption("red", "circle", "yellow")),
    ("On a YELLOW background, a circle (red)!", Caption("red", "circle", "yellow")),
    ("circle red", Caption("red", "circle")),
    ("a blue square, please", Caption("blue", "square")),
    ("a purple triangle", Caption("purple", "triangle")),
    ("a green background", Caption(background="green")),
    ("yellow sky background with a black square", Caption("black", "square", "yellow")),
    ("a red circle background", Caption("red", "circle")),  # a shape word ends the colour's reach
    ("a white thing on an orange background", Caption("white", None, "orange")),
    ("", Caption()),
    ("a photo of something", Caption()),
    ("a dramatic orange sunset sky", Caption(background="orange")),  # surface nouns mean "background"
    ("a small wooden cabin with red walls", Caption(background="red")),
    ("a blue circle in a white sky", Caption("blue", "circle", "white")),
    ("a red circle on green grass", Caption("red", "circle", "green")),
])
def test_parse_reads_words_in_any_order_case_and_punctuation(prompt, meaning):
    assert parse(prompt) == meaning


def world_images(size, colours):
    """Every image of the world, drawn one by one with `render` (not the denoiser's factorisation), with its caption."""
    items = [(render(Caption(background=b), size), Caption(background=b)) for b in colours]
    for shape, area, cy, cx in itertools.product(SHAPES, AREAS, range(size), range(size)):
        for a, b in itertools.permutations(colours, 2):
            items.append((render(Caption(a, shape, b), size, area, (cy + 0.5, cx + 0.5)), Caption(a, shape, b)))
    return to_model(torch.stack([im for im, _ in items])), [cap for _, cap in items]


def allows(meaning, cap):
    if meaning == Caption():
        return True
    if not meaning.has_object:
        return cap == meaning
    return cap.has_object and all(want in (None, got) for want, got in zip(
        (meaning.colour, meaning.shape, meaning.background), (cap.colour, cap.shape, cap.background)))


def test_exact_denoiser_equals_brute_force_posterior_mean():
    size, colours = 6, ("red", "blue")
    images, caps = world_images(size, colours)
    assert len(images) == len(SHAPES) * len(AREAS) * size * size * 2 + 2
    prompts = ["a red circle", "a square on a red background", "a blue background", "", "a blue thing",
               "a red triangle on a blue background"]
    model = ExactDenoiser(prompts, size, colours)
    g = torch.Generator().manual_seed(0)
    for sigma in (0.05, 0.4, 3.0):
        cond = torch.arange(len(prompts))
        x = images[torch.randint(len(images), (len(prompts),), generator=g)] + sigma * torch.randn(
            len(prompts), 3, size, size, generator=g, dtype=torch.float64)
        ours = model(x, torch.full((len(prompts),), sigma, dtype=torch.float64), cond)
        for i, prompt in enumerate(prompts):
            ok = torch.tensor([allows(parse(prompt), c) for c in caps])
            logp = -(x[i] - images).pow(2).sum((1, 2, 3)) / (2 * sigma ** 2)
            weights = logp.masked_fill(~ok, -torch.inf).softmax(0)
            ref = (weights[:, None, None, None] * images).sum(0)
            assert (ours[i] - ref).abs().max() < 1e-9, (prompt, sigma)


def test_sigma_zero_and_tiny_sigma_return_the_nearest_data_image():
    size = 16
    image = to_model(render(Caption("red", "circle", "blue"), size, AREAS[2], (7.5, 4.5)))[None]
    model = ExactDenoiser(["a red circle", "", "a circle on a blue background"], size)
    x = image + 0.05 * torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for sigma in (0.0, 0.01):
        out = model(x.expand(3, -1, -1, -1), torch.full((3,), sigma), torch.arange(3))
        assert (out - image).abs().max() < 1e-9, sigma


def test_large_sigma_gives_the_caption_marginal_mean():
    size = 16
    masks, shapes = object_masks(size)
    cover = masks[shapes == SHAPES.index("circle")].mean(0)  # mean circle mask over sizes and positions
    red, others = 2 * colour_table(["red"])[0] - 1, 2 * colour_table([c for c in COLOURS if c != "red"]).mean(0) - 1
    marginal = red[:, None, None] * cover + others[:, None, None] * (1 - cover)
    model = ExactDenoiser(["a red circle"], size)
    x = 1e3 * torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    out = model(x, torch.tensor([1e3]), torch.tensor([0]))[0]
    assert (out - marginal).abs().max() < 0.05
    mean = out.mean((1, 2))
    lo, hi = torch.minimum(red, others), torch.maximum(red, others)
    assert bool(((mean > lo + 0.05) & (mean < hi - 0.05))[red != others].all()), (mean, red, others)
    # in the limit of infinite noise, exactly the marginal mean
    x = torch.zeros(1, 3, size, size, dtype=torch.float64)
    assert (model(x, torch.tensor([1e9]), torch.tensor([0]))[0] - marginal).abs().max() < 1e-9


def test_background_caption_is_a_plain_image_at_every_sigma():
    model = ExactDenoiser(["a green background"], 16)
    green = to_model(render(Caption(background="green"), 16))
    for sigma in (0.1, 2.0, 14.6):
        out = model(sigma * torch.randn(1, 3, 16, 16, dtype=torch.float64), torch.tensor([sigma]), torch.tensor([0]))
        assert (out[0] - green).abs().max() < 1e-12


def test_sampled_images_belong_to_the_data_set_and_match_their_captions():
    images, captions = sample_images(24, 16, torch.Generator().manual_seed(3))
    assert images.shape == (24, 16, 16, 3) and len(captions) == 24
    model = ExactDenoiser(captions, 16)
    x = to_model(images)
    # each image is an image its caption allows: at sigma 0 the denoiser returns it unchanged
    assert (model(x, torch.zeros(24), torch.arange(24)) - x).abs().max() < 1e-9


def test_unknown_size_or_impossible_caption_is_refused():
    with pytest.raises(ValueError, match="allows no image"):
        ExactDenoiser(["a green circle"], 6, ("red", "blue"))
    with pytest.raises(ValueError, match="expected x of shape"):
        ExactDenoiser(["a red circle"], 16)(torch.zeros(1, 3, 8, 8), torch.ones(1), torch.zeros(1, dtype=torch.long))


def test_classify_names_every_colour_shape_and_background():
    size, wrong = 32, []
    for a, b in itertools.permutations(COLOURS, 2):
        for shape, area in itertools.product(SHAPES, (0.1, 0.22, 0.5)):
            image = render(Caption(a, shape, b), size, area)
            colour, got_shape, background, mask = classify(image)
            fg, bg = colour_table([a, b])
            cover = ((image - bg) @ (fg - bg) / (fg - bg).pow(2).sum()) > 0.5
            iou = (mask & cover).sum() / (mask | cover).sum()
            if (colour, got_shape, background) != (a, shape, b) or iou < 0.7:  # half-covered edges go either way
                wrong.append((a, shape, b, area, colour, got_shape, background))
    assert not wrong, wrong


def test_classify_plain_picture_and_colour_share():
    assert classify(render(Caption(background="purple"), 16))[:3] == (None, None, "purple")
    image = render(Caption("yellow", "square", "black"), 16, 0.25)
    square = torch.zeros(16, 16)
    square[6:10, 6:10] = 1  # well inside the 8 x 8 square
    assert colour_share(image, square, "yellow") == 1.0
    assert colour_share(image, 1 - square, "yellow") == pytest.approx(48 / 240)
