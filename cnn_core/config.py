"""The training configuration: one frozen dataclass, its validation and the presets.

Validation happens before any data is loaded or any model is built, so that the UI
can show the message next to the controls and the CLI can exit with status 2. It includes
a memory budget (cost.py): a network too big to train on the machine is refused on paper.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Any

from . import datasets
from .errors import UserError

IMAGE_SIZE = 28
NUM_CLASSES = 10
BLOCKS = (1, 6)  # how many conv blocks `filters` may list


@dataclass(frozen=True)
class Param:
    """Everything the CLI and the Train form know about one TrainConfig field, in one place.

    The CLI's flags (cli.py), the form's widgets (cnn_lab_ui/train_form.py) and validate() are
    generated from these, the way nanoGPT's configurator derives its overrides from the config.
    """

    help: str  # one sentence for the CLI's --help and the form's tooltip
    range: tuple[float, float] | None = None  # inclusive, unless an end is open
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[str, ...] | None = None
    flag: str | None = None  # the CLI flag without "--", when it is not the field name with dashes


def _param(default: Any, help: str, **kw: Any) -> Any:
    return dataclasses.field(default=default, metadata={"param": Param(help, **kw)})


class ConfigError(UserError, ValueError):
    """An impossible or absurd hyperparameter. The message names the parameter and its range."""

    def __init__(self, parameter: str, message: str):
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


@dataclass(frozen=True)
class TrainConfig:
    dataset: str = _param(datasets.MNIST.name, "The images to train and test on.", choices=datasets.NAMES)
    filters: tuple[int, ...] = _param(  # one conv block per entry
        (32, 64), f"The filters of each conv block, one number per block ({BLOCKS[0]} to {BLOCKS[1]} blocks), "
        "e.g. 32,64.", range=(1, 512))
    convs_per_block: int = _param(1, "Convolutions in each block, before its pooling.", range=(1, 3))
    kernel_size: int = _param(3, "Each filter looks at an n×n patch of its input.", range=(1, 9))
    activation: str = _param("relu", "The non-linearity after each convolution and the hidden dense layer.",
                             choices=("relu", "elu", "gelu", "tanh", "sigmoid"))
    pooling: bool = _param(True, "2×2 max-pooling at the end of each block.")
    batch_norm: bool = _param(False, "Batch normalisation after each convolution.")
    dense_units: int = _param(64, "The hidden fully connected layer before the 10 outputs; 0: none.",
                              range=(0, 4096), flag="dense")
    dropout: float = _param(  # 1 itself is refused: it would drop everything
        0.0, "Fraction of units switched off at random while training (before the dense layers), "
        "against over-fitting.", range=(0.0, 1.0), hi_open=True)
    optimizer: str = _param("adam", "How the weights follow their gradients.", choices=("adam", "sgd", "rmsprop"))
    learning_rate: float = _param(0.001, "The size of the optimizer's steps; 0.001 to 0.003 suits Adam.",
                                  range=(0.0, 1.0), lo_open=True)
    lr_schedule: str = _param("constant", "Cosine lowers the learning rate smoothly to 0 over the whole run, "
                              "for the last few 0.1%.", choices=("constant", "cosine"))
    batch_size: int = _param(64, "Digits per training step.", range=(1, 8192))
    epochs: int = _param(5, "Passes over the training digits.", range=(1, 200))
    validation_split: float = _param(
        0.1, "Fraction of the training digits held back to check for over-fitting after each epoch.",
        range=(0.0, 0.5), hi_open=True)
    augment: bool = _param(False, "Small random shifts, rotations and zoom of each training digit: "
                           "slower, reads drawings better.")
    limit: int | None = _param(None, "Train on the first N training digits only: faster, less accurate.",
                               range=(10, 10_000_000))
    seed: int = _param(42, "Same seed and settings: the same starting weights and digit order.", range=(0, 2**31 - 1))

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["filters"] = list(self.filters)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """Build from JSON-like data; unknown keys are refused so typos are not silently ignored."""
        if not isinstance(d, dict):
            raise ConfigError("config", "must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown parameter (known: {', '.join(sorted(known))})")
        d = dict(d)
        if "filters" in d:
            d["filters"] = parse_filters(d["filters"])
        return cls(**d)

    def feature_size(self) -> int:
        """Side of the square feature map after all conv blocks (valid padding)."""
        side = IMAGE_SIZE
        for _ in self.filters:
            side -= self.convs_per_block * (self.kernel_size - 1)
            if side < 1:
                return side
            if self.pooling:
                side //= 2
        return side

    def validate(self, n_available: int | None = None, budget: bool = True) -> "TrainConfig":
        """Raise ConfigError for the first impossible or absurd value; return self when valid.

        n_available is the number of training digits in the chosen dataset, when known.
        budget=False skips the training memory budget: for the records of models already trained
        (the budget may have been lowered since; loading a model checks its own size).
        """
        for name in PARAMS:  # field by field, in the order of the form
            check_field(name, getattr(self, name))
        side = self.feature_size()
        if side < 1:
            raise ConfigError(
                "filters",
                f"{len(self.filters)} blocks of {self.convs_per_block} conv(s) {self.kernel_size}x{self.kernel_size}"
                f"{' + 2x2 pooling' if self.pooling else ''} shrink the 28x28 image below 1x1; "
                "use fewer blocks, a smaller kernel or no pooling",
            )
        if self.limit is not None and n_available is not None and self.limit > n_available:
            raise ConfigError("limit", f"{self.limit} digits asked, the dataset has {n_available}; "
                                       f"allowed {LIMITS['limit'][0]} to {n_available}")
        n = n_available if self.limit is None else min(self.limit, n_available or self.limit)
        if n is not None:
            n_val, split = int(n * self.validation_split), self.validation_split
            if split > 0 and n_val < 1:
                raise ConfigError("validation_split", f"{split} of {n} digits leaves no validation digit")
            if n - n_val < 1:
                raise ConfigError("validation_split", f"{split} of {n} digits leaves no training digit")
        if budget:
            from . import cost  # pure Python, no TensorFlow: the memory budget is checked before anything is built

            cost.check_memory(self)
        return self


# Derived from the fields above: read these, never re-spell them.
PARAMS: dict[str, Param] = {f.name: f.metadata["param"] for f in dataclasses.fields(TrainConfig)}
_HINTS = typing.get_type_hints(TrainConfig)
OPTIONAL = {name for name, hint in _HINTS.items() if type(None) in typing.get_args(hint)}  # None: not set
# Each field's kind: int, float, bool, str or tuple (filters); `int | None` is int.
TYPES: dict[str, type] = {
    name: next(a for a in typing.get_args(hint) if a is not type(None)) if name in OPTIONAL
    else typing.get_origin(hint) or hint
    for name, hint in _HINTS.items()
}
# Ranges shown in error messages and used by the CLI's help and the form's widgets.
LIMITS: dict[str, tuple] = {name: p.range for name, p in PARAMS.items() if p.range} | {"blocks": BLOCKS}
DATASETS = PARAMS["dataset"].choices  # the registry in datasets.py is their one home
ACTIVATIONS = PARAMS["activation"].choices
OPTIMIZERS = PARAMS["optimizer"].choices
LR_SCHEDULES = PARAMS["lr_schedule"].choices


def allowed(name: str) -> str:
    """A field's allowed values in words, for help texts: "1 to 200", "[0, 1)", "adam, sgd, rmsprop"."""
    p = PARAMS[name]
    if p.choices:
        return ", ".join(p.choices)
    if p.range is None:
        return "true or false" if TYPES[name] is bool else ""
    lo, hi = p.range
    if TYPES[name] is float:
        return f"{'(' if p.lo_open else '['}{lo:g}, {hi:g}{')' if p.hi_open else ']'}"
    return f"{lo:,} to {hi:,}"


