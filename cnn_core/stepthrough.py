"""The model's own arithmetic, one output pixel at a time, and what-if sweeps on a drawing.

ConvStep: for a conv layer, a filter and a position of its output map, the input patch (all input
channels), the kernel, the element-wise products, the per-channel sums, plus the bias, the batch
normalisation when the block has one (as Keras computes it at inference), and the activation. Its
`value` equals the block's Keras output at that position (`keras_value`, from the same forward pass).

PoolStep: a max-pooling window and which input was the max.

Sweeps: the drawing shifted, rotated, scaled, its stroke thickened or thinned in steps (scipy.ndimage),
every changed image classified in one batched forward pass; the unchanged point is the drawing itself
through Predictor.predict_image, so it equals the normal prediction exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from scipy import ndimage as ndi

from .config import IMAGE_SIZE
from .explain import BLOCK_TAIL_TYPES, CONV_TYPES, ExplainError, _one_image
from .inference import Predictor
from .model import BUILD_LOCK


@dataclass(frozen=True, eq=False)
class BatchNormStep:
    mean: float  # the moving mean and variance learnt in training (inference uses these)
    variance: float
    gamma: float
    beta: float
    epsilon: float
    value: float  # gamma * (x - mean) / sqrt(variance + epsilon) + beta


@dataclass(frozen=True, eq=False)
class ConvStep:
    layer: str
    filter: int
    row: int
    col: int
    source: str  # the layer whose output feeds this one ("input": the 28x28 image)
    rows: tuple[int, int]  # the patch's rows and columns in the source map, [start, stop)
    cols: tuple[int, int]
    patch: np.ndarray  # (kh, kw, channels_in) the source values under the kernel (0 outside, "same" padding)
    kernel: np.ndarray  # (kh, kw, channels_in) this filter's weights
    products: np.ndarray  # patch * kernel
    channel_sums: np.ndarray  # (channels_in,) products summed per input channel
    total: float  # all products summed
    bias: float  # 0 when the layer has none (a batch-normalised block)
    pre_activation: float  # total + bias: the conv layer's own output
    batch_norm: BatchNormStep | None
    activation: str  # its name ("linear": none)
    value: float  # the block's output at (row, col, filter)
    keras_value: float  # the same, from Keras' forward pass


@dataclass(frozen=True, eq=False)
class PoolStep:
    layer: str
    channel: int
    row: int
    col: int
    rows: tuple[int, int]  # the window in the source map, [start, stop)
    cols: tuple[int, int]
    window: np.ndarray  # (ph, pw) the values pooled
    argmax: tuple[int, int]  # the source (row, col) of the max: the pixel that was picked
    value: float
    keras_value: float


@dataclass(frozen=True, eq=False)
class Sweep:
    kind: str
    label: str  # the unit of values, for an axis
    values: np.ndarray  # (n,) the amount of change at each step
    identity: int  # the index of the unchanged drawing
    images: np.ndarray  # (n, 28, 28) float32
    probabilities: np.ndarray  # (n, 10) float64, each class' probability along the sweep


# kind: (axis label, the steps' range, whether the steps are whole numbers)
SWEEPS = {
    "shift_x": ("shift right, pixels (negative: left)", (-6, 6), False),
    "shift_y": ("shift down, pixels (negative: up)", (-6, 6), False),
    "rotate": ("rotation, degrees anticlockwise", (-60, 60), False),
    "scale": ("scale, times the size", (0.5, 1.5), False),
    "stroke": ("stroke, dilations (negative: erosions)", (-2, 2), True),
}
DEFAULT_STEPS = 9  # per sweep: odd, so the unchanged drawing is the middle step


class Stepper:
    """Every layer's output for an image, from one compiled forward pass built once per model."""

    def __init__(self, source):
        import keras

        self.predictor = source if isinstance(source, Predictor) else Predictor(source)
        self.model = model = self.predictor.model
        self.layers = list(model.layers)
        spec = tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE, 1], tf.float32)
        with BUILD_LOCK:
            every = keras.Model(model.inputs, [layer.output for layer in self.layers])
            self._outputs = tf.function(lambda x: every(x, training=False)).get_concrete_function(spec)

    def conv_layers(self) -> list[str]:
        return [layer.name for layer in self.layers if type(layer).__name__ in CONV_TYPES]

    def pool_layers(self) -> list[str]:
        return [layer.name for layer in self.layers if type(layer).__name__ == "MaxPooling2D"]

    def activations(self, image) -> dict[str, np.ndarray]:
        """{layer name: its (h, w, channels) or (units,) output} for one image, "input" included."""
        x = _one_image(image)
        outs = self._outputs(tf.constant(x))
        result = {"input": x[0]}
        result.update({layer.name: out.numpy()[0] for layer, out in zip(self.layers, outs)})
        return result

    def _find(self, name: str, kinds: list[str], what: str) -> int:
        if name not in kinds:
            raise ExplainError(f"no {what} named {name!r} in this model; its {what}s: {', '.join(kinds) or 'none'}")
        return [layer.name for layer in self.layers].index(name)

    def source_of(self, layer: str) -> str:
        """The name of the layer whose output feeds `layer` ("input": the 28x28 image)."""
        names = [x.name for x in self.layers]
        if layer not in names:
            raise ExplainError(f"no layer named {layer!r} in this model; its layers: {', '.join(names)}")
        return self._source(names.index(layer))

    def _source(self, index: int) -> str:
        return "input" if index == 0 else self.layers[index - 1].name

    def _output_pixel(self, image, layer: str, kinds, what: str, channel_name: str, channel: int, row: int, col: int):
        """The layer's index, every layer's activations, and its output map, with the pixel checked to exist."""
        i = self._find(layer, kinds, what)
        acts = self.activations(image)
        out = acts[self.layers[i].name]
        _check_index(channel_name, channel, out.shape[2])
        _check_index("row", row, out.shape[0])
        _check_index("col", col, out.shape[1])
        return i, acts, out

    def conv_step(self, image, layer: str, filter: int, row: int, col: int) -> ConvStep:
        """The arithmetic behind one output pixel of a conv layer (see the module doc)."""
        i, acts, out = self._output_pixel(image, layer, self.conv_layers(), "conv layer", "filter", filter, row, col)
        conv = self.layers[i]
        if tuple(conv.dilation_rate) != (1, 1) or getattr(conv, "groups", 1) != 1:
            raise ExplainError(f"{layer}: dilated or grouped convolutions are not stepped through")
        source = self._source(i)
        src = acts[source]
        kernel = conv.kernel.numpy()[..., filter]  # (kh, kw, channels_in)
        (kh, kw), (sh, sw) = kernel.shape[:2], tuple(conv.strides)
        pad_top = pad_left = 0
        if conv.padding == "same":  # TensorFlow puts the odd padding pixel at the bottom/right
            pad_top = max((out.shape[0] - 1) * sh + kh - src.shape[0], 0) // 2
            pad_left = max((out.shape[1] - 1) * sw + kw - src.shape[1], 0) // 2
        r0, c0 = row * sh - pad_top, col * sw - pad_left
        padded = np.pad(src, ((kh, kh), (kw, kw), (0, 0)))  # zeros outside the map
        patch = padded[r0 + kh:r0 + 2 * kh, c0 + kw:c0 + 2 * kw]
        products = patch.astype(np.float64) * kernel
        channel_sums = products.sum(axis=(0, 1))
        total = float(channel_sums.sum())
        bias = float(conv.bias.numpy()[filter]) if conv.use_bias else 0.0
        value = np.float32(total + bias)
        value = _activate(conv.activation, value)
        # The rest of the block: BatchNormalization, then an Activation layer.
        bn, activation, last = None, _name(conv.activation), conv
        j = i + 1
        while j < len(self.layers) and type(self.layers[j]).__name__ in BLOCK_TAIL_TYPES:
            tail = self.layers[j]
            if type(tail).__name__ == "BatchNormalization":
                bn = _batch_norm(tail, filter, value)
                value = np.float32(bn.value)
            else:
                value = _activate(tail.activation if hasattr(tail, "activation") else tail, value)
                activation = _name(getattr(tail, "activation", tail))
            last, j = tail, j + 1
        return ConvStep(
            layer=layer, filter=filter, row=row, col=col, source=source,
            rows=(max(r0, 0), min(r0 + kh, src.shape[0])), cols=(max(c0, 0), min(c0 + kw, src.shape[1])),
            patch=patch, kernel=kernel, products=products, channel_sums=channel_sums, total=total, bias=bias,
            pre_activation=total + bias, batch_norm=bn, activation=activation, value=float(value),
            keras_value=float(acts[last.name][row, col, filter]),
        )

    def pool_step(self, image, layer: str, channel: int, row: int, col: int) -> PoolStep:
        """Which input of the window became the max-pooling output at (row, col, channel)."""
        i, acts, out = self._output_pixel(image, layer, self.pool_layers(), "pooling layer", "channel", channel,
                                          row, col)
        pool = self.layers[i]
        if pool.padding != "valid":
            raise ExplainError(f"{layer}: only 'valid' pooling windows are stepped through")
        src = acts[self._source(i)]
        (ph, pw), (sh, sw) = tuple(pool.pool_size), tuple(pool.strides)
        r0, c0 = row * sh, col * sw
        window = src[r0:r0 + ph, c0:c0 + pw, channel]
        r, c = np.unravel_index(int(np.argmax(window)), window.shape)
        return PoolStep(layer=layer, channel=channel, row=row, col=col, rows=(r0, r0 + ph), cols=(c0, c0 + pw),
                        window=window, argmax=(r0 + int(r), c0 + int(c)), value=float(window.max()),
                        keras_value=float(out[row, col, channel]))


