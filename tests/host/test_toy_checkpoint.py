"""The toy-world checkpoint (issue 16, item 3; tools/train_toy.py): its training target is the exact posterior mean of
the data it draws (checked here against brute-force enumeration of every image a caption allows, with the drawing's
own probabilities), and the committed weights draw what their prompts name through ComfyUI's own loader and sampler
(single prompt, 8 Euler steps, 128 px, 48 captions) at the level they were measured at: backgrounds 100%, object
colours 62.5% (a random model: 1/8 and 1/7). The issue's gate (colours 90%, shapes 80%) is not met yet."""
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
    inprocess.load_host()
    from tools import train_toy
    result = train_toy.gate(train_toy.checkpoint(), n=48)
    print(result)
    assert result["background"] >= 0.95 and result["colour"] >= 0.55, result
