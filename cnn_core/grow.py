"""Models that grow from a saved run: continue it for more epochs, or transfer its conv blocks.

Continue: the parent's weights *and* its optimizer's state (training_state.npz), the same settings,
and the shuffling of the data picked up where it stopped, so 2 epochs continued for 2 more train
as 4 would have. The new run's history starts with the parent's, and its epochs and training time
count the parent's too.

Transfer: the parent's conv blocks copied into a new network (a fresh dense head) trained on
another dataset, the blocks frozen (FREEZE_CONV: bit-for-bit the parent's in the saved model) or
fine-tuned with everything else at a smaller learning rate (FREEZE_NONE).

Everything that can be checked on paper (the parent exists and is readable, its model takes 28x28x1
images, the settings fit it) is checked by `check` before a job is queued, without TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import runs as runs_mod
from .config import IMAGE_SIZE, ConfigError, TrainConfig
from .errors import UserError
from .model import ModelFileError, declared_input_shape
from .runs import (
    CONTINUED,
    FREEZE_CONV,
    FREEZE_NONE,
    SCRATCH,
    TAUGHT,
    TRANSFERRED,
    Origin,
    RunError,
    RunInfo,
)

# The settings that make a conv block: a transfer keeps the parent's (its weights only fit them).
CONV_FIELDS = ("filters", "convs_per_block", "kernel_size", "activation", "pooling", "batch_norm")
# Fine-tuning every layer (FREEZE_NONE) starts at this fraction of the parent's learning rate: the
# copied filters are already good, and a full-size step would wash them out in the first batches.
FINE_TUNE_FACTOR = 0.1


def parent(origin: Origin, runs_dir=None) -> RunInfo:
    """The parent run of a grown run, read and checked; RunError naming the problem."""
    path = runs_mod.run_path(origin.parent, runs_dir)
    if not path.is_dir():
        raise RunError(f"cannot {_verb(origin)} run {origin.parent}: there is no such run in "
                       f"{path.parent} (deleted?)")
    try:
        info = runs_mod.read_info(path)
    except RunError as e:
        raise RunError(f"cannot {_verb(origin)} run {origin.parent}: it is damaged ({e})") from None
    try:
        shape = declared_input_shape(info.model_path)
    except ModelFileError as e:
        raise RunError(f"cannot {_verb(origin)} run {origin.parent}: {e}") from None
    if shape != (IMAGE_SIZE, IMAGE_SIZE, 1):
        raise RunError(f"cannot {_verb(origin)} run {origin.parent}: its model takes {_shape(shape)} images, "
                       f"not {IMAGE_SIZE}x{IMAGE_SIZE}x1 ones")
    if origin.kind == CONTINUED:
        if info.origin.kind == TAUGHT:  # its config is the teach recipe's: more of it would be MNIST alone
            raise RunError(f"cannot continue run {origin.parent}: it was taught drawings; teach it again, "
                           "or transfer from it")
        runs_mod.state_file(info)  # RunError when it was saved without its optimizer's state
    return info


def _verb(origin: Origin) -> str:
    return {CONTINUED: "continue", TRANSFERRED: "transfer from", TAUGHT: "teach"}.get(origin.kind, "start from")


def _shape(shape: tuple) -> str:
    return "x".join("?" if d is None else str(d) for d in shape)


# --- the configurations of grown runs -------------------------------------------------------

def continued(info: RunInfo, more_epochs: int) -> tuple[TrainConfig, Origin]:
    """The settings and origin of `info` trained for `more_epochs` more epochs."""
    config = info.config.replace(epochs=info.epochs_completed + more_epochs)
    return config.validate(budget=False), Origin(CONTINUED, info.name, info.origin.freeze)


def transferred(info: RunInfo, dataset: str, freeze: str, changes: dict | None = None) -> tuple[TrainConfig, Origin]:
    """The settings of a transfer of `info`'s conv blocks to `dataset`: the parent's settings on the
    dataset's whole training set, with `changes` (config fields) applied. A change to the conv blocks'
    settings is refused (ConfigError naming it); fine-tuning (FREEZE_NONE) lowers the learning rate
    unless `changes` sets one."""
    changes = dict(changes or {})
    for name in CONV_FIELDS:
        if name in changes and changes[name] != getattr(info.config, name):
            raise ConfigError(name, f"a transfer keeps the conv blocks of run {info.name} "
                                    f"({name} = {_value(getattr(info.config, name))}); "
                                    f"{_value(changes[name])} would not fit their weights")
    base = info.config.replace(dataset=dataset, limit=None)
    if freeze == FREEZE_NONE and "learning_rate" not in changes:
        changes["learning_rate"] = info.config.learning_rate * FINE_TUNE_FACTOR
    return base.replace(**changes).validate(), Origin(TRANSFERRED, info.name, freeze)


def _value(v) -> str:
    return ",".join(map(str, v)) if isinstance(v, tuple) else str(v)


def check(config: TrainConfig, origin: Origin, runs_dir=None, teach=None) -> RunInfo | None:
    """Before a job is queued: the parent is there and readable, and `config` fits it. Returns the parent
    (None: from scratch or the shipped default). A teach job (`teach`: its TeachSet) is checked by teach.py."""
    if origin.kind == TAUGHT or teach is not None:
        from . import teach as teach_mod

        if origin.kind != TAUGHT:
            raise RunError(f"drawings are taught by a {TAUGHT} job, not a {origin.kind} one")
        return teach_mod.check(config, origin, teach, runs_dir)
    if origin.kind == SCRATCH:
        return None
    if origin.kind not in (CONTINUED, TRANSFERRED):
        raise UserError(f"a {origin.kind} run is made by its own command, not by a training job")
    info = parent(origin, runs_dir)
    if origin.kind == CONTINUED:
        expected = info.config.replace(epochs=config.epochs)
        if config != expected:
            changed = [k for k, v in config.to_dict().items() if expected.to_dict()[k] != v]
            raise ConfigError(changed[0], f"a continued run keeps the settings of run {info.name}; only the "
                                          "number of epochs changes")
        if config.epochs <= info.epochs_completed:
            raise ConfigError("epochs", f"run {info.name} has trained {info.epochs_completed} epochs already: "
                                        "continuing needs more")
        if origin.freeze != info.origin.freeze:
            raise RunError(f"a continued run keeps run {info.name}'s frozen layers ({info.origin.freeze})")
    else:
        for name in CONV_FIELDS:
            if getattr(config, name) != getattr(info.config, name):
                raise ConfigError(name, f"a transfer keeps the conv blocks of run {info.name} "
                                        f"({name} = {_value(getattr(info.config, name))})")
        if origin.freeze not in (FREEZE_CONV, FREEZE_NONE):
            raise RunError(f"a transfer needs freeze = {FREEZE_CONV} or {FREEZE_NONE}")
    return info


# --- in the job: the model to train (TensorFlow from here on) --------------------------------

@dataclass
class Start:
    """Where a job's training begins: its compiled model, and what it inherits from a parent run."""

    model: object
    first_epoch: int = 0  # epochs already trained (a continued run's parent's)
    history: dict | None = None  # the parent's curves, which the new run's continue
    seconds: float = 0.0  # the parent's training time


