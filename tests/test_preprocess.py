"""canvas_to_mnist turns any canvas drawing into an MNIST-like 28x28 digit; drawings.py makes test drawings."""

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage as ndi

from cnn_core import data
from cnn_core.preprocess import EmptyCanvasError, ImageFormatError, _stroke_width, canvas_to_mnist

import drawings

# A "7": a bar and a long diagonal, in canvas pixels of a 280x280 canvas.
SEVEN = [(60, 50), (200, 50), (170, 120), (130, 230)]


def seven_ink(width=12, offset=(0, 0), scale=1.0, size=280):
    """The 7 drawn with a round pen of `width` px: float ink in [0, 1] (anti-aliased by 4x supersampling)."""
    big = Image.new("L", (size * 4, size * 4), 0)
    points = [((offset[0] + x * scale) * 4, (offset[1] + y * scale) * 4) for x, y in SEVEN]
    ImageDraw.Draw(big).line(points, fill=255, width=width * 4, joint="curve")
    return np.asarray(big.resize((size, size), Image.BOX), np.float32) / 255


def canvas(ink, style="white-on-black"):
    return drawings.to_canvas_style(ink, style)


def bbox(img, level=0.2):
    ys, xs = np.nonzero(img[..., 0] > level)
    return ys.min(), ys.max(), xs.min(), xs.max()


@pytest.fixture(scope="module")
def mnist_test():
    ds = data.load("mnist")
    return ds.x_test, ds.y_test


def test_output_is_a_28x28x1_float_image_scaled_to_1():
    out = canvas_to_mnist(canvas(seven_ink()))
    assert out.shape == (28, 28, 1) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() == pytest.approx(1.0)


def test_off_centre_small_drawing_is_centred_and_scaled_to_20px():
    ink = seven_ink(width=4, offset=(175, 170), scale=0.4)  # a small 7 in the bottom-right corner
    out = canvas_to_mnist(canvas(ink))
    cy, cx = ndi.center_of_mass(out[..., 0])
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1
    top, bottom, left, right = bbox(out)
    assert 19 <= max(bottom - top + 1, right - left + 1) <= 21


def test_size_and_position_do_not_matter():
    big = canvas_to_mnist(canvas(seven_ink(width=12)))
    small = canvas_to_mnist(canvas(seven_ink(width=4, offset=(5, 0), scale=0.35)))
    assert np.corrcoef(big.ravel(), small.ravel())[0, 1] > 0.9


@pytest.mark.parametrize("style", ["black-on-white", "transparent"])
def test_canvas_styles_give_the_same_image(style):
    ink = seven_ink(width=10, offset=(30, 20), scale=0.8)
    reference = canvas_to_mnist(canvas(ink, "white-on-black"))
    np.testing.assert_allclose(canvas_to_mnist(canvas(ink, style)), reference, atol=0.02)


def test_coloured_rgb_grey_and_coloured_transparent_canvases():
    ink = seven_ink(width=10)[..., None]
    reference = canvas_to_mnist(canvas(ink[..., 0]))
    paper, pen = np.array([250, 240, 200]), np.array([30, 60, 200])  # blue pen on cream paper
    rgb = np.round(paper * (1 - ink) + pen * ink).astype(np.uint8)
    grey = np.round(255 * (1 - ink[..., 0])).astype(np.uint8)
    red_on_transparent = np.zeros(ink.shape[:2] + (4,), np.uint8)
    red_on_transparent[..., 0] = 220
    red_on_transparent[..., 3] = np.round(255 * ink[..., 0])
    for image in (rgb, grey, red_on_transparent, np.dstack([rgb, np.full(grey.shape, 255, np.uint8)])):
        np.testing.assert_allclose(canvas_to_mnist(image), reference, atol=0.03)


@pytest.mark.parametrize("pen", [3, 40])
def test_pen_and_brush_strokes_end_up_mnist_wide(pen):
    """MNIST strokes are 2.0 to 4.0 px wide (5th to 95th percentile, same estimator)."""
    out = canvas_to_mnist(canvas(seven_ink(width=pen)))
    assert 1.8 <= _stroke_width(out[..., 0]) <= 4.0


@pytest.mark.parametrize("background", [(0, 0, 0, 0), (0, 0, 0, 255), (255, 255, 255, 255), (128, 128, 128, 255)])
def test_empty_canvas_raises(background):
    image = np.empty((280, 280, 4), np.uint8)
    image[:] = background
    with pytest.raises(EmptyCanvasError, match="draw a digit"):
        canvas_to_mnist(image)


def test_specks_and_faint_smudges_are_empty():
    rng = np.random.default_rng(0)
    specks = np.zeros((280, 280, 4), np.uint8)
    specks[..., 3] = 255
    ys, xs = rng.integers(0, 280, 12), rng.integers(0, 280, 12)
    specks[ys, xs, :3] = 255  # a dozen stray pixels
    specks[100:104, 100:104, :3] = 255  # and one 4x4 dot
    with pytest.raises(EmptyCanvasError):
        canvas_to_mnist(specks)
    smudge = (seven_ink() * 12).astype(np.uint8)  # at most 12 of 255 grey levels
    with pytest.raises(EmptyCanvasError):
        canvas_to_mnist(smudge)
    noise = rng.integers(120, 126, (280, 280, 3), dtype=np.uint8)  # sensor-like noise on grey
    with pytest.raises(EmptyCanvasError):
        canvas_to_mnist(noise)


