"""Looking inside a trained model: the summary table, learned filters and feature maps."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np

from .model import BUILD_LOCK

_extractors: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_extractors_lock = threading.Lock()


@dataclass(frozen=True)
class LayerRow:
    name: str
    type: str
    output_shape: str  # as model.summary() prints it, e.g. "(None, 26, 26, 32)"
    params: int


@dataclass(frozen=True)
class Summary:
    rows: list[LayerRow]
    total: int
    trainable: int
    non_trainable: int


def _count(weights) -> int:
    return int(sum(np.prod(w.shape) for w in weights))


def summary(model) -> Summary:
    """The rows and totals of Keras' own model.summary(), as data."""
    rows = [
        LayerRow(layer.name, type(layer).__name__, str(tuple(layer.output.shape)), _count(layer.weights))
        for layer in model.layers
    ]
    trainable = _count(model.trainable_weights)
    non_trainable = _count(model.non_trainable_weights)
    return Summary(rows, trainable + non_trainable, trainable, non_trainable)


def conv_layers(model) -> list[str]:
    return [layer.name for layer in model.layers if type(layer).__name__ == "Conv2D"]


FEATURE_MAP_TYPES = ("Conv2D", "Activation", "MaxPooling2D")


def feature_map_layers(model) -> list[str]:
    """Layers whose output is a stack of maps worth looking at: convolutions, their activations
    (with batch norm the non-linearity is a layer of its own) and pooling."""
    return [layer.name for layer in model.layers if type(layer).__name__ in FEATURE_MAP_TYPES]


def conv_filters(model, layer_name: str) -> np.ndarray:
    """The kernel of a Conv2D layer, shape (kernel_h, kernel_w, in_channels, filters)."""
    layer = model.get_layer(layer_name)
    if type(layer).__name__ != "Conv2D":
        raise ValueError(f"{layer_name} is not a convolution layer")
    return np.asarray(layer.kernel)


def _extractor(model):
    """One keras.Model per model that returns every image-shaped layer's output, built once."""
    with _extractors_lock:
        ext = _extractors.get(model)
        if ext is None:
            import keras

            names = feature_map_layers(model)
            with BUILD_LOCK:
                ext = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
            _extractors[model] = ext = (names, ext)
        return ext


def feature_maps(model, image: np.ndarray) -> dict[str, np.ndarray]:
    """Each conv/pool layer's output for one 28x28 image: {layer name: (h, w, channels)}."""
    names, ext = _extractor(model)
    x = np.asarray(image, np.float32).reshape(1, 28, 28, 1)
    outputs = ext([x], training=False)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return {n: np.asarray(o)[0] for n, o in zip(names, outputs)}