def help_text(name: str) -> str:
    """A field's help with its range, as the CLI's --help and the form's tooltips show it."""
    p = PARAMS[name]
    return f"{p.help} Allowed {allowed(name)}." if p.range else p.help


def parse_filters(value: Any) -> tuple[int, ...]:
    """'32,64' or [32, 64] -> (32, 64)."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        try:
            return tuple(int(p) for p in parts)
        except ValueError:
            message = f"{value!r} is not a comma-separated list of whole numbers, e.g. 32,64"
            raise ConfigError("filters", message) from None
    if isinstance(value, (list, tuple)):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ConfigError("filters", f"{value!r} must hold whole numbers")
        return tuple(value)
    raise ConfigError("filters", f"{value!r} must be a list of whole numbers")


def check_field(name: str, value: Any) -> None:
    """One field's value against its Param: choices, bool, whole number or number in range."""
    kind, p = TYPES[name], PARAMS[name]
    if name in OPTIONAL and value is None:
        return
    if name == "filters":
        if not isinstance(value, tuple) or not value:
            raise ConfigError("filters", "needs at least one conv block, e.g. 32,64")
        lo, hi = BLOCKS
        if not lo <= len(value) <= hi:
            raise ConfigError("filters", f"{len(value)} conv blocks; allowed {lo} to {hi}")
        for f in value:
            _check_int("filters", f, *p.range)
    elif p.choices:
        _check_choice(name, value, p.choices)
    elif kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(name, "must be true or false")
    elif kind is int:
        _check_int(name, value, *p.range)
    else:
        _check_float(name, value, *p.range, lo_open=p.lo_open, hi_open=p.hi_open)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(name, f"{value!r} is not one of {', '.join(choices)}")


