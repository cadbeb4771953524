"""The Home page's pictures: the four CNN ideas shown with the real default model and a real digit.

Computed once per model file and dataset and shared by all sessions (st.cache_data keeps the
PNG bytes); the first computation loads TensorFlow and the default model, so the Home page
draws its text first and fills these in afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from cnn_core import datasets

from . import state


@dataclass(frozen=True)
class HomePictures:
    convolution: bytes
    activation: bytes
    pooling: bytes
    dense: bytes
    digit_label: int
    predicted: int
    confidence: float
    conv_layer: str
    pool_layer: str | None
    n_filters: int
    kernel: tuple[int, int]
    conv_params: int
    flatten_size: int
    dense_equivalent: int  # weights a fully connected layer would need for the same output


def pre_activation(image: np.ndarray, kernel: np.ndarray, bias: float) -> np.ndarray:
    """A Conv2D's output before its activation, for one filter, one input channel, valid padding."""
    # Imported here: scipy.signal takes ~1.4 s to import, and the Home page imports this module
    # before its title; the pictures are drawn after the text anyway.
    from scipy import signal

    return signal.correlate2d(np.asarray(image, np.float64).squeeze(), kernel, mode="valid") + bias


def home_pictures() -> HomePictures:
    path = state.default_model_path()
    ds = state.dataset(datasets.MNIST.name)
    mtime = path.stat().st_mtime if path.is_file() else 0.0
    return _home_pictures(str(path), mtime, ds.source)


@st.cache_data(show_spinner=False, max_entries=2)
def _home_pictures(path: str, mtime: float, source: str) -> HomePictures:
    from cnn_core import introspect, plots

    pred = state.predictor(state.DEFAULT)
    model = pred.model
    ds = state.dataset(datasets.MNIST.name)
    index = 0  # the first test digit (a 7 in MNIST's own order)
    image = ds.x_test[index].astype(np.float32) / 255.0
    maps = introspect.feature_maps(model, image)
    conv = introspect.conv_layers(model)[0]
    kernels = introspect.conv_filters(model, conv)  # (kh, kw, 1, n)
    layer = model.get_layer(conv)
    bias = np.asarray(layer.bias) if getattr(layer, "bias", None) is not None else np.zeros(kernels.shape[-1])
    fmap = maps[conv]
    # The filter whose map varies most across the digit: the clearest example.
    ch = int(np.argmax(fmap.reshape(-1, fmap.shape[-1]).std(axis=0)))
    kernel = kernels[:, :, 0, ch]
    pos = tuple(int(v) for v in np.unravel_index(np.argmax(fmap[..., ch]), fmap.shape[:2]))
    pre = pre_activation(image, kernel, float(bias[ch]))
    names = [layer.name for layer in model.layers]
    after = names[names.index(conv) + 1:]
    pool = next((n for n in after if n in maps and type(model.get_layer(n)).__name__ == "MaxPooling2D"), None)
    activation = getattr(layer, "activation", None)
    act_name = getattr(activation, "__name__", "the activation")
    prediction = pred.predict_image(image)
    flatten = next((layer for layer in model.layers if type(layer).__name__ == "Flatten"), None)
    flat = int(np.prod(flatten.output.shape[1:])) if flatten is not None else 0
    kh, kw = kernel.shape
    return HomePictures(
        convolution=plots.to_png(plots.convolution_demo(image, kernel, fmap[..., ch], pos)),
        activation=plots.to_png(plots.activation_demo(pre, fmap[..., ch], act_name)),
        pooling=plots.to_png(plots.pooling_demo(fmap[..., ch], maps[pool][..., ch])) if pool else b"",
        dense=plots.to_png(plots.probability_bars(prediction.probabilities, ds.class_names,
                                                  "output of the last fully connected layer (softmax)")),
        digit_label=int(ds.y_test[index]), predicted=prediction.digit, confidence=prediction.confidence,
        conv_layer=conv, pool_layer=pool, n_filters=int(kernels.shape[-1]), kernel=(kh, kw),
        conv_params=int(np.prod(kernels.shape) + kernels.shape[-1]), flatten_size=flat,
        dense_equivalent=int(image.size * np.prod(fmap.shape)),
    )
