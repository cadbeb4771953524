"""Saved runs: one folder per finished or stopped training job, and what is known about any model.

A run folder holds run.json (metadata, test metrics and the run's origin), config.json,
history.json, model.keras, predictions.npz (test-set probabilities, for the confusion matrix and
the gallery of mistakes) and, from runs trained since runs could be continued, training_state.npz
(the optimizer's state, to continue exactly where the run stopped); a taught run also has teach.json (its
before/after report, cnn_core/teach.py). It is written in a hidden
temporary folder and renamed into place in one step, so a crash never leaves a run that lists
but cannot load. This module is the one place that knows these file names.

Every model, a run or the shipped default (models/default.keras with default.json beside it),
is described by one typed ModelMeta: its configuration, test metrics, training time and origin.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import datasets
from .config import LIMITS, NUM_CLASSES, TrainConfig
from .errors import UserError
from .files import LEFTOVER_AGE_S, UnsafeFileError, fsync_dir, open_regular, write_json
from .model import MAX_MODEL_BYTES
from .states import FINISHED, STOPPED

log = logging.getLogger(__name__)
RUNS_DIR_ENV = "CNN_RUNS_DIR"  # the runs folder (the CLI's --runs-dir); default ./runs
# The run folder's layout: every other module reads these names from here.
RUN_JSON = "run.json"
CONFIG_JSON = "config.json"
HISTORY_JSON = "history.json"
MODEL_FILE = "model.keras"
PREDICTIONS_FILE = "predictions.npz"
STATE_FILE = "training_state.npz"  # optional: older runs, and runs saved by hand, have none
TEACH_REPORT = "teach.json"  # a taught run's before/after report (cnn_core/teach.py)
TRAINED_ON = "trained_on.json"  # a run trained on a Ray cluster: which executor, node and process (ray_executor.py)
RUN_FILES = (RUN_JSON, CONFIG_JSON, HISTORY_JSON, MODEL_FILE, PREDICTIONS_FILE)  # every run has these
STATES = (FINISHED, STOPPED)  # a saved run finished or was stopped
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
TMP_PREFIX = ".tmp-"  # a run being written
TRASH_PREFIX = ".deleting-"  # a run being deleted
# Largest file read for each part of a run: a run's own files are far smaller (history.json:
# ~200 KB for 5 epochs of full MNIST at batch 64), and nothing larger is ever parsed.
MAX_BYTES = {RUN_JSON: 2**20, CONFIG_JSON: 64 * 2**10, HISTORY_JSON: 16 * 2**20,
             PREDICTIONS_FILE: 64 * 2**20, MODEL_FILE: MAX_MODEL_BYTES, STATE_FILE: 3 * MAX_MODEL_BYTES,
             TEACH_REPORT: 4 * 2**20}
MAX_TEST_DIGITS = 1_000_000  # rows of predictions.npz (MNIST's test set has 10,000)
MAX_HISTORY_POINTS = 2_000_000  # per curve in history.json


class RunError(UserError, ValueError):
    """A run name or folder that is invalid, missing or damaged."""


def runs_root(root: str | os.PathLike | None = None) -> Path:
    return Path(root or os.environ.get(RUNS_DIR_ENV) or "runs").expanduser().resolve()


def ensure_root(root: str | os.PathLike | None = None) -> Path:
    """The runs folder, created if needed and checked writable: found before training, not after it."""
    base = runs_root(root)
    try:
        base.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=base):
            pass
    except OSError as e:
        raise RunError(f"cannot save runs in {base}: {e.strerror or e}") from None
    return base


def run_path(name: str, root: str | os.PathLike | None = None) -> Path:
    """The folder of run `name` (runs folder / name, not resolved: it may be a link to another run).

    Names that could escape the runs folder, and links that lead out of it, are refused.
    """
    if not isinstance(name, str) or not _NAME_RE.match(name) or name in (".", ".."):
        raise RunError(f"{name!r} is not a valid run name (letters, digits, '-', '_', '.')")
    base = runs_root(root)
    path = base / name
    _inside(path, base, name)
    return path


def _inside(path: Path, base: Path, what: str) -> Path:
    """path's real location, refused when a link (of the path or a folder above it) leads out of base."""
    try:
        real = path.resolve()
    except (OSError, RuntimeError) as e:  # a link loop
        raise RunError(f"{what}: cannot follow its links ({e})") from None
    if real != base and base not in real.parents:
        raise RunError(f"{what} links to {real}, outside the runs folder {base}: refused")
    return real


