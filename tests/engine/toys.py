"""Tiny deterministic denoisers for engine tests."""
import torch


class PixelDenoiser:
    """Pixel-local toy model: `x0 = tanh(a_c * x + b_c) + 0.1 * sigma`, per conditioning index `c`.

    Counts calls and batch sizes so tests can check "one model call per step".
    """

    def __init__(self, num_conds: int = 8, channels: int = 4, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.a = torch.rand(num_conds, channels, generator=g) + 0.5
        self.b = torch.randn(num_conds, channels, generator=g)
        self.calls: list[int] = []

    def __call__(self, x, sigma, cond):
        self.calls.append(x.shape[0])
        a = self.a[cond][:, :, None, None]
        b = self.b[cond][:, :, None, None]
        return torch.tanh(a * x / (1 + sigma.view(-1, 1, 1, 1) ** 2).sqrt() + b) + 0.1 * sigma.view(-1, 1, 1, 1)


class ConvDenoiser(PixelDenoiser):
    """Non-local toy model (a 3x3 blur mixes neighbours), for bootstrapping/centering checks."""

    def __call__(self, x, sigma, cond):
        out = super().__call__(x, sigma, cond)
        k = torch.full((x.shape[1], 1, 3, 3), 1 / 9)
        return torch.nn.functional.conv2d(out, k, padding=1, groups=x.shape[1]) + 0.05 * x.mean((1, 2, 3), keepdim=True)


def lcm_sigmas(k: int = 4) -> torch.Tensor:
    return torch.cat([torch.linspace(14.6, 0.3, k), torch.zeros(1)])
