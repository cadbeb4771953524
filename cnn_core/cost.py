"""What a TrainConfig's network costs, worked out on paper before anything is built.

Pure Python (no TensorFlow): the layers' output shapes and parameter counts follow
build_model exactly (valid padding, stride 1 convolutions, 2x2 max-pooling with stride 2), so
validation can refuse a network that would exhaust the machine in well under a second.

Memory to train one network (float32, 4 bytes a number):
  weights + their gradients + the optimiser's copies (Adam keeps 2, SGD with momentum and
  RMSprop 1), plus batch_size x the activations of every layer, 2.5 times (the forward pass keeps
  them for the backward pass, which makes gradients of the same size, plus TensorFlow's scratch
  space: measured on the seed network at batch 2048, 756 MB above the warmed-up process).
It leaves out TensorFlow's own fixed overhead (a few hundred MB per process) and the dataset,
which all jobs share. The budget a job may use is CNN_MAX_TRAIN_MEMORY_MB (default 1536 MB:
a 2-core laptop with 8 GB serving a class runs two jobs at once next to the server).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path

from . import datasets
from .config import IMAGE_SIZE, NUM_CLASSES, ConfigError, TrainConfig

BYTES_PER_NUMBER = 4  # float32
# Numbers each optimizer keeps per weight (its state, in memory while training and in a run's
# training_state.npz): Adam two moments, SGD with momentum and RMSprop one each.
OPTIMIZER_SLOTS = {"adam": 2, "sgd": 1, "rmsprop": 1}
MEMORY_ENV = "CNN_MAX_TRAIN_MEMORY_MB"
DEFAULT_MEMORY_MB = 1536
MB = 2**20
ACTIVATION_COPIES = 2.5  # see above: forward values, their gradients, scratch space

# Sizes a run's files are estimated from: the biggest dataset CNN Lab knows.
MAX_TRAIN_DIGITS = max(d.n_train for d in datasets.REGISTRY.values())
MAX_TEST_DIGITS = max(d.n_test for d in datasets.REGISTRY.values())
RUN_FILES_MARGIN = 2 * MB  # run.json, config.json, the .keras archive's own config and headers
HISTORY_BYTES_PER_BATCH = 48  # two floats in JSON, e.g. "0.123456789012345, "

# Training time on a reference machine (an idle 2-core Intel Xeon VM, 2026-12-01), fitted by
# bench/train_time.py to 18 networks (2 epochs of 12,000 digits each). Arithmetic alone (the FLOP
# count) misses most of it for these small networks: a step has a fixed cost, and moving every
# layer's output through memory, forward and back, costs as much as the multiplications. This
# model is within 1.25x of all 18; FLOPs alone were off by up to 6.6x (a small network 0.51 s for
# 3.38 s) and put the presets' full runs at 0.54x (quick) to 1.57x (strong) of their measured time.
TIME_FIXED_S = 1.04  # the first step's tracing and the fit's set-up
TIME_PER_STEP_S = 3.78e-3  # one optimiser step, whatever its size
TIME_PER_GFLOP_S = 5.44e-3  # per 1e9 training FLOPs (forward and backward) summed over every digit
TIME_PER_MVALUE_S = 2.15e-3  # per 1e6 layer output values summed over every digit (memory traffic)
TIME_COEFFICIENTS = (TIME_FIXED_S, TIME_PER_STEP_S, TIME_PER_GFLOP_S, TIME_PER_MVALUE_S)  # see time_terms
BACKWARD_FACTOR = 3  # a training step costs about 3 forward passes (forward, two backward products)


@dataclass(frozen=True)
class Layer:
    name: str  # as build_model names it
    kind: str  # Conv2D, MaxPooling2D, ...
    does: str  # in words, with padding and stride
    shape: tuple[int, ...]  # output shape of one sample
    params: int
    flops: int = 0  # forward multiply-adds x 2, one sample

    @property
    def values(self) -> int:
        return math.prod(self.shape) if min(self.shape) > 0 else 0

    @property
    def too_small(self) -> bool:
        return min(self.shape) < 1


@dataclass(frozen=True)
class Cost:
    layers: tuple[Layer, ...]  # stops at the first layer that shrinks below 1x1
    params: int
    weight_bytes: int  # weights, gradients and optimiser copies
    activation_bytes: int  # for one batch, forward and backward
    batch_size: int

    @property
    def total_bytes(self) -> int:
        return self.weight_bytes + self.activation_bytes

    @property
    def fits(self) -> bool:
        return not any(layer.too_small for layer in self.layers)

    @property
    def train_flops(self) -> int:
        """Per sample, forward and backward."""
        return BACKWARD_FACTOR * sum(layer.flops for layer in self.layers)


def layers(config: TrainConfig) -> tuple[Layer, ...]:
    """Every layer of build_model(config) with its output shape and parameter count."""
    out = [Layer("digit", "Input", "one 28x28 grey image", (IMAGE_SIZE, IMAGE_SIZE, 1), 0)]
    side, channels, k = IMAGE_SIZE, 1, config.kernel_size
    for b, filters in enumerate(config.filters, start=1):
        for c in range(1, config.convs_per_block + 1):
            suffix = f"{b}" if config.convs_per_block == 1 else f"{b}_{c}"
            side -= k - 1  # valid padding, stride 1
            params = k * k * channels * filters + (0 if config.batch_norm else filters)
            flops = 2 * k * k * channels * filters * max(side, 0) ** 2
            out.append(Layer(f"conv{suffix}", "Conv2D", f"{filters} filters {k}x{k}, stride 1, valid padding",
                             (side, side, filters), params, flops))
            channels = filters
            if side < 1:
                return tuple(out)
            if config.batch_norm:
                out.append(Layer(f"bn{suffix}", "BatchNormalization", "normalise each channel",
                                 (side, side, filters), 4 * filters))  # scale, offset, moving mean and variance
                out.append(Layer(f"act{suffix}", "Activation", config.activation, (side, side, filters), 0))
        if config.pooling:
            side //= 2
            out.append(Layer(f"pool{b}", "MaxPooling2D", "2x2 max, stride 2, valid padding",
                             (side, side, channels), 0))
            if side < 1:
                return tuple(out)
    flat = side * side * channels
    out.append(Layer("flatten", "Flatten", "one long vector", (flat,), 0))
    width = flat
    if config.dense_units:
        if config.dropout:
            out.append(Layer("dropout1", "Dropout", f"drop {config.dropout:g} while training", (width,), 0))
        out.append(Layer("dense", "Dense", f"{config.dense_units} units, {config.activation}", (config.dense_units,),
                         width * config.dense_units + config.dense_units, 2 * width * config.dense_units))
        width = config.dense_units
    if config.dropout:
        out.append(Layer("dropout2", "Dropout", f"drop {config.dropout:g} while training", (width,), 0))
    out.append(Layer("probabilities", "Dense", f"{NUM_CLASSES} units, softmax", (NUM_CLASSES,),
                     width * NUM_CLASSES + NUM_CLASSES, 2 * width * NUM_CLASSES))
    return tuple(out)


def estimate(config: TrainConfig) -> Cost:
    net = layers(config)
    params = sum(layer.params for layer in net)
    copies = 2 + OPTIMIZER_SLOTS[config.optimizer]  # weights, gradients, optimiser state (every choice: test_params)
    per_sample = int(sum(layer.values for layer in net) * BYTES_PER_NUMBER * ACTIVATION_COPIES)
    return Cost(net, params, params * BYTES_PER_NUMBER * copies, per_sample * config.batch_size, config.batch_size)


def memory_budget() -> int:
    """Bytes one training job may use: CNN_MAX_TRAIN_MEMORY_MB, else DEFAULT_MEMORY_MB."""
    text = os.environ.get(MEMORY_ENV, "").strip()
    if not text:
        return DEFAULT_MEMORY_MB * MB
    try:
        mb = float(text)
    except ValueError:
        mb = float("nan")
    if not math.isfinite(mb) or mb <= 0:
        raise ConfigError(MEMORY_ENV, f"{shorten(text)!r} must be a number of megabytes, e.g. {DEFAULT_MEMORY_MB}")
    return int(mb * MB)


def check_memory(config: TrainConfig) -> Cost:
    """ConfigError naming what to shrink when training config would need more than the budget."""
    cost = estimate(config)
    budget = memory_budget()
    if cost.total_bytes <= budget:
        return cost
    head = (f"this network has {cost.params:,} parameters and needs about {cost.total_bytes / MB:,.0f} MB to train "
            f"(weights, gradients and {config.optimizer}'s copies {cost.weight_bytes / MB:,.0f} MB, activations of a "
            f"batch of {config.batch_size} {cost.activation_bytes / MB:,.0f} MB); a job may use "
            f"{budget / MB:,.0f} MB ({MEMORY_ENV})")
    if cost.activation_bytes > cost.weight_bytes:
        room = budget - cost.weight_bytes
        fits = int(room // (cost.activation_bytes // config.batch_size)) if room > 0 else 0
        hint = (f"use a batch size of at most {fits}" if fits >= 1 else "use fewer filters") + \
            ", fewer filters or pooling"
        raise ConfigError("batch_size", f"{head}. Shrink it: {hint}")
    biggest = max(cost.layers, key=lambda layer: layer.params)
    if biggest.kind == "Dense":
        raise ConfigError("dense_units", f"{head}. Shrink it: the layer {biggest.name} alone has {biggest.params:,} "
                                         "parameters: use fewer dense units, or a smaller feature map before it "
                                         "(pooling, more conv blocks)")
    raise ConfigError("filters", f"{head}. Shrink it: the layer {biggest.name} alone has {biggest.params:,} "
                                 "parameters: use fewer filters or a smaller kernel")


def shorten(text: str, keep: int = 80) -> str:
    """Long user input shortened for messages: the first `keep` characters and an ellipsis."""
    text = str(text)
    return text if len(text) <= keep else text[:keep] + "…"


def run_bytes(config: TrainConfig, n_train: int | None = None) -> int:
    """Expected size of a saved run: the model's float32 weights and its optimizer's state, the
    test-set predictions and the history."""
    n = min(config.limit or MAX_TRAIN_DIGITS, n_train or MAX_TRAIN_DIGITS)
    n_fit = max(1, n - int(n * config.validation_split))
    batches = config.epochs * -(-n_fit // config.batch_size)
    predictions = MAX_TEST_DIGITS * NUM_CLASSES * 2  # float16
    weights = estimate(config).params * BYTES_PER_NUMBER
    state = weights * OPTIMIZER_SLOTS[config.optimizer]
    return weights + state + predictions + batches * HISTORY_BYTES_PER_BATCH + RUN_FILES_MARGIN


def free_bytes(folder: str | os.PathLike) -> tuple[Path, int]:
    """Free space where `folder` is (or would be created): its nearest existing parent's file system."""
    path = Path(folder).expanduser().absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path, shutil.disk_usage(path).free