# Where a model came from (its lineage). Runs saved before lineage existed read as SCRATCH.
SCRATCH, CONTINUED, TRANSFERRED, TAUGHT = "scratch", "continued", "transferred", "taught"
ORIGIN_KINDS = (SCRATCH, CONTINUED, TRANSFERRED, TAUGHT)
FREEZE_CONV, FREEZE_NONE = "conv", "none"  # a transfer: the parent's conv blocks frozen, or fine-tuned too
FREEZE_CHOICES = (FREEZE_CONV, FREEZE_NONE)


@dataclass(frozen=True)
class Origin:
    """How a run began: from scratch, or from a parent run (continued, transferred, taught)."""

    kind: str = SCRATCH
    parent: str | None = None  # the parent run's name (in the same runs folder)
    freeze: str | None = None  # FREEZE_CONV or FREEZE_NONE: which of the parent's layers stay fixed

    def __post_init__(self):
        if self.kind not in ORIGIN_KINDS:
            raise RunError(f"origin {self.kind!r} is not one of {', '.join(ORIGIN_KINDS)}")
        if (self.kind == SCRATCH) != (self.parent is None):
            needs = "from scratch has no" if self.kind == SCRATCH else f"{self.kind} from another needs a"
            raise RunError(f"a run {needs} parent")
        if self.freeze not in (None, *FREEZE_CHOICES):
            raise RunError(f"freeze {self.freeze!r} is not one of {', '.join(FREEZE_CHOICES)}")

    def to_json(self) -> dict:
        return {"kind": self.kind, "parent": self.parent, "freeze": self.freeze}

    def describe(self) -> str:
        """In words, for tables: 'scratch', 'continued from NAME', 'transferred from NAME (conv frozen)'."""
        if self.kind == SCRATCH:
            return SCRATCH
        frozen = {FREEZE_CONV: " (conv frozen)", FREEZE_NONE: " (fine-tuned)"}.get(self.freeze, "")
        return f"{self.kind} from {self.parent}{frozen if self.kind == TRANSFERRED else ''}"


FROM_SCRATCH = Origin()


@dataclass(frozen=True, kw_only=True)
class ModelMeta:
    """What is known about a model, a run or the shipped default; None where its record does not say."""

    config: TrainConfig | None = None
    test_accuracy: float | None = None
    test_loss: float | None = None
    epochs_completed: int | None = None
    train_seconds: float | None = None
    data_source: str = ""
    params: int = 0
    created: str | None = None  # ISO 8601, UTC
    origin: Origin = FROM_SCRATCH

    @property
    def dataset(self) -> str:
        """The dataset the model was trained on; MNIST when unknown (the shipped default is an MNIST model)."""
        return self.config.dataset if self.config is not None else datasets.MNIST.name


@dataclass(frozen=True, kw_only=True)
class RunInfo(ModelMeta):
    """A saved run's metadata (run.json and config.json), checked: every metric is known."""

    name: str
    path: Path
    created: str
    state: str  # finished | stopped
    config: TrainConfig
    epochs_completed: int
    test_accuracy: float
    test_loss: float
    train_seconds: float
    owner: str | None = None  # the browser session (or CLI) that trained it: only its owner may delete it

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def can_continue(self) -> bool:
        """Saved with its optimizer's state (older runs were not): it can be continued exactly."""
        return os.path.lexists(self.path / STATE_FILE)


@dataclass(frozen=True)
class Run:
    info: RunInfo
    history: dict  # {"batch": {"loss": [...], "accuracy": [...]}, "epoch": {"loss": [...], ...}}
    confusion: np.ndarray
    y_pred: np.ndarray
    probabilities: np.ndarray = field(repr=False)


def new_run_name(config: TrainConfig, preset: str | None = None) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    tag = preset or "custom"
    return f"{stamp}-{config.dataset.replace('_', '-')}-{tag}-{os.urandom(2).hex()}"


