"""Build, save and safely load the CNN described by a TrainConfig."""

from __future__ import annotations

import json
import math
import os
import threading
import zipfile
from pathlib import Path

import numpy as np

from .config import IMAGE_SIZE, NUM_CLASSES, ConfigError, TrainConfig
from .errors import UserError

# Keras' layer-name counters and TensorFlow's graph building are not thread-safe:
# every model is built and compiled under this lock (training itself runs unlocked).
BUILD_LOCK = threading.Lock()
MAX_MODEL_BYTES = 200 * 1024 * 1024
MAX_CONFIG_BYTES = 1024 * 1024  # a model's config.json: ours are 5-15 KB


class ModelFileError(UserError, ValueError):
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
            stack.append(layers.Dense(config.dense_units, activation=config.activation, kernel_initializer=init(),
                                      name="dense"))
        if config.dropout:
            stack.append(layers.Dropout(config.dropout, seed=seed + 1, name="dropout2"))
        stack.append(layers.Dense(NUM_CLASSES, activation="softmax", kernel_initializer=init(), name="probabilities"))
        return keras.Sequential(stack, name="cnn")


# config.OPTIMIZERS' choices -> the keras.optimizers class and its options (no import of Keras here).
KERAS_OPTIMIZERS = {"adam": ("Adam", {}), "sgd": ("SGD", {"momentum": 0.9}), "rmsprop": ("RMSprop", {})}


def compile_model(model, config: TrainConfig, steps_per_epoch: int = 1) -> None:
    import keras

    rate = config.learning_rate
    if config.lr_schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=max(1, config.epochs * steps_per_epoch))
    name, options = KERAS_OPTIMIZERS[config.optimizer]
    optimizer = getattr(keras.optimizers, name)(rate, **options)
    with BUILD_LOCK:
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def save_for_inference(model, config: TrainConfig, path: Path) -> None:
    """Save the architecture and weights only: the optimiser state would triple the file (it goes in a
    run's own training_state.npz, see save_training_state). Copied layer by layer, by name: a model
    with frozen layers lists its weights in another order."""
    clean = build_model(config)
    for layer in clean.layers:
        layer.set_weights(model.get_layer(layer.name).get_weights())
    clean.save(path)


# --- growing a model: continue it (its optimizer's state), or transfer its conv blocks ---------

CONV_LAYER_TYPES = ("Conv2D", "BatchNormalization")  # a conv block's layers with weights


def conv_layers(model) -> list:
    """The layers of the conv blocks that hold weights (convolutions and their batch norms)."""
    return [layer for layer in model.layers if type(layer).__name__ in CONV_LAYER_TYPES]


def freeze_conv(model) -> None:
    """Keep the conv blocks' weights as they are while the rest trains; before compile. A frozen
    BatchNormalization also keeps its moving statistics (Keras runs it in inference mode)."""
    for layer in conv_layers(model):
        layer.trainable = False


def _random_states(model) -> list:
    """The model's variables that are neither weights nor optimizer state: the seed generators of its
    dropout layers, so a continued run drops the units an uninterrupted one would have."""
    weights = model.weights
    return [v for v in model.variables if not any(v is w for w in weights)]