def start(config: TrainConfig, origin: Origin, steps_per_epoch: int, runs_dir=None) -> Start:
    """Build and compile the model a job trains: from scratch, continued or transferred."""
    from . import model as model_mod

    info = check(config, origin, runs_dir)
    model = model_mod.build_model(config)
    if info is None:
        model_mod.compile_model(model, config, steps_per_epoch)
        return Start(model)
    try:
        source = model_mod.load_model(info.model_path)
    except ModelFileError as e:
        raise RunError(f"cannot {_verb(origin)} run {info.name}: {e}") from None
    if origin.kind == CONTINUED:
        _copy(source, model, [layer.name for layer in model.layers], info.name)
        if origin.freeze == FREEZE_CONV:
            model_mod.freeze_conv(model)
        model_mod.compile_model(model, config, steps_per_epoch)
        model_mod.restore_training_state(model, runs_mod.state_file(info), f"{info.name}: {runs_mod.STATE_FILE}")
        history = runs_mod.read_history(info)
        return Start(model, info.epochs_completed, history, info.train_seconds)
    transfer_conv(source, model, origin.freeze, info.name)
    model_mod.compile_model(model, config, steps_per_epoch)
    return Start(model)


def transfer_conv(source, model, freeze: str, parent_name: str = "the parent") -> None:
    """Copy `source`'s conv blocks into `model` (same conv settings; its dense head stays freshly
    initialised) and freeze them for FREEZE_CONV; before compile."""
    from . import model as model_mod

    _copy(source, model, [layer.name for layer in model_mod.conv_layers(model)], parent_name)
    if freeze == FREEZE_CONV:
        model_mod.freeze_conv(model)


def _copy(source, target, names: list[str], parent_name: str) -> None:
    """Copy the weights of the layers `names` from the parent's model; RunError when they do not fit."""
    for name in names:
        layer = target.get_layer(name)
        try:
            layer.set_weights(source.get_layer(name).get_weights())
        except ValueError as e:
            raise RunError(f"{parent_name}: its model.keras does not match its config.json "
                           f"(layer {name}: {str(e).splitlines()[0][:200]})") from None


# Orders a Keras 3 fit draws from a seeded tf.data shuffle per epoch: its epoch loop (keras' trainers/
# epoch_iterator.py) makes a new iterator when an epoch starts (steps_per_epoch is None) and another,
# unused, when it ends. Measured, and guarded by tests/test_grow.py's 2+2 = 4 epochs test.
ORDERS_PER_EPOCH = 2


def skip_epochs(train, epochs: int) -> None:
    """Advance a tf.data pipeline's reshuffling past `epochs` epochs without reading it: each new
    iterator draws the next order from the seeded shuffle, so a continued run sees the orders an
    uninterrupted one would have seen in its later epochs."""
    for _ in range(ORDERS_PER_EPOCH * epochs):
        iter(train)
