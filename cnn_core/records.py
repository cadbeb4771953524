"""Job records: a running training's trace on disk, so a crash never loses it without a word.

A job writes `<runs folder>/.jobs/<job id>.json` when it starts and rewrites it as it goes
(at each epoch and every few seconds): its configuration, state and curves so far. A job
that ends with a saved run removes its record (the run folder now says everything); one
that fails keeps it, marked failed with its message. A record still marked running whose
process is gone (a crash, a kill -9, a power cut) is turned into an "interrupted" one by
`recover()`, which the app calls on start; the Runs page lists both kinds.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import files
from .config import ConfigError, TrainConfig
from .states import FAILED, RUNNING  # noqa: F401 (records.RUNNING works)

log = logging.getLogger(__name__)
FOLDER = ".jobs"  # hidden: run listings skip it
WRITE_EVERY = 5.0  # seconds between rewrites while batches go by
MAX_POINTS = 500  # per-batch values kept in a record (evenly spaced): a record stays a few KB
MAX_BYTES = 2_000_000
INTERRUPTED = "interrupted"  # a record's own state: its process died mid-training (RUNNING, FAILED: states.py)


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    state: str  # RUNNING, FAILED or INTERRUPTED
    config: TrainConfig
    owner: str | None
    started: str  # ISO 8601, UTC
    error: str | None
    epochs_completed: int
    history: dict  # {"batch": {"index", "loss", "accuracy"}, "epoch": {...}, "batches_per_epoch", "batches_done"}


def folder(runs_dir) -> Path:
    return Path(runs_dir) / FOLDER


class Recorder:
    """Writes one job's record; used by the thread that trains it."""

    def __init__(self, runs_dir, job_id: str, config: TrainConfig, owner: str | None):
        self.path = folder(runs_dir) / f"{job_id}.json"
        # The pid and the process' start time: a pid alone is reused by later processes.
        self.base = {"job_id": job_id, "config": config.to_dict(), "owner": owner, "pid": os.getpid(),
                     "pid_started": _started(os.getpid()), "host": socket.gethostname(),
                     "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        self._last = 0.0
        self._failed = False

    def due(self) -> bool:
        return time.monotonic() - self._last >= WRITE_EVERY

    def write(self, snap, state: str = RUNNING, error: str | None = None) -> None:
        self._last = time.monotonic()
        index = _thin_index(len(snap.batch_loss))
        history = {
            "batch": {"index": index.tolist(), "loss": [snap.batch_loss[i] for i in index],
                      "accuracy": [snap.batch_accuracy[i] for i in index]},
            "epoch": {k: list(v) for k, v in snap.epoch_history.items()},
            "batches_per_epoch": snap.batches_per_epoch, "batches_done": len(snap.batch_loss),
        }
        record = {**self.base, "state": state, "error": error, "epochs_completed": snap.epoch, "history": history}
        try:
            _write_atomic(self.path, record)
        except OSError as e:
            # A record is a courtesy: a full disk must not fail the training, nor add a line to the
            # one message that saving the run will give about it.
            if not self._failed:
                log.info("cannot write the job record %s: %s", self.path, e)
            self._failed = True

    def remove(self) -> None:
        try:
            self.path.unlink()
        except OSError:
            pass


def mark(runs_dir, job_id: str, state: str, error: str) -> None:
    """Set a record's state from outside its process (e.g. the server, when a worker died)."""
    path = folder(runs_dir) / f"{job_id}.json"
    raw = _read(path)
    if raw is not None:
        try:
            _write_atomic(path, {**raw, "state": state, "error": error})
        except OSError as e:
            log.warning("cannot update the job record %s: %s", path, e)


def recover(runs_dir) -> int:
    """Mark the records of this machine whose process is gone as interrupted; returns how many.

    The temporary files of rewrites a kill cut short are removed on the way.
    """
    files.remove_leftovers(folder(runs_dir))
    count = 0
    for path in _paths(runs_dir):
        raw = _read(path)
        if raw is None or raw.get("state") != RUNNING or raw.get("host") != socket.gethostname():
            continue
        pid, started = raw.get("pid"), raw.get("pid_started")
        if isinstance(pid, int) and _alive(pid) and (not isinstance(started, int) or _started(pid) in (None, started)):
            continue  # its process still runs (a process that reused its pid started at another time)
        try:
            error = "the training was interrupted (its process ended: a crash, a kill or a shutdown)"
            _write_atomic(path, {**raw, "state": INTERRUPTED, "error": error})
            count += 1
        except OSError as e:
            log.warning("cannot update the job record %s: %s", path, e)
    return count


def list_records(runs_dir) -> list[JobRecord]:
    """The failed and interrupted jobs' records, newest first (damaged ones skipped)."""
    out = []
    for path in _paths(runs_dir):
        raw = _read(path)
        if raw is None or raw.get("state") not in (FAILED, INTERRUPTED):
            continue
        try:
            out.append(_parse(raw))
        except (ConfigError, KeyError, TypeError, ValueError) as e:
            log.warning("skipped a damaged job record %s: %s", path.name, e)
    return sorted(out, key=lambda r: r.started, reverse=True)


def dismiss(runs_dir, job_id: str) -> None:
    """Remove a failed or interrupted job's record (nothing else is touched)."""
    path = folder(runs_dir) / f"{job_id}.json"
    raw = _read(path)
    if raw is not None and raw.get("state") != RUNNING:
        path.unlink(missing_ok=True)


def _parse(raw: dict) -> JobRecord:
    history = raw["history"]
    if not isinstance(history, dict):
        raise TypeError("history must be an object")
    owner = raw.get("owner")
    return JobRecord(
        job_id=str(raw["job_id"]), state=str(raw["state"]),
        config=TrainConfig.from_dict(raw["config"]).validate(budget=False),
        owner=owner if isinstance(owner, str) else None, started=str(raw["started"]),
        error=str(raw.get("error") or ""), epochs_completed=int(raw["epochs_completed"]), history=history,
    )


def _paths(runs_dir) -> list[Path]:
    base = folder(runs_dir)
    try:
        return [p for p in base.iterdir() if p.suffix == ".json" and not p.name.startswith(".")]
    except OSError:
        return []


def _read(path: Path) -> dict | None:
    try:
        st = path.lstat()
        if not path.is_file() or path.is_symlink() or st.st_size > MAX_BYTES:
            return None
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return raw if isinstance(raw, dict) else None


def _write_atomic(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_json(path, obj, indent=None)


def _thin_index(n: int) -> np.ndarray:
    """At most MAX_POINTS evenly spaced batch indices (the first and the last kept)."""
    if n <= MAX_POINTS:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, MAX_POINTS).round().astype(int))


def _started(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot (/proc/PID/stat, field 22); None where unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])  # after "(comm)" comes field 3
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
