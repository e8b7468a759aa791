"""The live canvas in-process through the node's own `run_live_canvas` (tools/live_inprocess.py), measured on the
frame latents (the tiny random models barely react to prompts, so their decoded 8-bit previews hide most changes):
lazy edits, the background image (also on a blank canvas), live frames equal to the Stream Sampler's, and the
progressive display with a latency readout that says what the frames show."""
import json

import pytest
import torch

from live_support import BRUSHES, painting
from tools.live_inprocess import rgba, run_scripted

SLOTS = 2
T2, T4 = "0,32", "0,16,32,45"
P0 = painting(((4, 4, 27, 27), "#ff0000"), ((36, 36, 59, 59), "#0000ff"))
STROKE = (36, 4, 59, 27)  # image pixels; latent cells x 4..7, y 0..3 of the 8x8 latent
P1 = painting(((4, 4, 27, 27), "#ff0000"), ((36, 36, 59, 59), "#0000ff"), (STROKE, "#ff0000"))
RENAMED = [dict(BRUSHES[0], prompt="a green pear"), BRUSHES[1]]
SHARP = [dict(b, blur=0) for b in BRUSHES]


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


def ramp_image() -> torch.Tensor:
    ramp = torch.linspace(0, 1, 64)
    return torch.stack([ramp[None, :].expand(64, 64), ramp[:, None].expand(64, 64), 1 - ramp[None, :].expand(64, 64)],
                       -1)[None]  # [1, 64, 64, 3]: a colour ramp


def counters(status: dict) -> tuple:
    return status["prompts_encoded"], status["conditionings_processed"], status["masks_processed"]


def test_lazy_edits_reach_the_frames_at_the_next_call(model_files):
    model, clip, vae = model_files
    # each phase settles in T = 2 calls; the edit of a phase is queued when the phase's last frame arrives
    script = {2: {"painting": rgba(P1)}, 4: {"brushes": RENAMED}, 6: {"brushes": RENAMED}, 8: "stop"}
    run = run_scripted(model, clip, vae, json.dumps(BRUSHES), "a field", rgba(P0), T2, script)
    f, s = run.frames, run.statuses  # index n - 1 = frame n
    assert len(f) == len(run.images) == 8 and run.indices == list(range(8))
    before, after_stroke, after_prompt, after_repeat = f[1], f[3], f[5], f[7]

    d = (after_stroke - before).abs()[0].mean(0)  # [h, w]
    inside = torch.zeros_like(d, dtype=torch.bool)
    inside[0:4, 4:8] = True
    assert d[inside].mean() > 3 * d[~inside].mean() > 0
    assert not torch.equal(f[2][..., inside], before[..., inside])  # the very next frame shows the stroke
    assert tuple(b - a for a, b in zip(counters(s[1]), counters(s[3]))) == (0, 0, 1)  # only the red mask again

    assert not torch.equal(after_prompt, after_stroke)
    # one prompt changed: one text encoded, its positive and its negative (processed with it) processed
    assert tuple(b - a for a, b in zip(counters(s[3]), counters(s[5]))) == (1, 2, 0)

    assert torch.equal(after_repeat, after_prompt)
    assert counters(s[7]) == counters(s[5])  # the same state again: nothing re-encoded or re-processed
    assert s[-1]["mask_updates"] == 1


def test_a_background_image_replaces_the_background_live_and_its_removal_restores_the_frames(sd15_files):
    """Unpainted cells of a settled frame are the background image's latent (core's VAE encode): section 4's
    background latent; removing the image brings back exactly the frames of the background prompt."""
    model, clip, vae = sd15_files
    image = ramp_image()
    script = {2: {"background_image": image}, 4: {"background_image": None}, 6: "stop"}
    run = run_scripted(model, clip, vae, json.dumps(BRUSHES), "a field", rgba(P0), T2, script)
    f, s = run.frames, run.statuses
    before, with_image, removed = f[1], f[3], f[5]
    expected = vae.encode(image).detach()  # [1, 4, 8, 8], the VAE's own space, as the frames are recorded
    unpainted = (slice(0, 2), slice(6, 8))  # latent cells two or more cells from any stroke
    assert (with_image[0][:, unpainted[0], unpainted[1]] - expected[0][:, unpainted[0], unpainted[1]]).abs().max() \
        < 0.02 * expected.abs().max()
    assert (before[0] - expected[0]).abs()[:, unpainted[0], unpainted[1]].max() > 0.2 * expected.abs().max()
    assert torch.equal(removed, before)
    assert s[5]["prompts_encoded"] == s[1]["prompts_encoded"]  # no prompt re-encoded by either background change