def model_file_bytes(config: TrainConfig) -> int:
    """Expected size of the network's .keras file (an exported copy: with its small .json beside it)."""
    return estimate(config).params * BYTES_PER_NUMBER + RUN_FILES_MARGIN


def check_free_space(folder: str | os.PathLike, config: TrainConfig, n_train: int | None = None) -> int:
    """Before training: RunError naming the runs folder and the space needed when the run would not fit.
    The app's submit and the CLI both call it. Returns the bytes needed."""
    return require_space(folder, run_bytes(config, n_train), "this run")


def require_space(folder: str | os.PathLike, needed: int, what: str) -> int:
    from .runs import RUNS_DIR_ENV, RunError

    where, free = free_bytes(folder)
    if free < needed:
        raise RunError(f"not enough disk space in {shorten(str(where))}: {size_text(free)} free, {what} needs about "
                       f"{size_text(needed)}; free some space or save elsewhere (--runs-dir, {RUNS_DIR_ENV})")
    return needed


def size_text(n: int) -> str:
    return f"{n / MB:,.1f} MB" if n < 10 * 2**30 else f"{n / 2**30:,.1f} GB"


def time_terms(config: TrainConfig, samples: int, steps: int) -> tuple[float, float, float, float]:
    """What a fit of `samples` digits in `steps` optimiser steps is made of, in TIME_COEFFICIENTS' order
    and units: once, steps, billions of training FLOPs, millions of layer output values."""
    net = estimate(config)
    values = sum(layer.values for layer in net.layers)
    return 1.0, float(steps), samples * net.train_flops / 1e9, samples * values / 1e6