def save_run(
    root: str | os.PathLike | None,
    name: str,
    *,
    config: TrainConfig,
    model_writer,  # callable(Path) that writes the .keras file
    history: dict,
    evaluation,  # cnn_core.evaluate.Evaluation
    state: str,
    epochs_completed: int,
    train_seconds: float,
    data_source: str,
    params: int,
    owner: str | None = None,
    origin: Origin = FROM_SCRATCH,
    state_writer=None,  # callable(Path) that writes the optimizer's state (STATE_FILE), to continue the run
    extra_json: dict | None = None,  # more JSON files of the run, by name (a taught run's TEACH_REPORT)
) -> Path:
    """Write a run into a hidden temporary folder, then rename it into place in one step.

    Any failure (a full disk, Ctrl-C) removes the temporary folder: nothing partial is left.
    A write failure is one RunError naming the folder (and, for a full disk, the space needed).
    """
    final = run_path(name, root)
    base = final.parent
    if os.path.lexists(final):
        raise RunError(f"a run named {name} already exists")
    meta = {
        "name": name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "state": state,
        "epochs_completed": epochs_completed,
        "train_seconds": round(train_seconds, 3),
        "data_source": data_source,
        "params": params,
        "owner": owner,
        "origin": origin.to_json(),
        **evaluation.to_json(),
    }
    tmp = None
    try:
        base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{name}-", dir=base))
        _write_json(tmp / RUN_JSON, meta)
        _write_json(tmp / CONFIG_JSON, config.to_dict())
        _write_json(tmp / HISTORY_JSON, history)
        for file, obj in (extra_json or {}).items():
            _write_json(tmp / file, obj)
        model_writer(tmp / MODEL_FILE)
        _fsync(tmp / MODEL_FILE)
        if state_writer is not None:
            state_writer(tmp / STATE_FILE)
            _fsync(tmp / STATE_FILE)
        with open(tmp / PREDICTIONS_FILE, "wb") as f:
            np.savez_compressed(f, probabilities=evaluation.probabilities.astype(np.float16))
            f.flush()
            os.fsync(f.fileno())
        fsync_dir(tmp)
        os.replace(tmp, final)  # the atomic step: the run appears complete or not at all
    except BaseException as e:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        failure = _os_error(e)
        if failure is None:
            raise
        needed = estimate_run_bytes(params, len(evaluation.probabilities), history)
        raise RunError(_save_message(failure, name, base, needed)) from None
    fsync_dir(base)
    return final


def estimate_run_bytes(params: int, n_test: int, history: dict | None = None) -> int:
    """About how much disk a saved run takes: float32 weights, Keras' archive overhead,
    float16 test-set probabilities (before compression) and the JSON files."""
    history_bytes = len(json.dumps(history or {}))
    return 4 * params + 64 * 2**10 + 2 * NUM_CLASSES * n_test + history_bytes + 16 * 2**10


def _os_error(e: BaseException) -> OSError | None:
    """The OSError behind e (Keras may wrap one in its own exception), or None."""
    seen = 0
    while e is not None and seen < 10:
        if isinstance(e, OSError):
            return e
        e, seen = e.__cause__ or e.__context__, seen + 1
    return None


def _save_message(e: OSError, name: str, base: Path, needed: int) -> str:
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        try:
            free = f", {shutil.disk_usage(base).free / 2**20:.1f} MB free"
        except OSError:
            free = ""
        return (f"cannot save run {name} in {base}: the disk is full (the run needs about "
                f"{needed / 2**20:.1f} MB{free}); free some space and train again")
    return f"cannot save run {name} in {base}: {e.strerror or e}"