def save_training_state(model, path: Path) -> None:
    """What continuing needs beyond the weights: the optimizer's variables (its step count, Adam's
    moments, the learning rate) and the dropout layers' random states, as arrays in an .npz (no pickles)."""
    arrays = {f"optimizer_{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(model.optimizer.variables)}
    arrays.update({f"random_{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(_random_states(model))})
    with open(path, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())


def restore_training_state(model, path: Path, where: str) -> None:
    """Put a saved training state into a compiled model of the same architecture. Each array's header is
    checked against the variable it fills before its data is read; ModelFileError naming `where` when
    the file does not fit the model."""
    optimizer = model.optimizer
    with BUILD_LOCK:
        optimizer.build(model.trainable_variables)
    targets = {f"optimizer_{i:04d}": v for i, v in enumerate(optimizer.variables)}
    targets.update({f"random_{i:04d}": v for i, v in enumerate(_random_states(model))})
    try:
        with zipfile.ZipFile(path) as z:
            stored = sorted(n.removesuffix(".npy") for n in z.namelist())
            if stored != sorted(targets):
                raise ModelFileError(f"{where}: holds {len(stored)} arrays, this model's training needs {len(targets)}")
            for name, variable in targets.items():
                with z.open(f"{name}.npy") as member:
                    version = np.lib.format.read_magic(member)
                    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
                    if version not in readers:
                        raise ModelFileError(f"{where}: {name} is in an unknown .npy version {version}")
                    shape, fortran, dtype = readers[version](member)
                    want = tuple(variable.shape)
                    if shape != want or dtype.hasobject:
                        raise ModelFileError(f"{where}: {name} is an array of {shape}, "
                                             f"the model's {variable.path} is {want}")
                    data = member.read(dtype.itemsize * math.prod(shape))
                if len(data) != dtype.itemsize * math.prod(shape):
                    raise ModelFileError(f"{where}: {name} is truncated")
                variable.assign(np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C"))
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError) as e:
        raise ModelFileError(f"{where} is damaged ({type(e).__name__}: {str(e)[:200]})") from None


def declared_input_shape(path: Path) -> tuple:
    """The input shape a .keras archive's config.json declares (without the batch axis), read without
    Keras: cheap enough to check a parent run's model before a job is queued."""
    try:
        with zipfile.ZipFile(path) as z:
            info = z.getinfo("config.json")
            if info.file_size > MAX_CONFIG_BYTES:
                raise ModelFileError(f"{path}: its config.json is {info.file_size / 2**20:.0f} MB, refused")
            declared = json.loads(z.read(info))
        layers = declared["config"]["layers"]
        first = layers[0]["config"] if layers and layers[0]["class_name"] == "InputLayer" else declared["config"]
        shape = first.get("batch_shape") or first.get("batch_input_shape") or [None, *first["shape"]]
        return tuple(shape[1:])
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, OSError, KeyError, TypeError, IndexError, ValueError, RecursionError) as e:
        raise ModelFileError(f"{path}: not a Keras model file CNN Lab can read ({type(e).__name__})") from None


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
    check_declared_size(path)  # before Keras allocates what the config declares
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


# Layers whose output has the shape of their input and that have no weights.
_SAME_SHAPE = {
    "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Dropout", "SpatialDropout2D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "Rescaling", "Identity", "ActivityRegularization", "RandomTranslation",
    "RandomRotation", "RandomZoom", "RandomFlip", "RandomContrast", "RandomBrightness",
}
_MAX_DIM = 2**40  # any larger declared size is nonsense


def check_declared_size(path: Path) -> int:
    """Read the layer sizes the archive's config.json declares (units, filters, kernels, shapes) and
    refuse a model whose weights would not fit the memory budget, before Keras builds anything:
    a 517 KB file can declare a Dense(2,000,000) that Keras would allocate gigabytes for.
    Returns the declared parameter count. Layer types it cannot size are refused."""
    from . import cost

    with zipfile.ZipFile(path) as z:
        info = z.getinfo("config.json")
        if info.file_size > MAX_CONFIG_BYTES:
            raise ModelFileError(f"{path}: its config.json is {info.file_size / 2**20:.0f} MB, refused")
        text = z.read(info)
    try:
        declared = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ModelFileError(f"{path}: not a Keras model file (config.json is damaged: {type(e).__name__})") from None
    layers = []
    try:
        _walk(declared, None, layers, depth=0)
    except ModelFileError as e:
        raise ModelFileError(f"{path}: {e}") from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        why = str(e)[:200] or type(e).__name__
        raise ModelFileError(f"{path}: not a Keras model file (config.json: {why})") from None
    params = sum(p for _, p in layers)
    needed = params * cost.BYTES_PER_NUMBER * 2  # the variables, and the arrays read from the weights file
    try:
        budget = cost.memory_budget()
    except ConfigError as e:
        raise ModelFileError(str(e)) from None
    if needed > budget:
        name, biggest = max(layers, key=lambda layer: layer[1])
        raise ModelFileError(
            f"{path}: its config.json declares {params:,} parameters (layer {name} alone {biggest:,}), about "
            f"{needed / cost.MB:,.0f} MB to load; a model may use {budget / cost.MB:,.0f} MB ({cost.MEMORY_ENV}): "
            "refused before building it")
    return params


def _walk(node: dict, shape: tuple | None, out: list, depth: int) -> tuple | None:
    """Follow a Sequential or Functional config's layers in order (a chain, as CNN Lab's models are),
    appending (name, parameters) per layer; returns the output shape without the batch axis."""
    if depth > 20:
        raise ValueError("models nested too deep")
    kind, cfg = node["class_name"], node["config"]
    if kind in ("Sequential", "Functional", "Model"):
        for layer in cfg["layers"]:
            shape = _walk(layer, shape, out, depth + 1)
        return shape
    if kind == "InputLayer":
        declared = cfg.get("batch_shape") or cfg.get("batch_input_shape") or [None, *cfg["shape"]]
        return tuple(_dim(d) for d in declared[1:])
    if kind not in _SAME_SHAPE and kind not in _SIZERS:
        raise ModelFileError(f"cannot load this model safely (layer type {str(kind)[:80]!r} is not one CNN Lab "
                             "can check the size of)")
    if shape is None:
        raise ValueError(f"layer {kind} before any input shape")
    params = 0
    build_shape = (node.get("build_config") or {}).get("input_shape")
    if kind in _SIZERS:
        # Keras builds a layer from its build_config's shape when there is one: count the larger.
        if build_shape:
            params = _SIZERS[kind](cfg, tuple(_dim(d) for d in build_shape[1:]))[1]
        shape, own = _SIZERS[kind](cfg, shape)
        params = max(params, own)
    out.append((str(cfg.get("name", kind))[:80], params))
    return shape


def _dim(value) -> int:
    if value is None:
        return 1  # unknown size: counts as 1
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_DIM:
        raise ValueError(f"impossible size {str(value)[:40]}")
    return value


def _pair(value) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        return _dim(value[0]), _dim(value[1])
    return _dim(value), _dim(value)


def _window(side: int, size: int, stride: int, padding: str) -> int:
    return -(-side // max(stride, 1)) if padding == "same" else max(0, (side - size) // max(stride, 1) + 1)


def _conv(cfg, shape):
    kh, kw = _pair(cfg["kernel_size"])
    (sh, sw), (dh, dw) = _pair(cfg.get("strides", 1)), _pair(cfg.get("dilation_rate", 1))
    filters, groups = _dim(cfg["filters"]), max(1, _dim(cfg.get("groups", 1)))
    h, w, c = shape
    params = kh * kw * (c // groups) * filters + (filters if cfg.get("use_bias", True) else 0)
    pad = cfg.get("padding", "valid")
    return (_window(h, (kh - 1) * dh + 1, sh, pad), _window(w, (kw - 1) * dw + 1, sw, pad), filters), params


def _pool(cfg, shape):
    (ph, pw) = _pair(cfg.get("pool_size", 2))
    (sh, sw) = _pair(cfg.get("strides") or (ph, pw))
    pad = cfg.get("padding", "valid")
    h, w, c = shape
    return (_window(h, ph, sh, pad), _window(w, pw, sw, pad), c), 0


def _dense(cfg, shape):
    units = _dim(cfg["units"])
    return (*shape[:-1], units), shape[-1] * units + (units if cfg.get("use_bias", True) else 0)


def _reshape(target, shape):
    known = [_dim(d) for d in target if d != -1]
    rest = math.prod(shape) // max(1, math.prod(known))
    return tuple(rest if d == -1 else _dim(d) for d in target)


_SIZERS = {
    "Conv2D": _conv,
    "MaxPooling2D": _pool,
    "AveragePooling2D": _pool,
    "GlobalAveragePooling2D": lambda cfg, shape: ((shape[-1],), 0),
    "GlobalMaxPooling2D": lambda cfg, shape: ((shape[-1],), 0),
    "BatchNormalization": lambda cfg, shape: (shape, 4 * shape[-1]),
    "LayerNormalization": lambda cfg, shape: (shape, 2 * shape[-1]),
    "Flatten": lambda cfg, shape: ((math.prod(shape),), 0),
    "Reshape": lambda cfg, shape: (_reshape(cfg["target_shape"], shape), 0),
    "Dense": _dense,
}
