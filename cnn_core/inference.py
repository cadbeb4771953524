"""Classify drawings with a saved model, fast enough to answer every stroke.

`model.predict` builds a data pipeline and a fresh execution loop on every call: tens of
milliseconds for a single digit. A tf.function with a fixed input signature is traced once,
when the Predictor is made, and then costs well under a millisecond per call on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from .config import IMAGE_SIZE, NUM_CLASSES
from .model import BUILD_LOCK, ModelFileError, check_shapes, load_model
from .preprocess import canvas_to_mnist
from .runs import MODEL_FILE, SHIPPED_MODEL, ModelMeta, read_model_meta

DEFAULT_MODEL = SHIPPED_MODEL  # Predictor.load(None) loads it
BATCH = 512  # predict_batch's chunk: bounded memory, still near full speed
IMAGE_SHAPES = ((IMAGE_SIZE, IMAGE_SIZE), (IMAGE_SIZE, IMAGE_SIZE, 1))  # one preprocessed image


@dataclass(frozen=True, eq=False)  # eq=False: comparing arrays field by field is ambiguous
class Prediction:
    digit: int
    probabilities: np.ndarray  # (10,) float64, sums to 1
    image: np.ndarray  # (28, 28, 1) float32 in [0, 1]: what the model saw

    @property
    def confidence(self) -> float:
        return float(self.probabilities[self.digit])


class Predictor:
    """A loaded model plus a compiled forward pass. Safe to share between threads:
    the traced function only reads the weights, and TensorFlow runs concurrent calls safely."""

    def __init__(self, model, path: Path | None = None, meta: ModelMeta | None = None):
        check_shapes(model)  # a freshly trained model may be wrapped directly, without a file
        self.model = model
        self.path = path
        self.meta = meta or ModelMeta()  # read once, when loaded: pages ask it on every stroke
        spec = tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE, 1], tf.float32)
        # Traced once, for any batch size; calling the concrete function directly also skips
        # tf.function's argument matching (~0.1 ms). Tracing is graph building, which is not
        # thread-safe: it shares model.py's lock with model building and loading.
        with BUILD_LOCK:
            self._forward = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
        self._forward(tf.zeros([1, IMAGE_SIZE, IMAGE_SIZE, 1]))  # warm-up: the first call is slow

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Predictor":
        """Load a .keras file, or the model.keras inside a run folder; None: models/default.keras.

        Raises ModelFileError (a ValueError) naming the file and the problem.
        """
        if path is None:
            path = DEFAULT_MODEL
            if not path.is_file():
                raise ModelFileError(
                    f"{path}: the default model is missing; train one with "
                    f"`python -m cnn_core train --save-model {path}` or pass a model file"
                )
        path = Path(path).expanduser()
        if path.is_dir():
            if not (path / MODEL_FILE).is_file():
                raise ModelFileError(f"{path}: a folder but not a run folder (no {MODEL_FILE} inside)")
            from .runs import RunError, model_file

            try:  # a run's model that links out of its runs folder is refused, as runs.py does
                path = model_file(path)
            except RunError as e:
                raise ModelFileError(str(e)) from None
        path = path.resolve()
        model = load_model(path)
        return cls(model, path, read_model_meta(path))

    def predict(self, rgba: np.ndarray) -> Prediction:
        """One canvas image (see preprocess.canvas_to_mnist). EmptyCanvasError when nothing is drawn."""
        return self.predict_image(canvas_to_mnist(rgba))

    def predict_image(self, img28: np.ndarray) -> Prediction:
        """One already preprocessed (28, 28) or (28, 28, 1) image: floats in [0, 1] or uint8."""
        img28 = np.asarray(img28)
        if img28.shape not in IMAGE_SHAPES:
            raise ValueError(f"expected a (28, 28) or (28, 28, 1) image, got shape {img28.shape}")
        image = _as_model_input(img28[np.newaxis])
        p = self._forward(image).numpy()[0].astype(np.float64)
        p /= p.sum()  # a float32 softmax sums to 1 only within rounding
        image = image[0]
        image.setflags(write=False)  # a Prediction is a value: its arrays cannot be changed
        p.setflags(write=False)
        return Prediction(digit=int(p.argmax()), probabilities=p, image=image)

    def predict_batch(self, images: np.ndarray, batch: int = BATCH) -> np.ndarray:
        """(N, 10) float32 probabilities for N preprocessed images, (N, 28, 28) or (N, 28, 28, 1).

        uint8 images (like MNIST's own arrays) are scaled from 0..255; floats must be in [0, 1].
        """
        images = np.asarray(images)
        if images.ndim < 1 or images.shape[1:] not in IMAGE_SHAPES:
            raise ValueError(f"expected (N, 28, 28) or (N, 28, 28, 1) images, got shape {images.shape}")
        out = [np.zeros((0, NUM_CLASSES), np.float32)]
        for start in range(0, len(images), batch):
            out.append(self._forward(_as_model_input(images[start:start + batch])).numpy())
        return np.concatenate(out)


def _as_model_input(images: np.ndarray) -> np.ndarray:
    """(N, 28, 28[, 1]) uint8 or float -> a new (N, 28, 28, 1) float32 array in [0, 1]."""
    scale = np.float32(1 / 255) if images.dtype == np.uint8 else np.float32(1)
    return images.reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 1).astype(np.float32) * scale