@pytest.mark.parametrize("at_start", [True, False])
def test_a_background_image_on_a_blank_canvas_fills_every_pixel(sd15_files, at_start):
    """Issue 17 defect 2: with nothing painted the background image is the frame (was: the model's noise over the
    whole canvas until the first stroke), whether it comes with the session or in an update."""
    model, clip, vae = sd15_files
    image = ramp_image()
    blank = torch.zeros(64, 64, 4)  # nothing painted
    script = {2: "stop"} if at_start else {2: {"background_image": image}, 4: "stop"}
    run = run_scripted(model, clip, vae, json.dumps(BRUSHES), "a field", blank, T2, script,
                       background_image=image if at_start else None)
    expected = vae.encode(image).detach()
    assert torch.allclose(run.frames[-1], expected, atol=1e-5 * float(expected.abs().max()))


@pytest.mark.parametrize("cfg_type", ["none", "full", "self"])
def test_live_frames_equal_the_stream_samplers_frames(sd15_files, cfg_type):
    """One stream host: the live canvas and the Stream Sampler on the canvas' own regions output (same seed, slots,
    cfg) give the same frame latents, with the missing-negative rule, the negatives and the background prompt
    region alike (were: an encoded "" against the zeroed positive, and negatives processed without their positive)."""
    from semanticdraw.engine.live import parse_brushes
    from semanticdraw.nodes.canvas import canvas_outputs
    from semanticdraw.nodes.stream import SemanticDrawStreamSampler
    model, clip, vae = sd15_files
    run = run_scripted(model, clip, vae, json.dumps(BRUSHES), "a field", rgba(P0), T2, {2: "stop"}, seed=5,
                       cfg_type=cfg_type, guidance=1.7)
    regions, _, _ = canvas_outputs(clip, parse_brushes(json.dumps(BRUSHES)), "a field", rgba(P0), None, vae)
    frames = SemanticDrawStreamSampler.execute(
        model, regions, {"samples": torch.zeros(1, 4, 8, 8)}, seed=5, frame_count=1, t_index_list=T2,
        schedule_length=50, steps=4, scheduler="sgm_uniform", cfg_type=cfg_type, cfg=1.7, delta=1.0, frame_buffer=1,
        bootstrap_steps=1, bootstrap_mix_steps=1.0, leak_sensitivity=0.0, mask_type="continuous", cover_alpha=0.3,
        include_warmup=True, max_batch=64).result[0]["samples"]
    assert len(run.frames) == 2 and frames.shape == (2, 4, 8, 8)  # the warm-up frame and the first full one
    for live, stream in zip(run.frames, frames):
        assert torch.equal(live[0], stream), (live[0] - stream).abs().max()


def nearer_new(frame, old, new, cells) -> bool:
    """Whether a frame shows the edit inside `cells`: nearer the settled frame of the new scene than the old one."""
    return (frame - new)[..., cells].norm() < (frame - old)[..., cells].norm()


@pytest.mark.parametrize("progressive", [True, False])
def test_a_stroke_shows_in_the_next_frame_and_the_readout_says_when(sd15_files, progressive):
    """Issue 17 defect 3, in frames: over a background image (so a stroke's region changes the frame a lot on random
    weights) a stroke is measured visible when its cells are nearer the new settled frame than the old one. With the
    progressive display that is the first frame after the edit; without it, the T-th (T = 4). The status readout
    (latency_frames, latency_ms) reports the same frame and the same time as measured here. Sharp brushes (blur 0):
    the stroke's mask is on from the first slot (a blurred mask turns on at a later slot, ALGORITHM.md 2.5)."""
    model, clip, vae = sd15_files
    T = 4
    script = {T: {"painting": rgba(P1)}, 2 * T: "stop"}
    run = run_scripted(model, clip, vae, json.dumps(SHARP), "a field", rgba(P0), T4, script,
                       background_image=ramp_image(), progressive=progressive)
    f = run.frames
    cells = torch.zeros(8, 8, dtype=torch.bool)
    cells[0:4, 4:8] = True
    old, new = f[T - 1], f[2 * T - 1]
    visible = next(n for n in range(T + 1, 2 * T + 1) if nearer_new(f[n - 1], old, new, cells))  # frame number
    measured_frames = visible - T  # frames from the edit to the first that shows it (the edit applies at T + 1)
    assert measured_frames == (1 if progressive else T)
    # recorded as frame `visible` went out: it shows in the next frame's status, or the final one
    readout = run.statuses[visible] if visible < len(run.statuses) else run.session.status()
    assert readout["latency_frames"] == measured_frames
    measured_ms = (run.sent_at[visible - 1] - run.edits_at[T]) * 1000
    assert abs(readout["latency_ms"] - measured_ms) < 100, (readout["latency_ms"], measured_ms)