def test_a_stray_speck_does_not_move_the_digit():
    ink = seven_ink(width=10, offset=(40, 40), scale=0.6)
    clean = canvas_to_mnist(canvas(ink))
    ink[270:273, 5:8] = 1.0  # a stray dot far from the digit
    np.testing.assert_allclose(canvas_to_mnist(canvas(ink)), clean, atol=1e-6)


def test_lopsided_digit_is_clamped_inside_the_frame():
    ink = np.zeros((280, 280), np.uint8)
    ink[20:260, 138:142] = 255  # a long thin stem...
    ink[20:70, 110:170] = 255  # ...with a heavy head: the centre of mass sits high
    out = canvas_to_mnist(ink)
    top, bottom, _, _ = bbox(out)
    assert bottom - top + 1 >= 19  # the whole digit is still in the frame...
    assert ndi.center_of_mass(out[..., 0])[0] < 13  # ...because the shift was clamped


@pytest.mark.parametrize("bad", [
    np.zeros((28, 28, 2), np.uint8),
    np.zeros((28, 28, 4, 1), np.uint8),
    np.zeros((784,), np.uint8),
    np.zeros((28, 28, 4), np.float32),
    np.zeros((2, 2), np.uint8),
    np.zeros((5000, 10), np.uint8),
    "not an image",
])
def test_bad_arrays_raise_image_format_error(bad):
    with pytest.raises(ImageFormatError) as err:
        canvas_to_mnist(bad)
    assert isinstance(err.value, ValueError)
    assert "shape" in str(err.value) or "px" in str(err.value)


def test_mnist_digits_enlarged_on_a_canvas_come_back_close_to_the_original(mnist_test):
    """Preprocessing is MNIST's own recipe, so it nearly reproduces MNIST digits.

    Compared up to a one-pixel shift: MNIST rounded its centring to whole pixels, and a
    centre of mass near x.5 may round either way.
    """
    x = mnist_test[0][:40]
    best = []
    for digit in x:
        rgba = np.dstack([np.repeat(np.repeat(digit, 10, 0), 10, 1)] * 3 + [np.full((280, 280), 255, np.uint8)])
        out = canvas_to_mnist(rgba)[..., 0]
        original = np.pad(digit / 255, 1)
        shifted = [np.pad(out, 1)[1 + dy:29 + dy, 1 + dx:29 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
        best.append(max(np.corrcoef(original[1:-1, 1:-1].ravel(), s.ravel())[0, 1] for s in shifted))
    assert np.median(best) > 0.97 and min(best) > 0.85


def test_drawings_are_deterministic_varied_and_labelled(mnist_test):
    x, y = mnist_test
    a = drawings.make_drawings(x, y, 24, seed=3)
    b = drawings.make_drawings(x, y, 24, seed=3)
    assert len(a) == 24
    for d1, d2 in zip(a, b):
        assert d1.rgba.shape == (280, 280, 4) and d1.rgba.dtype == np.uint8
        np.testing.assert_array_equal(d1.rgba, d2.rgba)
        assert d1.description == d2.description
        assert set(d1.variation) == set(drawings.VARIATIONS)
        index = int(d1.description.split()[0].removeprefix("mnist#"))
        assert d1.label == y[index]
    assert drawings.make_drawings(x, y, 24, seed=4)[0].description != a[0].description
    assert drawings.make_drawings(x, y, 0) == []
    for key, levels in drawings.VARIATIONS.items():
        assert {d.variation[key] for d in a} <= set(levels)


def test_preprocessed_drawings_resemble_the_preprocessed_digit(mnist_test):
    """Whatever size, place, pen and style, the drawing comes back as its MNIST digit."""
    x, y = mnist_test
    corr = []
    for d in drawings.make_drawings(x, y, 60, seed=1):
        index = int(d.description.split()[0].removeprefix("mnist#"))
        reference = canvas_to_mnist(x[index])
        corr.append(np.corrcoef(canvas_to_mnist(d.rgba).ravel(), reference.ravel())[0, 1])
    assert np.median(corr) > 0.8


@pytest.mark.parametrize("radius", [1, 2, 3, 5, 8, 13])
def test_disk_filter_equals_grey_morphology_with_a_disk_footprint(radius):
    from cnn_core.preprocess import _disk_filter

    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    disk = yy**2 + xx**2 <= radius**2
    a = np.random.default_rng(radius).random((61, 47)).astype(np.float32)
    assert np.array_equal(_disk_filter(ndi.maximum_filter, a, radius), ndi.grey_dilation(a, footprint=disk))
    assert np.array_equal(_disk_filter(ndi.minimum_filter, a, radius), ndi.grey_erosion(a, footprint=disk))


def test_fast_border_median_and_stroke_width_give_numpys_and_scipys_numbers(mnist_test):
    """The shortcuts (a histogram's median, distances only where the ink is) must not change a number."""
    from cnn_core.preprocess import _median_border

    rng = np.random.default_rng(0)
    for i in range(300):
        h, w = rng.integers(3, 60, 2)
        top = rng.integers(1, 257)
        a = rng.integers(0, top, (h, w), dtype=np.uint8) if i % 4 else np.full((h, w), i % 256, np.uint8)
        border = np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])
        assert _median_border(a) == float(np.median(border))
    for digit in mnist_test[0][:50]:
        work = np.asarray(Image.fromarray(digit.astype(np.float32) / 255).resize((80, 80), Image.BILINEAR))
        mask = np.pad(work > 0.5 * work.max(), 1)
        assert _stroke_width(work) == 4.0 * float(ndi.distance_transform_edt(mask)[mask].mean()) - 2.0
