import pytest
import torch

from engine import SemanticDrawInputError, eps_space, flow_space, regional_x0
from engine.sampling import sample
from engine.scene import DEFAULT_TARGET, Text
from engine.stream import RECENT_PROMPTS, PromptKey, StreamConfig, StreamEngine, StreamRegion
from toys import ConvDenoiser

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
    assert len(prompts.calls) == 4  # 3 positives + the shared empty negative, encoded once
    moved = [StreamRegion(r.prompt, torch.roll(r.mask, 5, dims=1), mask_blur_std=4.0) for r in regions(3)]
    stream.update(regions=moved)
    stream.step()
    assert len(prompts.calls) == 4
    edited = list(moved)
    edited[2] = StreamRegion("something else", moved[2].mask, mask_blur_std=4.0)
    stream.update(regions=edited)
    stream.step()
    assert prompts.calls[4:] == [PromptKey("something else", Text(DEFAULT_TARGET), 0.95)]


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
    with pytest.raises(SemanticDrawInputError, match="regions: no regions"):
        stream.update(regions=[])


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
    assert (stream.encodes, stream.mask_processings) == (4, 3)
    moved = regions(3)
    moved[0] = StreamRegion(moved[0].prompt, torch.roll(moved[0].mask, 5, dims=1), mask_blur_std=4.0)
    stream.update(regions=moved)
    stream.step()
    assert (stream.encodes, stream.mask_processings) == (4, 4)  # only the moved mask
    stream.step()
    assert (stream.encodes, stream.mask_processings) == (4, 4)  # nothing changed: nothing redone
    moved[1] = StreamRegion("new words", moved[1].mask, mask_blur_std=4.0)
    stream.update(regions=moved)
    stream.step()
    assert (stream.encodes, stream.mask_processings) == (5, 4)  # only the changed prompt


def test_session_keeps_recent_prompts_encoded_and_forgets_older_ones():
    """A long live session types many prompts: the encode cache is bounded (RECENT_PROMPTS beyond the scene's), so a
    recent prompt comes back without an encode and one from long ago is encoded again."""
    stream, _, _, _ = toy_stream(T=2, p=3, cover_alpha=0.0)
    stream.step()
    edited = regions(3)
    for n in range(RECENT_PROMPTS + 10):
        edited[1] = StreamRegion(f"words {n}", edited[1].mask, mask_blur_std=4.0)
        stream.update(regions=edited)
        stream.step()
    encodes = stream.encodes
    for n, cost in ((RECENT_PROMPTS + 5, 0), (0, 1)):
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
    ("a beach", None, "a beach", ""),
    ("a beach", "blurry", "a beach", "blurry")])
def test_prompt_strength_targets_positive_and_negative(background, negative, target, target_negative):
    stream, _, prompts, _ = toy_stream(T=2, p=1)
    stream.update(regions=[StreamRegion("r0", regions(1)[0].mask, negative="ugly", prompt_strength=0.6)],
                  background_prompt=background, background_negative=negative)
    stream.step()
    assert PromptKey("r0", target, 0.6) in prompts.calls
    assert PromptKey("ugly", target_negative, 0.6) in prompts.calls
    assert all(k.strength == 1.0 for k in prompts.calls if k.prompt in (background, negative))
