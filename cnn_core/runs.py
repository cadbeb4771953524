"""Saved runs: one folder per finished or stopped training job.

A run folder holds run.json (metadata and test metrics), config.json, history.json,
model.keras and predictions.npz (test-set probabilities, for the confusion matrix and
the gallery of mistakes). It is written in a hidden temporary folder and renamed into
place in one step, so a crash never leaves a run that lists but cannot load.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .config import ConfigError, TrainConfig

log = logging.getLogger(__name__)
RUN_FILES = ("run.json", "config.json", "history.json", "model.keras", "predictions.npz")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class RunError(ValueError):
    """A run name or folder that is invalid, missing or damaged."""


def runs_root(root: str | os.PathLike | None = None) -> Path:
    return Path(root or os.environ.get("CNN_RUNS_DIR") or "runs").expanduser().resolve()


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
    """The folder of run `name`; names that could escape the runs folder are refused."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or name in (".", ".."):
        raise RunError(f"{name!r} is not a valid run name (letters, digits, '-', '_', '.')")
    base = runs_root(root)
    path = (base / name).resolve()
    if path.parent != base:
        raise RunError(f"{name!r} is not inside the runs folder {base}")
    return path


@dataclass(frozen=True)
class RunInfo:
    name: str
    path: Path
    created: str  # ISO 8601, UTC
    state: str  # finished | stopped
    config: TrainConfig
    epochs_completed: int
    test_accuracy: float
    test_loss: float
    train_seconds: float
    data_source: str
    params: int
    owner: str | None = None  # the browser session (or CLI) that trained it: only its owner may delete it

    @property
    def model_path(self) -> Path:
        return self.path / "model.keras"


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
) -> Path:
    final = run_path(name, root)
    if final.exists():
        raise RunError(f"a run named {name} already exists")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=final.parent))
    try:
        meta = {
            "name": name,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "state": state,
            "epochs_completed": epochs_completed,
            "train_seconds": round(train_seconds, 3),
            "data_source": data_source,
            "params": params,
            "owner": owner,
            **evaluation.to_json(),
        }
        _write_json(tmp / "run.json", meta)
        _write_json(tmp / "config.json", config.to_dict())
        _write_json(tmp / "history.json", history)
        model_writer(tmp / "model.keras")
        np.savez_compressed(tmp / "predictions.npz", probabilities=evaluation.probabilities.astype(np.float16))
        os.replace(tmp, final)  # the atomic step: the run appears complete or not at all
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _write_json(path: Path, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, allow_nan=True)
        f.flush()
        os.fsync(f.fileno())


def _read_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except FileNotFoundError:
        raise RunError(f"{path.parent.name}: {path.name} is missing") from None
    except (OSError, ValueError) as e:
        raise RunError(f"{path.parent.name}: {path.name} is damaged ({e})") from None
    if not isinstance(obj, dict):
        raise RunError(f"{path.parent.name}: {path.name} is not a JSON object")
    return obj


def read_info(path: Path) -> RunInfo:
    """Read and check one run folder's metadata; RunError when anything is missing or damaged."""
    meta = _read_json(path / "run.json")
    try:
        config = TrainConfig.from_dict(_read_json(path / "config.json"))
    except (ConfigError, TypeError) as e:
        raise RunError(f"{path.name}: config.json is damaged ({e})") from None
    if not (path / "model.keras").is_file() or not zipfile.is_zipfile(path / "model.keras"):
        raise RunError(f"{path.name}: model.keras is missing or damaged")
    try:
        return RunInfo(
            name=path.name,
            path=path,
            created=str(meta["created"]),
            state=str(meta["state"]),
            config=config,
            epochs_completed=int(meta["epochs_completed"]),
            test_accuracy=float(meta["test_accuracy"]),
            test_loss=float(meta["test_loss"]),
            train_seconds=float(meta["train_seconds"]),
            data_source=str(meta.get("data_source", "")),
            params=int(meta.get("params", 0)),
            owner=meta.get("owner") if isinstance(meta.get("owner"), str) else None,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise RunError(f"{path.name}: run.json is damaged ({type(e).__name__}: {e})") from None


def scan_runs(root: str | os.PathLike | None = None) -> tuple[list[RunInfo], list[str]]:
    """All readable runs, newest first, and one message per damaged folder that was skipped."""
    base = runs_root(root)
    if not base.is_dir():
        return [], []
    runs, problems = [], []
    for path in sorted(base.iterdir()):
        if path.name.startswith(".") or not path.is_dir():
            continue  # temporary folders of runs being written, stray files
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
    info = read_info(path)
    history = _read_json(path / "history.json")
    try:
        with np.load(path / "predictions.npz", allow_pickle=False) as f:
            probs = np.asarray(f["probabilities"], dtype=np.float32)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise RunError(f"{name}: predictions.npz is missing or damaged ({e})") from None
    meta = _read_json(path / "run.json")
    try:
        confusion = np.asarray(meta.get("confusion_matrix", np.zeros((10, 10))), dtype=int)
    except (TypeError, ValueError):
        raise RunError(f"{name}: the confusion matrix in run.json is damaged") from None
    if confusion.shape != (10, 10) or probs.ndim != 2 or probs.shape[1] != 10:
        raise RunError(f"{name}: confusion matrix or predictions have the wrong shape")
    return Run(info=info, history=history, confusion=confusion, y_pred=probs.argmax(axis=1), probabilities=probs)


def delete_run(name: str, root: str | os.PathLike | None = None) -> None:
    path = run_path(name, root)
    if not path.is_dir():
        raise RunError(f"no run named {name}")
    # Rename first so a half-deleted folder is hidden from listings at once.
    trash = path.parent / f".deleting-{name}-{os.urandom(3).hex()}"
    os.replace(path, trash)
    shutil.rmtree(trash, ignore_errors=True)