def _check_index(what: str, value, size: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < size:
        raise ExplainError(f"{what} {value!r} is outside this map: choose 0 to {size - 1}")


def _name(fn) -> str:
    return getattr(fn, "__name__", type(fn).__name__).lower()


def _activate(fn, value) -> np.float32:
    """The layer's own activation function on one float32 value: the exact function Keras applied."""
    return np.float32(np.asarray(fn(tf.constant([value], tf.float32)))[0])


def _batch_norm(layer, channel: int, x: np.float32) -> BatchNormStep:
    """Keras' BatchNormalization at inference: (x - moving_mean) / sqrt(moving_variance + epsilon) * gamma + beta,
    in float32 and in Keras' own order of operations."""
    def weight(name, default):
        var = getattr(layer, name, None)
        return np.float32(var.numpy()[channel]) if var is not None else np.float32(default)

    mean, variance = weight("moving_mean", 0), weight("moving_variance", 1)
    gamma, beta = weight("gamma", 1), weight("beta", 0)
    eps = np.float32(layer.epsilon)
    inv = tf.math.rsqrt(tf.constant(variance + eps)).numpy() * gamma
    value = np.float32(x * inv + (beta - mean * inv))
    return BatchNormStep(float(mean), float(variance), float(gamma), float(beta), float(eps), float(value))


# --- what if: sweeps ---

def transform(image: np.ndarray, kind: str, amount: float) -> np.ndarray:
    """One (28, 28) float image changed by `amount` of `kind` (see SWEEPS); pixels stay in [0, 1]."""
    if kind == "shift_x":
        out = ndi.shift(image, (0, amount), order=1, mode="constant")
    elif kind == "shift_y":
        out = ndi.shift(image, (amount, 0), order=1, mode="constant")
    elif kind == "rotate":
        out = ndi.rotate(image, amount, reshape=False, order=1, mode="constant")
    elif kind == "scale":
        out = _centred(ndi.zoom(image, amount, order=1, mode="grid-constant", grid_mode=True))
    elif kind == "stroke":
        cross = ndi.generate_binary_structure(2, 1)  # a 3x3 plus: grows/shrinks the stroke by 1 px a side
        out = image
        for _ in range(abs(int(amount))):
            out = (ndi.grey_dilation if amount > 0 else ndi.grey_erosion)(out, footprint=cross)
    else:
        raise ExplainError(f"unknown sweep {kind!r}; choose one of {', '.join(SWEEPS)}")
    return np.clip(out, 0, 1).astype(np.float32)


def _centred(image: np.ndarray) -> np.ndarray:
    """Crop or pad a zoomed image back to 28x28 about its centre."""
    out = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.float32)
    h = min(image.shape[0], IMAGE_SIZE)
    src0, dst0 = (image.shape[0] - h) // 2, (IMAGE_SIZE - h) // 2
    out[dst0:dst0 + h, dst0:dst0 + h] = image[src0:src0 + h, src0:src0 + h]
    return out


