"""The toy-world checkpoint (issue 16, item 3; tools/train_toy.py): its training target is the exact posterior mean of
the data it draws (checked here against brute-force enumeration of every image a caption allows, with the drawing's
own probabilities), and the committed weights draw what their prompts name through ComfyUI's own loader and sampler:
single prompts (8 Euler steps, cfg 1.5, 128 px, 96 captions): backgrounds 100%, object colours at least the gate's
90% (a random model: 1/8 and 1/7; the gate's shape half, 80%, is not met: 58-61%), and the default workflow's
three regions, each in the colour its prompt names, through the SemanticDraw Sampler."""
import math

import pytest
import torch

from tools import inprocess

CAPTIONS = [(None, None, None), (None, None, "red"), ("red", None, None), (None, "circle", "blue"),
            ("green", "square", "black"), ("blue", None, "yellow"), ("white", "triangle", None)]


@pytest.fixture(scope="module")
def data():
    inprocess.load_host()
    from tools.train_toy import Data
    return Data(0, sizes=(16,))


def brute_force_x0(data, xt: torch.Tensor, s: float, caption: tuple, size: int) -> torch.Tensor:
    """E[x0 | xt] over every image of the drawing that `caption` can come from, each weighted by its probability of
    being drawn with this caption (sample_images' rule: plain share 0.1, each attribute kept with probability 0.7)."""
    from tools.toy_world import COLOURS, SHAPES
    names, colour, shape, background = list(COLOURS), *caption
    images, log_p = [], []
    said_plain = colour is None and shape is None and background is not None
    for b in range(len(names)):
        if colour is None and shape is None and background in (None, names[b]):  # plain images
            images.append(data.z[b][:, None].expand(16, size * size))
            log_p.append(math.log(0.1 / 8 * (0.7 if background else 0.3)))
    for k, name in enumerate(SHAPES):
        if said_plain or shape not in (None, name):
            continue
        for rows in data.rows[size][k]:
            masks = data.masks[size][rows]
            for a in range(len(names)):
                for b in range(len(names)):
                    if a == b or colour not in (None, names[a]) or background not in (None, names[b]):
                        continue
                    images.append(data.z[b][None, :, None] + (data.z[a] - data.z[b])[None, :, None] * masks[:, None])
                    kept = 0.3 ** 3 if caption == (None, None, None) else 1.0  # the others share their factor
                    log_p += [math.log(0.9 / 8 / 7 / 3 / len(data.rows[size][k]) / len(rows) * kept)] * len(rows)
    x0 = torch.cat([i if i.dim() == 3 else i[None] for i in images]).double()
    log_w = torch.tensor(log_p, dtype=torch.float64)
    log_w = log_w - ((xt.double().reshape(16, -1)[None] - (1 - s) * x0) ** 2).sum((1, 2)) / (2 * s * s)
    return (torch.softmax(log_w, 0)[:, None, None] * x0).sum(0).reshape(16, size, size)


@pytest.mark.parametrize("s", [0.3, 0.8, 0.97, 0.999])
def test_training_target_is_the_exact_posterior_mean(data, s):
    from tools.train_toy import CAPTIONS as ALL
    idx = torch.tensor([ALL.index(c) for c in CAPTIONS])
    x0 = data.batch(len(CAPTIONS), 16)[0]
    xt = (1 - s) * x0 + s * torch.randn(x0.shape, generator=torch.Generator().manual_seed(1))
    got = data.posterior_x0(xt, torch.full((len(CAPTIONS), 1, 1, 1), s), idx)
    for i, caption in enumerate(CAPTIONS):
        want = brute_force_x0(data, xt[i], s, caption, 16)
        assert torch.allclose(got[i].double(), want, atol=1e-4), (caption, (got[i] - want).abs().max())


