"""The Runs page's data: one table row per saved run or running job, short labels, the mistakes of
a run, and its pictures cached per run (a run is its folder and its run.json's mtime)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from cnn_core import runs

from .widgets import fmt_seconds

# What a person looks for first (which run, how good, finished or stopped) comes first, so it is
# seen without scrolling the table sideways.
COLUMNS = ["Name", "Test accuracy", "State", "Epochs", "Training time", "Origin", "Started by", "Date", "Dataset",
           "Filters", "Convs/block", "Kernel", "Dense", "Dropout", "Optimizer", "Learning rate", "Batch", "Augment",
           "Digits", "Params"]
STAMP = re.compile(r"^\d{8}-\d{6}-")  # runs.new_run_name's date-time prefix


def started_by(owner: str | None, me: str) -> str:
    """Who started a job or trained a run, for display (an id until people have names)."""
    if owner is None:
        return "command line or older CNN Lab"
    return f"you ({owner})" if owner == me else owner


def may_delete(info, me: str) -> bool:
    """Only the session that trained a run deletes it from the browser; runs without an owner
    (the command line, older versions) are deleted from the runs folder, never by a visitor."""
    return info.owner is not None and info.owner == me


def chosen() -> list[str]:
    """The runs this session chose on the Runs page: the one in detail, then those compared (no repeats)."""
    names = [st.session_state.get("runs_detail"), *st.session_state.get("runs_compare", [])]
    return [n for n in dict.fromkeys(names) if n is not None]


def forget_chosen(gone: list[str]) -> list[str]:
    """Let go of these runs wherever the Runs page has them chosen (they were deleted); returns them."""
    if st.session_state.get("runs_detail") in gone:
        st.session_state.pop("runs_detail")
    if "runs_compare" in st.session_state:
        st.session_state["runs_compare"] = [n for n in st.session_state["runs_compare"] if n not in gone]
    return gone


def short_label(info) -> str:
    """A run's name without its date-time prefix, with its accuracy: 'mnist-quick-3f2a · 98.45%'."""
    return f"{STAMP.sub('', info.name)} · {info.test_accuracy:.2%}"


def parent_label(parent: str) -> str:
    """A parent in words: a run's name without its date-time prefix, or the shipped default model
    (a taught run's parent may be it: teach.DEFAULT_MODEL, no run folder)."""
    from cnn_core.teach import DEFAULT_MODEL

    return "the default model" if parent == DEFAULT_MODEL else STAMP.sub("", parent)


def origin_text(origin) -> str:
    """Where a run came from, in words: 'scratch', 'continued from mnist-seed-3f2a', 'taught from the default
    model', ... (the parent's name without its date-time prefix, as in the picker and the legends)."""
    if origin.parent is None:
        return origin.describe()
    return origin.describe().replace(origin.parent, parent_label(origin.parent))


def _config_cells(c) -> dict:
    return {
        "Dataset": c.dataset, "Filters": ",".join(map(str, c.filters)), "Convs/block": c.convs_per_block,
        "Kernel": f"{c.kernel_size}×{c.kernel_size}", "Dense": c.dense_units, "Dropout": c.dropout,
        "Optimizer": c.optimizer, "Learning rate": c.learning_rate, "Batch": c.batch_size,
        "Augment": c.augment, "Digits": "all" if c.limit is None else f"{c.limit:,}",
    }


def run_row(info, me: str = "") -> dict:
    try:
        date = datetime.fromisoformat(info.created).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        date = info.created
    return {
        "Name": info.name, "Date": date, **_config_cells(info.config),
        "Epochs": f"{info.epochs_completed}/{info.config.epochs}", "Test accuracy": info.test_accuracy,
        "Training time": fmt_seconds(info.train_seconds), "Params": info.params, "State": info.state,
        "Started by": started_by(info.owner, me), "Origin": origin_text(info.origin),
    }


def job_row(snap, me: str = "") -> dict:
    return {
        "Name": f"(training) {snap.job_id}", "Date": "in progress",
        **_config_cells(snap.config), "Epochs": f"{snap.epoch}/{snap.epochs}", "Test accuracy": None,
        "Training time": fmt_seconds(snap.elapsed), "Params": None, "State": snap.state,
        "Started by": started_by(snap.owner, me),
    }


def table(infos, snapshots, me: str = "") -> pd.DataFrame:
    rows = [job_row(s, me) for s in snapshots] + [run_row(i, me) for i in infos]
    return pd.DataFrame(rows, columns=COLUMNS)


def mistakes(probabilities: np.ndarray, y_true: np.ndarray, limit: int = 32) -> tuple[np.ndarray, int]:
    """Indices of misclassified test digits, most confident mistakes first, and how many there are."""
    pred = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(pred != np.asarray(y_true))
    order = np.argsort(-probabilities[wrong, pred[wrong]], kind="stable")
    return wrong[order][:limit], len(wrong)


# --- cached per run -----------------------------------------------------------------------

def run_key(name: str) -> tuple[str, float]:
    """(folder, run.json's mtime): a deleted and retrained run of the same name is a new key."""
    folder = runs.run_path(name)
    try:
        return str(folder), (folder / runs.RUN_JSON).stat().st_mtime
    except OSError:
        return str(folder), 0.0


@st.cache_data(show_spinner=False, max_entries=32)
def load_run(folder: str, mtime: float) -> runs.Run:
    """runs.load_run, read once per run version (RunError is raised, not cached)."""
    path = Path(folder)
    return runs.load_run(path.name, path.parent)


@st.cache_data(show_spinner=False, max_entries=32)
def mistakes_png(folder: str, mtime: float, data_source: str, _images: np.ndarray, titles: tuple[str, ...]) -> bytes:
    from cnn_core import plots

    return plots.to_png(plots.digit_gallery(_images, list(titles)))
