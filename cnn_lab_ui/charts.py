"""Live and comparison charts (Altair, drawn by Streamlit), with labelled axes and bounded size.

Per-batch series grow by one point per batch; every chart here is downsampled to at most
MAX_POINTS points, so redrawing twice a second costs the same after 10 or 100,000 batches.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

MAX_POINTS = 500
EMA_SPAN = 20  # batches: smoothing similar to TensorBoard's 0.9
SPLITS = ["training", "validation"]
SPLIT_COLOURS = ["#1f77b4", "#ff7f0e"]  # distinct hues, not two shades of one


def ema(values, span: int = EMA_SPAN) -> np.ndarray:
    """Exponential moving average (NaNs ignored), bias-corrected at the start like TensorBoard."""
    s = pd.Series(np.asarray(values, np.float64))
    return s.ewm(span=span, adjust=True, ignore_na=True).mean().to_numpy()


def downsample(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most max_points evenly spaced points, always keeping the last one."""
    n = len(y)
    if n <= max_points:
        return np.asarray(x), np.asarray(y)
    idx = np.unique(np.linspace(0, n - 1, max_points).round().astype(int))
    return np.asarray(x)[idx], np.asarray(y)[idx]


def smoothed_batches(values, batches_per_epoch: int, max_points: int = MAX_POINTS) -> pd.DataFrame:
    """Columns epoch (fractional: batch / batches per epoch) and value (EMA), <= max_points rows."""
    values = np.asarray(values, np.float64)
    if not len(values):
        return pd.DataFrame({"epoch": [], "value": []})
    x = np.arange(1, len(values) + 1) / max(1, batches_per_epoch)
    x, y = downsample(x, ema(values), max_points)
    return pd.DataFrame({"epoch": x, "value": y})


def batch_chart(values, batches_per_epoch: int, title: str, y_title: str, color: str = "#1f77b4") -> alt.Chart:
    df = smoothed_batches(values, batches_per_epoch)
    return (
        alt.Chart(df, title=title)
        .mark_line(color=color)
        .encode(
            x=alt.X("epoch:Q", title="epoch (per batch, smoothed)"),
            y=alt.Y("value:Q", title=y_title, scale=alt.Scale(zero=False)),
            tooltip=[alt.Tooltip("epoch:Q", format=".2f"), alt.Tooltip("value:Q", format=".4f")],
        )
        .properties(height=220)
    )


def epoch_chart(history: dict, metric: str, title: str, y_title: str) -> alt.Chart:
    """Training and validation `metric` per epoch (history: loss/accuracy/val_loss/val_accuracy -> lists)."""
    rows = []
    for key, split in ((metric, "training"), (f"val_{metric}", "validation")):
        for i, v in enumerate(history.get(key, ()), start=1):
            if v is not None and np.isfinite(v):
                rows.append({"epoch": i, "value": float(v), "split": split})
    df = pd.DataFrame(rows, columns=["epoch", "value", "split"])
    return (
        alt.Chart(df, title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y("value:Q", title=y_title, scale=alt.Scale(zero=False)),
            color=alt.Color("split:N", title=None, scale=alt.Scale(domain=SPLITS, range=SPLIT_COLOURS)),
            tooltip=["epoch:Q", "split:N", alt.Tooltip("value:Q", format=".4f")],
        )
        .properties(height=220)
    )


def runs_overlay(histories: dict[str, dict], metric: str, y_title: str) -> alt.Chart:
    """Several runs' curves on one chart: smoothed training per batch (lines), validation per epoch (points)."""
    frames = []
    for name, h in histories.items():
        bpe = int(h.get("batches_per_epoch") or 1)
        tr = smoothed_batches(h.get("batch", {}).get(metric, []), bpe, max_points=MAX_POINTS // 2)
        tr["run"], tr["curve"] = name, "training (per batch, smoothed)"
        val = list(h.get("epoch", {}).get(f"val_{metric}", []))
        va = pd.DataFrame({"epoch": np.arange(1, len(val) + 1, dtype=float), "value": val})
        va["run"], va["curve"] = name, "validation (per epoch)"
        frames += [tr, va.dropna()]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["epoch", "value", "run", "curve"])
    base = alt.Chart(df).encode(
        x=alt.X("epoch:Q", title="epoch"),
        y=alt.Y("value:Q", title=y_title, scale=alt.Scale(zero=False)),
        color=alt.Color("run:N", title="run", scale=alt.Scale(scheme="tableau10"),
                        legend=alt.Legend(orient="bottom", direction="vertical", labelLimit=0)),
        tooltip=["run:N", "curve:N", alt.Tooltip("epoch:Q", format=".2f"), alt.Tooltip("value:Q", format=".4f")],
    )
    lines = base.transform_filter(alt.datum.curve == "training (per batch, smoothed)").mark_line()
    points = base.transform_filter(alt.datum.curve == "validation (per epoch)").mark_line(point=True, strokeDash=[4, 3])
    return (lines + points).properties(height=280, title=f"{y_title}: solid = training, dashed = validation")


def probabilities_chart(probabilities, class_names: list[str]) -> alt.Chart:
    p = np.asarray(probabilities, np.float64)
    df = pd.DataFrame({"class": class_names, "probability": p, "predicted": p == p.max()})
    return (
        alt.Chart(df)
        .mark_bar()
        .encode(
            x=alt.X("class:N", title="digit" if class_names[0] == "0" else "class", sort=class_names,
                    axis=alt.Axis(labelAngle=0 if len(max(class_names, key=len)) < 3 else -40)),
            y=alt.Y("probability:Q", title="probability", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("predicted:N", legend=None, scale=alt.Scale(domain=[False, True], range=["#9ecae1", "#d62728"])),
            tooltip=["class:N", alt.Tooltip("probability:Q", format=".3f")],
        )
        .properties(height=240)
    )


def per_class_chart(accuracy, class_names: list[str]) -> alt.Chart:
    df = pd.DataFrame({"class": class_names, "accuracy": np.asarray(accuracy, np.float64)})
    return (
        alt.Chart(df)
        .mark_bar()
        .encode(
            x=alt.X("class:N", title="true label", sort=class_names, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("accuracy:Q", title="test accuracy", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            tooltip=["class:N", alt.Tooltip("accuracy:Q", format=".2%")],
        )
        .properties(height=240)
    )
