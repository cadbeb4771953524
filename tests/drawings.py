"""A deterministic robustness test set: MNIST test digits redrawn as canvas drawings.

Each drawing is one MNIST digit enlarged onto a 280x280 canvas the way a user might draw it:
small or large, anywhere on the canvas, with a thin pen or a fat brush, in one of the three
canvas styles the preprocessing must understand. A model that reads these as well as the
plain test set shows that canvas_to_mnist really does undo all of that.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

CANVAS = 280
STYLES = ("white-on-black", "black-on-white", "transparent")
# Longer side of the drawn digit on the canvas, in px.
SIZES = {"small": (50, 90), "medium": (120, 180), "large": (200, 270)}
POSITIONS = ("centre", "anywhere", "corner")
# Stroke rendering: the enlarged grey digit is cut at half its peak to give a pen stroke
# about as wide as MNIST's (2.5 px of 20); "thick" and "brush" grow it by `grow` MNIST px on
# each side; "thin" redraws it along its centre line with a pen of PEN_PX canvas px, like
# a drawing canvas's default pen (on a 200 px digit, a quarter to an eighth of MNIST's
# relative stroke width).
THICKNESS = {"thin": 0.0, "normal": 0.0, "thick": 0.8, "brush": 1.6}
PEN_PX = (3.0, 6.0)
VARIATIONS = {"style": STYLES, "size": tuple(SIZES), "position": POSITIONS, "thickness": tuple(THICKNESS)}


class Drawing(NamedTuple):
    rgba: np.ndarray  # (280, 280, 4) uint8, as a canvas returns it
    label: int
    description: str  # "mnist#12 style=transparent size=small position=corner thickness=thin"

    @property
    def variation(self) -> dict[str, str]:
        """The description's key=value pairs: style, size, position, thickness."""
        return dict(part.split("=", 1) for part in self.description.split() if "=" in part)


def make_drawings(x: np.ndarray, y: np.ndarray, n: int, seed: int = 0) -> list[Drawing]:
    """n drawings from the digits x (N, 28, 28) uint8 with labels y; same seed, same drawings.

    Digits are drawn without replacement while they last; every variation is chosen
    independently and uniformly, so each level of each variation gets about n / levels.
    """
    if len(x) == 0 or len(x) != len(y):
        raise ValueError(f"need digits with one label each, got {len(x)} images and {len(y)} labels")
    if n <= 0:
        return []
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(len(x)) for _ in range(-(-n // len(x)))])[:n]
    drawings = []
    for i in order:
        choice = {k: levels[rng.integers(len(levels))] for k, levels in VARIATIONS.items()}
        ink = render_digit(x[i], rng, choice["size"], choice["thickness"])
        canvas = np.zeros((CANVAS, CANVAS), np.float32)
        _place(canvas, ink, rng, choice["position"])
        description = f"mnist#{i} " + " ".join(f"{k}={v}" for k, v in choice.items())
        drawings.append(Drawing(to_canvas_style(canvas, choice["style"]), int(y[i]), description))
    return drawings


def render_digit(digit: np.ndarray, rng: np.random.Generator, size: str, thickness: str) -> np.ndarray:
    """The digit enlarged to a random size in SIZES[size], as a pen stroke: float32 ink in [0, 1]."""
    d = digit.astype(np.float32) / max(1, int(digit.max()))
    ys, xs = np.nonzero(d > 0.1)
    d = d[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    grow = THICKNESS[thickness]
    lo, hi = SIZES[size]
    longer_px = rng.uniform(lo, hi)  # final longer side, brush growth included
    scale = longer_px / (max(d.shape) + 2 * grow)  # canvas px per MNIST px
    h, w = (max(1, round(s * scale)) for s in d.shape)
    big = np.asarray(Image.fromarray(d).resize((w, h), Image.BICUBIC))
    # A pen stroke: solid inside, with an anti-aliased edge about 2 px wide.
    ink = np.clip((big - 0.5) * scale + 0.5, 0.0, 1.0)
    if thickness == "thin":
        # The centre line: the crest of the distance to the background (a tent across each
        # stroke), lightly smoothed. A crest pixel is not lower than its two neighbours and
        # clearly bent down towards them, across some direction: along the crest the height
        # varies, so a plain local maximum would leave gaps, and the bend test drops the
        # straight flanks of the tent, where rounding alone would make "crests". (A cheap
        # stand-in for a skeleton, which SciPy lacks.)
        height = ndi.gaussian_filter(ndi.distance_transform_edt(np.pad(ink, 2) >= 0.5), 1.5)
        core = height[1:-1, 1:-1]
        ridge = np.zeros(core.shape, bool)
        for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
            before = height[1 - dy:height.shape[0] - 1 - dy, 1 - dx:height.shape[1] - 1 - dx]
            after = height[1 + dy:height.shape[0] - 1 + dy, 1 + dx:height.shape[1] - 1 + dx]
            ridge |= (core >= before) & (core >= after) & (2 * core - before - after > 0.2)
        # Spurs running out to bumps of the outline sit much lower than the crest nearby.
        ridge &= (core >= 1) & (core >= 0.7 * ndi.maximum_filter(core, size=int(2 * scale) + 1))
        r = rng.uniform(*PEN_PX) / 2
        ink = np.clip(r + 0.5 - ndi.distance_transform_edt(~ridge), 0.0, 1.0)
    elif grow:
        r = grow * scale
        outside = ndi.distance_transform_edt(np.pad(ink, int(np.ceil(r)) + 1) < 0.5)
        ink = np.clip(r + 0.5 - outside, 0.0, 1.0)  # grown by r, again anti-aliased
    return ink.astype(np.float32)


def _place(canvas: np.ndarray, ink: np.ndarray, rng: np.random.Generator, position: str) -> None:
    """Paste ink onto the canvas (cropped if larger): centred, anywhere, or in a random corner."""
    ink = ink[:CANVAS, :CANVAS]
    h, w = ink.shape
    room_y, room_x = CANVAS - h, CANVAS - w
    if position == "centre":
        top = room_y // 2 + rng.integers(-5, 6)
        left = room_x // 2 + rng.integers(-5, 6)
    elif position == "anywhere":
        top, left = rng.integers(0, room_y + 1), rng.integers(0, room_x + 1)
    else:  # a corner, 0 to 10 px from both edges
        top = rng.integers(0, 11) if rng.integers(2) else room_y - rng.integers(0, 11)
        left = rng.integers(0, 11) if rng.integers(2) else room_x - rng.integers(0, 11)
    top, left = int(np.clip(top, 0, room_y)), int(np.clip(left, 0, room_x))
    canvas[top:top + h, left:left + w] = ink


def to_canvas_style(ink: np.ndarray, style: str) -> np.ndarray:
    """Ink (H, W) in [0, 1] -> (H, W, 4) uint8 RGBA in one of STYLES.

    transparent: black strokes whose alpha is the ink over a fully transparent background,
    the hardest case (the colour channels are all zero: only alpha shows the digit).
    """
    level = np.round(ink * 255).astype(np.uint8)
    out = np.empty(ink.shape + (4,), np.uint8)
    if style == "white-on-black":
        out[..., :3] = level[..., None]
        out[..., 3] = 255
    elif style == "black-on-white":
        out[..., :3] = 255 - level[..., None]
        out[..., 3] = 255
    elif style == "transparent":
        out[..., :3] = 0
        out[..., 3] = level
    else:
        raise ValueError(f"unknown canvas style {style!r}; choose one of {', '.join(STYLES)}")
    return out