def reference_seconds(config: TrainConfig, samples: int, steps: int) -> float:
    """Fit time on the reference machine (see TIME_*)."""
    return sum(t * c for t, c in zip(time_terms(config, samples, steps), TIME_COEFFICIENTS))


def speed_factor(runs_root: str | os.PathLike | None = None) -> tuple[float, int]:
    """This machine against the reference one: the median of measured / reference time of the saved runs.

    Returns (factor, number of runs it comes from); 1.0 and 0 without runs. Each run's digits and
    steps come from its own history (one loss per batch).
    """
    from . import runs

    factors = []
    for info in runs.list_runs(runs_root):
        try:
            history = info.path / runs.HISTORY_JSON
            if history.stat().st_size > 64 * MB:
                continue
            batches = len(json.loads(history.read_text())["batch"]["loss"])
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            continue
        if batches > 0 and info.train_seconds > 0:
            factors.append(info.train_seconds / reference_seconds(info.config, _samples_seen(info.config, batches),
                                                                  batches))
    return (statistics.median(factors), len(factors)) if factors else (1.0, 0)


def _samples_seen(config: TrainConfig, batches: int) -> int:
    """Digits a run's `batches` went through: its last batch of an epoch is a partial one."""
    if config.limit is None:  # the full dataset: partial batches are negligible
        return batches * config.batch_size
    n_fit = config.limit - int(config.limit * config.validation_split)
    per_epoch = -(-n_fit // config.batch_size)
    return batches // per_epoch * n_fit + batches % per_epoch * config.batch_size


def train_seconds(config: TrainConfig, n_train: int | None = None, speed: float = 1.0) -> float:
    """Estimated fit time of all epochs on this machine (`speed`: see speed_factor)."""
    n = min(config.limit or MAX_TRAIN_DIGITS, n_train or MAX_TRAIN_DIGITS)
    n_fit = n - int(n * config.validation_split)
    steps = config.epochs * -(-n_fit // config.batch_size)
    return reference_seconds(config, n_fit * config.epochs, steps) * speed
