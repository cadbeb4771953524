"""Why did the model read that? Heatmaps, "why A and not B", the fast gradient sign method,
and the test digits behind a confusion-matrix cell.

Every method starts from the class *score*: the logit, the final Dense layer's output before
softmax (a probability near 1 has almost no gradient, the logit still has one). Each method first
makes a signed map, linear in the score; the heatmap is its positive part, the pixels that speak
*for* the class (never negative):

  gradcam     Grad-CAM (Selvaraju et al. 2017): the last conv block's feature maps, each weighted
              by the mean gradient of the score over it, summed, and upsampled to 28x28 (bilinear,
              each feature pixel placed over the input pixels it sees).
  gradient    the plain input gradient: how much brightening each pixel raises the score.
  smoothgrad  SmoothGrad (Smilkov et al. 2017): the input gradient averaged over SMOOTH_SAMPLES
              noisy copies of the image (noise SMOOTH_SIGMA), which removes the speckle.

Measured on the default model (bench/explain.py; tests/test_explain.py): zeroing the 20% hottest ink
pixels lowers the predicted class' probability 3.5x (gradcam), 8.1x (gradient) and 8.4x (smoothgrad)
as much as zeroing random ink pixels. Absolute values of gradients and gradient x input were tried
and left out: their maps from a model with re-initialised weights rank-correlate 0.58-0.60 and 0.53
with the trained model's, where the methods kept score 0.14-0.27 (Adebayo et al. 2018's sanity check,
threshold 0.5; gradient x input mostly redraws the input). README's "Why did it read that?" has them.

A contrast, "why A and not B", is the signed map of the score logit_A - logit_B. Every signed map
is linear in the score, so it equals map(A) - map(B): positive where the pixels favour A over B,
negative where they favour B.

The compiled functions (one per method, any batch size) are traced once per Explainer, on each
method's first use, then reused like inference.Predictor's forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .config import IMAGE_SIZE, NUM_CLASSES
from .errors import UserError
from .evaluate import confusion_matrix

if TYPE_CHECKING:
    from .inference import Prediction

# TensorFlow is imported where it is used: the CLI checks --method and --target with this module
# before paying TensorFlow's seconds of start-up.

METHODS = {
    "gradcam": "Grad-CAM: which regions of the last convolution's feature maps speak for the class",
    "gradient": "input gradient: how strongly each pixel's brightness moves the class score",
    "smoothgrad": "SmoothGrad: the input gradient averaged over noisy copies (less speckle)",
}
# The method with the best deletion-test ratio on the default model (bench/explain.py, README).
DEFAULT_METHOD = "smoothgrad"
SMOOTH_SAMPLES = 16  # noisy copies per image: more gives smoother maps, each costs a backward pass
SMOOTH_SIGMA = 0.15  # noise standard deviation, in units of the 0..1 pixel range (Smilkov et al.: 10-20%)
DELETE_FRACTION = 0.2  # the deletion test zeroes this share of the ink pixels
INK_LEVEL = 0.1  # pixels brighter than this count as ink in the deletion test
CONV_TYPES = ("Conv2D",)
BLOCK_TAIL_TYPES = ("BatchNormalization", "Activation", "ReLU", "LeakyReLU", "ELU")


class ExplainError(UserError, ValueError):
    """A question an explanation cannot answer (no conv layer for Grad-CAM, a class outside 0-9, ...)."""


@dataclass(frozen=True, eq=False)
class Heatmap:
    method: str
    target: int  # the class explained
    values: np.ndarray  # (28, 28) float32, >= 0, finite: the larger, the more the pixel speaks for target
    image: np.ndarray  # (28, 28) float32: the image the model saw

    def normalised(self) -> np.ndarray:
        """values scaled so the hottest pixel is 1 (all zeros stay zeros): for colour scales."""
        top = float(self.values.max())
        return self.values / top if top > 0 else self.values.copy()


@dataclass(frozen=True, eq=False)
class Contrast:
    method: str
    target: int  # A
    versus: int  # B
    values: np.ndarray  # (28, 28) float32, signed: > 0 favours target, < 0 favours versus
    image: np.ndarray


@dataclass(frozen=True, eq=False)
class Attack:
    """The fast gradient sign method (Goodfellow et al. 2015): one step of size epsilon along the
    sign of the loss gradient, then clipped to [0, 1]."""
    epsilon: float
    image: np.ndarray  # (28, 28) the perturbed image, in [0, 1]
    perturbation: np.ndarray  # (28, 28) image - original, every entry within [-epsilon, epsilon]
    prediction: "Prediction"  # inference.Prediction of the perturbed image
    original: "Prediction"


def check_class(k, what: str = "class") -> int:
    """A class number 0-9 as an int, or ExplainError."""
    try:
        value = int(k)
    except (TypeError, ValueError):
        raise ExplainError(f"{what} {k!r} is not a class number; choose 0 to {NUM_CLASSES - 1}") from None
    if value != k or not 0 <= value < NUM_CLASSES:
        raise ExplainError(f"{what} {k!r} is outside the classes 0 to {NUM_CLASSES - 1}")
    return value


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ExplainError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return method


def _one_image(image) -> np.ndarray:
    """(28, 28[, 1]) uint8 or float image -> (1, 28, 28, 1) float32 in [0, 1]."""
    from .inference import IMAGE_SHAPES, _as_model_input

    image = np.asarray(image)
    if image.shape not in IMAGE_SHAPES:
        raise ExplainError(f"expected a (28, 28) or (28, 28, 1) image, got shape {image.shape}")
    return _as_model_input(image[np.newaxis])


def _as_batch(images) -> np.ndarray:
    from .inference import IMAGE_SHAPES, _as_model_input

    images = np.asarray(images)
    if images.ndim < 1 or images.shape[1:] not in IMAGE_SHAPES:
        raise ExplainError(f"expected (N, 28, 28) or (N, 28, 28, 1) images, got shape {images.shape}")
    return _as_model_input(images)


def feature_layer(model):
    """The layer whose output Grad-CAM weighs: the last conv layer, or the BatchNormalization and
    Activation that finish its block (the rectified maps, as in the paper). None without conv layers."""
    layers = model.layers
    convs = [i for i, layer in enumerate(layers) if type(layer).__name__ in CONV_TYPES]
    if not convs:
        return None
    i = convs[-1]
    while i + 1 < len(layers) and type(layers[i + 1]).__name__ in BLOCK_TAIL_TYPES:
        i += 1
    return layers[i]


class Explainer:
    """Heatmaps, contrasts and FGSM for one model, its compiled functions built once.

    Made from a Predictor (shares its forward pass, so predictions here equal the Draw page's)
    or a bare Keras model. Safe to share between threads, like the Predictor.
    """

    def __init__(self, source):
        from .inference import Predictor

        self.predictor = source if isinstance(source, Predictor) else Predictor(source)
        model = self.predictor.model
        self.model = model
        last = model.layers[-1]
        self._feature_layer = feature_layer(model)
        # The logits: the last Dense layer's input times its kernel plus bias, as the layer computes
        # them before its softmax. A model ending otherwise falls back to log-probabilities (the same
        # gradients up to the log-sum-exp term, shared by every class).
        self._dense_head = type(last).__name__ == "Dense" and getattr(last.activation, "__name__", "") == "softmax"
        # CNN Lab's models are chains (see model.py): running the layers one by one gives the
        # feature maps as a tensor the tape sees on the way to the score.
        self._body = model.layers[:-1] if self._dense_head else model.layers
        self._geometry = _geometry(model.layers, self._feature_layer)
        self._fns = {}  # name -> its concrete function, traced on first use, then reused for every call

    def _compiled(self, name: str):
        """The compiled function of a method (or "fgsm"), traced once per Explainer on its first use:
        a page that only shows one method does not pay for tracing the others (~0.5-2 s each)."""
        import tensorflow as tf

        from .model import BUILD_LOCK

        fn = self._fns.get(name)
        if fn is None:
            images = tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE, 1], tf.float32)
            second = {"fgsm": (tf.TensorSpec([None], tf.int32), tf.TensorSpec([], tf.float32))}.get(
                name, (tf.TensorSpec([None, NUM_CLASSES], tf.float32),))
            with BUILD_LOCK:  # tracing is graph building: not thread-safe (see model.py)
                fn = self._fns.get(name)  # another thread may have traced it meanwhile
                if fn is None:
                    fn = tf.function(getattr(self, "_" + name)).get_concrete_function(images, *second)
                    self._fns[name] = fn
        return fn

    # --- the compiled parts: x (N, 28, 28, 1), w (N, 10); the score is sum(logits * w) per image ---

    def _logits(self, x, with_features: bool = False):
        import tensorflow as tf

        h, features = x, None
        for layer in self._body:
            h = layer(h, training=False)
            if layer is self._feature_layer:
                features = h
        if self._dense_head:
            last = self.model.layers[-1]
            logits = tf.matmul(h, last.kernel) + (last.bias if last.use_bias else 0.0)
        else:
            logits = tf.math.log(tf.maximum(h, 1e-30))
        return (logits, features) if with_features else logits

    def _input_gradient(self, x, w):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(self._logits(x) * w)  # images are independent: one sum, per-image gradients
        return tape.gradient(score, x)

    def _gradient(self, x, w):
        return self._input_gradient(x, w)[..., 0]

    def _smoothgrad(self, x, w):
        import tensorflow as tf

        n = tf.shape(x)[0]
        noisy = tf.repeat(x, SMOOTH_SAMPLES, axis=0)
        # Stateless noise with a fixed seed: the same image always gets the same map.
        noisy += tf.random.stateless_normal(tf.shape(noisy), seed=[14, 0], stddev=SMOOTH_SIGMA)
        g = self._input_gradient(noisy, tf.repeat(w, SMOOTH_SAMPLES, axis=0))
        return tf.reduce_mean(tf.reshape(g, [n, SMOOTH_SAMPLES, IMAGE_SIZE, IMAGE_SIZE]), axis=1)

    def _gradcam(self, x, w):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            logits, features = self._logits(x, with_features=True)
            score = tf.reduce_sum(logits * w)
        grads = tape.gradient(score, features)  # (N, h, w, k)
        alpha = tf.reduce_mean(grads, axis=[1, 2], keepdims=True)  # each feature map's importance
        return tf.reduce_sum(alpha * features, axis=-1)  # (N, h, w), signed; upsampled by _upsample

    def _fgsm(self, x, labels, epsilon):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, self._logits(x))
        step = epsilon * tf.sign(tape.gradient(loss, x))
        return tf.clip_by_value(x + step, 0.0, 1.0)

    # --- the public API: numpy in, numpy out ---

    @property
    def has_conv(self) -> bool:
        return self._feature_layer is not None

    def methods(self) -> list[str]:
        """The methods this model supports (Grad-CAM needs a conv layer)."""
        return [m for m in METHODS if m != "gradcam" or self.has_conv]

    def check_can(self, method: str) -> None:
        check_method(method)
        if method == "gradcam" and not self.has_conv:
            raise ExplainError("Grad-CAM needs a convolution layer and this model has none (it looks at the "
                               "whole image at once, with no feature maps to weigh); use the 'gradient' or "
                               "'smoothgrad' method instead")

    def signed_maps(self, images, weights, method: str) -> np.ndarray:
        """(N, 28, 28) float32 signed maps of the scores sum(logits * weights) for a batch."""
        import tensorflow as tf

        self.check_can(method)
        x = _as_batch(images)
        w = np.asarray(weights, np.float32).reshape(len(x), NUM_CLASSES)
        maps = self._compiled(method)(tf.constant(x), tf.constant(w)).numpy()
        return self._upsample(maps) if method == "gradcam" else maps

    def _upsample(self, maps: np.ndarray) -> np.ndarray:
        """Feature maps (N, h, w) -> (N, 28, 28), bilinear, each feature pixel placed at the centre of
        the input pixels it sees: valid convolutions shrink the map from the edges, so a plain resize
        to 28x28 would stretch the heat outwards by up to 3 pixels."""
        from scipy import ndimage as ndi

        offset, scale = self._geometry
        rows = (np.arange(IMAGE_SIZE) - offset) / scale  # each input pixel's place on the feature map
        grid = np.stack(np.meshgrid(rows, rows, indexing="ij"))
        return np.stack([ndi.map_coordinates(m, grid, order=1, mode="nearest") for m in maps]).astype(np.float32)

    def heatmaps(self, images, targets, method: str = DEFAULT_METHOD) -> np.ndarray:
        """(N, 28, 28) non-negative heatmaps, one per image, each for its target class."""
        targets = np.asarray([check_class(t, "target") for t in np.atleast_1d(targets)])
        signed = self.signed_maps(images, np.eye(NUM_CLASSES, dtype=np.float32)[targets], method)
        return _non_negative(signed)

    def heatmap(self, image, target: int | None = None, method: str = DEFAULT_METHOD) -> Heatmap:
        """The heatmap of one preprocessed (28, 28[, 1]) image for target (default: the predicted class)."""
        x = _one_image(image)
        self.check_can(method)
        target = self.predictor.predict_image(x[0]).digit if target is None else check_class(target, "target")
        return Heatmap(method, target, self.heatmaps(x, [target], method)[0], x[0, ..., 0])

    def contrast(self, image, target: int, versus: int, method: str = DEFAULT_METHOD) -> Contrast:
        """Why target and not versus: the signed map of logit_target - logit_versus (see the module doc)."""
        target, versus = check_class(target, "target"), check_class(versus, "versus")
        x = _one_image(image)
        w = np.zeros((1, NUM_CLASSES), np.float32)
        w[0, target] += 1
        w[0, versus] -= 1
        return Contrast(method, target, versus, self.signed_maps(x, w, method)[0], x[0, ..., 0])

    def fgsm_batch(self, images, labels, epsilon: float) -> np.ndarray:
        """(N, 28, 28) images perturbed to raise the loss of labels (the true ones, for an accuracy)."""
        import tensorflow as tf

        epsilon = _check_epsilon(epsilon)
        x = _as_batch(images)
        labels = np.asarray([check_class(k, "label") for k in np.atleast_1d(labels)], np.int32)
        fgsm = self._compiled("fgsm")
        out = fgsm(tf.constant(x), tf.constant(labels), tf.constant(epsilon, tf.float32)).numpy()[..., 0]
        # float32 rounding (of epsilon itself, and of x + step) could put a pixel a hair past epsilon from
        # x: clip within epsilon less 4 float32 steps at 1.0, a change far below any pixel's precision.
        bound = np.float32(max(epsilon - 4 * np.finfo(np.float32).eps, 0))
        return np.clip(out, x[..., 0] - bound, x[..., 0] + bound)

    def fgsm(self, image, epsilon: float, label: int | None = None) -> Attack:
        """Push one image away from label (default: its predicted class) by epsilon per pixel."""
        x = _one_image(image)
        original = self.predictor.predict_image(x[0])
        label = original.digit if label is None else check_class(label, "label")
        adv = self.fgsm_batch(x, [label], epsilon)[0]
        return Attack(epsilon, adv, adv - x[0, ..., 0], self.predictor.predict_image(adv), original)


def _geometry(layers, last) -> tuple[float, float]:
    """(offset, scale): feature pixel i of `last`'s output is centred on input pixel offset + i * scale
    (square kernels, strides and pools, as build_model makes them)."""
    offset, scale = 0.0, 1.0
    for layer in layers:
        if last is None:
            break
        kind = type(layer).__name__
        if kind in CONV_TYPES or kind == "MaxPooling2D":
            size = layer.kernel_size[0] * layer.dilation_rate[0] - layer.dilation_rate[0] + 1 \
                if kind in CONV_TYPES else layer.pool_size[0]
            if layer.padding == "valid":
                offset += (size - 1) / 2 * scale
            scale *= layer.strides[0]
        if layer is last:
            break
    return offset, scale


def _check_epsilon(epsilon) -> float:
    try:
        value = float(epsilon)
    except (TypeError, ValueError):
        raise ExplainError(f"epsilon {epsilon!r} is not a number") from None
    if not 0 <= value <= 1:
        raise ExplainError(f"epsilon {epsilon!r} is outside 0 to 1 (pixels range from 0 to 1)")
    return value


def _non_negative(signed: np.ndarray) -> np.ndarray:
    """The heatmap from a signed map: its positive part, the evidence for the class."""
    return np.nan_to_num(np.maximum(signed, 0), nan=0.0, posinf=0.0).astype(np.float32)


# --- the deletion test: is a heatmap faithful? ---

def deletion_drops(explainer: Explainer, images, method: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per image: the fall of the predicted class' probability when the DELETE_FRACTION hottest ink
    pixels are set to 0, and when as many random ink pixels are. A faithful map makes the first fall
    far larger. Images without ink are skipped."""
    x = _as_batch(images)[..., 0]
    p = explainer.predictor.predict_batch(x)
    targets = p.argmax(axis=1)
    heat = explainer.heatmaps(x, targets, method)
    rng = np.random.default_rng(seed)
    hot, rand, keep = x.copy(), x.copy(), []
    for i in range(len(x)):
        ink = np.flatnonzero(x[i].ravel() > INK_LEVEL)
        k = int(round(DELETE_FRACTION * len(ink)))
        if k == 0:
            continue
        keep.append(i)
        # Ties (a flat map) are broken at random, so a useless map scores like the random baseline.
        order = np.lexsort((rng.random(len(ink)), -heat[i].ravel()[ink]))
        hot[i].ravel()[ink[order[:k]]] = 0
        rand[i].ravel()[rng.choice(ink, k, replace=False)] = 0
    keep = np.asarray(keep, int)
    rows = np.arange(len(x))[keep]
    p0 = p[rows, targets[keep]]
    return (p0 - explainer.predictor.predict_batch(hot[keep])[np.arange(len(keep)), targets[keep]],
            p0 - explainer.predictor.predict_batch(rand[keep])[np.arange(len(keep)), targets[keep]])


# --- the confusion matrix, cell by cell ---

def confusion_cell(y_true, y_pred, true: int, predicted: int) -> np.ndarray:
    """Indices of the test digits whose label is `true` and that the model read as `predicted`,
    in test-set order: exactly confusion_matrix(y_true, y_pred)[true, predicted] of them."""
    y_true, y_pred = _labels(y_true, y_pred)
    true, predicted = check_class(true, "true label"), check_class(predicted, "predicted label")
    return np.flatnonzero((y_true == true) & (y_pred == predicted))


def confusion_difference(y_true, pred_a, pred_b) -> np.ndarray:
    """(10, 10) int: run B's confusion matrix minus run A's, on the same test digits. Each row sums to 0
    (both runs saw the same digits of each class); a positive diagonal cell means B got more right."""
    y_true, pred_a = _labels(y_true, pred_a)
    _, pred_b = _labels(y_true, pred_b)
    return confusion_matrix(y_true, pred_b, NUM_CLASSES) - confusion_matrix(y_true, pred_a, NUM_CLASSES)


def _labels(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim != 1 or y_true.shape != y_pred.shape:
        raise ExplainError(f"labels and predictions differ in shape ({y_true.shape} and {y_pred.shape}): "
                           "were they made on the same test set?")
    for name, y in (("labels", y_true), ("predictions", y_pred)):
        if len(y) and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= NUM_CLASSES):
            raise ExplainError(f"the {name} must be whole class numbers 0 to {NUM_CLASSES - 1}")
    return y_true.astype(int), y_pred.astype(int)
