"""The toy world's hand-set CLIP-L (tools/toy_checkpoint.py) through ComfyUI's own SD3 text path: the pooled vector
that SD3's adaLN conditioning gets says which colour is the object's, which the background's, and the shape, in any
word order, so a model trained on it can follow prompts (issue 16). The expected roles come from
`tools.toy_world.parse`."""
import pytest
import torch

from tools.toy_world import COLOURS, SHAPES, parse

CAPTIONS = ["a red circle on a blue background", "a blue circle on a red background", "square, green, white background",
            "a purple triangle", "a yellow background", "an orange thing on a black background",
            "a dramatic orange sky at sunset", "a small wooden cabin with red walls", "a white circle on blue water",
            "a golden retriever with yellow fur, photo, high quality"]  # surface nouns mean "background"


@pytest.fixture(scope="module")
def encoder(pack):
    import comfy.text_encoders.sd3_clip as sd3_clip

    from tools.toy_checkpoint import toy_clip_l
    model = sd3_clip.sd3_clip(clip_l=True, clip_g=False, t5=False)()
    missing, unexpected = model.clip_l.load_state_dict(toy_clip_l(), strict=False)
    assert not unexpected
    return model, sd3_clip.SD3Tokenizer()


def roles(pooled: torch.Tensor, offset: int, names) -> str | None:
    part = pooled[offset:offset + len(names)]
    return names[int(part.argmax())] if float(part.max()) > 0.3 else None


@pytest.mark.parametrize("caption", CAPTIONS)
def test_the_pooled_vector_names_object_colour_shape_and_background(encoder, caption):
    from tools.toy_checkpoint import BG, OBJ, SHAPE
    model, tokenizer = encoder
    _, pooled, _ = model.encode_token_weights(tokenizer.tokenize_with_weights(caption))
    pooled = pooled[0].float()
    colours = list(COLOURS)
    meaning = parse(caption)
    assert (roles(pooled, OBJ, colours), roles(pooled, SHAPE, list(SHAPES)), roles(pooled, BG, colours)) == \
        (meaning.colour, meaning.shape, meaning.background), caption
