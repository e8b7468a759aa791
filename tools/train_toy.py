"""Train the toy-world checkpoint (issue 16, item 3): an SD3-shaped MMDiT with the hand-built CLIP-L of
`tools.toy_checkpoint` and the linear TAESD-shaped VAE of `tools.tiny_models`, that `CheckpointLoaderSimple` loads.

Data (`Data.batch`): the toy world as `tools.toy_world.sample_images` draws it (a tenth plain images "a green
background" or ""; objects of a colour on another plain colour, each shape, each area of `AREAS` equally likely, then
a position inside the canvas: cut objects are where `metrics.classify` misreads shapes; each caption attribute kept
with probability 0.7: "a red circle on a blue background", "a red thing", "a circle", ""), drawn directly at latent
resolution (16 latent pixels a side, 128 px; the VAE is linear per 8x8 block, so a latent pixel is
`2 * pinv(factors^T) (rgb - 0.5 - bias)`, what its encoder gives). Patch 2: each token outputs 2 x 2 x 16 = 64
values from a width of 192 (depth 3), so the model can cancel its input's noise exactly; with patch 4 (256 values
from 192) a quarter of the noise has no output to cancel it and stays in every picture as per-pixel noise (measured:
the depth-3 patch-4 run below). The MMDiT has no `pos_embed` buffer, so ComfyUI uses its sin-cos grid. Its
`context_embedder` is zero: the text enters through the pooled vector (`y`, adaLN), which the hand-built CLIP makes
the caption's roles; training then needs one context token instead of 77 (`OneContextToken`).
Loss: SD3's rectified flow (ComfyUI's CONST model, `x = (1 - s) x0 + s n`, the model predicts `n - x0` at timestep
`1000 s`), `s` drawn as SD3 samples it (shift 3 of a uniform `t`), against its exact minimiser
`E[n - x0 | x] = (x - E[x0 | x]) / s` (`Data.posterior_x0`: the data set is finite, so the posterior mean is a sum;
checked against brute force) instead of one sample's `n - x0`: the same optimum without the target's variance,
which dominates at high noise, where a picture's layout is decided. A `mix` share (0.3) of each batch are
composite canvases (`Data.composite`: what a regional sampler shows one region's prompt), their loss taken on x0
(weight `s^2`: off the data set the exact noise target grows like `1 / s`). Each caption's pooled vector comes with
0-12 unknown words added (`FILLERS`: the hand-built CLIP averages its roles over all tokens, so "photo, high quality"
weakens them). Fixed seed, fixed step count (`RECIPE`), two threads: AdamW with warm-up and cosine decay.

Measured (2026-12-04): the exact posterior mean itself, sampled as the gate samples (8 Euler steps, cfg 1, 24
captions), names every object's colour right and 90% (256 px) to 100% (128 px) of the shapes of objects of >= 10%:
what a perfect model of this data set reaches. With areas drawn per mask instead (small objects have more positions,
so 2% and 4.5% objects were most of the data) it drew only small objects, and cfg 3 against the plain background
saturates colours (purple on white comes out black: 62% right). One-sample targets (2026-12-03, depth 4, patch 4,
1684 steps; and an H200 sweep of depth, learning rate, logit-normal noise levels and 32-px-only batches at this
machine's step counts) gave 63-85% colours and 33-38% shapes (chance); exact targets with depth 3, patch 4 (2400
steps at 128 and 256 px) 46% colours, 45% shapes, every picture noisy. Depth 3, patch 2, no composites (1018 s):
backgrounds 100%, colours 62.5%, shapes 53%, and in the default workflow's layout the cabin and dog regions came out
0% their colour (a canvas of several colours was outside the one-object world). An H200 sweep at this machine's
step count (2026-12-04): composites with the noise-space loss reached losses in the hundreds (25-33% colours);
with the x0 loss, mix 0.15 / 0.3 / 0.5 gave 81 / 79 / 75% colours, 56 / 61 / 67% shapes, and every region of the
layout right with plain-colour prompts; depth 4 at mix 0.3 88% and 64% (too slow here: 1.7x a step). `RECIPE`
here (661 s, loss 0.19, fillers added): backgrounds 100%, colours 85%, shapes 55% (29 objects of >= 10%); without
the fillers 73% and 52%. At cfg 1.5 colours reach 92% (288 captions), shapes 58-61%: the gate's colour half holds
there, its shape half (80%) does NOT. Where shapes fail (2026-12-04, exact posterior mixed into the model's own
8-step run): the exact posterior down to s = 0.75 then the model gives 68% shapes, down to 0.5 gives 96%; the model
fits noised data (loss 0.07 at s = 0.5) but not the states of its own trajectory (0.8 at s = 0.5, 2.2 at 0.3): its
errors accumulate along its own path. Tried at this machine's 2-core budget (H200 sweeps, 96 captions, cfg 1):
bfloat16 matmuls (AMX: 1.5x a step at depth 3, 1.9x at depth 4) for more steps, depth 3-5, batch 32 / 64, EMA 0.999,
lr 1e-3: colours 65-86%, shapes 44-61%; a share of each batch on the model's own sampler states with exact targets
(on-policy): worse (colours 39-58%, shapes 30-47%; objects vanish: on off-data states the exact posterior prefers a
small object); input perturbation of 0.15-0.3 s (DDPM-IP): no change.
Which shapes fail (2026-12-04, 96 captions, cfg 1.5): squares, always. The committed weights draw 22 of 23 circles
and 20 of 24 triangles of >= 10% right and no square (21 read as circles): a square comes out as a round blob of the
right colour, place and size, not a square to a person either, so the 61% is circles and triangles. Given an
exact sampler's own states (s = 1 to 0.5), the model's x0 for "square" and for "circle" differ by at most 0.003
(mean square), while the exact posterior is already a sharp square at s = 0.9: the model has not learned the word.
Tried (CPU, 2026-12-04): the CLIP's shape roles 4x stronger (its pooled square-circle difference is 4% of the
vector), full recipe retrained: 87.5% / 61% (all roles 4x: 86.5% / 60%); fine-tunes of the committed weights,
600 steps: plain 92% / 61%, loss weighted 11x on the exact posterior's edges 95% / 69%, plus a loss on the
square-circle output difference at the same state 98% / 67.5% (2100 steps of it: 97% / 71%): colours and
triangles gain, squares stay at 0 in every run (about 130 squares).

    python tools/train_toy.py [--retrain] [--gate N] [--cfg 1.5]
"""
from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tools import inprocess, tiny_models  # noqa: E402
from tools.toy_world import (AREAS, COLOURS, KEEP, PLAIN_SHARE, SHAPES, caption_text, coin, colour_table,  # noqa: E402
                              draw, object_masks)

