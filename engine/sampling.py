"""Host-free sampling loops: used by tests, the stream engine and the standalone API.

Inside ComfyUI the host's own samplers step the latent; the engine only supplies `x0`.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch

from .regional import NoiseSpace

X0Fn = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]  # (x, sigma [S], step) -> x0


def lcm_step(x: torch.Tensor, x0: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor,
             noise: Optional[torch.Tensor], space: NoiseSpace) -> torch.Tensor:
    """LCM / few-step consistency step: re-noise `x0` to the next level with fresh noise."""
    if float(sigma_next) <= 0:
        return x0
    return space.add_noise(x0, noise, sigma_next.reshape(1).expand(x.shape[0]))


def euler_step(x: torch.Tensor, x0: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor,
               noise: Optional[torch.Tensor], space: NoiseSpace) -> torch.Tensor:
    """Deterministic Euler step in sigma space (eps, v and flow models alike)."""
    return x0 + (x - x0) * (sigma_next / sigma)


STEPS = {"lcm": lcm_step, "euler": euler_step}


def sample(x0_fn: X0Fn, noise: torch.Tensor, sigmas: torch.Tensor, space: NoiseSpace, *,
           step: str = "lcm", step_noises: Optional[Sequence[torch.Tensor]] = None,
           latent: Optional[torch.Tensor] = None, start: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Run `len(sigmas) - 1` steps from `latent` (zeros) noised to `sigmas[0]` with `noise`.

    `step_noises[k]` is the fresh noise the LCM step adds after step `k` (default: `noise`).
    `start`, when given, is the noisy latent at `sigmas[0]` itself (e.g. a max-denoise start).
    """
    step_fn = STEPS[step]
    S = noise.shape[0]
    x = start if start is not None else space.add_noise(torch.zeros_like(noise) if latent is None else latent, noise,
                                                        sigmas[0].expand(S))
    for k in range(len(sigmas) - 1):
        x0 = x0_fn(x, sigmas[k].expand(S), k)
        fresh = noise if step_noises is None else step_noises[k]
        x = step_fn(x, x0, sigmas[k], sigmas[k + 1], fresh, space)
    return x