def sweep_values(kind: str, steps: int = DEFAULT_STEPS) -> np.ndarray:
    if kind not in SWEEPS:
        raise ExplainError(f"unknown sweep {kind!r}; choose one of {', '.join(SWEEPS)}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 3 or steps % 2 == 0 or steps > 61:
        raise ExplainError(f"steps {steps!r}: give an odd number from 3 to 61 (the middle one is the drawing itself)")
    _, (lo, hi), whole = SWEEPS[kind]
    if whole:
        return np.arange(lo, hi + 1, dtype=np.float64)
    return np.linspace(lo, hi, steps)


def sweeps(predictor: Predictor, image, kinds=None, steps: int = DEFAULT_STEPS) -> dict[str, Sweep]:
    """Each kind's sweep of one preprocessed image. All changed images go through one forward pass;
    the unchanged drawing goes through predict_image, exactly as for the normal prediction."""
    x = _one_image(image)[0, ..., 0]
    kinds = list(SWEEPS) if kinds is None else list(kinds)
    plans = {kind: sweep_values(kind, steps) for kind in kinds}
    unchanged = {kind: np.isclose(values, 1.0 if kind == "scale" else 0.0) for kind, values in plans.items()}
    images = {kind: np.stack([x if same else transform(x, kind, v) for v, same in zip(values, unchanged[kind])])
              for kind, values in plans.items()}
    changed = [images[kind][~unchanged[kind]] for kind in plans]
    probs = predictor.predict_batch(np.concatenate(changed)).astype(np.float64)
    probs /= probs.sum(axis=1, keepdims=True)  # as predict_image does
    normal = predictor.predict_image(x).probabilities
    out, start = {}, 0
    for kind, values in plans.items():
        rows = np.empty((len(values), normal.shape[0]))
        rows[unchanged[kind]] = normal
        n = int((~unchanged[kind]).sum())
        rows[~unchanged[kind]] = probs[start:start + n]
        start += n
        out[kind] = Sweep(kind, SWEEPS[kind][0], values, int(np.flatnonzero(unchanged[kind])[0]), images[kind], rows)
    return out
