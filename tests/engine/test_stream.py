import pytest
import torch

from engine import SemanticDrawInputError, eps_space, flow_space, regional_x0
from engine.sampling import sample
from engine.scene import DEFAULT_TARGET, Text, Zeroed
from engine.stream import RECENT_PROMPTS, PromptKey, StreamConfig, StreamEngine, StreamRegion
from toys import ConvDenoiser, PixelDenoiser

C, h, w = 4, 8, 8
H, W = 64, 64
LCM = torch.tensor([14.6, 8.0, 3.5, 1.4, 0.5, 0.2])
WHITE = torch.full((1, C, h, w), 0.7)
EPS = eps_space()


class Prompts:
    """Encodes prompt keys to cond ids for a toy model; counts encoder calls."""

    def __init__(self):
        self.calls: list[PromptKey] = []
        self.ids: dict = {}

    def __call__(self, key: PromptKey):
        self.calls.append(key)
        return self.ids.setdefault(key, len(self.ids) % 8)


def toy_stream(T=3, p=2, f=1, cfg_type="none", seed=0, space=None, model=None, **kw):
    model = model or ConvDenoiser(num_conds=8)
    prompts = Prompts()
    calls = []

    def denoiser_for(conds):
        table = torch.tensor(conds)

        def denoise(x, s, c, *stock):
            calls.append(x.shape[0])
            return model(x, s, table[c])
        return denoise

    sig = LCM[:T] if space is None else torch.linspace(1.0, 0.2, T)
    config = StreamConfig(sigmas=sig, frame_buffer=f, cfg_type=cfg_type, **kw)
    stream = StreamEngine(denoiser_for, prompts, space or EPS, (C, h, w), (H, W), config, white=WHITE, seed=seed)
    stream.update(regions=regions(p))
    return stream, model, prompts, calls


