"""Matplotlib pictures for the app: filters, feature maps, the four CNN ideas, confusion matrix, galleries.

Only matplotlib's object API (Figure, never pyplot): the app draws from several sessions'
threads at once and pyplot's global state is not thread-safe. Every function returns a
Figure; `to_png` turns it into bytes for st.image (and for caching). No Streamlit here.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

FILTER_CMAP = "RdBu_r"  # diverging: red = positive weight, blue = negative, white = 0
MAP_CMAP = "magma"  # feature maps: dark = no response, bright = strong response
DIGIT_CMAP = "gray"


def to_png(fig: Figure, dpi: int = 100) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def _grid(n: int, cols: int, cell: float, extra_h: float = 0.0) -> tuple[Figure, np.ndarray, int, int]:
    cols = max(1, min(cols, n))
    rows = max(1, -(-n // cols))
    fig = Figure(figsize=(cols * cell + 0.8, rows * cell + extra_h), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes, rows, cols


def symmetric_limit(values: np.ndarray) -> float:
    v = float(np.max(np.abs(values))) if np.size(values) else 0.0
    return v if v > 0 else 1.0


def filter_grid(kernels: np.ndarray, labels: list[str] | None = None, title: str = "", cols: int = 8,
                cell: float = 0.9, annotate: bool = False) -> Figure:
    """Kernels (kh, kw, n) as a grid of heat maps on one symmetric diverging colour scale."""
    kernels = np.asarray(kernels, np.float32)
    n = kernels.shape[-1]
    fig, axes, _, _ = _grid(n, cols, cell, extra_h=0.4)
    lim = symmetric_limit(kernels)
    im = None
    for i in range(n):
        k = kernels[..., i]
        im = axes[i].imshow(k, cmap=FILTER_CMAP, vmin=-lim, vmax=lim, interpolation="nearest")
        axes[i].set_title(labels[i] if labels else f"#{i}", fontsize=8)
        if annotate and k.size <= 25:
            for (r, c), w in np.ndenumerate(k):
                axes[i].text(c, r, f"{w:.1f}", ha="center", va="center", fontsize=6,
                             color="white" if abs(w) > 0.6 * lim else "black")
    if im is not None:
        fig.colorbar(im, ax=list(axes[:n]), shrink=0.8, label="weight (red +, blue −)")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def feature_map_grid(maps: np.ndarray, channels: list[int] | None = None, title: str = "", cols: int = 8,
                     cell: float = 1.1) -> Figure:
    """Feature maps (h, w, c): the chosen channels, each on its own scale (bright = strong response)."""
    maps = np.asarray(maps, np.float32)
    channels = list(range(maps.shape[-1])) if channels is None else list(channels)
    fig, axes, _, _ = _grid(len(channels), cols, cell, extra_h=0.4)
    for ax, ch in zip(axes, channels):
        m = maps[..., ch]
        lo, hi = float(m.min()), float(m.max())
        ax.imshow(m, cmap=MAP_CMAP, vmin=lo, vmax=hi if hi > lo else lo + 1, interpolation="nearest")
        ax.set_title(f"map {ch}", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def convolution_demo(image: np.ndarray, kernel: np.ndarray, fmap: np.ndarray, pos: tuple[int, int]) -> Figure:
    """Input digit with one kernel-sized window, the kernel itself, and the feature map it makes.

    The window at `pos` (top-left row, col) produces exactly one pixel of the map, marked there.
    """
    img = np.asarray(image, np.float32).squeeze()
    k = np.asarray(kernel, np.float32)
    kh, kw = k.shape
    r, c = pos
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    a0, a1, a2 = fig.subplots(1, 3)
    a0.imshow(img, cmap=DIGIT_CMAP, interpolation="nearest")
    a0.add_patch(Rectangle((c - 0.5, r - 0.5), kw, kh, fill=False, ec="#00d0ff", lw=2))
    a0.set_title(f"input digit {img.shape[0]}×{img.shape[1]}\n(cyan: one {kh}×{kw} window)", fontsize=9)
    lim = symmetric_limit(k)
    im = a1.imshow(k, cmap=FILTER_CMAP, vmin=-lim, vmax=lim, interpolation="nearest")
    for (i, j), w in np.ndenumerate(k):
        a1.text(j, i, f"{w:.2f}", ha="center", va="center", fontsize=8,
                color="white" if abs(w) > 0.6 * lim else "black")
    a1.set_title(f"learned {kh}×{kw} filter\n(the same weights at every position)", fontsize=9)
    fig.colorbar(im, ax=a1, shrink=0.7, label="weight")
    a2.imshow(fmap, cmap=MAP_CMAP, interpolation="nearest")
    a2.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, ec="#00d0ff", lw=2))
    a2.set_title(f"feature map {fmap.shape[0]}×{fmap.shape[1]}\n(cyan: that window's output)", fontsize=9)
    for ax in (a0, a1, a2):
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def activation_demo(pre: np.ndarray, post: np.ndarray, name: str = "ReLU") -> Figure:
    """A feature map before the activation (diverging: negative blue) and after it."""
    fig = Figure(figsize=(7, 3.2), layout="constrained")
    a0, a1 = fig.subplots(1, 2)
    lim = symmetric_limit(pre)
    im0 = a0.imshow(pre, cmap=FILTER_CMAP, vmin=-lim, vmax=lim, interpolation="nearest")
    a0.set_title("before the activation\n(blue: negative, red: positive)", fontsize=9)
    fig.colorbar(im0, ax=a0, shrink=0.7)
    im1 = a1.imshow(post, cmap=FILTER_CMAP, vmin=-lim, vmax=lim, interpolation="nearest")
    a1.set_title(f"after {name}\n(negatives become 0)", fontsize=9)
    fig.colorbar(im1, ax=a1, shrink=0.7)
    for ax in (a0, a1):
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def pooling_demo(fmap: np.ndarray, pooled: np.ndarray) -> Figure:
    """A feature map and its 2x2 max-pooled version, drawn at the same size."""
    fig = Figure(figsize=(7, 3.2), layout="constrained")
    a0, a1 = fig.subplots(1, 2)
    vmax = float(max(fmap.max(), pooled.max())) or 1.0
    a0.imshow(fmap, cmap=MAP_CMAP, vmin=0, vmax=vmax, interpolation="nearest")
    a0.set_title(f"feature map {fmap.shape[0]}×{fmap.shape[1]}", fontsize=9)
    for x in np.arange(-0.5, fmap.shape[1], 2):
        a0.axvline(x, color="white", lw=0.3, alpha=0.5)
    for y in np.arange(-0.5, fmap.shape[0], 2):
        a0.axhline(y, color="white", lw=0.3, alpha=0.5)
    a1.imshow(pooled, cmap=MAP_CMAP, vmin=0, vmax=vmax, interpolation="nearest")
    a1.set_title(f"after 2×2 max-pooling {pooled.shape[0]}×{pooled.shape[1]}\n(each pixel: the max of a 2×2 block)",
                 fontsize=9)
    for ax in (a0, a1):
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def probability_bars(probabilities: np.ndarray, class_names: list[str] | None = None, title: str = "") -> Figure:
    p = np.asarray(probabilities, np.float64)
    names = class_names or [str(i) for i in range(len(p))]
    fig = Figure(figsize=(6, 2.8), layout="constrained")
    ax = fig.subplots()
    colours = ["#d62728" if i == int(p.argmax()) else "#1f77b4" for i in range(len(p))]
    ax.bar(range(len(p)), p, color=colours)
    top = int(p.argmax())
    ax.text(top, min(p[top], 0.9) + 0.03, f"{p[top]:.1%}", ha="center", fontsize=8)
    ax.set_xticks(range(len(p)), names, rotation=0 if len(max(names, key=len)) <= 2 else 45, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_xlabel("class")
    ax.set_ylabel("probability")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def confusion_matrix(cm: np.ndarray, class_names: list[str] | None = None, title: str = "") -> Figure:
    """Counts as a heat map: rows = true label, columns = predicted label, every cell annotated."""
    cm = np.asarray(cm, int)
    n = cm.shape[0]
    names = class_names or [str(i) for i in range(n)]
    fig = Figure(figsize=(6.4, 5.6), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(cm, cmap="Blues", interpolation="nearest")
    top = cm.max() or 1
    for (r, c), v in np.ndenumerate(cm):
        ax.text(c, r, str(v), ha="center", va="center", fontsize=7, color="white" if v > 0.5 * top else "black")
    ax.set_xticks(range(n), names, rotation=45 if len(max(names, key=len)) > 2 else 0, fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    fig.colorbar(im, ax=ax, shrink=0.8, label="test digits")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def digit_gallery(images: np.ndarray, titles: list[str], cols: int = 8, cell: float = 1.25) -> Figure:
    """Small digits with a caption each (e.g. true and predicted label and the probability)."""
    images = np.asarray(images)
    fig, axes, _, _ = _grid(max(1, len(images)), cols, cell, extra_h=0.2)
    for ax, img, t in zip(axes, images, titles):
        ax.imshow(np.asarray(img).squeeze(), cmap=DIGIT_CMAP, interpolation="nearest")
        ax.set_title(t, fontsize=7)
    return fig
