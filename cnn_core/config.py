"""The training configuration: one frozen dataclass, its validation and the presets.

Validation happens before any data is loaded or any model is built, so that the UI
can show the message next to the controls and the CLI can exit with status 2. It includes
a memory budget (cost.py): a network too big to train on the machine is refused on paper.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from . import datasets
from .errors import UserError

DATASETS = datasets.NAMES  # the registry in datasets.py is their one home
ACTIVATIONS = ("relu", "elu", "gelu", "tanh", "sigmoid")
OPTIMIZERS = ("adam", "sgd", "rmsprop")
LR_SCHEDULES = ("constant", "cosine")
IMAGE_SIZE = 28
NUM_CLASSES = 10

# Ranges shown in error messages and used by the UI for its widgets.
LIMITS = {
    "filters": (1, 512),
    "blocks": (1, 6),
    "convs_per_block": (1, 3),
    "kernel_size": (1, 9),
    "dense_units": (0, 4096),
    "learning_rate": (0.0, 1.0),
    "batch_size": (1, 8192),
    "epochs": (1, 200),
    "validation_split": (0.0, 0.5),
    "limit": (10, 10_000_000),
    "dropout": (0.0, 1.0),  # 1 itself is refused: it would drop everything
    "seed": (0, 2**31 - 1),
}


class ConfigError(UserError, ValueError):
    """An impossible or absurd hyperparameter. The message names the parameter and its range."""

    def __init__(self, parameter: str, message: str):
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


@dataclass(frozen=True)
class TrainConfig:
    dataset: str = "mnist"
    filters: tuple[int, ...] = (32, 64)  # one conv block per entry
    convs_per_block: int = 1
    kernel_size: int = 3
    activation: str = "relu"
    pooling: bool = True  # 2x2 max-pooling at the end of each block
    batch_norm: bool = False
    dense_units: int = 64  # 0: no hidden dense layer
    dropout: float = 0.0  # before the hidden and the output dense layers
    optimizer: str = "adam"
    learning_rate: float = 0.001
    lr_schedule: str = "constant"  # cosine: decay to 0 over the whole run, for the last few 0.1%
    batch_size: int = 64
    epochs: int = 5
    validation_split: float = 0.1
    augment: bool = False  # small random shifts, rotations and zoom
    limit: int | None = None  # train on the first N training digits only
    seed: int = 42

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
        _check_choice("dataset", self.dataset, DATASETS)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        if not isinstance(self.filters, tuple) or not self.filters:
            raise ConfigError("filters", "needs at least one conv block, e.g. 32,64")
        lo, hi = LIMITS["blocks"]
        if not lo <= len(self.filters) <= hi:
            raise ConfigError("filters", f"{len(self.filters)} conv blocks; allowed {lo} to {hi}")
        for f in self.filters:
            _check_int("filters", f, *LIMITS["filters"])
        _check_int("convs_per_block", self.convs_per_block, *LIMITS["convs_per_block"])
        _check_int("kernel_size", self.kernel_size, *LIMITS["kernel_size"])
        _check_int("dense_units", self.dense_units, *LIMITS["dense_units"])
        _check_int("batch_size", self.batch_size, *LIMITS["batch_size"])
        _check_int("epochs", self.epochs, *LIMITS["epochs"])
        _check_int("seed", self.seed, *LIMITS["seed"])
        for name in ("pooling", "batch_norm", "augment"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(name, "must be true or false")
        _check_float("dropout", self.dropout, *LIMITS["dropout"], hi_open=True)
        lo, hi = LIMITS["learning_rate"]
        _check_float("learning_rate", self.learning_rate, lo, hi, lo_open=True)
        lo, hi = LIMITS["validation_split"]
        _check_float("validation_split", self.validation_split, lo, hi, hi_open=True)
        side = self.feature_size()
        if side < 1:
            raise ConfigError(
                "filters",
                f"{len(self.filters)} blocks of {self.convs_per_block} conv(s) {self.kernel_size}x{self.kernel_size}"
                f"{' + 2x2 pooling' if self.pooling else ''} shrink the 28x28 image below 1x1; "
                "use fewer blocks, a smaller kernel or no pooling",
            )
        if self.limit is not None:
            _check_int("limit", self.limit, *LIMITS["limit"])
            if n_available is not None and self.limit > n_available:
                raise ConfigError("limit", f"{self.limit} digits asked, the dataset has {n_available}; allowed 10 to {n_available}")
        n = n_available if self.limit is None else min(self.limit, n_available or self.limit)
        if n is not None:
            n_val = int(n * self.validation_split)
            if self.validation_split > 0 and n_val < 1:
                raise ConfigError("validation_split", f"{self.validation_split} of {n} digits leaves no validation digit")
            if n - n_val < 1:
                raise ConfigError("validation_split", f"{self.validation_split} of {n} digits leaves no training digit")
        if budget:
            from . import cost  # pure Python, no TensorFlow: the memory budget is checked before anything is built

            cost.check_memory(self)
        return self


def parse_filters(value: Any) -> tuple[int, ...]:
    """'32,64' or [32, 64] -> (32, 64)."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        try:
            return tuple(int(p) for p in parts)
        except ValueError:
            raise ConfigError("filters", f"{value!r} is not a comma-separated list of whole numbers, e.g. 32,64") from None
    if isinstance(value, (list, tuple)):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ConfigError("filters", f"{value!r} must hold whole numbers")
        return tuple(value)
    raise ConfigError("filters", f"{value!r} must be a list of whole numbers")


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
    # Exactly the classic "first CNN in Keras" tutorial network.
    "seed": TrainConfig(),
    # >= 97% test accuracy on full MNIST in well under 30 s on 2 CPU cores:
    # one pass with larger batches; Adam at a higher rate converges in one epoch.
    "quick": TrainConfig(batch_size=128, epochs=1, learning_rate=0.002, validation_split=0.05),
    # >= 99.4% test accuracy on full MNIST: two convs per block, batch norm,
    # dropout and augmentation against over-fitting, more epochs.
    "strong": TrainConfig(
        filters=(32, 64), convs_per_block=2, batch_norm=True, dense_units=128, dropout=0.3,
        augment=True, epochs=15, batch_size=128, learning_rate=0.002, lr_schedule="cosine",
    ),
}


def preset(name: str) -> TrainConfig:
    if name not in PRESETS:
        raise ConfigError("preset", f"{name!r} is not one of {', '.join(PRESETS)}")
    return PRESETS[name]
