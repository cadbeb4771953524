"""The Model page's pictures, rendered to PNG and cached (a model is identified by its file and mtime).

Filter grids depend only on the model, so they are cached for everyone; feature maps depend on
the image too, and the cache keeps the most recent ones.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

FIRST_LAYER_PAGE = 32  # first-layer filters per page (each one 3x3 heat map)
DEEP_LAYER_PAGE = 16  # deeper layers: a readable subset per page


def model_key(predictor) -> str:
    path = predictor.path
    try:
        return f"{path}:{path.stat().st_mtime}"
    except (OSError, AttributeError):
        return f"{path}:{id(predictor.model)}"


def filter_kernels(kernel: np.ndarray, start: int, stop: int, mode: str) -> np.ndarray:
    """(kh, kw, n) kernels of filters start..stop-1 from a (kh, kw, in, out) weight array.

    One input channel: the kernels themselves. Several: their mean over inputs, or input channel 0.
    """
    k = kernel[..., start:stop]
    if k.shape[2] == 1:
        return k[:, :, 0, :]
    return k.mean(axis=2) if mode == "mean" else k[:, :, 0, :]


@st.cache_data(show_spinner=False, max_entries=64)
def filters_png(key: str, _model, layer: str, start: int, stop: int, mode: str) -> bytes:
    from cnn_core import introspect, plots

    kernel = introspect.conv_filters(_model, layer)
    kernels = filter_kernels(kernel, start, stop, mode)
    labels = [f"#{i}" for i in range(start, stop)]
    small = kernel.shape[0] * kernel.shape[1] <= 25 and kernel.shape[2] == 1
    return plots.to_png(plots.filter_grid(kernels, labels, cols=8, cell=1.0 if small else 0.9))


@st.cache_data(show_spinner=False, max_entries=32)
def feature_maps_png(key: str, _model, image: np.ndarray, count: int) -> dict[str, tuple[bytes, tuple]]:
    """{layer: (png, (h, w, channels))} for every conv/activation/pooling layer, first `count` maps each."""
    from cnn_core import introspect, plots

    maps = introspect.feature_maps(_model, image)
    out = {}
    for name, m in maps.items():
        channels = list(range(min(count, m.shape[-1])))
        out[name] = (plots.to_png(plots.feature_map_grid(m, channels, cols=8)), tuple(m.shape))
    return out


# --- heatmaps over the 28x28 image (numpy only: a few ms, fast enough for every stroke) ---

HEAT_CMAP = "hot"  # black -> red -> yellow -> white: "the brighter, the more it pushed"
SIGNED_CMAP = "RdBu_r"  # blue (against) -> white -> red (for)
BASE_LEVEL = 0.35  # the digit under a heatmap, as dim grey: where it is without drowning the colours


def _cmap(name: str):
    import matplotlib

    return matplotlib.colormaps[name]


def _rgb_enlarged(rgb: np.ndarray, scale: int) -> np.ndarray:
    """(28, 28, 3) floats in [0, 1] -> uint8, each pixel a scale x scale square (crisp pixels)."""
    rgb = np.clip(rgb, 0, 1)
    return (np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1) * 255).round().astype(np.uint8)


def heat_overlay(image: np.ndarray, heat: np.ndarray, scale: int = 8) -> np.ndarray:
    """A heatmap (>= 0, hottest = 1) in HEAT_CMAP's colours over the digit in dim grey: each pixel
    shows whichever is brighter, so cold ink stays visible and hot pixels glow."""
    base = np.asarray(image, np.float32).reshape(28, 28)[..., None] * BASE_LEVEL
    colour = _cmap(HEAT_CMAP)(np.clip(heat, 0, 1))[..., :3]
    return _rgb_enlarged(np.maximum(base, colour), scale)


def signed_overlay(image: np.ndarray, signed: np.ndarray, scale: int = 8) -> np.ndarray:
    """A signed map in [-1, 1] (red > 0, blue < 0, its strength as opacity) over the digit in dim grey."""
    signed = np.clip(np.asarray(signed, np.float32), -1, 1)
    base = np.repeat(np.asarray(image, np.float32).reshape(28, 28)[..., None] * BASE_LEVEL, 3, axis=2)
    colour = _cmap(SIGNED_CMAP)((signed + 1) / 2)[..., :3]
    alpha = np.abs(signed)[..., None]
    return _rgb_enlarged((1 - alpha) * base + alpha * colour, scale)


def symmetric_scale(values: np.ndarray) -> np.ndarray:
    """values / their largest magnitude: in [-1, 1] (all zeros stay zeros)."""
    top = float(np.abs(values).max())
    return values / top if top > 0 else np.zeros_like(values)


def strip(images: np.ndarray, scale: int = 3, gap: int = 4) -> np.ndarray:
    """(n, 28, 28) images in [0, 1] side by side, a grey gap between them, as one uint8 picture."""
    size = 28 * scale
    out = np.full((size, len(images) * (size + gap) - gap), 90, np.uint8)
    for i, img in enumerate(images):
        big = np.repeat(np.repeat(np.clip(img.reshape(28, 28), 0, 1), scale, 0), scale, 1)
        out[:, i * (size + gap):i * (size + gap) + size] = (big * 255).round().astype(np.uint8)
    return out


def colour_legend(cmap: str, left: str, right: str, signed: bool = False) -> str:
    """A colour bar in HTML (a CSS gradient sampled from the colour map) with words at both ends."""
    import matplotlib.colors

    stops = ", ".join(matplotlib.colors.to_hex(_cmap(cmap)(t)) for t in np.linspace(0, 1, 9))
    middle = "<span>0</span>" if signed else ""
    return (f'<div style="height:16px;border-radius:3px;border:1px solid #888;'
            f'background:linear-gradient(to right, {stops})"></div>'
            f'<div style="display:flex;justify-content:space-between;font-size:0.85em">'
            f'<span>{left}</span>{middle}<span>{right}</span></div>')
