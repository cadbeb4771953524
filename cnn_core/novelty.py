"""Does a drawing look like a digit at all? Cheap checks on the 28x28 image the model saw.

A classifier ends in a softmax: ten probabilities that always sum to 1. It has no way to say
"none of these", so a dot or a scribble still gets a digit, often with 90% confidence. These
checks look at the drawing itself, after the MNIST-style preprocessing (strokes normalised to
MNIST's width, the drawing scaled to 20 px and centred), and flag what no MNIST digit looks
like: filled areas, many small pieces, many loops, many strokes side by side, far too much
or too little ink. The model's
own doubt (a low top probability) counts too.

Each threshold sits at the far tail of what MNIST's digits show (measured on the 10,000 test
digits; bench/novelty.py prints the rates: under 1% of real digits flagged, most blobs and
scribbles flagged). Thin random scribbles that wander like a pen stroke are the hard case:
stroke by stroke they look like handwriting, and most pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage as ndi

INK = 0.5  # a pixel is ink when at least half bright
MAX_THICKNESS = 5.0  # px from the deepest ink pixel to the background (MNIST: 99.9% <= 5)
MAX_THICK_SHARE = 0.15  # share of the ink 3 px or more inside a stroke: a filled area (MNIST: 99.6% <= 0.15)
MAX_HOLES = 4  # closed loops (an 8 has two; MNIST: 99.9% <= 4)
MAX_LAYERS = 4  # strokes met by one straight row or column of pixels (a 3 or an 8: three; MNIST: 99.9% <= 4)
MIN_MAIN_PIECE = 0.5  # the largest piece's share of the ink, when in pieces (MNIST: 99.9% >= 0.5)
INK_RANGE = (0.03, 0.30)  # mean brightness of the 28x28 image (MNIST: 99.9% within)
MIN_CONFIDENCE = 0.5  # the model's top probability (MNIST: 99.9% of test digits above)

KINDS = ("dot", "walk", "blob", "zigzag", "tangle")  # what make_scribbles draws
CANVAS = 280


@dataclass(frozen=True)
class Verdict:
    is_digit: bool
    reason: str  # why not, in a learner's words; "" for a digit
    signals: dict  # the measured values, by name


def signals(image28: np.ndarray, probabilities: np.ndarray) -> dict:
    """The measures the checks use, for one preprocessed (28, 28[, 1]) image in [0, 1]."""
    x = np.asarray(image28, np.float32).reshape(28, 28)
    ink = x > INK
    depth = ndi.distance_transform_edt(ink)
    pieces, n_pieces = ndi.label(ink, structure=np.ones((3, 3), bool))
    sizes = np.bincount(pieces.ravel())[1:]
    # Holes: background regions (4-connected, as the ink is 8-connected) not touching the border.
    background, n_background = ndi.label(~ink)
    outside = np.unique(np.concatenate([background[0], background[-1], background[:, 0], background[:, -1]]))
    # Layers: runs of ink along each row and each column (a zigzag stacks many strokes).
    starts_down = (ink[1:, :] & ~ink[:-1, :]).sum(axis=0) + ink[0, :]
    starts_across = (ink[:, 1:] & ~ink[:, :-1]).sum(axis=1) + ink[:, 0]
    return {
        "ink": float(x.mean()),
        "layers": int(max(starts_down.max(), starts_across.max())),
        "thickness": float(depth.max()),
        "thick_share": float((depth >= 3).sum() / max(1, ink.sum())),
        "pieces": int(n_pieces),
        "main_piece": float(sizes.max() / sizes.sum()) if n_pieces else 0.0,
        "holes": int(n_background - np.count_nonzero(outside)),
        "confidence": float(np.max(probabilities)),
    }


def looks_like_digit(image28: np.ndarray, probabilities: np.ndarray) -> Verdict:
    """Whether a preprocessed drawing looks like a digit, and if not, why (the first check that fails)."""
    s = signals(image28, probabilities)
    checks = [
        (s["ink"] < INK_RANGE[0], "only a speck of ink"),
        (s["pieces"] >= 2 and s["main_piece"] < MIN_MAIN_PIECE, "it is in several small pieces"),
        (s["thickness"] > MAX_THICKNESS or s["thick_share"] > MAX_THICK_SHARE, "it is a filled shape, not strokes"),
        (s["holes"] > MAX_HOLES, "it has too many loops"),
        (s["layers"] > MAX_LAYERS, "it has too many strokes side by side"),
        (s["ink"] > INK_RANGE[1], "it is far too much ink for a digit"),
        (s["confidence"] < MIN_CONFIDENCE, "the model cannot decide between digits"),
    ]
    for failed, reason in checks:
        if failed:
            return Verdict(False, reason, s)
    return Verdict(True, "", s)


def make_scribbles(n: int, seed: int = 0, kinds: tuple[str, ...] = KINDS) -> list[tuple[str, np.ndarray]]:
    """n (kind, 280x280 RGBA white-on-black canvas) non-digits, the kinds in turn; same seed, same drawings.

    dot: one to three dots (a tap of the pen); walk: a random pen walk of 8-24 steps; blob: a
    filled polygon; zigzag: 5-10 back-and-forth strokes; tangle: 15-40 random points joined up.
    """
    rng = np.random.default_rng(seed)
    return [(kinds[i % len(kinds)], _scribble(kinds[i % len(kinds)], rng)) for i in range(n)]


def _scribble(kind: str, rng: np.random.Generator) -> np.ndarray:
    img = Image.new("L", (CANVAS, CANVAS), 0)
    pen = ImageDraw.Draw(img)
    width = int(rng.integers(8, 36))  # the app's brush goes from 6 to 40
    if kind == "dot":
        for _ in range(int(rng.integers(1, 4))):
            x, y = rng.uniform(30, 250, 2)
            r = width / 2 * rng.uniform(0.8, 1.5)
            pen.ellipse([x - r, y - r, x + r, y + r], fill=255)
    elif kind == "walk":
        p = rng.uniform(60, 220, 2)
        points = [tuple(p)]
        for _ in range(int(rng.integers(8, 25))):
            p = np.clip(p + rng.normal(0, 45, 2), 10, 270)
            points.append(tuple(p))
        _stroke(pen, points, width)
    elif kind == "blob":
        cx, cy = rng.uniform(80, 200, 2)
        rx, ry = rng.uniform(20, 100, 2)
        k = int(rng.integers(5, 12))
        angles, radii = np.sort(rng.uniform(0, 2 * np.pi, k)), rng.uniform(0.6, 1.0, k)
        pen.polygon([(cx + rx * r * np.cos(a), cy + ry * r * np.sin(a)) for a, r in zip(angles, radii)], fill=255)
    elif kind == "zigzag":
        n = int(rng.integers(5, 11))
        x0, x1 = sorted(rng.uniform(30, 250, 2))
        y0, y1 = sorted(rng.uniform(30, 250, 2))
        x1, y1 = max(x1, min(270, x0 + 80)), max(y1, min(270, y0 + 80))
        points = [(x0 if i % 2 == 0 else x1, y) for i, y in enumerate(np.linspace(y0, y1, n + 1))]
        if rng.integers(2):
            points = [(y, x) for x, y in points]  # sideways
        _stroke(pen, points, width)
    elif kind == "tangle":
        _stroke(pen, [tuple(rng.uniform(40, 240, 2)) for _ in range(int(rng.integers(15, 40)))], width)
    else:
        raise ValueError(f"unknown scribble kind {kind!r}; choose from {', '.join(KINDS)}")
    grey = np.asarray(img)
    return np.dstack([grey, grey, grey, np.full_like(grey, 255)])


def _stroke(pen: ImageDraw.ImageDraw, points: list, width: int) -> None:
    """A pen stroke through the points, with round joints and ends like the canvas' brush."""
    pen.line(points, fill=255, width=width, joint="curve")
    r = width / 2
    for x, y in (points[0], points[-1]):
        pen.ellipse([x - r, y - r, x + r, y + r], fill=255)