def _write_json(path: Path, obj) -> None:
    """Inside the run's temporary folder (renamed in one step), so a plain write plus fsync is atomic enough."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, allow_nan=True)
        f.flush()
        os.fsync(f.fileno())


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


# --- reading: every file of a run is checked (regular file inside the runs folder, size,
# --- schema with types and ranges) before anything is built from it --------------------------

def _open_run_file(folder: Path, file: str, base: Path):
    """An open binary file for folder/file: a regular file, inside the runs folder, under its size limit."""
    path = folder / file
    real = _inside(path, base, f"{folder.name}: {file}")
    try:
        return open_regular(real, MAX_BYTES[file])
    except FileNotFoundError:
        raise RunError(f"{folder.name}: {file} is missing") from None
    except UnsafeFileError as e:
        raise RunError(f"{folder.name}: {file} refused: {e}") from None
    except OSError as e:
        raise RunError(f"{folder.name}: {file} cannot be read ({e.strerror or e})") from None


def _read_json(folder: Path, file: str, base: Path) -> dict:
    with _open_run_file(folder, file, base) as f:
        raw = f.read(MAX_BYTES[file] + 1)
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError) as e:  # bad JSON, bad UTF-8, 100,000 nested brackets
        raise RunError(f"{folder.name}: {file} is damaged ({type(e).__name__}: {str(e)[:200]})") from None
    if not isinstance(obj, dict):
        raise RunError(f"{folder.name}: {file} is not a JSON object")
    return obj


class _Bad(ValueError):
    """One field of a run file that fails the schema; read_info names the run and the file."""


def _int(lo: int, hi: int):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int):
            raise _Bad(f"{v!r:.60} is not a whole number")
        if not lo <= v <= hi:
            raise _Bad(f"{v} is out of range {lo} to {hi}")
        return v
    return check


def _float(lo: float, hi: float, nan: bool = False):
    """A number in [lo, hi]; NaN only where a diverged training legitimately writes one (a loss)."""
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _Bad(f"{v!r:.60} is not a number")
        v = float(v)
        if math.isnan(v):
            if nan:
                return v
            raise _Bad("NaN is not allowed here")
        if not lo <= v <= hi:  # Infinity and 1e999 (parsed as inf) land here
            raise _Bad(f"{v} is out of range {lo:g} to {hi:g}")
        return v
    return check


def _text(max_len: int, choices: tuple[str, ...] | None = None):
    def check(v):
        if not isinstance(v, str):
            raise _Bad(f"{v!r:.60} is not a string")
        if len(v) > max_len:
            raise _Bad(f"a string of {len(v):,} characters (at most {max_len})")
        if choices is not None and v not in choices:
            raise _Bad(f"{v!r:.60} is not one of {', '.join(choices)}")
        return v
    return check


def _date(v):
    """An ISO 8601 date and time with a time zone, between 1970 and 9000 (pages convert it to local time)."""
    _text(64)(v)
    try:
        when = datetime.fromisoformat(v)
    except ValueError:
        raise _Bad(f"{v!r} is not a date and time") from None
    if when.tzinfo is None or not 1970 <= when.year <= 9000:  # (year 1 with +14:00 overflows astimezone)
        raise _Bad(f"{v!r} is not a date and time with a time zone, between 1970 and 9000")
    return v


def _optional(check, default):
    def maybe(v):
        return default if v is None else check(v)
    return maybe


def _confusion(v):
    """A 10 x 10 matrix of counts: true label by predicted label."""
    if not isinstance(v, list) or len(v) != NUM_CLASSES or not all(
            isinstance(row, list) and len(row) == NUM_CLASSES for row in v):
        raise _Bad(f"not a {NUM_CLASSES} x {NUM_CLASSES} matrix")
    count = _int(0, MAX_TEST_DIGITS)
    return np.array([[count(x) for x in row] for row in v], dtype=np.int64)


def _origin(v):
    """run.json's origin: {"kind": ..., "parent": run name or null, "freeze": null, "conv" or "none"}."""
    if not isinstance(v, dict) or set(v) - {"kind", "parent", "freeze"}:
        raise _Bad("not an origin (kind, parent, freeze)")
    parent = v.get("parent")
    if parent is not None and not (isinstance(parent, str) and _NAME_RE.match(parent)):
        raise _Bad(f"parent {parent!r:.60} is not a run name")
    try:
        return Origin(_text(16, ORIGIN_KINDS)(v.get("kind")), parent, v.get("freeze"))
    except RunError as e:
        raise _Bad(str(e)) from None


RUN_SCHEMA = {  # run.json: field -> check (raises _Bad, returns the clean value)
    "created": _date,
    "state": _text(16, STATES),
    "epochs_completed": _int(0, LIMITS["epochs"][1]),
    "test_accuracy": _float(0.0, 1.0),
    "test_loss": _float(0.0, 1e6, nan=True),
    "train_seconds": _float(0.0, 1e9),
    "data_source": _optional(_text(2000), ""),
    "params": _optional(_int(0, 10**12), 0),
    "owner": _optional(_text(200), None),
    "origin": _optional(_origin, FROM_SCRATCH),  # runs saved before lineage existed: from scratch
    "confusion_matrix": _confusion,
}
REQUIRED = ("created", "state", "epochs_completed", "test_accuracy", "test_loss", "train_seconds", "confusion_matrix")


def _check_schema(obj: dict, schema: dict, required: tuple, where: str) -> dict:
    clean = {}
    for key, check in schema.items():
        if key not in obj:
            if key in required:
                raise RunError(f"{where} is damaged: {key} is missing")
            obj_value = None
        else:
            obj_value = obj[key]
        try:
            clean[key] = check(obj_value)
        except _Bad as e:
            raise RunError(f"{where} is damaged: {key}: {e}") from None
    return clean


