"""Build, save and safely load the CNN described by a TrainConfig."""

from __future__ import annotations

import threading
import zipfile
from pathlib import Path

from .config import IMAGE_SIZE, NUM_CLASSES, TrainConfig

# Keras' layer-name counters and TensorFlow's graph building are not thread-safe:
# every model is built and compiled under this lock (training itself runs unlocked).
BUILD_LOCK = threading.Lock()
MAX_MODEL_BYTES = 200 * 1024 * 1024


class ModelFileError(ValueError):
    """A model file that is missing, not a Keras model, unsafe, or not a 28x28 -> 10 classifier."""


def build_model(config: TrainConfig):
    """The CNN: conv blocks, then Flatten, optional Dense + Dropout, Dense softmax.

    Initialisers are seeded from config.seed so runs are reproducible without touching the
    process-wide random state (several jobs train at once in one process).
    """
    import keras
    from keras import layers

    seed = config.seed
    counter = iter(range(1000))

    def init():
        return keras.initializers.GlorotUniform(seed=seed * 1000 + next(counter))

    with BUILD_LOCK:
        stack = [keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 1), name="digit")]
        for b, filters in enumerate(config.filters, start=1):
            for c in range(1, config.convs_per_block + 1):
                suffix = f"{b}" if config.convs_per_block == 1 else f"{b}_{c}"
                stack.append(layers.Conv2D(
                    filters, config.kernel_size, name=f"conv{suffix}",
                    activation=None if config.batch_norm else config.activation,
                    use_bias=not config.batch_norm, kernel_initializer=init(),
                ))
                if config.batch_norm:
                    # Normalise before the non-linearity, the usual Conv-BN-activation order.
                    stack.append(layers.BatchNormalization(name=f"bn{suffix}"))
                    stack.append(layers.Activation(config.activation, name=f"act{suffix}"))
            if config.pooling:
                stack.append(layers.MaxPooling2D(2, name=f"pool{b}"))
        stack.append(layers.Flatten(name="flatten"))
        if config.dense_units:
            if config.dropout:
                stack.append(layers.Dropout(config.dropout, seed=seed, name="dropout1"))
            stack.append(layers.Dense(config.dense_units, activation=config.activation, kernel_initializer=init(), name="dense"))
        if config.dropout:
            stack.append(layers.Dropout(config.dropout, seed=seed + 1, name="dropout2"))
        stack.append(layers.Dense(NUM_CLASSES, activation="softmax", kernel_initializer=init(), name="probabilities"))
        return keras.Sequential(stack, name="cnn")


def compile_model(model, config: TrainConfig, steps_per_epoch: int = 1) -> None:
    import keras

    rate = config.learning_rate
    if config.lr_schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=max(1, config.epochs * steps_per_epoch))
    optimizer = {
        "adam": lambda: keras.optimizers.Adam(rate),
        "sgd": lambda: keras.optimizers.SGD(rate, momentum=0.9),
        "rmsprop": lambda: keras.optimizers.RMSprop(rate),
    }[config.optimizer]()
    with BUILD_LOCK:
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def save_for_inference(model, config: TrainConfig, path: Path) -> None:
    """Save the architecture and weights only: the optimiser state would triple the file."""
    clean = build_model(config)
    clean.set_weights(model.get_weights())
    clean.save(path)


def load_model(path: str | Path):
    """Load a .keras file in Keras' safe mode and check it is a 28x28x1 -> 10-class model.

    Safe mode refuses Lambda layers and other arbitrary code, but it is not a sandbox: the app
    only loads its own runs and the shipped default, never files uploaded through the browser.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    if path.suffix != ".keras":
        raise ModelFileError(f"{path}: not a .keras model file")
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise ModelFileError(f"{path}: {size / 2**20:.0f} MB is too large for a digit classifier")
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            unpacked = sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, OSError) as e:
        raise ModelFileError(f"{path}: not a Keras model file (not a .keras archive: {e})") from None
    if "config.json" not in names:
        raise ModelFileError(f"{path}: not a Keras model file (no config.json inside)")
    if unpacked > 4 * MAX_MODEL_BYTES:
        raise ModelFileError(f"{path}: unpacks to {unpacked / 2**20:.0f} MB, refused")
    import keras

    try:
        with BUILD_LOCK:
            model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises many types for damaged or unsafe files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelFileError(f"{path}: cannot load this model safely ({first[:300]})") from None
    check_shapes(model, path)
    return model


def check_shapes(model, where: object = "model") -> None:
    try:
        in_shape = tuple(model.inputs[0].shape[1:])
        out_shape = tuple(model.outputs[0].shape[1:])
    except (AttributeError, IndexError, TypeError):
        raise ModelFileError(f"{where}: not a functional or sequential Keras model") from None
    if len(model.inputs) != 1 or in_shape != (IMAGE_SIZE, IMAGE_SIZE, 1):
        raise ModelFileError(f"{where}: input shape {in_shape}, expected one 28x28x1 image")
    if len(model.outputs) != 1 or out_shape != (NUM_CLASSES,):
        raise ModelFileError(f"{where}: output shape {out_shape}, expected 10 class probabilities")