def _check_int(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(name, f"{value!r} must be a whole number from {lo} to {hi}")
    if not lo <= value <= hi:
        raise ConfigError(name, f"{value} is out of range; allowed {lo} to {hi}")


def _check_float(name: str, value: Any, lo: float, hi: float, lo_open=False, hi_open=False) -> None:
    ok_type = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok_type or not math.isfinite(value):
        raise ConfigError(name, f"{value!r} must be a number")
    bad = value < lo or value > hi or (lo_open and value == lo) or (hi_open and value == hi)
    if bad:
        rng = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        raise ConfigError(name, f"{value:g} is out of range; allowed {rng}")


# The presets are starting points; flags and widgets override single fields.
PRESETS: dict[str, TrainConfig] = {
    # This project's tutorial network (README's Presets: Conv 32, pool, Conv 64, pool, Dense 64, Dense 10),
    # the usual first CNN on MNIST; keras-io's "Simple MNIST convnet" differs (dropout, no hidden dense layer).
    "seed": TrainConfig(),
    # >= 99% test accuracy on full MNIST within 1.5 epochs of the tutorial's time (bench/train_vs_keras.py
    # --only quick): half the filters make each step ~2x cheaper, so three epochs fit; a high learning rate
    # learns fast early and cosine decay eases it to 0 so the last steps settle; a wider dense layer (128)
    # costs little next to the convolutions.
    "quick": TrainConfig(filters=(16, 32), dense_units=128, learning_rate=0.005, lr_schedule="cosine",
                         batch_size=128, epochs=3, validation_split=0.05),
    # >= 99.5% test accuracy on full MNIST within 5 minutes on 2 cores (bench/presets.py --presets strong):
    # two 3x3 convs per block see a 5x5 patch with fewer weights than one 5x5 conv; augmentation and
    # dropout keep it from learning the training digits by heart. No batch norm: Keras 3's is not fused,
    # so on a CPU it costs ~40% of each step, and Adam with cosine decay trains these four convs well
    # without it (README's Presets: 15 epochs with batch norm gave 99.49% in 9.5 minutes).
    "strong": TrainConfig(
        filters=(32, 64), convs_per_block=2, dense_units=128, dropout=0.2, augment=True, epochs=9,
        batch_size=128, learning_rate=0.002, lr_schedule="cosine", validation_split=0.05,
    ),
}


def preset(name: str) -> TrainConfig:
    if name not in PRESETS:
        raise ConfigError("preset", f"{name!r} is not one of {', '.join(PRESETS)}")
    return PRESETS[name]