def _curve(v):
    if not isinstance(v, list) or len(v) > MAX_HISTORY_POINTS:
        raise _Bad(f"not a list of at most {MAX_HISTORY_POINTS:,} numbers")
    number = _float(-1e30, 1e30, nan=True)
    return [math.nan if x is None else number(x) for x in v]


def _curves(v):
    if not isinstance(v, dict) or len(v) > 16:
        raise _Bad("not a table of curves")
    out = {}
    for name, values in v.items():
        try:
            out[_text(64)(name)] = _curve(values)
        except _Bad as e:
            raise _Bad(f"{name!r:.60}: {e}") from None
    return out


HISTORY_SCHEMA = {  # history.json
    "batch": _optional(_curves, {}),  # per batch: loss, accuracy
    "epoch": _optional(_curves, {}),  # per epoch: loss, accuracy, val_loss, val_accuracy
    "batches_per_epoch": _optional(_int(1, LIMITS["limit"][1]), None),
}


def read_run_json(info: RunInfo, file: str) -> dict:
    """One more JSON file of a run (TEACH_REPORT), checked like its others (regular, inside, size)."""
    path, base = _folder(info.path)
    return _read_json(path, file, base)


def _read_run_json(folder: Path, base: Path) -> dict:
    return _check_schema(_read_json(folder, RUN_JSON, base), RUN_SCHEMA, REQUIRED, f"{folder.name}: run.json")


def _read_config(folder: Path, base: Path) -> TrainConfig:
    d = _read_json(folder, CONFIG_JSON, base)
    try:
        return TrainConfig.from_dict(d).validate(budget=False)  # trained already: see validate
    except Exception as e:  # ConfigError, but also TypeError & co. for values of the wrong kind
        raise RunError(f"{folder.name}: config.json is damaged ({str(e)[:300]})") from None


def _check_model(folder: Path, base: Path) -> None:
    with _open_run_file(folder, MODEL_FILE, base) as f:
        if not zipfile.is_zipfile(f):
            raise RunError(f"{folder.name}: model.keras is missing or damaged (not a .keras archive)")


def _folder(path: Path) -> tuple[Path, Path]:
    """A run folder and the runs folder it lies in, checked: a folder, not a link leading outside."""
    path = Path(path).absolute()
    base = path.parent.resolve()
    real = _inside(path, base, path.name)
    if real == base or not real.is_dir():
        raise RunError(f"{path.name}: not a run folder")
    return path, base


def read_info(path: Path) -> RunInfo:
    """Read and check one run folder's metadata; RunError when anything is missing or damaged."""
    path, base = _folder(path)
    return _info(path, base, _read_run_json(path, base))


def _info(path: Path, base: Path, meta: dict) -> RunInfo:
    config = _read_config(path, base)
    _check_model(path, base)
    if meta["epochs_completed"] > config.epochs:
        raise RunError(f"{path.name}: run.json is damaged: {meta['epochs_completed']} epochs completed "
                       f"of the {config.epochs} in config.json")
    return RunInfo(
        name=path.name, path=path, created=meta["created"], state=meta["state"], config=config,
        epochs_completed=meta["epochs_completed"], test_accuracy=meta["test_accuracy"],
        test_loss=meta["test_loss"], train_seconds=meta["train_seconds"], data_source=meta["data_source"],
        params=meta["params"], owner=meta["owner"], origin=meta["origin"],
    )


def read_history(info: RunInfo) -> dict:
    """A run's history.json, checked: {"batch": {...}, "epoch": {...}, "batches_per_epoch": n or None}."""
    path, base = _folder(info.path)
    return _check_schema(_read_json(path, HISTORY_JSON, base), HISTORY_SCHEMA, (), f"{path.name}: history.json")


def state_file(info: RunInfo) -> Path:
    """The real path of a run's training_state.npz, checked like its other files (regular, inside the
    runs folder, size); RunError naming the run when it was saved without one."""
    path, base = _folder(info.path)
    if not os.path.lexists(path / STATE_FILE):
        raise RunError(f"{path.name} was saved without its optimizer's state (by an older CNN Lab, or by hand), "
                       "so it cannot be continued exactly; transfer from it, or train a new run")
    with _open_run_file(path, STATE_FILE, base):
        pass
    return _inside(path / STATE_FILE, base, f"{path.name}: {STATE_FILE}")


