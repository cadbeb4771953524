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
