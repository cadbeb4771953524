"""Turn a drawing-canvas image into a 28x28 digit prepared the way MNIST itself was made.

MNIST's recipe (LeCun et al.): the digit's bounding box is scaled, keeping its aspect
ratio, so that its longer side is 20 px, with anti-aliasing (grey levels at the edges);
the result is placed in a 28x28 field so that its centre of mass sits at the centre.
A model trained on MNIST has only ever seen digits prepared like this, so a drawing must
be too: a small digit in a corner of a big canvas, simply resized to 28x28, is a few
pixels the model has never seen anything like.

On top of the recipe, the stroke width is normalised: a thin pen on a big canvas gives
hair-lines after scaling, a fat brush gives blobs, and MNIST strokes are neither.
"""

from __future__ import annotations

import io
import math
import os
import warnings

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from .errors import UserError
from .files import open_regular

SIZE = 28  # side of the output image
BOX = 20  # MNIST scales the longer side of the digit's bounding box to 20 px
CENTRE = (14.0, 14.0)  # mean scipy centre of mass of the MNIST test digits: (13.99, 14.00)
WORK = 80  # longer side (4 x BOX) at which the stroke width is measured and adjusted
MAX_SIDE = 4096  # larger images are refused rather than processed slowly
# Pixels an image may have to be decoded at all: 2048x2048 is 50 canvases of 280x280 and costs
# ~100 MB to decode and preprocess (4096x4096 cost 340 MB); a 684 KB PNG declaring 13000x13000
# (169 Mpx, 676 MB once decoded as RGBA) is refused from its header. Larger photos: resize first.
MAX_PIXELS = 2048 * 2048
MAX_IMAGE_BYTES = 64 * 2**20  # an incompressible 4096x4096 RGBA PNG; drawings are far smaller

# Empty-canvas detection. Ink is 0..1 (1 = full contrast with the background).
MIN_INK = 0.1  # a faint smudge below this is no drawing
MASK_LEVEL = 0.2  # of the peak ink: pixels counted as ink when finding the digit
NOISE_LEVEL = 0.1  # of the peak ink: fainter pixels (noise, faint halos) are zeroed
SPECK_FRACTION = 0.0005  # connected blobs under 0.05% of the canvas area are stray specks
MIN_SPECK_PX = 3
MINOR_FRACTION = 0.02  # and so are blobs under 2% of all the ink (a stray dot far away)

# Stroke width relative to the longer side of the bounding box, measured on 1,000 MNIST
# test digits with _stroke_width below: 5th percentile 0.078, median 0.117, 97th 0.20.
# Inside [WIDTH_LOW, WIDTH_HIGH] a stroke already looks like MNIST and is left alone;
# thinner ones are dilated to about the median, thicker ones eroded only to the upper part
# of MNIST's range (deeper erosion cuts through the thinner parts of an uneven brush).
# The targets gave the best accuracy on bench/robustness.py's drawings (flat within +-0.02).
WIDTH_LOW = 0.075
WIDTH_HIGH = 0.20
DILATE_TO = 0.11
ERODE_TO = 0.17

EMPTY_MESSAGE = "The canvas is empty: draw a digit"


class ImageFormatError(UserError, ValueError):
    """An image (array, file or bytes) this module cannot use; the message says why (shape, size, damage)."""


class EmptyCanvasError(UserError, ValueError):
    """Nothing drawn (or only a few stray specks): there is no digit to classify."""

    def __init__(self, message: str = EMPTY_MESSAGE):
        super().__init__(message)


