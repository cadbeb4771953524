"""Classify drawings with a saved model, fast enough to answer every stroke.

`model.predict` builds a data pipeline and a fresh execution loop on every call: tens of
milliseconds for a single digit. A tf.function with a fixed input signature is traced once,
when the Predictor is made, and then costs about a millisecond per call on a CPU: most of it
TensorFlow's own per-call work, not arithmetic. For the app, where every stroke is one
prediction, a Predictor made with `fast=True` also converts the model for LiteRT (TensorFlow's
runtime for small devices), which answers one digit in under 0.1 ms (bench/predict_latency.py).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
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
# LiteRT and TensorFlow must give the same probabilities (float32 rounding apart: ~2e-6 measured
# on the default model); a converted model that differs by more is not used.
LITERT_TOLERANCE = 1e-4
log = logging.getLogger(__name__)
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
    the traced function only reads the weights, and TensorFlow runs concurrent calls safely.

    fast=True also converts the model for LiteRT (1-2 s, once) and reads single images with it;
    batches still go through TensorFlow, which spreads a batch over the cores. Where the
    conversion fails (no LiteRT, a full disk, an unusual model), single images go through
    TensorFlow too: slower, same answers.
    """

    def __init__(self, model, path: Path | None = None, meta: ModelMeta | None = None, fast: bool = False):
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
        self._one = _LiteRT.convert(model, self._forward) if fast else None

    @property
    def fast(self) -> bool:
        """Whether single images go through LiteRT."""
        return self._one is not None

    @classmethod
    def load(cls, path: str | Path | None = None, fast: bool = False) -> "Predictor":
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
        return cls(model, path, read_model_meta(path), fast=fast)

    def predict(self, rgba: np.ndarray) -> Prediction:
        """One canvas image (see preprocess.canvas_to_mnist). EmptyCanvasError when nothing is drawn."""
        return self.predict_image(canvas_to_mnist(rgba))

    def predict_image(self, img28: np.ndarray) -> Prediction:
        """One already preprocessed (28, 28) or (28, 28, 1) image: floats in [0, 1] or uint8."""
        img28 = np.asarray(img28)
        if img28.shape not in IMAGE_SHAPES:
            raise ValueError(f"expected a (28, 28) or (28, 28, 1) image, got shape {img28.shape}")
        image = _as_model_input(img28[np.newaxis])
        p = (self._one(image) if self._one is not None else self._forward(image).numpy())[0].astype(np.float64)
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


class _LiteRT:
    """The model converted for LiteRT's interpreter, for one image at a time.

    The conversion is Keras' own (`model.export(format="litert")`: a SavedModel in a temporary
    folder, then TensorFlow's converter). An interpreter is not thread-safe, and one call takes
    under 0.1 ms, so concurrent callers take turns.
    """

    def __init__(self, interpreter):
        self._interpreter = interpreter
        self._input = interpreter.get_input_details()[0]["index"]
        self._output = interpreter.get_output_details()[0]["index"]
        self._lock = threading.Lock()

    def __call__(self, image: np.ndarray) -> np.ndarray:
        with self._lock:
            self._interpreter.set_tensor(self._input, image)
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output).copy()  # a copy: the buffer is reused

    @classmethod
    def convert(cls, model, forward) -> "_LiteRT | None":
        """The converted model, or None (logged) when it cannot be made or disagrees with `forward`."""
        try:
            import keras
            from ai_edge_litert.interpreter import Interpreter

            with tempfile.TemporaryDirectory(prefix="cnn-lab-litert-") as folder:
                file = os.path.join(folder, "model.tflite")
                signature = [keras.InputSpec(shape=(1, IMAGE_SIZE, IMAGE_SIZE, 1), dtype="float32")]
                with BUILD_LOCK:  # the export traces the model: graph building, not thread-safe
                    model.export(file, format="litert", verbose=False, input_signature=signature)
                content = Path(file).read_bytes()
            interpreter = Interpreter(model_content=content, num_threads=1)  # one image: one core is fastest
            interpreter.allocate_tensors()
            one = cls(interpreter)
            probes = np.random.default_rng(0).random((3, 1, IMAGE_SIZE, IMAGE_SIZE, 1), dtype=np.float32)
            probes[0] = 0
            for probe in probes:
                difference = float(np.abs(one(probe) - forward(probe).numpy()).max())
                if not difference <= LITERT_TOLERANCE:  # NaN too
                    log.warning("LiteRT differs from TensorFlow by %g on this model: not used", difference)
                    return None
            return one
        except Exception as e:  # noqa: BLE001 (any failure leaves the TensorFlow path, which works)
            log.warning("LiteRT conversion failed (%s: %s): single images go through TensorFlow", type(e).__name__, e)
            return None
