import io
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

import engine.palette as palette_mod
from engine.palette import PaletteEntry, describe_colour, match_palette, parse_palette

RED, BLUE, GREEN, PURPLE = (255, 0, 0), (0, 0, 255), (0, 255, 0), (128, 0, 128)
MAP = Path(__file__).resolve().parents[2] / "workflows" / "assets" / "palette_map.png"
MAP_COLOURS = [(0x87, 0xCE, 0xEB), (0x22, 0x8B, 0x22), (0xB2, 0x22, 0x22), (0xFF, 0x8C, 0x00), (0xFF, 0xD7, 0x00)]


def paint(labels: torch.Tensor, colours) -> torch.Tensor:
    """[H, W] integer labels -> [H, W, 3] float image."""
    return (torch.tensor(colours, dtype=torch.float32) / 255)[labels]


def pil_to_tensor(im: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(im.convert("RGB"))).float() / 255


def jpeg(img: torch.Tensor, quality: int) -> torch.Tensor:
    buf = io.BytesIO()
    Image.fromarray((img * 255).round().byte().numpy()).save(buf, "JPEG", quality=quality)
    return pil_to_tensor(Image.open(io.BytesIO(buf.getvalue())))


def assert_partition(m, p, H, W):
    assert m.masks.shape == (p, H, W) and m.masks.dtype == torch.float32
    assert m.unassigned.shape == (H, W) and m.unassigned.dtype == torch.bool
    assert set(m.masks.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(m.masks.sum(0) + m.unassigned.float(), torch.ones(H, W))


def scene_labels(n=128):
    """Labels 0 (background), 1 (disc), 2 (rectangle), edges not aligned to 8x8 JPEG blocks."""
    y, x = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    labels = torch.zeros(n, n, dtype=torch.long)
    labels[((y - 45) ** 2 + (x - 50) ** 2) < 29 ** 2] = 1
    labels[77:117, 61:115] = 2
    return labels


# ---------------------------------------------------------------- parsing

def test_parse_all_colour_syntaxes():
    text = """#FF0000: hex six
#0f0 = hex three
0, 0, 255: rgb triple
rgb(1, 2, 3): rgb function
Yellow: a name
aqua: cyan alias
grey: gray alias
fuchsia: magenta alias
orange: css orange
navy = dark blue"""
    got = [e.colour for e in parse_palette(text)]
    assert got == [(255, 0, 0), (0, 255, 0), (0, 0, 255), (1, 2, 3), (255, 255, 0), (0, 255, 255),
                   (128, 128, 128), (255, 0, 255), (255, 165, 0), (0, 0, 128)]


def test_parse_prompts_negatives_and_comments():
    text = """
# a comment line, and the next are comments too
#todo: not hex, so a comment
# red: a hash and a space always start a comment
#

#ff0000: a red apple | blurry, low quality
  blue = a sky: clear, with a = sign
green: grass |
"""
    assert parse_palette(text) == [
        PaletteEntry((255, 0, 0), "a red apple", "blurry, low quality"),
        PaletteEntry((0, 0, 255), "a sky: clear, with a = sign"),
        PaletteEntry((0, 128, 0), "grass", ""),
    ]


@pytest.mark.parametrize("bad, line, words", [
    ("red: a\nblue: b\nff00: x", 3, ["'ff00: x'", "is not a colour", "#RRGGBB"]),
    ("#ff00: x", 1, ["'#ff00: x'", "is not a colour"]),
    ("red: a\n#ff0000 an apple", 2, ["'#ff0000 an apple'", "no ':' or '='"]),
    ("300, 0, 0: x", 1, ["'300, 0, 0: x'", "outside 0-255"]),
    ("octarine: magic", 1, ["'octarine: magic'", "is not a colour"]),
    ("red: a\n\nblue:   ", 3, ["'blue:'", "empty prompt"]),
    ("red: | only a negative", 1, ["empty prompt"]),
    ("no separator here", 1, ["'no separator here'", "no ':' or '='"]),
    ("red: a\nblue: b\n#f00: again", 3, ["'#f00: again'", "#ff0000", "line 1"]),
    ("#gg0000: a sky", 1, ["'#gg0000: a sky'", "is not a colour", "a comment starts with '# '"]),
    ("red: a\n#00ff0g = grass", 2, ["'#00ff0g = grass'", "is not a colour"]),
    ("red: a\n#blu: sky", 2, ["'#blu: sky'", "is not a colour"]),
    ("red: a\n" + "# x\n" * 30_000, 1, ["palette: has 120007 characters", "limit"]),
])
def test_parse_errors_name_the_line(bad, line, words):
    with pytest.raises(ValueError) as e:
        parse_palette(bad)
    msg = str(e.value)
    assert msg.startswith(f"palette line {line}: ") or msg.startswith("palette: "), msg
    for w in words:
        assert w in msg, msg


@pytest.mark.parametrize("text", ["", "\n  \n", "# just a comment\n# another"])
def test_parse_no_entries(text):
    with pytest.raises(ValueError, match="palette: has no 'colour: prompt' lines"):
        parse_palette(text)


def test_parse_rejects_non_text():
    with pytest.raises(ValueError, match="palette: must be text"):
        parse_palette(None)


def test_describe_colour():
    assert describe_colour((255, 0, 16)) == "#ff0010"
    assert describe_colour(torch.tensor([0, 128, 255])) == "#0080ff"


# ---------------------------------------------------------------- matching

def test_exact_three_colour_map():
    labels = scene_labels(40)
    m = match_palette(paint(labels, [BLUE, GREEN, RED]), [BLUE, GREEN, RED])
    assert_partition(m, 3, 40, 40)
    for i in range(3):
        assert torch.equal(m.masks[i].bool(), labels == i)
    assert not m.unassigned.any() and m.unmatched_colours == []


def test_input_layouts_agree():
    labels = scene_labels(24)
    img = paint(labels, [BLUE, GREEN, RED])
    ref = match_palette(img, [BLUE, GREEN, RED]).masks
    rgba = torch.cat([img, torch.rand(24, 24, 1)], -1)
    for image, colours in [(img[None], [BLUE, GREEN, RED]), (rgba, torch.tensor([BLUE, GREEN, RED])),
                           ((img * 255).round().byte(), [BLUE, GREEN, RED])]:
        assert torch.equal(match_palette(image, colours).masks, ref)


def test_tolerance_is_rgb_distance_over_sqrt3():
    # grey level g is at distance exactly g from black in these units
    img = torch.tensor([0.0, 0.05, 0.1, 0.12, 0.5, 1.0]).view(1, 6, 1).expand(1, 6, 3)
    m = match_palette(img, [(0, 0, 0)], tolerance=0.1)
    assert m.masks[0, 0].tolist() == [1, 1, 1, 0, 0, 0]
    assert match_palette(img, [(0, 0, 0)], tolerance=0.0).masks[0, 0].tolist() == [1, 0, 0, 0, 0, 0]
    assert match_palette(img, [(0, 0, 0)], tolerance=1.0).masks.sum() == 6


def test_nearest_colour_wins():
    img = torch.tensor([[[0.9, 0.0, 0.0], [0.1, 0.0, 0.0]]])
    m = match_palette(img, [RED, (0, 0, 0)], tolerance=0.3)
    assert m.masks[:, 0].tolist() == [[1, 0], [0, 1]]


def test_anti_aliased_edge_splits_at_midpoint():
    t = torch.tensor([0.0] * 12 + [0.125, 0.375, 0.625, 0.875] + [1.0] * 12)  # a 4-pixel anti-aliased edge
    img = ((1 - t)[:, None] * torch.tensor([1.0, 0, 0]) + t[:, None] * torch.tensor([0, 0, 1.0]))[None]
    img = img.expand(3, -1, -1)
    m = match_palette(img, [RED, BLUE])
    assert_partition(m, 2, 3, 28)
    assert not m.unassigned.any()
    assert torch.equal(m.masks[0].bool(), (t < 0.5).expand(3, -1))
    # without the blend pass the ramp (> 0.1 from both colours) would be holes
    assert match_palette(img, [RED, BLUE], blend_radius=0).unassigned[0, 13:15].all()


def test_full_width_gradient_all_assigned_with_wide_blend_radius():
    t = torch.linspace(0, 1, 64)
    img = ((1 - t)[:, None] * torch.tensor([1.0, 0, 0]) + t[:, None] * torch.tensor([0, 0, 1.0]))[None]
    img = img.expand(2, -1, -1)
    m = match_palette(img, [RED, BLUE], blend_radius=64)
    assert not m.unassigned.any()
    assert m.masks[0, 0].tolist() == [1.0] * 32 + [0.0] * 32


def test_painted_blend_colour_is_not_absorbed():
    """A wide purple stripe between red and blue is a colour, not an edge: reported, not eaten."""
    labels = torch.tensor([0] * 20 + [1] * 20 + [2] * 20).expand(10, -1)
    m = match_palette(paint(labels, [RED, PURPLE, BLUE]), [RED, BLUE])
    assert torch.equal(m.unassigned, labels == 1)
    assert len(m.unmatched_colours) == 1
    (rgb, frac), = m.unmatched_colours
    assert rgb == PURPLE and frac == pytest.approx(1 / 3)


def test_jpeg_quality_60_is_absorbed():
    labels = scene_labels(128)
    colours = [(0x87, 0xCE, 0xEB), (0x22, 0x8B, 0x22), (0xB2, 0x22, 0x22)]
    m = match_palette(jpeg(paint(labels, colours), 60), colours)
    assert_partition(m, 3, 128, 128)
    for i in range(3):
        truth, got = labels == i, m.masks[i].bool()
        iou = (truth & got).sum() / (truth | got).sum()
        assert iou >= 0.97, (i, float(iou))
    # interior: pixels more than 4 px from any boundary
    onehot = F.one_hot(labels, 3).permute(2, 0, 1).float()[None]
    boundary = (F.max_pool2d(onehot, 9, 1, 4) + F.max_pool2d(-onehot, 9, 1, 4)).sum(1)[0] != 0  # min != max
    assert boundary.any() and not m.unassigned[~boundary].any()
    assert m.unmatched_colours == []


def antialiased_scene(colours, n=64):
    """Background, disc and square drawn at 4x and LANCZOS-downsampled to n x n."""
    im = Image.new("RGB", (4 * n, 4 * n), colours[0])
    d = ImageDraw.Draw(im)
    d.ellipse((20, 20, 130, 130), fill=colours[1])
    d.rectangle((150, 140, 230, 230), fill=colours[2])
    return pil_to_tensor(im.resize((n, n), Image.LANCZOS))


def test_unmatched_colour_reported_but_slivers_are_not():
    img = antialiased_scene([BLUE, RED, GREEN])
    full = match_palette(img, [BLUE, RED, GREEN], blend_radius=0)  # slivers stay unassigned...
    assert full.unassigned.any() and full.unmatched_colours == []  # ...but are too small to report
    m = match_palette(img, [BLUE, RED])
    (rgb, frac), = m.unmatched_colours
    assert max(abs(a - b) for a, b in zip(rgb, GREEN)) <= 8
    assert frac == pytest.approx(full.masks[2].mean().item(), abs=0.01)
    assert match_palette(img, [BLUE, RED], min_fraction=0.5).unmatched_colours == []


def test_unmatched_colours_sorted_and_not_split_by_jpeg():
    # (128, 64, 192) sits on the edges of the 32-level grid, so JPEG noise spreads it over several bins
    odd, other = (128, 64, 192), (200, 200, 40)
    labels = torch.zeros(64, 64, dtype=torch.long)
    labels[8:40, 8:56] = 1
    labels[44:60, 10:30] = 2
    m = match_palette(jpeg(paint(labels, [BLUE, odd, other]), 60), [BLUE])
    assert [max(abs(a - b) for a, b in zip(rgb, want)) <= 10 for (rgb, _), want in
            zip(m.unmatched_colours, [odd, other])] == [True, True], m.unmatched_colours
    assert len(m.unmatched_colours) == 2
    assert m.unmatched_colours[0][1] == pytest.approx(32 * 48 / 64 ** 2, abs=0.02)


def test_chunking_does_not_change_the_result(monkeypatch):
    img = jpeg(antialiased_scene([BLUE, RED, GREEN], 48), 50)
    ref = match_palette(img, [BLUE, RED, GREEN])
    monkeypatch.setattr(palette_mod, "_CHUNK", 50)
    small = match_palette(img, [BLUE, RED, GREEN])
    assert torch.equal(ref.masks, small.masks) and ref.unmatched_colours == small.unmatched_colours


def test_shipped_example_map():
    assert MAP.stat().st_size < 60_000
    img = pil_to_tensor(Image.open(MAP))
    assert img.shape == (512, 512, 3)
    m = match_palette(img, MAP_COLOURS)
    assert m.unassigned.float().mean() < 0.005
    assert m.unmatched_colours == []
    assert (m.masks.mean((1, 2)) > 0.01).all()


@pytest.mark.parametrize("image, words", [
    (torch.zeros(8, 8), ["palette image", "[8, 8]"]),
    (torch.zeros(2, 8, 8, 3), ["palette image", "[2, 8, 8, 3]"]),
    (torch.zeros(8, 8, 2), ["palette image", "[8, 8, 2]"]),
    (torch.zeros(0, 8, 3), ["palette image", "[0, 8, 3]"]),
    (np.zeros((8, 8, 3)), ["palette image", "ndarray"]),
    (torch.full((4, 4, 3), float("nan")), ["palette image", "NaN"]),
])
def test_bad_image(image, words):
    with pytest.raises(ValueError) as e:
        match_palette(image, [RED])
    for w in words:
        assert w in str(e.value), str(e.value)


@pytest.mark.parametrize("kwargs, words", [
    (dict(colours=[]), ["palette colours", "non-empty"]),
    (dict(colours=torch.zeros(2, 4)), ["palette colours", "[2, 4]"]),
    (dict(colours=[(300, 0, 0)]), ["palette colours", "0-255"]),
    (dict(colours=[RED, (255, 0, 0)]), ["palette colours", "twice"]),
    (dict(colours=[RED], tolerance=1.5), ["tolerance", "1.5"]),
    (dict(colours=[RED], tolerance=-0.1), ["tolerance"]),
    (dict(colours=[RED], min_fraction=2.0), ["min_fraction"]),
])
def test_bad_arguments(kwargs, words):
    with pytest.raises(ValueError) as e:
        match_palette(torch.zeros(4, 4, 3), **kwargs)
    for w in words:
        assert w in str(e.value), str(e.value)