def decode_image(source: bytes | str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A PNG/JPEG/... file or its bytes -> (H, W, 4) uint8 RGBA, its size checked before decoding.

    Image.open only reads the header, so width x height is known before a single pixel is
    decoded: an image over max_pixels (or MAX_SIDE on a side) is refused at the cost of its
    header. Only regular files are opened (a FIFO named like an image would block for ever).
    Every failure is an ImageFormatError whose message says what is wrong with the image.
    """
    try:
        if isinstance(source, (bytes, bytearray, memoryview)):
            if len(source) > MAX_IMAGE_BYTES:
                raise ImageFormatError(f"{len(source) / 2**20:.0f} MB of image data, more than the "
                                       f"{MAX_IMAGE_BYTES / 2**20:.0f} MB allowed")
            file = io.BytesIO(source)
        else:
            file = open_regular(source, MAX_IMAGE_BYTES)
    except FileNotFoundError:
        raise ImageFormatError("no such file") from None
    except OSError as e:  # a folder, a FIFO, too large, unreadable, a link loop
        raise ImageFormatError(f"cannot open this file: {e.strerror or e}") from None
    with file, warnings.catch_warnings():
        # Pillow warns from 89 Mpx on (and refuses from 179 Mpx); _check_header refuses far earlier.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(file) as img:  # lazy: reads the header only
                _check_header(img, max_pixels)
                img.load()  # decoded only now, within the limits
                return np.asarray(img.convert("RGBA"))
        except ImageFormatError:
            raise
        except Image.DecompressionBombError as e:  # raised by Image.open itself, from the header
            raise ImageFormatError(f"image refused before decoding: {e}") from None
        except (Image.UnidentifiedImageError, OSError, EOFError) as e:  # not an image, truncated, damaged
            raise ImageFormatError(f"not a readable PNG/JPEG image ({type(e).__name__})") from None
        except Exception as e:  # Pillow raises many types (ValueError, SyntaxError, ...) for damaged files
            raise ImageFormatError(f"cannot read this image ({type(e).__name__}: {e})") from None


def _check_header(img: Image.Image, max_pixels: int) -> None:
    w, h = img.size
    if w < 1 or h < 1 or w * h > max_pixels or max(w, h) > MAX_SIDE:
        raise ImageFormatError(f"image of {w} x {h} px refused before decoding: at most {max_pixels:,} pixels "
                               f"and {MAX_SIDE} px a side")
    # Which frame of an animation holds the digit? Refuse rather than guess. An MPO (a phone's
    # JPEG with a preview or depth map as extra frames) is read from its first, main picture.
    if getattr(img, "is_animated", False) and img.format != "MPO":
        raise ImageFormatError(f"an animated {img.format} image: give a single picture")


def canvas_to_mnist(image: np.ndarray) -> np.ndarray:
    """A canvas image (H x W x 4 RGBA, H x W x 3 RGB or H x W grey, uint8) -> (28, 28, 1) float32 in [0, 1].

    Any canvas style works: light ink on a dark background, dark ink on a light one, or ink in
    the alpha channel of a transparent canvas. Raises EmptyCanvasError when nothing is drawn
    and ImageFormatError for arrays that are not such images.
    """
    crop = _crop_to_digit(_ink_levels(image)) * np.float32(1 / 255)  # floats only for the digit's box
    work = _normalise_stroke_width(_resize_longer_side(crop, WORK))
    ys, xs = np.nonzero(work > MASK_LEVEL * work.max())  # the dilation may have grown the box
    work = work[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    digit = _resize_longer_side(work, BOX)
    return _place_by_centre_of_mass(digit)[..., np.newaxis]


def extract_ink(image: np.ndarray) -> np.ndarray:
    """(H, W) float32 ink in [0, 1]: 0 where the canvas shows its background.

    On a transparent canvas (background not opaque, alpha varying) the signal is the alpha
    channel: strokes of any colour, even black ones, are where alpha is. Otherwise it is the
    luminance. The background level is the median of the border pixels, which are background
    unless the drawing covers half the border; ink is the distance from it, so light-on-dark
    and dark-on-light canvases give the same ink.
    """
    return _ink_levels(image) * np.float32(1 / 255)


def _ink_levels(image: np.ndarray) -> np.ndarray:
    """extract_ink in whole levels 0..255 (uint8): a quarter of the memory traffic of floats on a
    whole canvas, of which the digit is usually a small part."""
    a = _check_image(image)
    background = None
    if a.ndim == 2:
        signal = a
    elif a.shape[2] == 4:
        alpha = np.ascontiguousarray(a[..., 3])  # one copy: the strided channel is read three times
        background = _median_border(alpha)
        # alpha varies (min != max), tested against the border's median, which lies between the two:
        # a drawn transparent canvas answers with its max alone.
        if background < 255 and (alpha.max() != background or alpha.min() != background):
            signal = alpha
        else:
            signal, background = np.asarray(Image.fromarray(a, "RGBA").convert("L")), None  # ITU-R 601 luma, in C
    else:
        signal = np.asarray(Image.fromarray(a, "RGB").convert("L"))
    if background is None:
        background = _median_border(signal)
    background = np.uint8(round(background))
    if background == 0:  # a transparent or black canvas: the signal is the ink (three passes saved)
        return signal
    return np.maximum(signal, background) - np.minimum(signal, background)  # |signal - background|, no overflow


def _median_border(a: np.ndarray) -> float:
    """np.median of the border pixels, from their histogram: whole levels need no sort (5x faster)."""
    border = np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])
    if border.dtype != np.uint8:
        return float(np.median(border))
    below = np.cumsum(np.bincount(border, minlength=256))  # below[v]: how many are <= v
    n = len(border)
    lower, upper = np.searchsorted(below, [(n - 1) // 2 + 1, n // 2 + 1])  # the middle one or two values
    return (float(lower) + float(upper)) / 2


def _check_image(image: object) -> np.ndarray:
    a = np.asarray(image)
    shape_ok = a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))
    if not shape_ok or a.dtype != np.uint8:
        raise ImageFormatError(
            f"expected an H x W x 4 (RGBA), H x W x 3 (RGB) or H x W (grey) uint8 image, "
            f"got shape {a.shape} and dtype {a.dtype}"
        )
    if min(a.shape[:2]) < 3 or max(a.shape[:2]) > MAX_SIDE:
        raise ImageFormatError(f"image of {a.shape[0]} x {a.shape[1]} px: each side must be 3 to {MAX_SIDE} px")
    return a


def _crop_to_digit(ink: np.ndarray) -> np.ndarray:
    """The ink inside the bounding box of the drawing, stray specks and faint noise removed.

    Works on whole levels (uint8) or floats alike. The pieces are labelled only inside the
    box of all the ink, and the box of the pieces kept comes from a lookup of their labels.
    """
    scale = 255 if ink.dtype == np.uint8 else 1
    rows, columns = ink.max(axis=1), ink.max(axis=0)  # the box from two reductions, not a whole-canvas mask
    peak = float(rows.max())
    if peak < MIN_INK * scale:
        raise EmptyCanvasError()
    canvas_px = ink.size
    level = MASK_LEVEL * peak  # faint anti-aliasing and noise do not stretch the box
    (top, bottom), (left, right) = _span(rows > level), _span(columns > level)
    ink = ink[top:bottom, left:right]
    mask = ink > level
    labels, count = ndi.label(mask, structure=np.ones((3, 3), bool))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    sizes[0] = 0  # background
    min_px = max(MIN_SPECK_PX, SPECK_FRACTION * canvas_px, MINOR_FRACTION * sizes.sum())
    kept = sizes >= min_px
    if not kept.any():
        raise EmptyCanvasError()
    if not kept[1:].all():  # specks: the box of what is kept, and the specks inside it wiped
        inside = kept[labels]
        (top, bottom), (left, right) = _span(inside.any(axis=1)), _span(inside.any(axis=0))
        ink, labels = ink[top:bottom, left:right], labels[top:bottom, left:right]
        ink = np.where(((sizes > 0) & ~kept)[labels], 0, ink).astype(ink.dtype, copy=False)
    return np.where(ink < NOISE_LEVEL * peak, 0, ink).astype(ink.dtype, copy=False)  # a new array: the caller's is kept


def _span(any_along: np.ndarray) -> tuple[int, int]:
    """First and one-past-last index where a 1-D boolean array is true (it has a true entry)."""
    where = np.flatnonzero(any_along)
    return int(where[0]), int(where[-1]) + 1


def _resize_longer_side(a: np.ndarray, side: int) -> np.ndarray:
    """Scale so the longer side is `side` px, keeping the aspect ratio, with anti-aliasing.

    BOX (area averaging) when shrinking: each output pixel is the ink coverage of its area,
    which is what MNIST's anti-aliased grey levels are. BILINEAR when enlarging (a tiny canvas).
    """
    h, w = a.shape
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resample = Image.BOX if scale <= 1 else Image.BILINEAR
    return np.asarray(Image.fromarray(a.astype(np.float32, copy=False)).resize(size, resample))


def _stroke_width(a: np.ndarray) -> float:
    """Mean stroke width in px of the ink (at least half the peak) in `a`.

    Across a band of width w the distance to the background runs 1, 2, ..., w/2, ..., 2, 1, so
    its mean over the band is about w/4 + 1/2: w = 4 * mean - 2 (exact for straight bands,
    close enough for digits, and cheap: one distance transform on an 80 px image).
    """
    mask = np.pad(a > 0.5 * a.max(), 1)  # the image edge is background too (a "1" fills its box)
    # The nearest background pixel of each pixel (the feature transform), and the distances only
    # where the ink is: the same numbers as distance_transform_edt(mask)[mask], a third faster.
    nearest = ndi.distance_transform_edt(mask, return_distances=False, return_indices=True)
    ys, xs = np.nonzero(mask)
    dy, dx = nearest[0][ys, xs] - ys, nearest[1][ys, xs] - xs
    return 4.0 * float(np.sqrt((dy * dy + dx * dx).astype(np.float64)).mean()) - 2.0


def _normalise_stroke_width(work: np.ndarray) -> np.ndarray:
    """Dilate strokes far thinner than MNIST's, erode strokes far thicker, at working size.

    A disk of radius r widens (dilation) or narrows (erosion) a stroke by 2r but also grows or
    shrinks the bounding box by 2r, so r is chosen to reach the target width relative to the
    new box: (w + 2r) / (L + 2r) = target. Grey morphology keeps the anti-aliased edges.
    """
    longer = max(work.shape)
    ratio = _stroke_width(work) / longer
    if WIDTH_LOW <= ratio <= WIDTH_HIGH:
        return work
    target = DILATE_TO if ratio < WIDTH_LOW else ERODE_TO
    r = round((target - ratio) * longer / (1 - target) / 2)
    if r > 0:
        padded = np.pad(work, r + 1)  # room for the strokes to grow into
        return _disk_filter(ndi.maximum_filter, padded, r)
    # Erosion wipes out any part of the drawing thinner than 2r (the tail of a 9 drawn with
    # an uneven brush, say), which then shrinks the bounding box: erode less until it does not.
    box = _box(work > 0.5 * work.max())
    for radius in range(-r, 0, -1):
        eroded = _disk_filter(ndi.minimum_filter, work, radius)
        mask = eroded > 0.5 * work.max()
        if mask.any() and np.abs(_box(mask) - box).max() <= radius + 2:
            return eroded
    return work


def _disk_filter(filter_, a: np.ndarray, radius: int) -> np.ndarray:
    """Grey dilation (filter_=ndi.maximum_filter) or erosion (minimum_filter) by a disk of `radius`.

    The disk (y^2 + x^2 <= r^2) is the union of the rectangles |y| <= dy, |x| <= floor(sqrt(r^2 - dy^2))
    for dy = 0..r, and the max (min) over a union is the max (min) of the maxima (minima) over its
    parts. A rectangle's filter is two 1-D passes, so this gives exactly what the same filter with
    the disk as footprint gives, without scanning the footprint pixel by pixel.
    """
    out = None
    for dy in range(radius + 1):
        half = math.isqrt(radius * radius - dy * dy)
        if dy < radius and half == math.isqrt(radius * radius - (dy + 1) ** 2):
            continue  # the next, taller rectangle of the same width covers this one
        part = filter_(a, size=(2 * dy + 1, 2 * half + 1))
        out = part if out is None else (np.maximum if filter_ is ndi.maximum_filter else np.minimum)(out, part)
    return out


def _box(mask: np.ndarray) -> np.ndarray:
    """Bounding box of a non-empty mask: [top, bottom, left, right]."""
    ys, xs = np.nonzero(mask)
    return np.array([ys.min(), ys.max(), xs.min(), xs.max()])


def _place_by_centre_of_mass(digit: np.ndarray) -> np.ndarray:
    """Paste into a 28x28 field so the centre of mass lands on CENTRE, by a whole-pixel shift.

    MNIST shifted by whole pixels too: its centres of mass spread around (14, 14) with a
    standard deviation of 0.29 px, exactly that of rounding (1 / sqrt(12)).

    The offset is clamped so that no ink leaves the frame (the digit is at most 20 px, the
    field 28, so clamping only matters for very lopsided digits).
    """
    h, w = digit.shape
    total = float(digit.sum(dtype=np.float64))  # the centre of mass, as ndi.center_of_mass without its generality
    cy = float(digit.sum(axis=1, dtype=np.float64) @ np.arange(h)) / total
    cx = float(digit.sum(axis=0, dtype=np.float64) @ np.arange(w)) / total
    top = int(np.clip(round(CENTRE[0] - cy), 0, SIZE - h))
    left = int(np.clip(round(CENTRE[1] - cx), 0, SIZE - w))
    out = np.zeros((SIZE, SIZE), np.float32)
    out[top:top + h, left:left + w] = digit
    return np.clip(out / out.max(), 0.0, 1.0)
