"""A hand-built CLIP-L for the toy world (`tools.toy_world`) and the single-file checkpoint that wraps a trained MMDiT.

`toy_clip_l()` sets every weight of ComfyUI's CLIP-L (`comfy.sd1_clip.SDClipModel`, 12 layers, width 768) by hand,
so that the text signal is exact instead of being lost in random layers. Hidden dims (one-hot features):
- `POS + i`: position `i` (1, from the position embedding), and `CONST`, `CONST + 1` (+A, -A in every position, a
  large constant part that makes every LayerNorm scale the same, so features pass LayerNorms linearly);
- `WORD + j`: the toy words (8 colours, 3 shapes, "background", "thing", "a", "an", "on"; 1, token embeddings;
  the surface nouns of `toy_world.SURFACES` ("sky", "walls", ...) have the embedding of "background"; every other
  token is zero);
- `PREV + c`: the previous token was colour `c` (layer 0 attention: one head attends to position `i - 1`);
- `BACK + c`: this token is "background" after colour `c` (layer 0 MLP: relu of PREV_c + is_background - 1.5): the
  text encoder reads a background colour only when the surface noun directly follows the colour word ("an orange
  sky"; `toy_world.parse` also allows words between, "an orange sunset sky");
- `OBJ + c`, `SHAPE + s`, `BG + c` (layer 11 attention: one head averages all tokens up to the end token, its values
  count colour words as object colours, BACK_c as background `c` minus object `c`, shape words as shapes).
Every other layer adds nothing (zero out-projections and MLP outputs). So SD3's context (layer -2, not normed) is
the word and position one-hots per token, and the pooled output (final LayerNorm at the end token) is the bag of
roles `(object colour, shape, background colour) / n_tokens`: what SD3's adaLN conditioning `y` needs. Words the
world does not know dilute the roles (a longer prompt gives a smaller vector): `tools/train_toy.py` trains on
captions with up to 12 such words added.
"""
from __future__ import annotations

import torch

from tools.toy_world import COLOURS, SHAPES, SURFACES

WORDS = (*COLOURS, *SHAPES, "background", "thing", "a", "an", "on")
CONST, POS, WORD, PREV, BACK, OBJ, SHAPE, BG = 0, 2, 100, 130, 140, 160, 170, 180
A = 10.0  # the constant part: LayerNorm scales every token by about sqrt(768 / (2 A^2))


def token_ids() -> dict[str, int]:
    """CLIP token id of each toy word and surface noun, from ComfyUI's own CLIP tokenizer."""
    import comfy.sd1_clip
    tok = comfy.sd1_clip.SDTokenizer()
    ids = {}
    for w in (*WORDS, *SURFACES):
        t = [i for i, _ in tok.tokenize_with_weights(w)[0] if i not in (49406, 49407)]
        assert len(t) == 1, (w, t)
        ids[w] = t[0]
    return ids


def toy_clip_l() -> dict[str, torch.Tensor]:
    """The CLIP-L state dict (keys of `SDClipModel`) described in the module docstring, float16."""
    import comfy.sd1_clip
    sd = {k: torch.zeros_like(v, dtype=torch.float32) for k, v in
          comfy.sd1_clip.SDClipModel(device="cpu", dtype=torch.float32).state_dict().items()}
    p = "transformer.text_model."
    for k in sd:
        if k.endswith(("layer_norm1.weight", "layer_norm2.weight", "final_layer_norm.weight")):
            sd[k] = torch.ones_like(sd[k])
    sd["logit_scale"] = torch.tensor(4.6055)
    sd[p.replace("text_model.", "") + "text_projection.weight"] = torch.eye(768)
    ids, nc, kappa = token_ids(), len(COLOURS), (768 / (2 * A * A)) ** 0.5  # LayerNorm gain of a one-hot feature
    emb, pos = sd[p + "embeddings.token_embedding.weight"], sd[p + "embeddings.position_embedding.weight"]
    for j, w in enumerate(WORDS):
        emb[ids[w], WORD + j] = 1
    for w in SURFACES:  # a surface noun is the word "background" to the text encoder
        emb[ids[w], WORD + WORDS.index("background")] = 1
    pos[:, CONST], pos[:, CONST + 1] = A, -A
    pos[torch.arange(77), POS + torch.arange(77)] = 1
    # layer 0, head 0: attend to position i - 1, copy its colour into PREV (out = kappa * value, value = 1 / kappa)
    l0 = p + "encoder.layers.0."
    q, k, v, o = (sd[l0 + f"self_attn.{n}_proj.weight"] for n in ("q", "k", "v", "out"))
    q[torch.arange(1, 77) - 1, POS + torch.arange(1, 77)] = 60.0  # head 0 dims = position i - 1
    k[torch.arange(64), POS + torch.arange(64)] = 1.0  # (positions beyond 64 never hold a toy word)
    v[torch.arange(nc), WORD + torch.arange(nc)] = 1 / kappa
    o[PREV + torch.arange(nc), torch.arange(nc)] = 1.0
    # layer 0 MLP: BACK_c = gelu(10 (PREV_c + is_background - 1.5)) / 5, inputs scaled back by 1 / kappa
    f1, b1, f2 = sd[l0 + "mlp.fc1.weight"], sd[l0 + "mlp.fc1.bias"], sd[l0 + "mlp.fc2.weight"]
    for c in range(nc):
        f1[c, PREV + c] = f1[c, WORD + WORDS.index("background")] = 10 / kappa
        b1[c] = -15.0
        f2[BACK + c, c] = 0.2
    # layer 11, head 0: uniform attention (q = k = 0) over tokens 0..end; values are the roles
    l11 = p + "encoder.layers.11."
    v, o = sd[l11 + "self_attn.v_proj.weight"], sd[l11 + "self_attn.out_proj.weight"]
    for c in range(nc):
        v[c, WORD + c] = 1 / kappa
        v[c, BACK + c] = -1 / kappa
        v[nc + 3 + c, BACK + c] = 1 / kappa
        o[OBJ + c, c] = o[BG + c, nc + 3 + c] = 4.0
    for s in range(len(SHAPES)):
        v[nc + s, WORD + nc + s] = 1 / kappa
        o[SHAPE + s, nc + s] = 4.0
    return {k: t.to(torch.float16) for k, t in sd.items()}


def checkpoint_dict(diffusion_model: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A single-file SD3-layout checkpoint: the MMDiT's state dict, the toy CLIP-L and the linear TAESD-shaped VAE of
    `tools.tiny_models._taesd` (span 2: model-space latents z decode to `0.5 + bias + factors^T tanh-clamp(z / 2)`)."""
    import comfy.latent_formats
    from tools.tiny_models import _prefixed, _taesd
    sd = _prefixed("model.diffusion_model.", {k: v.to(torch.float16) for k, v in diffusion_model.items()})
    sd |= _prefixed("text_encoders.clip_l.", toy_clip_l())
    return sd | _prefixed("first_stage_model.", _taesd(comfy.latent_formats.SD3(), span=2.0))