def regions(p, prompt="r", blur=4.0):
    out = []
    for i in range(p):
        m = torch.zeros(H, W)
        m[:, i * W // p: (i + 1) * W // p + 8] = 1
        out.append(StreamRegion(f"{prompt}{i}", m, mask_blur_std=blur))
    return out


def guided(model, table, cfg, space):
    """Residual / full CFG of section 8.4 written out: `u + g * (c - u)` on x0 predictions, where the uncond
    prediction `u` of `self` / `initialize` is the x0 implied by the noise `delta * stock` (x = a*x0 + b*n)."""
    n = len(table) // 2

    def denoise(x, s, c, *stock):
        cond = model(x, s, table[c])
        if cfg.cfg_type == "none":
            return cond
        real = model(x, s, table[c + n])
        if cfg.cfg_type == "full":
            return real + cfg.guidance * (cond - real)
        sv = s.view(-1, 1, 1, 1)
        a = torch.ones_like(sv) if space is EPS else 1 - sv
        implied = (x - sv * cfg.delta * stock[0]) / a.clamp_min(1e-3)
        uncond = torch.where(a > 1e-3, implied, cond)  # no signal at all (flow sigma 1): nothing to guide
        if cfg.cfg_type == "initialize":
            uncond = torch.where((s >= cfg.sigmas[0] * (1 - 1e-5)).view(-1, 1, 1, 1), real, uncond)
        return uncond + cfg.guidance * (cond - uncond)
    return denoise


def still_result(stream, model, j=0):
    """The non-streamed result (sections 4/5) with the stream's schedule, noises and conditionings."""
    cfg = stream.config
    denoise = guided(model, torch.tensor(stream.conditionings()), cfg, stream.space)
    plan = stream.plan()
    n = stream.init_noise[:, j:j + 1]
    residual = cfg.cfg_type in ("self", "initialize")
    fn = lambda x, s, k: regional_x0(x, s, k, plan, denoise, stream.space, bootstrap_noise=n[k],
                                     stock_noise=n[k] if residual else None)
    sigmas = torch.cat([cfg.sigmas, torch.zeros(1)])
    return sample(fn, n[0], sigmas, stream.space, step_noises=[n[k + 1] for k in range(len(cfg.sigmas) - 1)] + [None])


@pytest.mark.parametrize("T", [2, 4, 5])
@pytest.mark.parametrize("p", [1, 3])
@pytest.mark.parametrize("f", [1, 2])
def test_streamed_frames_equal_still_result_after_warmup(T, p, f):
    stream, model, _, _ = toy_stream(T=T, p=p, f=f, bootstrap_steps=1, leak=0.2)
    frames = [stream.step() for _ in range(T + 2)]
    for j in range(f):
        ref = still_result(stream, model, j)[0]
        for frame in frames[T - 1:]:
            assert (frame[j] - ref).abs().max() <= 1e-4


@pytest.mark.parametrize("cfg_type", ["self", "initialize", "full"])
def test_parity_holds_with_residual_and_full_cfg(cfg_type):
    stream, model, _, _ = toy_stream(T=4, p=2, cfg_type=cfg_type, guidance=1.5, delta=0.8)
    frames = [stream.step() for _ in range(5)]
    ref = still_result(stream, model)[0]
    assert (frames[-1][0] - ref).abs().max() <= 1e-4


def test_parity_for_flow_models():
    stream, model, _, _ = toy_stream(T=4, p=3, space=flow_space(), mask_type="discrete")
    frames = [stream.step() for _ in range(4)]
    assert (frames[-1][0] - still_result(stream, model)[0]).abs().max() <= 1e-4


@pytest.mark.parametrize("cfg_type,factor", [("none", 1), ("self", 1), ("full", 2), ("initialize", None)])
@pytest.mark.parametrize("f", [1, 2])
def test_one_model_call_per_step_with_stream_batch(cfg_type, factor, f):
    T, p = 5, 3
    stream, _, _, calls = toy_stream(T=T, p=p, f=f, cfg_type=cfg_type)
    for _ in range(3):
        stream.step()
    expected = T * f * p * factor if factor else T * f * p + f * p
    assert calls == [expected] * 3


def test_edit_reaches_newest_slot_next_call_and_output_within_T():
    T = 4
    stream, model, prompts, _ = toy_stream(T=T, p=2)
    for _ in range(T):
        old = stream.step()
    seen = []
    inner = stream.denoiser_for
    stream.denoiser_for = lambda conds: (seen.append(list(conds)), inner(conds))[1]
    new = regions(2)
    new[1] = StreamRegion("changed", new[1].mask, mask_blur_std=4.0)
    stream.update(regions=new)
    outs = [stream.step() for _ in range(T)]
    new_id = prompts.ids[PromptKey("changed", Text(DEFAULT_TARGET), 0.95)]
    assert new_id in seen[0]  # the call right after the edit (all slots, the newest included) uses it
    ref = still_result(stream, model)[0]
    assert (outs[-1][0] - ref).abs().max() <= 1e-4  # fully in the output by frame n + T
    assert (outs[0] - old).abs().max() > 1e-3  # and already visible in the next frame, partially
    assert (outs[0][0] - ref).abs().max() > 1e-3


def test_mask_edit_reencodes_nothing_and_prompt_edit_only_that_prompt():
    stream, _, prompts, _ = toy_stream(T=2, p=3)
    stream.step()
    assert len(prompts.calls) == 6  # 3 positives + their missing negatives (each the zeroed positive)
    moved = [StreamRegion(r.prompt, torch.roll(r.mask, 5, dims=1), mask_blur_std=4.0) for r in regions(3)]
    stream.update(regions=moved)
    stream.step()
    assert len(prompts.calls) == 6
    edited = list(moved)
    edited[2] = StreamRegion("something else", moved[2].mask, mask_blur_std=4.0)
    stream.update(regions=edited)
    stream.step()
    positive = PromptKey("something else", Text(DEFAULT_TARGET), 0.95)
    assert prompts.calls[6:] == [positive, PromptKey(Zeroed("something else"), Text(""), 0.95, positive)]


def test_background_prompt_change_reblends_region_prompts():
    stream, _, prompts, _ = toy_stream(T=2, p=1)
    stream.step()
    stream.update(background_prompt="a beach")
    stream.step()
    assert PromptKey("r0", "a beach", 0.95) in prompts.calls[2:]


def test_reset_reproduces_frames_and_seeds_differ():
    stream, _, _, _ = toy_stream(T=3, p=2, seed=7)
    a = torch.stack([stream.step() for _ in range(4)])
    stream.reset()
    b = torch.stack([stream.step() for _ in range(4)])
    stream.reset(seed=8)
    c = torch.stack([stream.step() for _ in range(4)])
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 1e-3


def test_flush_fills_the_pipeline():
    stream, model, _, _ = toy_stream(T=3, p=2)
    frames = stream.flush()
    assert frames.shape == (3, 1, C, h, w)
    assert (frames[-1, 0] - still_result(stream, model)[0]).abs().max() <= 1e-4


def test_bad_stream_input_is_named():
    with pytest.raises(SemanticDrawInputError, match="sigmas: slot sigmas must be positive and strictly decreasing"):
        StreamConfig(sigmas=torch.tensor([1.0, 2.0]))
    with pytest.raises(SemanticDrawInputError, match="cfg_type"):
        StreamConfig(sigmas=LCM[:2], cfg_type="double")
    stream, _, _, _ = toy_stream(T=5, p=3, f=2, max_batch=16)
    with pytest.raises(SemanticDrawInputError, match="stream batch of 30 samples .* exceeds the limit of 16"):
        stream.step()
    stream.update(regions=[])
    with pytest.raises(SemanticDrawInputError, match="regions: no regions given.*background prompt or image"):
        stream.step()


@pytest.mark.parametrize("space,sig", [(EPS, torch.tensor([14.6, 1.4])), (flow_space(), torch.tensor([0.8, 0.4]))])
@pytest.mark.parametrize("cfg_type", ["self", "initialize"])
def test_residual_cfg_frame_equals_the_formula_written_out(space, sig, cfg_type):
    """T = 2 slots, one full-canvas region: the second frame is slot 1's guided prediction from slot 0's, with
    the uncond prediction implied by the stored noise `delta * n_k` (StreamDiffusion's residual CFG) and
    the next-slot noising by `init_noise`, all written out here without the engine's helpers."""
    g, delta = 1.7, 0.6
    model = ConvDenoiser(num_conds=8)
    prompts = Prompts()
    full = StreamRegion("r", torch.ones(H, W), mask_blur_std=0.0, prompt_strength=1.0)
    table = {}

    def denoiser_for(conds):
        table["ids"] = torch.tensor(conds)
        return lambda x, s, c, *stock: model(x, s, table["ids"][c])
    stream = StreamEngine(denoiser_for, prompts, space, (C, h, w), (H, W),
                          StreamConfig(sigmas=sig, cfg_type=cfg_type, guidance=g, delta=delta, bootstrap_steps=0),
                          white=WHITE)
    stream.update(regions=[full])
    frames = [stream.step() for _ in range(2)]
    pos, neg = table["ids"].tolist()
    n0, n1 = stream.init_noise[0], stream.init_noise[1]

    def noised(x0, n, s):  # x = a*x0 + b*n
        return x0 + s * n if space is EPS else (1 - s) * x0 + s * n

    def guide(x, s, n, real_uncond):
        st = torch.full((1,), float(s))
        cond = model(x, st, torch.tensor([pos]))
        a = 1.0 if space is EPS else 1 - float(s)
        uncond = model(x, st, torch.tensor([neg])) if real_uncond else (x - float(s) * delta * n) / a
        return uncond + g * (cond - uncond)
    x0_slot0 = guide(noised(torch.zeros_like(n0), n0, sig[0]), sig[0], n0, cfg_type == "initialize")
    expected = guide(noised(x0_slot0, n1, sig[1]), sig[1], n1, False)
    assert (frames[1] - expected).abs().max() <= 1e-4
    assert (frames[1] - model(noised(x0_slot0, n1, sig[1]), sig[1:], torch.tensor([pos]))).abs().max() > 1e-2


def test_session_counts_lazy_encodes_and_mask_processings():
    stream, _, prompts, _ = toy_stream(T=2, p=3, cover_alpha=0.0)
    stream.step()
    assert (stream.encodes, stream.mask_processings) == (6, 3)
    moved = regions(3)
    moved[0] = StreamRegion(moved[0].prompt, torch.roll(moved[0].mask, 5, dims=1), mask_blur_std=4.0)
    stream.update(regions=moved)
    stream.step()
    assert (stream.encodes, stream.mask_processings) == (6, 4)  # only the moved mask
    stream.step()
    assert (stream.encodes, stream.mask_processings) == (6, 4)  # nothing changed: nothing redone
    moved[1] = StreamRegion("new words", moved[1].mask, mask_blur_std=4.0)
    stream.update(regions=moved)
    stream.step()
    assert (stream.encodes, stream.mask_processings) == (8, 4)  # only the changed prompt (and its zeroed negative)


def test_session_keeps_recent_prompts_encoded_and_forgets_older_ones():
    """A long live session types many prompts: the encode cache is bounded (RECENT_PROMPTS beyond the scene's), so a
    recent prompt comes back without an encode and one from long ago is encoded again."""
    stream, _, _, _ = toy_stream(T=2, p=3, cover_alpha=0.0)
    stream.step()
    edited = regions(3)
    for n in range(RECENT_PROMPTS // 2 + 10):
        edited[1] = StreamRegion(f"words {n}", edited[1].mask, mask_blur_std=4.0)
        stream.update(regions=edited)
        stream.step()
    encodes = stream.encodes
    for n, cost in ((RECENT_PROMPTS // 2 + 5, 0), (0, 2)):  # a prompt and its zeroed negative: two keys
        edited[1] = StreamRegion(f"words {n}", edited[1].mask, mask_blur_std=4.0)
        stream.update(regions=edited)
        stream.step()
        assert stream.encodes == encodes + cost
        encodes = stream.encodes


def test_session_reprocesses_the_masks_a_moved_mask_covers():
    stream, _, _, _ = toy_stream(T=2, p=3, cover_alpha=0.3)
    stream.step()
    moved = regions(3)
    moved[2] = StreamRegion(moved[2].prompt, torch.roll(moved[2].mask, 5, dims=1), mask_blur_std=4.0)
    stream.update(regions=moved)
    stream.step()
    assert stream.mask_processings == 3 + 3  # the last mask covers both earlier ones
    moved[0] = StreamRegion(moved[0].prompt, torch.roll(moved[0].mask, 3, dims=1), mask_blur_std=4.0)
    stream.update(regions=moved)
    stream.step()
    assert stream.mask_processings == 6 + 1  # the first mask covers nothing


def test_stream_background_latent_fills_uncovered_pixels():
    stream, _, prompts, _ = toy_stream(T=3, p=1, bootstrap_steps=0, mask_type="discrete")
    left = torch.zeros(H, W)
    left[:, : W // 2] = 1
    background = torch.randn(1, C, h, w)
    stream.update(regions=[StreamRegion("r0", left, mask_blur_std=0.0)], background_latent=background)
    frame = [stream.step() for _ in range(3)][-1]
    assert torch.allclose(frame[..., w // 2:], background[..., w // 2:], atol=1e-6)
    assert not torch.allclose(frame[..., : w // 2], background[..., : w // 2], atol=1e-2)
    # with a background image and no background prompt, prompt strength blends toward the empty prompt
    assert PromptKey("r0", Text(""), 0.95) in prompts.calls


@pytest.mark.parametrize("background,negative,target,target_negative", [
    (None, None, Text(DEFAULT_TARGET), Text("")),
    ("a beach", None, "a beach", Zeroed("a beach")),
    ("a beach", "blurry", "a beach", "blurry")])
def test_prompt_strength_targets_positive_and_negative(background, negative, target, target_negative):
    stream, _, prompts, _ = toy_stream(T=2, p=1)
    stream.update(regions=[StreamRegion("r0", regions(1)[0].mask, negative="ugly", prompt_strength=0.6)],
                  background_prompt=background, background_negative=negative)
    stream.step()
    assert PromptKey("r0", target, 0.6) in prompts.calls
    assert PromptKey("ugly", target_negative, 0.6, PromptKey("r0", target, 0.6)) in prompts.calls
    assert all(k.strength == 1.0 for k in prompts.calls if k.prompt in (background, negative))


# -- progressive display (ALGORITHM.md 8.8) ------------------------------------------------------------------------

def slot_x0(stream, model, k, j=0):
    """The x0 that slot `k` predicts for a latent that entered slot 0 with the current scene (section 8.2 written
    out for one latent: noised at slot 0, each slot's x0 re-noised to the next slot with its fixed noise)."""
    cfg = stream.config
    denoise = guided(model, torch.tensor(stream.conditionings()), cfg, stream.space)
    plan, n = stream.plan(), stream.init_noise[:, j:j + 1]
    x = stream.space.add_noise(torch.zeros_like(n[0]), n[0], cfg.sigmas[:1])
    for i in range(k + 1):
        x0 = regional_x0(x, cfg.sigmas[i], i, plan, denoise, stream.space, bootstrap_noise=n[i])
        if i < k:
            x = stream.space.add_noise(x0, n[i + 1], cfg.sigmas[i + 1:i + 2])
    return x0


def halves(stroke: bool):
    """Left half region 0, right half region 1; the stroke paints region 1 over a box of region 0 (latent cells
    y 2..4, x 1..3: 8-pixel aligned, blur 0, so exactly those cells change)."""
    left = torch.zeros(H, W)
    left[:, : W // 2] = 1
    right = 1 - left
    if stroke:
        right[16:40, 8:32] = 1
    touched = torch.zeros(h, w, dtype=torch.bool)
    touched[2:5, 1:4] = stroke
    return [StreamRegion("r0", left, mask_blur_std=0.0), StreamRegion("r1", right, mask_blur_std=0.0)], touched


@pytest.mark.parametrize("f", [1, 2])
def test_progressive_display_of_a_static_scene_is_the_plain_output(f):
    plain, model, _, _ = toy_stream(T=4, p=3, f=f, bootstrap_steps=1)
    progressive, _, _, _ = toy_stream(T=4, p=3, f=f, bootstrap_steps=1, model=model, progressive=True)
    for _ in range(6):
        assert torch.equal(progressive.step(), plain.step())
    assert progressive.shown_edit == plain.shown_edit == progressive.edits == 1


def test_progressive_display_shows_an_edit_at_the_next_frame_and_sharpens_it_slot_by_slot():
    """Invariants of 8.8: an edited pixel shows a prediction made with its new scene in the very next frame (slot
    0's), then slot k's at the k-th frame, and the output slot's once the edit crossed all slots; the other pixels
    show the plain output all along. `shown_edit` says which frame first shows the edit in full: the next one here,
    the T-th one in the plain stream."""
    T = 4
    old, _ = halves(False)
    new, touched = halves(True)
    plain, model, _, _ = toy_stream(T=T, p=2, bootstrap_steps=1)
    progressive, _, _, _ = toy_stream(T=T, p=2, bootstrap_steps=1, model=model, progressive=True)
    for s in (plain, progressive):
        s.update(regions=old)
        [s.step() for _ in range(T)]
    numbers = {plain.update(regions=new), progressive.update(regions=new)}
    assert numbers == {plain.edits + 1}
    edit = numbers.pop()
    for k in range(T):
        out, shown = plain.step(), progressive.step()
        expected = slot_x0(progressive, model, k)[0]
        assert (shown[0][:, touched] - expected[:, touched]).abs().max() <= 1e-4, k
        assert torch.equal(shown[0][:, ~touched], out[0][:, ~touched])
        assert progressive.shown_edit == edit
        assert plain.shown_edit == (edit if k == T - 1 else edit - 1)
        if k < T - 1:  # the plain output still shows a latent that entered with the old scene
            assert (out[0][:, touched] - expected[:, touched]).abs().max() > 1e-3
    assert torch.equal(shown, out)  # the edit crossed all slots: the progressive display is the plain output again
    assert (out[0] - still_result(plain, model)[0]).abs().max() <= 1e-4


def test_a_soft_stroke_shows_from_the_first_slot_its_mask_reaches():
    """A region at mask strength 0.9 is off at the first two slots' noise levels (section 2.5: continuous masks grow
    as noise falls) and on from slot 2. A latent that was at or before slot 2 when the stroke applied has taken all
    its steps there with the new scene, so the very next frame shows slot 2's prediction (not slot 0's, which is
    blind to the stroke), the output slot's one frame later; the plain stream shows it in full after T - 2 frames.
    Pixel-local model, no bootstrapping: the expected values are exact."""
    T = 4
    old, _ = halves(False)
    box = torch.zeros(H, W)
    box[16:40, 8:32] = 1
    cells = torch.zeros(h, w, dtype=torch.bool)
    cells[2:5, 1:4] = True
    new = old + [StreamRegion("stroke", box, mask_strength=0.9, mask_blur_std=0.0)]
    settings = dict(T=T, p=2, bootstrap_steps=0, cover_alpha=0.0, model=PixelDenoiser(num_conds=8))
    plain, model, _, _ = toy_stream(**settings)
    progressive, _, _, _ = toy_stream(**settings, progressive=True)
    for s in (plain, progressive):
        s.update(regions=old)
        [s.step() for _ in range(T)]
        s.update(regions=new)
    edit = plain.edits + 1
    out, shown = plain.step(), progressive.step()
    assert (shown[0][:, cells] - slot_x0(progressive, model, 2)[0][:, cells]).abs().max() <= 1e-5
    assert (shown[0][:, cells] - slot_x0(progressive, model, 0)[0][:, cells]).abs().max() > 1e-3
    assert (plain.shown_edit, progressive.shown_edit) == (edit - 1, edit)
    out, shown = plain.step(), progressive.step()
    assert (plain.shown_edit, progressive.shown_edit) == (edit, edit)
    assert torch.equal(shown, out)
    assert (out[0] - still_result(plain, model)[0]).abs().max() <= 1e-4


def test_a_prompt_change_touches_its_region_and_a_background_change_every_pixel():
    stream, _, _, _ = toy_stream(T=3, p=2, progressive=True)
    regions_now, _ = halves(False)
    stream.update(regions=regions_now)
    [stream.step() for _ in range(3)]
    renamed = [regions_now[0], StreamRegion("other", regions_now[1].mask, mask_blur_std=0.0)]
    stream.update(regions=renamed)
    stream.step()
    right = torch.zeros(h, w, dtype=torch.bool)
    right[:, w // 2:] = True
    assert torch.equal(stream.touched == stream.edits, right)
    stream.update(background_latent=torch.randn(1, C, h, w))
    stream.step()
    assert bool((stream.touched == stream.edits).all())


@pytest.mark.parametrize("grow", [True, False])
def test_painting_and_erasing_a_region_touch_exactly_the_pixels_painted_or_erased(grow):
    stream, _, _, _ = toy_stream(T=3, p=1, cover_alpha=0.0, progressive=True)
    small, large = torch.zeros(H, W), torch.zeros(H, W)
    small[:, :32] = 1
    large[:, :48] = 1
    masks = (small, large) if grow else (large, small)
    stream.update(regions=[StreamRegion("r", masks[0], mask_blur_std=0.0)])  # white background: no region
    [stream.step() for _ in range(3)]
    stream.update(regions=[StreamRegion("r", masks[1], mask_blur_std=0.0)])
    stream.step()
    band = torch.zeros(h, w, dtype=torch.bool)
    band[:, 4:6] = True  # latent columns 4 and 5: painted, or erased
    assert torch.equal(stream.touched == stream.edits, band)


def test_a_blank_canvas_is_its_background():
    """No region: a background latent fills the canvas (no model call), a background prompt is one region over it
    (section 4: its mask W_k is 1 everywhere); with neither there is nothing to draw."""
    stream, model, prompts, calls = toy_stream(T=3, p=1)
    background = torch.randn(1, C, h, w)
    stream.update(regions=[], background_latent=background)
    frames = [stream.step() for _ in range(3)]
    assert calls == [] and torch.equal(frames[-1], background)
    stream.update(background_latent=None, background_prompt="a field")
    frames = [stream.step() for _ in range(3)]
    assert calls == [3] * 3  # T slots of the one background region
    full = StreamRegion("a field", torch.ones(H, W), negative=Zeroed("a field"), mask_blur_std=0.0,
                        prompt_strength=1.0)
    alone, _, _, _ = toy_stream(T=3, p=1, model=model)
    alone.encode = prompts  # same prompt ids
    alone.update(regions=[full])
    assert torch.equal(frames[-1], [alone.step() for _ in range(3)][-1])