WEIGHTS = Path(__file__).with_name("toy_mmdit.safetensors")  # committed: `main --retrain` makes it again
RECIPE = dict(steps=2200, depth=3, patch=2, share32=0.0, mix=0.3)  # about 11 minutes on the 2-core machine (2 threads)
SHIFT = 3.0  # SD3's sampling shift (comfy.supported_models.SD3)


FULL = [(c, s, b) for c in COLOURS for s in SHAPES for b in COLOURS if b != c]  # the gate's captions
CAPTIONS = sorted({(c if kc else None, s if ks or (kb and not kc) else None, b if kb else None)
                   for c, s, b in FULL for kc in (0, 1) for ks in (0, 1) for kb in (0, 1)} |
                  {(None, None, b) for b in COLOURS}, key=lambda t: caption_text(*t))


def colour_latents() -> torch.Tensor:
    """`[8, 16]` model-space latent of each toy colour: what the linear VAE's encoder gives (`tiny_models._taesd`)."""
    import comfy.latent_formats
    f = comfy.latent_formats.SD3()
    factors, bias = torch.tensor(f.latent_rgb_factors), torch.tensor(f.latent_rgb_factors_bias)
    return 2.0 * (colour_table().float() - 0.5 - bias) @ torch.linalg.pinv(factors.T).T


FILLERS = (0, 2, 4, 8, 12)  # unknown words added to a caption: each dilutes the hand-built CLIP's pooled roles


def encode_captions(clip_sd: dict) -> torch.Tensor:
    """SD3 pooled conditioning `[len(FILLERS), N, 2048]` of `CAPTIONS`, each with `FILLERS[f]` unknown words added
    ("photo"), with ComfyUI's SD3 text path. The context is not needed: the context embedder is zero
    (`OneContextToken`)."""
    import comfy.text_encoders.sd3_clip as sd3_clip
    model = sd3_clip.sd3_clip(clip_l=True, clip_g=False, t5=False)()
    model.clip_l.load_state_dict(clip_sd)
    tok = sd3_clip.SD3Tokenizer()
    with torch.no_grad():
        return torch.stack([torch.cat([model.encode_token_weights(tok.tokenize_with_weights(
            (caption_text(*c) + " photo" * k).strip()))[1] for c in CAPTIONS]).float() for k in FILLERS])


