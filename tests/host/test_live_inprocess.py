"""Live edits in-process, measured on the frame latents (the tiny random models barely react to prompts, so their
decoded 8-bit previews hide the change): a stroke changes frames inside its area within T+1 frames and encodes no
prompt; a prompt change encodes exactly one; only the changed mask is re-processed; a repeated edit changes nothing."""
import json

import pytest
import torch

from live_support import BRUSHES, painting
from tools.live_inprocess import rgba, run_scripted

SLOTS = 2
P0 = painting(((4, 4, 27, 27), "#ff0000"), ((36, 36, 59, 59), "#0000ff"))
STROKE = (36, 4, 59, 27)  # image pixels; latent cells x 4..7, y 0..3 of the 8x8 latent
P1 = painting(((4, 4, 27, 27), "#ff0000"), ((36, 36, 59, 59), "#0000ff"), (STROKE, "#ff0000"))
RENAMED = [dict(BRUSHES[0], prompt="a green pear"), BRUSHES[1]]


def load(kind: str):
    import comfy.sd
    from tools import tiny_models
    return comfy.sd.load_checkpoint_guess_config(str(tiny_models.checkpoint(kind)), output_vae=True,
                                                 output_clip=True)[:3]


@pytest.fixture(scope="module")
def sd15_files(pack):
    return load("sd15")


@pytest.fixture(scope="module", params=["sd15", "sd3"])
def model_files(pack, request):
    """The SD1.5-shaped eps checkpoint and the SD3-shaped flow checkpoint (16 channels, MMDiT)."""
    return load(request.param)


def test_lazy_edits_reach_the_frames_within_t_plus_one(model_files):
    import comfy.samplers
    model, clip, vae = model_files
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "sgm_uniform", 50)[[0, 32]]
    # each phase settles in T + 1 = 3 calls; the edit of a phase is queued during the last call of the one before
    script = {3: {"painting": rgba(P1)}, 6: {"brushes": RENAMED}, 9: {"brushes": RENAMED}, 12: "stop"}
    run = run_scripted(model, clip, vae, json.dumps(BRUSHES), "a field", rgba(P0), sigmas, script)
    f, c = run.frames, run.counters  # index n - 1 = after call n
    assert len(f) == 12
    before, after_stroke, after_prompt, after_repeat = f[2], f[5], f[8], f[11]

    d = (after_stroke - before).abs()[0].mean(0)  # [h, w]
    inside = torch.zeros_like(d, dtype=torch.bool)
    inside[0:4, 4:8] = True
    assert d[inside].mean() > 3 * d[~inside].mean() > 0
    first_changed = next(n for n in range(4, 13) if not torch.equal(f[n - 1], before))
    assert first_changed - 3 <= SLOTS + 1
    clip_encodes, key_encodes, mask_runs = (b - a for a, b in zip(c[2], c[5]))
    assert (clip_encodes, key_encodes, mask_runs) == (0, 0, 1)  # the stroke re-processed only the red mask

    assert not torch.equal(after_prompt, after_stroke)
    assert tuple(b - a for a, b in zip(c[5], c[8])) == (1, 1, 0)  # one prompt changed: exactly one encode

    assert torch.equal(after_repeat, after_prompt)
    assert c[11] == c[8]  # the same state again: nothing re-encoded or re-processed
    assert run.session.stats.mask_updates == 1
    assert len(run.host.server.sent) == 12  # a frame requested after every call: one preview each


def test_a_background_image_replaces_the_background_live_and_its_removal_restores_the_frames(sd15_files):
    """Unpainted cells of a settled frame are the background image's latent (core's VAE encode + latent format):
    section 4's background latent; removing the image brings back exactly the frames of the background prompt."""
    import comfy.samplers
    model, clip, vae = sd15_files
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "sgm_uniform", 50)[[0, 32]]
    ramp = torch.linspace(0, 1, 64)
    image = torch.stack([ramp[None, :].expand(64, 64), ramp[:, None].expand(64, 64), 1 - ramp[None, :].expand(64, 64)],
                        -1)[None]  # [1, 64, 64, 3]: a colour ramp
    script = {3: {"background_image": image}, 6: {"background_image": None}, 9: "stop"}
    run = run_scripted(model, clip, vae, json.dumps(BRUSHES), "a field", rgba(P0), sigmas, script)
    f, c = run.frames, run.counters
    before, with_image, removed = f[2], f[5], f[8]
    expected = model.get_model_object("latent_format").process_in(vae.encode(image))  # [1, 4, 8, 8]
    unpainted = (slice(0, 2), slice(6, 8))  # latent cells two or more cells from any stroke
    assert (with_image[0][:, unpainted[0], unpainted[1]] - expected[0][:, unpainted[0], unpainted[1]]).abs().max() \
        < 0.02 * expected.abs().max()
    assert (before[0] - expected[0]).abs()[:, unpainted[0], unpainted[1]].max() > 0.2 * expected.abs().max()
    assert torch.equal(removed, before)
    assert c[8][0] == c[2][0]  # no prompt re-encoded by either background change