# --- any model's metadata: a run folder's files, or the JSON beside a .keras file ----------------

SHIPPED_MODEL = Path(__file__).resolve().parent.parent / "models" / "default.keras"  # the default model, and
# its default.json: here, not in inference.py, so that the app finds it without importing TensorFlow

META_SCHEMA = {  # default.json (written by write_model_meta): every field optional
    **{k: _optional(check, None) for k, check in RUN_SCHEMA.items() if k in (
        "created", "epochs_completed", "test_accuracy", "test_loss", "train_seconds")},
    "data_source": RUN_SCHEMA["data_source"], "params": RUN_SCHEMA["params"], "origin": RUN_SCHEMA["origin"],
}


def meta_path(model_path: str | os.PathLike) -> Path:
    """The JSON that describes a model file outside a run folder: default.json beside default.keras."""
    return Path(model_path).with_suffix(".json")


def write_model_meta(model_path: str | os.PathLike, meta: ModelMeta, command: str) -> dict:
    """Write meta_path(model_path) atomically, in the shape read_model_meta reads back, plus the command
    that made the model (for people); returns what was written."""
    obj = {
        "test_accuracy": meta.test_accuracy, "test_loss": meta.test_loss, "epochs_completed": meta.epochs_completed,
        "train_seconds": meta.train_seconds, "data_source": meta.data_source, "params": meta.params,
        "config": None if meta.config is None else meta.config.to_dict(), "created": meta.created,
        "origin": meta.origin.to_json(), "command": command,
    }
    write_json(meta_path(model_path), obj)
    return obj


def read_model_meta(model_path: str | os.PathLike) -> ModelMeta:
    """The metadata of a model file: a run's (run.json, config.json) when it is a run folder's model,
    else the JSON beside it (default.json beside default.keras, its config inside).

    Metadata only describes a model, so a missing or damaged record gives an empty ModelMeta (the
    model is still usable), with a warning in the log.
    """
    model_path = Path(model_path)
    if model_path.name == MODEL_FILE and os.path.lexists(model_path.parent / RUN_JSON):
        try:
            return read_info(model_path.parent)
        except RunError as e:
            log.warning("model metadata ignored: %s", e)
            return ModelMeta()
    beside = meta_path(model_path)
    if not os.path.lexists(beside):
        return ModelMeta()
    try:
        with open_regular(beside, MAX_BYTES[RUN_JSON]) as f:
            obj = json.loads(f.read(MAX_BYTES[RUN_JSON] + 1))
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")
        clean = _check_schema(obj, META_SCHEMA, (), beside.name)
        config = obj.get("config")
        clean["config"] = None if config is None else TrainConfig.from_dict(config).validate(budget=False)
        return ModelMeta(**clean)
    except (OSError, ValueError, RecursionError, TypeError, UnsafeFileError, UserError) as e:
        log.warning("model metadata ignored: %s: %s", beside, str(e)[:300])
        return ModelMeta()


def cleanup_leftovers(root: str | os.PathLike | None = None, older_than: float = LEFTOVER_AGE_S) -> list[str]:
    """Remove hidden folders left by killed saves (.tmp-*) and deletions (.deleting-*).

    Only folders whose newest entry is older than `older_than` seconds: a save in progress
    touches its folder every few seconds. Links are never followed. Returns the names removed.
    """
    base = runs_root(root)
    removed = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        if not entry.name.startswith((TMP_PREFIX, TRASH_PREFIX)) or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            newest = max([entry.stat(follow_symlinks=False).st_mtime] +
                         [e.stat(follow_symlinks=False).st_mtime for e in os.scandir(entry.path)])
        except OSError:
            continue
        if now - newest > older_than:
            shutil.rmtree(entry.path, ignore_errors=True)  # rmtree never follows links inside
            removed.append(entry.name)
            log.info("removed %s, left in %s by an interrupted save or delete", entry.name, base)
    return removed


def scan_runs(root: str | os.PathLike | None = None) -> tuple[list[RunInfo], list[str]]:
    """All readable runs, newest first, and one message per damaged folder that was skipped.

    Leftovers of killed saves and deletions are cleaned up on the way.
    """
    base = runs_root(root)
    if not base.is_dir():
        return [], []
    cleanup_leftovers(base)
    runs, problems = [], []
    for path in sorted(base.iterdir()):
        if path.name.startswith(".") or not path.is_dir():
            continue  # temporary folders of runs being written, stray files (and links to files)
        try:
            runs.append(read_info(path))
        except RunError as e:
            problems.append(str(e))
    runs.sort(key=lambda r: (r.created, r.name), reverse=True)
    return runs, problems


