"""Regional denoising: latent pre-averaging (section 4), mask-centering bootstrapping (5), tiling (6).

The model is reached through a `Denoiser`: noisy latents `[B, C, h, w]`, per-sample sigma `[B]`
and per-sample conditioning index `[B]` (region number) in, denoised `x0` out. Every region of
every view (and every stream slot) goes through ONE call per step.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import torch

from .errors import SemanticDrawInputError
from .masks import ProcessedMasks
from .views import View, get_views, view_weights

Denoiser = Callable[..., torch.Tensor]  # (x [B, C, h, w], sigma [B], cond_index [B][, stock_noise [B]]) -> x0
# A denoiser with `accepts_shifts = True` also gets `shifts=[B, 2]`, the (dy, dx) roll that bootstrap centring
# (section 5.2) applied to each sample, so that it can evaluate conditioning tied to canvas positions un-rolled.


def _per_sample(sigma: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return sigma.to(like).reshape(-1, *([1] * (like.ndim - 1)))


@dataclass(frozen=True)
class NoiseSpace:
    """How the sampler's sigma relates to noise: `level(sigma)` in [0, 1], `add_noise(x0, noise, sigma)`, and
    `input_scale(sigma)`, the factor that brings a noisy latent to the model's input scale (the reference's
    latent scale: `alpha * x0 + beta * noise` for eps/v models, the latent itself for flow models)."""

    level: Callable[[torch.Tensor], torch.Tensor]
    add_noise: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
    input_scale: Callable[[torch.Tensor], torch.Tensor]


def eps_space() -> NoiseSpace:
    """Eps and v-prediction models in k-diffusion form: `x = x0 + sigma * n`, level `sqrt(1 - alphabar)`."""
    return NoiseSpace(level=lambda s: s / torch.sqrt(1 + s * s),
                      add_noise=lambda x0, n, s: x0 + _per_sample(s, x0) * n,
                      input_scale=lambda s: 1 / torch.sqrt(1 + s * s))


def flow_space() -> NoiseSpace:
    """Rectified-flow models (SD3, Flux): `x = (1 - sigma) * x0 + sigma * n`, level `sigma`."""
    return NoiseSpace(level=lambda s: s.clone(),
                      add_noise=lambda x0, n, s: (1 - _per_sample(s, x0)) * x0 + _per_sample(s, x0) * n,
                      input_scale=torch.ones_like)


def noise_levels(sigmas: torch.Tensor, space: NoiseSpace) -> torch.Tensor:
    """Noise levels `n_0 .. n_K` of a schedule, with `n_K = 0` (section 2.5)."""
    levels = space.level(sigmas.float().cpu()).clamp(0, 1)
    levels[-1] = 0.0
    return levels


@dataclass(frozen=True)
class RegionalPlan:
    """Everything that stays fixed while sampling one canvas with `p` regions.

    background: clean latent `[1 or S, C, h, w]` that fills `w_bg` (image or white), or None when a
                background prompt region covers those pixels or there are none (`engine.scene`).
    white:      clean latent of an all-white image `[1, C, h, w]`, needed when bootstrapping.
    active:     per view, the regions whose mask reaches into it (only those are evaluated).
    """

    masks: ProcessedMasks
    views: list[View]
    weights: torch.Tensor
    active: list[torch.Tensor]
    background: Optional[torch.Tensor] = None
    white: Optional[torch.Tensor] = None
    bootstrap_steps: int = 1
    bootstrap_mix_steps: float = 1.0
    leak: float = 0.2
    num_steps: int = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "num_steps", self.masks.quantized.shape[1])


def make_plan(masks: ProcessedMasks, *, tile: int = 0, background: Optional[torch.Tensor] = None,
              white: Optional[torch.Tensor] = None, bootstrap_steps: int = 1, bootstrap_mix_steps: float = 1.0,
              leak: float = 0.2) -> RegionalPlan:
    """Build a `RegionalPlan`; `tile` is the window size in latent pixels (0 = never tile)."""
    if bootstrap_steps < 0:
        raise SemanticDrawInputError("bootstrap_steps", f"must be >= 0, got {bootstrap_steps}")
    if bootstrap_steps > 0 and white is None:
        raise SemanticDrawInputError("white", "bootstrapping needs the latent of a white image")
    if leak < 0:
        raise SemanticDrawInputError("leak_sensitivity", f"must be >= 0, got {leak}")
    h, w = masks.support.shape[-2:]
    if background is not None and tuple(background.shape[-2:]) != (h, w):
        raise SemanticDrawInputError("background", f"latent is {background.shape[-1]}x{background.shape[-2]} "
                                                   f"but the canvas latent is {w}x{h}")
    views = get_views(h, w, tile)
    on = masks.support[:, 0] > 0  # [p, h, w]
    active = [torch.nonzero(on[:, y0:y1, x0:x1].flatten(1).any(1)).flatten() for y0, y1, x0, x1 in views]
    return RegionalPlan(masks=masks, views=views, weights=view_weights(views, h, w), active=active,
                        background=background, white=white, bootstrap_steps=bootstrap_steps,
                        bootstrap_mix_steps=bootstrap_mix_steps, leak=leak)


def centering_shifts(masks: torch.Tensor) -> torch.Tensor:
    """Integer `(dy, dx)` per mask `[..., 1, h, w]` that moves its bbox centre to the canvas centre.

    Empty masks get `(0, 0)`. Returns `[..., 2]` long.
    """
    on = masks[..., 0, :, :] > 0
    shifts = []
    for dim in (-2, -1):
        line = on.any(dim=-1 if dim == -2 else -2)  # rows (dim -2) or columns (dim -1) that are on
        n = line.shape[-1]
        idx = torch.arange(n, device=line.device)
        first = torch.where(line, idx, n).amin(-1)
        last = torch.where(line, idx, -1).amax(-1)
        centre = (first + last).float() / 2
        shift = torch.floor((n - 1) / 2 - centre + 0.5).long()
        shifts.append(torch.where(line.any(-1), shift, torch.zeros_like(shift)))
    return torch.stack(shifts, -1)


def roll2d(x: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """`torch.roll` of `[..., C, h, w]` by a different `(dy, dx)` per leading index, in one gather."""
    *lead, C, h, w = x.shape
    ys = (torch.arange(h, device=x.device) - shifts[..., 0:1]) % h  # [..., h]
    xs = (torch.arange(w, device=x.device) - shifts[..., 1:2]) % w  # [..., w]
    flat = (ys[..., :, None] * w + xs[..., None, :]).reshape(*lead, 1, h * w).expand(*lead, C, h * w)
    return x.reshape(*lead, C, h * w).gather(-1, flat).reshape(x.shape)


def regional_x0(x: torch.Tensor, sigma: torch.Tensor, step, plan: RegionalPlan, denoise: Denoiser,
                space: NoiseSpace, bootstrap_noise: Optional[torch.Tensor] = None,
                stock_noise: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Pre-averaged denoised prediction for `S` canvases `x: [S, C, h, w]` (sections 4-6).

    `sigma` and `step` are scalars or per-sample `[S]` (stream slots sit at different steps).
    `bootstrap_noise` noises the bootstrap background (5.1); it defaults to zeros.
    `stock_noise` `[S, C, h, w]`, when given, is cropped and rolled with each region sample and
    passed to `denoise` as a fourth argument (residual CFG of the stream, section 8.4).
    A denoiser that `accepts_shifts` gets each sample's bootstrap roll as `shifts=[B, 2]` while bootstrapping.
    """
    S, C, h, w = x.shape
    sigma = torch.as_tensor(sigma, device=x.device, dtype=torch.float32).reshape(-1).expand(S)
    step = torch.as_tensor(step, device=x.device, dtype=torch.long).reshape(-1).expand(S)
    if int(step.max()) >= plan.num_steps:
        raise SemanticDrawInputError("step", f"{int(step.max())} is beyond the {plan.num_steps} planned steps")
    masks = plan.masks.quantized.to(x)[:, step.cpu()]  # [p, S, 1, h, w]
    boot = step < plan.bootstrap_steps
    any_boot = bool(boot.any())
    if any_boot:
        noise = torch.zeros_like(x) if bootstrap_noise is None else bootstrap_noise.to(x)
        white = plan.white.to(x)
        r = (plan.bootstrap_mix_steps - step.float()).clamp(0, 1).to(x).view(S, 1, 1, 1)
        scale = space.input_scale(sigma).to(x).view(S, 1, 1, 1)
        # 5.1: B_k = r * white + (1 - r) * (z_bg or x_k), noised to level k; like the reference, x_k (taken in
        # the model's input scale, the reference's latent scale) is re-noised too.
        base = plan.background.to(x).expand(S, -1, -1, -1) if plan.background is not None else scale * x
        boot_noisy = space.add_noise(r * white + (1 - r) * base, noise, sigma)
        boot_ref = scale * boot_noisy  # the noised B_k as the reference holds it, for the leak distance (5.4)
        boot_view = boot.view(1, S, 1, 1, 1)

    inputs, sigmas, conds, stocks, rolls, per_view = [], [], [], [], [], []
    for v, (y0, y1, x0, x1) in enumerate(plan.views):
        regions = plan.active[v].to(x.device)
        m = masks[regions][..., y0:y1, x0:x1]  # [a, S, 1, th, tw]
        xin = x[None, :, :, y0:y1, x0:x1].expand(len(regions), -1, -1, -1, -1)
        shifts = None
        if any_boot:
            mixed = (1 - m) * boot_noisy[None, :, :, y0:y1, x0:x1] + m * xin
            shifts = centering_shifts(m) * boot_view[..., 0, 0]  # only bootstrapped samples move
            xin = roll2d(torch.where(boot_view, mixed, xin), shifts)
            rolls.append(shifts.reshape(-1, 2))
        inputs.append(xin.reshape(-1, C, y1 - y0, x1 - x0))
        if stock_noise is not None:
            st = stock_noise.to(x)[None, :, :, y0:y1, x0:x1].expand(len(regions), -1, -1, -1, -1)
            stocks.append((st if shifts is None else roll2d(st, shifts)).reshape(-1, C, y1 - y0, x1 - x0))
        sigmas.append(sigma.repeat(len(regions)))
        conds.append(regions.repeat_interleave(S))
        per_view.append((m, shifts))
    args = (torch.cat(inputs), torch.cat(sigmas), torch.cat(conds)) + ((torch.cat(stocks),) if stocks else ())
    if len(args[0]) == 0:  # no region reaches the canvas: the background latent fills it (engine.scene)
        out = args[0]
    else:
        out = denoise(*args, **({"shifts": torch.cat(rolls)} if rolls and getattr(denoise, "accepts_shifts", False)
                                else {})).to(x)

    num = torch.zeros_like(x)
    den = x.new_zeros(S, 1, h, w)
    parts, start = [], 0
    for v, ((y0, y1, x0, x1), (m, shifts)) in enumerate(zip(plan.views, per_view)):
        a = m.shape[0]
        o = out[start:start + a * S].reshape(a, S, C, y1 - y0, x1 - x0)
        start += a * S
        weight = m
        if any_boot:
            o = roll2d(o, -shifts)
            if plan.leak > 0:
                dist = (o - boot_ref[None, :, :, y0:y1, x0:x1]).pow(2).mean(2, keepdim=True)
                weight = torch.where(boot_view, m * (2 * torch.sigmoid(dist / plan.leak) - 1), m)
        weight = plan.weights[v].to(x) * weight
        den[..., y0:y1, x0:x1] += weight.sum(0)
        parts.append((weight, o))
    # section 4: normalise where weights sum below 1 (after leak suppression), as the reference does. Weights are
    # normalised before the sum, so a pixel that one region covers gets exactly that region's prediction (w / w = 1)
    safe = torch.where(den > 0, den, 1)
    for (y0, y1, x0, x1), (weight, o) in zip(plan.views, parts):
        num[..., y0:y1, x0:x1] += (weight / safe[..., y0:y1, x0:x1] * o).sum(0)
    x0_pred = num
    if plan.background is not None:
        w_bg = (1 - den).clamp(0, 1)
        x0_pred = (1 - w_bg) * x0_pred + w_bg * plan.background.to(x)
    return x0_pred