def build_mmdit(depth: int, patch: int):
    """A fresh MMDiT as ComfyUI builds SD3 (hidden 64 * depth, context 4096 -> hidden, adm 2048, no pos_embed):
    DiT initialisation (xavier linears, zero adaLN modulation and output)."""
    import comfy.supported_models
    config = dict(inprocess.SD3_MMDIT, depth=depth, patch_size=patch, num_patches=None, pos_embed_max_size=None,
                  context_embedder_config={"target": "torch.nn.Linear",
                                           "params": {"in_features": 4096, "out_features": 64 * depth}})
    net = comfy.supported_models.SD3(config).get_model({}).diffusion_model.float()
    g = torch.Generator().manual_seed(0)
    for name, t in net.named_parameters():
        with torch.no_grad():
            if t.dim() >= 2:
                fan_out, fan_in = t.shape[0], t[0].numel()
                t.uniform_(-1, 1, generator=g).mul_(math.sqrt(6 / (fan_in + fan_out)))
            else:
                t.zero_()
            if "adaLN_modulation" in name or name.startswith(("final_layer.linear", "context_embedder")):
                t.zero_()
    return net.train()


class Data:
    """Random toy-world batches at latent resolution (`sizes` latent pixels a side) with their captions (indices into
    `CAPTIONS`), drawn as `tools.toy_world.sample_images` draws them (a `PLAIN_SHARE` of plain images, each caption
    attribute kept with probability `KEEP`), objects inside the canvas; and the exact posterior mean of that
    distribution."""

    def __init__(self, seed: int, sizes: tuple[int, ...] = (16, 32)):
        self.z, self.g = colour_latents(), torch.Generator().manual_seed(seed)
        # per size: all masks [M, P]; per shape and area, the rows of objects inside the canvas; per shape, the log
        # prior of each of its rows (areas equally likely, then positions: small objects have more of them)
        self.masks, self.rows, self.log_prior = {}, {}, {}
        for size in sizes:
            masks = object_masks(size)[0].float()
            area = torch.tensor(AREAS).repeat_interleave(size * size).repeat(len(SHAPES)) * size * size
            inside, per_area = masks.sum((1, 2)) >= 0.99 * area, size * size
            self.masks[size] = masks.flatten(1)
            rows = [[torch.nonzero(inside[(k * len(AREAS) + j) * per_area:][:per_area]).flatten()
                     + (k * len(AREAS) + j) * per_area for j in range(len(AREAS))] for k in range(len(SHAPES))]
            self.rows[size] = [[r for r in per_shape if len(r)] for per_shape in rows]  # (a 50% triangle fits no 16)
            self.log_prior[size] = [torch.cat([torch.full((len(r),), -math.log(len(per_shape) * len(r)))
                                               for r in per_shape]) for per_shape in self.rows[size]]
        self.index = {c: i for i, c in enumerate(CAPTIONS)}
        names = list(COLOURS)
        self.pairs = torch.tensor([(a, b) for a in range(len(names)) for b in range(len(names)) if a != b])  # [Q, 2]

    def batch(self, n: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        names, x0, idx = list(COLOURS), torch.empty(n, 16, size * size), []
        for i in range(n):
            bg = draw(self.g, len(names))
            if coin(self.g, PLAIN_SHARE):
                x0[i] = self.z[bg][:, None]
                idx.append(self.index[(None, None, names[bg] if coin(self.g, KEEP) else None)])
                continue
            fg, shape = (bg + 1 + draw(self.g, len(names) - 1)) % len(names), draw(self.g, len(SHAPES))
            rows = self.rows[size][shape][draw(self.g, len(self.rows[size][shape]))]
            m = self.masks[size][rows[draw(self.g, len(rows))]]
            x0[i] = self.z[bg][:, None] + (self.z[fg] - self.z[bg])[:, None] * m
            kept = [coin(self.g, KEEP) for _ in range(3)]
            kept[1] = kept[1] or (kept[2] and not kept[0])
            idx.append(self.index[tuple(w if k else None for w, k in zip((names[fg], SHAPES[shape], names[bg]), kept))])
        return x0.reshape(n, 16, size, size), torch.tensor(idx)

    def composite(self, x0: torch.Tensor, share: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Canvases as a regional sampler shows them to one region's prompt: for a `share` of the batch, the image
        inside a random rectangle or ellipse (10-70% of the canvas) over another image of the batch, which may carry
        a third one in a second shape. The caption stays the inner image's; the target stays the exact posterior
        mean of the toy world (`posterior_x0` is a function of any input), so several colours on one canvas, which
        the one-object world never shows, are in the inputs the model learns. Returns the canvases and which are
        composites."""
        n, size = len(x0), x0.shape[-1]
        out, t = x0.clone(), (torch.arange(size) + 0.5) / size
        mixed = torch.tensor([coin(self.g, share) for _ in range(n)])
        for i in torch.nonzero(mixed).flatten().tolist():
            canvas = x0[draw(self.g, n)].clone()
            for inner in (x0[draw(self.g, n)], x0[i]) if coin(self.g, 0.5) else (x0[i],):
                area = 0.1 + 0.6 * float(torch.rand(1, generator=self.g))
                aspect = math.exp(float(torch.rand(1, generator=self.g)) - 0.5)
                h, w = min(1.0, math.sqrt(area * aspect)), min(1.0, math.sqrt(area / aspect))
                u = torch.rand(2, generator=self.g).tolist()
                cy, cx = h / 2 + (1 - h) * u[0], w / 2 + (1 - w) * u[1]
                dy, dx = (t[:, None] - cy) / (h / 2), (t[None, :] - cx) / (w / 2)
                inside = dy.pow(2) + dx.pow(2) <= 1 if coin(self.g, 0.5) else (dy.abs() <= 1) & (dx.abs() <= 1)
                canvas = torch.where(inside, inner, canvas)
            out[i] = canvas
        return out, mixed

    def posterior_x0(self, xt: torch.Tensor, s: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """`E[x0 | xt, caption]` for `xt = (1 - s) x0 + s n` under `batch`'s distribution, by enumeration: every
        object image is `b + (a - b) m`, so its log-likelihood needs per mask only `sum_p m_p <z_k, xt_p>` per colour
        `k`, `sum m` and `sum m^2` (one matmul for all masks); plain images need `sum_p xt_p`."""
        n, size, names = len(idx), xt.shape[-1], list(COLOURS)
        P, A, r = size * size, (1 - s).reshape(n, 1), xt.reshape(n, 16, size * size).float()
        inv = 1 / s.reshape(n, 1) ** 2
        z, za, zb = self.z, self.z[self.pairs[:, 0]], self.z[self.pairs[:, 1]]  # [K, 16], [Q, 16]
        R = r.sum(2)  # [n, 16]
        base = A * (R @ zb.T) - A ** 2 * P * zb.pow(2).sum(1) / 2  # [n, Q]: the background's terms
        U = torch.einsum("kc,ncp->nkp", z, r)  # [n, K, P]
        logits, parts = [], []
        is_empty = idx == self.index[(None, None, None)]
        for k, shape in enumerate(SHAPES):
            masks = self.masks[size][torch.cat(self.rows[size][k])]  # [M, P]
            allowed = torch.tensor([[CAPTIONS[i][1] in (None, shape) and CAPTIONS[i][0] in (None, names[a]) and
                                     CAPTIONS[i][2] in (None, names[b]) and CAPTIONS[i] != (None, None, names[b])
                                     for a, b in self.pairs.tolist()] for i in idx])  # [n, Q]
            on = allowed.any(1)  # the samples whose caption allows this shape: only theirs are computed
            obj = torch.full((n, len(self.pairs), len(masks)), -math.inf)
            if on.any():
                s1, s2, S = masks.sum(1), masks.pow(2).sum(1), U[on] @ masks.T  # S: [n_on, K, M]
                a = A[on][:, :, None]
                ll = (a * (S[:, self.pairs[:, 0]] - S[:, self.pairs[:, 1]]) + base[on][:, :, None]
                      - a ** 2 * (((za - zb) * zb).sum(1)[:, None] * s1 + (za - zb).pow(2).sum(1)[:, None] * s2 / 2))
                prior = torch.where(is_empty[on], math.log((1 - PLAIN_SHARE) * (1 - KEEP) ** 3), 0.0)[:, None, None]
                ll = ll * inv[on][:, :, None] + self.log_prior[size][k] + prior
                obj[on] = torch.where(allowed[on][:, :, None], ll, -math.inf)
            logits.append(obj.flatten(1))
            parts.append((masks, obj.shape[1:]))
        plain_ok = torch.tensor([[CAPTIONS[i][0] is None and CAPTIONS[i][1] is None and CAPTIONS[i][2] in (None, c)
                                  for c in names] for i in idx])  # [n, K]
        # plain against object images (their logits lack the 1 / (7 * 3) of the object colour and shape choice)
        plain = (A * (R @ z.T) - A ** 2 * P * z.pow(2).sum(1) / 2) * inv + math.log(PLAIN_SHARE * (1 - KEEP) * 21)
        logits.append(torch.where(plain_ok, plain, -math.inf))
        w = torch.softmax(torch.cat(logits, 1), 1).split([t.shape[1] for t in logits], 1)
        const, spatial = w[-1] @ z, 0.0  # plain images; then each shape's objects b + (a - b) m
        for wk, (masks, shape_qm) in zip(w, parts):
            wk = wk.reshape(n, *shape_qm)  # [n, Q, M]
            const = const + wk.sum(2) @ zb
            spatial = spatial + (wk.transpose(1, 2) @ (za - zb)).transpose(1, 2) @ masks  # [n, 16, P]
        x0 = const[:, :, None] + spatial
        return x0.reshape(n, 16, size, size)


class OneContextToken:
    """Training-time stand-in for SD3's 77 context tokens: the MMDiT's `context_embedder` is zero (text enters only
    through the pooled vector `y`), so all 77 tokens are equal at every block and joint attention over them equals
    attention over one of them with its logit raised by ln 77. Inside this context `mmdit.optimized_attention` adds
    that bias to the first key (the context comes first in `block_mixing`), and the model runs on one token."""

    def __enter__(self):
        import comfy.ldm.modules.diffusionmodules.mmdit as mmdit
        self.module, self.inner = mmdit, mmdit.optimized_attention

        def attention(q, k, v, heads, **kwargs):
            bias = torch.zeros(1, 1, 1, k.shape[1], dtype=q.dtype, device=q.device)
            bias[..., 0] = math.log(77)
            return self.inner(q, k, v, heads, mask=bias, **{a: b for a, b in kwargs.items() if a != "mask"})
        mmdit.optimized_attention = attention
        return self

    def __exit__(self, *exc):
        self.module.optimized_attention = self.inner


def train(steps: int, depth: int, patch: int, batch: int = 32, lr: float = 2e-3, seed: int = 0,
          share32: float = 0.6, mix: float = 0.0, init: dict | None = None, log=print) -> dict:
    """Train for `steps` AdamW steps (from the MMDiT state dict `init` if given), a `mix` share of each batch on
    composite canvases (`Data.composite`); returns the state dict."""
    from tools.toy_checkpoint import toy_clip_l
    torch.manual_seed(seed)
    clip = {k: v.float() for k, v in toy_clip_l().items()}
    pooled = encode_captions(clip)
    net, data = build_mmdit(depth, patch), Data(seed, tuple(s for s, used in ((16, share32 < 1), (32, share32 > 0))
                                                          if used))
    if init is not None:
        net.load_state_dict({k: v.float() for k, v in init.items()})
    net.context_embedder.requires_grad_(False)  # stays zero (build_mmdit zeroes it): see OneContextToken
    ctx = torch.zeros(1, 1, 4096)
    log(f"mmdit depth {depth} patch {patch}: {sum(p.numel() for p in net.parameters()) / 1e6:.2f} M parameters")
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=lr, weight_decay=0.0,
                            betas=(0.9, 0.99))
    g, start, ema = torch.Generator().manual_seed(seed + 1), time.time(), None
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / 50) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        size = 32 if torch.rand(1, generator=g) < share32 else 16
        n = batch if size == 32 else 2 * batch
        x0, idx = data.batch(n, size)
        x0, mixed = data.composite(x0, mix)
        t = torch.rand(n, generator=g)
        s = (SHIFT * t / (1 + (SHIFT - 1) * t)).clamp(1e-3, 1.0)[:, None, None, None]
        noise = torch.randn(x0.shape, generator=g)
        xt = (1 - s) * x0 + s * noise
        target = (xt - data.posterior_x0(xt, s, idx)) / s  # E[noise - x0 | xt]: the loss's minimiser, exactly
        fill = torch.randint(len(FILLERS), (n,), generator=g)
        with OneContextToken():
            out = net(xt, s.flatten() * 1000, context=ctx.expand(n, -1, -1), y=pooled[fill, idx])
        # a composite is off the data set: at low noise its E[n - x0 | x] grows like 1 / s, so its loss is taken on
        # x0 (weight s^2), which is bounded (unweighted, the loss reached the hundreds and the gate fell to 25%)
        weight = torch.where(mixed[:, None, None, None], s * s, torch.ones_like(s))
        loss = ((out - target).pow(2) * weight).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if (step + 1) % 100 == 0:
            log(f"step {step + 1} {time.time() - start:.0f}s loss {ema:.4f}")
    log(f"trained {steps} steps in {time.time() - start:.0f}s")
    return {k: v.detach() for k, v in net.state_dict().items()}


def gate(path, n: int = 48, seed: int = 0, steps: int = 8, cfg: float = 1.0, scheduler: str = "simple",
         size: int = 128, log=print) -> dict:
    """The checkpoint as ComfyUI runs it: `load_checkpoint_guess_config`, CLIP text encoding, `comfy.sample.sample`
    (euler, `steps`, `cfg` against the empty prompt, `scheduler`) at `size` pixels, VAE decode,
    `tools.metrics.classify`, over `n` random full captions and seeds. Returns the shares of right object colours,
    shapes (of the objects of >= 10% of the canvas) and backgrounds."""
    import comfy.sample
    import comfy.sd
    from tools.metrics import classify
    model, clip, vae = comfy.sd.load_checkpoint_guess_config(str(path), output_vae=True, output_clip=True)[:3]

    def enc(text: str) -> list:
        context, pooled = clip.encode_from_tokens(clip.tokenize(text), return_pooled=True)
        return [[context, {"pooled_output": pooled}]]
    negative, rng = enc(""), random.Random(seed)
    colour = shape = background = big = 0
    for i in range(n):
        want = rng.choice(FULL)
        latent = torch.zeros(1, 16, size // 8, size // 8)
        noise = comfy.sample.prepare_noise(latent, seed + i)
        out = comfy.sample.sample(model, noise, steps, cfg, "euler", scheduler, enc(caption_text(*want)), negative,
                                  latent, seed=seed + i, disable_pbar=True)
        got = classify(vae.decode(out)[0].float())
        colour += got[0] == want[0]
        background += got[2] == want[2]
        if float(got[3].float().mean()) >= 0.1:
            big += 1
            shape += got[1] == want[1]
        if i < 8:
            log(f"  {caption_text(*want)} -> {got[:3]} area {float(got[3].float().mean()):.2f}")
    result = {"colour": colour / n, "shape": shape / max(big, 1), "big": big, "background": background / n, "n": n}
    log(f"gate {path}: {result}")
    return result


def checkpoint() -> Path:
    """Path of the toy checkpoint in `tiny_models.cache_dir()` (named by its weights' hash), assembled when missing from
    the committed MMDiT weights `WEIGHTS` (trained when they are missing too), the toy CLIP-L and the linear VAE."""
    import hashlib
    import safetensors.torch
    from tools.toy_checkpoint import WORDS
    from tools.toy_world import SURFACES
    inprocess.load_host()
    if not WEIGHTS.is_file():
        sd = train(**RECIPE)
        safetensors.torch.save_file({k: v.half().contiguous() for k, v in sd.items() if "context_embedder" not in k},
                                    WEIGHTS)
    # FORMAT: the CLIP's and VAE's construction; the vocabulary: the words the CLIP reads
    digest = hashlib.sha256(WEIGHTS.read_bytes() + repr((WORDS, SURFACES)).encode()).hexdigest()[:12]
    path = tiny_models.cache_dir() / f"toy_sd3_v{tiny_models.FORMAT}_{digest}.safetensors"
    if not path.is_file():
        from tools.toy_checkpoint import checkpoint_dict
        tiny_models._write(path, checkpoint_dict(mmdit_weights()))
    return path


def mmdit_weights() -> dict[str, torch.Tensor]:
    """The trained MMDiT's state dict: `WEIGHTS` (float16, without the context embedder, which is zero)."""
    import safetensors.torch
    sd = safetensors.torch.load_file(WEIGHTS)
    hidden = 64 * RECIPE["depth"]
    return sd | {"context_embedder.weight": torch.zeros(hidden, 4096), "context_embedder.bias": torch.zeros(hidden)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--retrain", action="store_true", help=f"train again and overwrite {WEIGHTS.name}")
    ap.add_argument("--gate", type=int, default=48, help="gate samples (0: no gate)")
    ap.add_argument("--cfg", type=float, default=1.5, help="the gate's cfg against the empty prompt")
    args = ap.parse_args()
    torch.set_num_threads(2)
    inprocess.load_host()
    if args.retrain:
        WEIGHTS.unlink(missing_ok=True)
    path = checkpoint()
    print(path)
    if args.gate:
        gate(path, args.gate, cfg=args.cfg)


if __name__ == "__main__":
    main()
