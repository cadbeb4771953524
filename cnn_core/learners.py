"""Learners' display names and the class leaderboard.

No accounts, no passwords: a learner is the owner id their browser keeps (see the app's
state.owner()), and may give it a display name. The names live in one small file of the runs
folder, `<runs>/.learners.json` (owner id -> name), written atomically, so every run and job a
learner started shows their current name without the name travelling with each job. Runs made
with the CLI have no owner and show no name.
"""

from __future__ import annotations

import json
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError
from .files import write_json

FILE = ".learners.json"  # hidden: run listings skip it
MAX_NAME = 30
MAX_LEARNERS = 10_000  # a file that grew past this is damaged or hostile: ignored
_lock = threading.Lock()  # one server process writes the file; its sessions are threads


class LearnerNameError(UserError):
    """A display name that cannot be used; the message says why."""


def clean_name(name: str) -> str:
    """The name as shown: spaces trimmed and collapsed. LearnerNameError when empty, too long or unprintable."""
    text = " ".join(str(name).split())
    if not text:
        raise LearnerNameError("type a name of at least one letter")
    if len(text) > MAX_NAME:
        raise LearnerNameError(f"a name of at most {MAX_NAME} characters, please (this one has {len(text)})")
    if any(unicodedata.category(c)[0] == "C" for c in text):
        raise LearnerNameError("letters, digits, spaces and punctuation only")
    return text


def names(runs_dir) -> dict[str, str]:
    """owner id -> display name; {} when there is no file yet, or it is damaged."""
    try:
        raw = json.loads((Path(runs_dir) / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict) or len(raw) > MAX_LEARNERS:
        return {}
    return {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, str) and len(v) <= MAX_NAME}


def set_name(runs_dir, owner: str, name: str) -> str:
    """Give `owner` a display name (checked with clean_name); returns the name as stored."""
    name = clean_name(name)
    with _lock:
        table = names(runs_dir)
        table[owner] = name
        Path(runs_dir).mkdir(parents=True, exist_ok=True)
        write_json(Path(runs_dir) / FILE, table)
    return name


@dataclass(frozen=True)
class Entry:
    rank: int
    learner: str  # display name, or "" when the run has no owner or the owner no name
    run: str
    test_accuracy: float
    params: int
    train_seconds: float
    architecture: str
    mine: bool


def architecture(config) -> str:
    """The network in a few words: "conv 32-64 (3x3, pool, BN) · dense 128 · dropout 0.3"."""
    convs = "-".join(str(f) for f in config.filters)
    if config.convs_per_block > 1:
        convs += f" x{config.convs_per_block}"
    extras = [f"{config.kernel_size}x{config.kernel_size}"]
    extras += ["pool"] if config.pooling else []
    extras += ["BN"] if config.batch_norm else []
    parts = [f"conv {convs} ({', '.join(extras)})"]
    if config.dense_units:
        parts.append(f"dense {config.dense_units}")
    if config.dropout:
        parts.append(f"dropout {config.dropout:g}")
    if config.augment:
        parts.append("augmented")
    return " · ".join(parts)


def leaderboard(infos, runs_dir, me: str | None = None, dataset: str | None = None) -> list[Entry]:
    """The class's runs, best test accuracy first (ties: fewer parameters, then faster)."""
    table = names(runs_dir)
    chosen = [i for i in infos if dataset is None or i.config.dataset == dataset]
    chosen.sort(key=lambda i: (-i.test_accuracy, i.params, i.train_seconds))
    return [Entry(rank, table.get(i.owner or "", ""), i.name, i.test_accuracy, i.params, i.train_seconds,
                  architecture(i.config), me is not None and i.owner == me)
            for rank, i in enumerate(chosen, start=1)]
