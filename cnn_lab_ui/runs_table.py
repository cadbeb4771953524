"""The Runs page's data: one table row per saved run or running job, and the mistakes of a run."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

COLUMNS = ["Name", "Date", "Dataset", "Filters", "Convs/block", "Kernel", "Dense", "Dropout", "Optimizer",
           "Learning rate", "Batch", "Augment", "Digits", "Epochs", "Test accuracy", "Training time (s)",
           "Params", "State"]


def _config_cells(c) -> dict:
    return {
        "Dataset": c.dataset, "Filters": ",".join(map(str, c.filters)), "Convs/block": c.convs_per_block,
        "Kernel": f"{c.kernel_size}×{c.kernel_size}", "Dense": c.dense_units, "Dropout": c.dropout,
        "Optimizer": c.optimizer, "Learning rate": c.learning_rate, "Batch": c.batch_size,
        "Augment": c.augment, "Digits": "all" if c.limit is None else f"{c.limit:,}",
    }


def run_row(info) -> dict:
    try:
        date = datetime.fromisoformat(info.created).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        date = info.created
    return {
        "Name": info.name, "Date": date, **_config_cells(info.config),
        "Epochs": f"{info.epochs_completed}/{info.config.epochs}", "Test accuracy": info.test_accuracy,
        "Training time (s)": round(info.train_seconds, 1), "Params": info.params, "State": info.state,
    }


def job_row(snap) -> dict:
    return {
        "Name": f"(training) {snap.job_id}", "Date": "in progress",
        **_config_cells(snap.config), "Epochs": f"{snap.epoch}/{snap.epochs}", "Test accuracy": None,
        "Training time (s)": round(snap.elapsed, 1), "Params": None, "State": snap.state,
    }


def table(infos, snapshots) -> pd.DataFrame:
    rows = [job_row(s) for s in snapshots] + [run_row(i) for i in infos]
    return pd.DataFrame(rows, columns=COLUMNS)


def mistakes(probabilities: np.ndarray, y_true: np.ndarray, limit: int = 32) -> tuple[np.ndarray, int]:
    """Indices of misclassified test digits, most confident mistakes first, and how many there are."""
    pred = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(pred != np.asarray(y_true))
    order = np.argsort(-probabilities[wrong, pred[wrong]], kind="stable")
    return wrong[order][:limit], len(wrong)