def test_committed_weights_draw_their_prompts_colours():
    """The gate's colour half at cfg 1.5 (96 captions): measured 91.7% (92.4% over 288 captions of three seed sets;
    85-87.5% at cfg 1)."""
    inprocess.load_host()
    from tools import train_toy
    result = train_toy.gate(train_toy.checkpoint(), n=96, cfg=1.5)
    print(result)
    assert result["background"] >= 0.95 and result["colour"] >= 0.9, result


# workflows/sd15_lcm_three_regions.json's prompts and boxes (left, top, width, height at 512 px, its SolidMask +
# MaskComposite), paint order: a colour before a surface noun ("orange sky", "red walls") fills the region
# (tools/toy_world.py's vocabulary); the background prompt "a green meadow, photo, high quality"
LAYOUT = [("a dramatic orange sky at sunset", (0, 0, 512, 200), "orange"),
          ("a small wooden cabin with red walls", (40, 180, 240, 280), "red"),
          ("a dog with yellow fur", (300, 280, 180, 200), "yellow")]


def layout_shares(image: torch.Tensor) -> dict[str, float]:
    """Per region, the share of its visible pixels (later regions cover earlier ones) in its prompt's colour, and of
    the unpainted pixels in the background's green, of a picture `[H, W, 3]` of the layout scaled to its size."""
    from tools.metrics import colour_share
    h, w = image.shape[:2]
    boxes = []
    for _, (left, top, width, height), _ in LAYOUT:
        boxes.append(torch.zeros(h, w, dtype=torch.bool))
        boxes[-1][top * h // 512:(top + height) * h // 512, left * w // 512:(left + width) * w // 512] = True
    shares = {}
    for i, (box, (_, _, colour)) in enumerate(zip(boxes, LAYOUT)):
        shares[colour] = colour_share(image, box & ~torch.stack(boxes[i + 1:] or [~box]).any(0), colour)
    shares["green"] = colour_share(image, ~torch.stack(boxes).any(0), "green")
    return shares


@pytest.mark.parametrize("sampler,scheduler,steps", [("euler", "simple", 8), ("lcm", "sgm_uniform", 5)])
def test_committed_weights_paint_each_region_in_its_prompts_colour(sampler, scheduler, steps):
    pack = inprocess.load_host()
    import comfy.sd
    from semanticdraw.nodes.host.regions import Region, RegionStack
    from semanticdraw.nodes.sampling import SemanticDrawSampler
    from tools import train_toy
    model, clip, vae = comfy.sd.load_checkpoint_guess_config(str(train_toy.checkpoint()), output_vae=True,
                                                             output_clip=True)[:3]

    def encode(text: str) -> list:
        context, pooled = clip.encode_from_tokens(clip.tokenize(text), return_pooled=True)
        return [[context, {"pooled_output": pooled}]]
    regions = []
    for text, (left, top, width, height), _ in LAYOUT:
        mask = torch.zeros(512, 512)
        mask[top:top + height, left:left + width] = 1
        regions.append(Region(encode(text), None, mask, mask_blur_std=8.0))
    stack = RegionStack(regions=tuple(regions), background_positive=encode("a green meadow, photo, high quality"))
    shares = []
    for seed in range(4):
        out = SemanticDrawSampler.execute(model, stack, {"samples": torch.zeros(1, 16, 16, 16)}, seed=seed,
                                          steps=steps, cfg=1.0, sampler_name=sampler, scheduler=scheduler,
                                          denoise=1.0, bootstrap_steps=1, bootstrap_mix_steps=1.0,
                                          leak_sensitivity=0.2, mask_type="discrete", cover_alpha=0.3,
                                          tile_size=0).result[0]
        shares.append(list(layout_shares(vae.decode(out["samples"])[0].float()).values()))
    mean = torch.tensor(shares).mean(0)
    print(pack.__name__, sampler, mean.tolist())
    # measured: regions 0.80-0.88, unpainted green 0.65 (lcm) and 0.48 (euler: the sky's orange reaches into the
    # meadow below it); a random model: about 1/8
    assert (mean[:3] >= 0.6).all() and mean[3] >= 0.4, mean.tolist()