def list_runs(root: str | os.PathLike | None = None) -> list[RunInfo]:
    runs, problems = scan_runs(root)
    for p in problems:
        log.warning("skipped damaged run: %s", p)
    return runs


def load_run(name: str, root: str | os.PathLike | None = None) -> Run:
    path = run_path(name, root)
    if not path.is_dir():
        raise RunError(f"no run named {name} in {path.parent}")
    path, base = _folder(path)
    meta = _read_run_json(path, base)
    info = _info(path, base, meta)
    history = _check_schema(_read_json(path, HISTORY_JSON, base), HISTORY_SCHEMA, (), f"{name}: history.json")
    confusion = meta["confusion_matrix"]
    probs = _read_probabilities(path, base, n=int(confusion.sum()))
    return Run(info=info, history=history, confusion=confusion, y_pred=probs.argmax(axis=1), probabilities=probs)


def _read_probabilities(folder: Path, base: Path, n: int) -> np.ndarray:
    """predictions.npz's (n, 10) array, its header checked before a byte of data is allocated.

    np.load trusts the header: a 6.8 MB file declaring 300 M rows would allocate 6 GB.
    """
    where = f"{folder.name}: predictions.npz"
    with _open_run_file(folder, PREDICTIONS_FILE, base) as f:
        try:
            with zipfile.ZipFile(f) as z, z.open("probabilities.npy") as member:
                version = np.lib.format.read_magic(member)
                readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
                if version not in readers:
                    raise RunError(f"{where} is damaged (unknown .npy version {version})")
                shape, fortran, dtype = readers[version](member)
                if dtype not in (np.float16, np.float32) or shape != (n, NUM_CLASSES) or n > MAX_TEST_DIGITS:
                    raise RunError(f"{where} is damaged: an array of {shape} {dtype}, expected ({n}, {NUM_CLASSES}) "
                                   f"float16 probabilities (one row per test digit of the confusion matrix)")
                nbytes = n * NUM_CLASSES * dtype.itemsize
                data = member.read(nbytes)
        except RunError:
            raise
        except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
            raise RunError(f"{where} is missing or damaged ({type(e).__name__}: {str(e)[:200]})") from None
    if len(data) != nbytes:
        raise RunError(f"{where} is damaged (truncated: {len(data):,} of {nbytes:,} bytes)")
    probs = np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C").astype(np.float32)
    if not np.isfinite(probs).all():
        raise RunError(f"{where} is damaged (values that are not numbers)")
    return probs


def model_bytes(info: RunInfo) -> bytes:
    """The run's model.keras, for a download: checked (regular file, inside the runs folder, under
    MAX_MODEL_BYTES) before a byte is read."""
    path, base = _folder(info.path)
    with _open_run_file(path, MODEL_FILE, base) as f:
        data = f.read(MAX_BYTES[MODEL_FILE] + 1)
    if len(data) > MAX_BYTES[MODEL_FILE]:  # grew since it was checked
        raise RunError(f"{path.name}: model.keras is larger than {MAX_BYTES[MODEL_FILE] / 2**20:.0f} MB: refused")
    return data


def model_file(folder: str | os.PathLike) -> Path:
    """The real path of a run folder's model.keras, refused when it links out of the runs folder
    or is not a regular file of at most MAX_MODEL_BYTES."""
    path, base = _folder(Path(folder))
    with _open_run_file(path, MODEL_FILE, base):
        pass
    return _inside(path / MODEL_FILE, base, f"{path.name}: model.keras")


def delete_run(name: str, root: str | os.PathLike | None = None) -> None:
    """Delete a run. A link (an alias of another run) is removed itself, never what it points to."""
    path = run_path(name, root)
    if path.is_symlink():
        path.unlink()
        return
    if not path.is_dir():
        raise RunError(f"no run named {name}")
    # Rename first so a half-deleted folder is hidden from listings at once.
    trash = path.parent / f"{TRASH_PREFIX}{name}-{os.urandom(3).hex()}"
    os.replace(path, trash)
    shutil.rmtree(trash, ignore_errors=True)  # never follows links inside the run
