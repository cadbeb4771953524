"""Live and comparison charts (Altair, drawn by Streamlit), with labelled axes and bounded size.

Per-batch series grow by one point per batch. The live charts keep, per job, an incremental
smoothed and thinned copy (`live_series`: only the new batches are processed on each poll, and
at most MAX_POINTS points are sent), and their Vega-Lite specs are built once (`batch_spec`),
so redrawing twice a second costs the same after 10 or 100,000 batches.
"""

from __future__ import annotations

import copy
import functools
import math
import threading
from collections import OrderedDict

import altair as alt
import numpy as np
import pandas as pd

MAX_POINTS = 300
EMA_SPAN = 20  # batches: smoothing similar to TensorBoard's 0.9
SPLITS = ["training", "validation"]
SPLIT_COLOURS = ["#1f77b4", "#ff7f0e"]  # distinct hues, not two shades of one
CHART_HEIGHT = 220
COMPARE_HEIGHT = 320  # plot area of a comparison chart; the legend comes below it
SETTLED = 0.25  # comparison y-axes fit the curves after this share of each run's batches


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


class LiveSeries:
    """The EMA of an append-only series, thinned to at most max_points, updated with the new values only.

    The same EMA as `ema()` (adjusted, NaNs skipped). Thinning keeps every `stride`-th batch and
    doubles the stride when there are too many, so the points already drawn do not shift.
    """

    def __init__(self, max_points: int = MAX_POINTS, span: int = EMA_SPAN):
        self.max_points, self.decay = max_points, 1.0 - 2.0 / (span + 1)
        self.n, self.num, self.den, self.last = 0, 0.0, 0.0, math.nan
        self.stride, self.kept = 1, []  # (batch number, smoothed value)

    def update(self, values) -> "LiveSeries":
        if len(values) < self.n:  # another series (a restarted job): start again
            self.__init__(self.max_points)
        for v in values[self.n:]:
            self.n += 1
            if math.isfinite(v):
                self.num = v + self.decay * self.num
                self.den = 1.0 + self.decay * self.den
                self.last = self.num / self.den
            if self.n % self.stride == 0:
                self.kept.append((self.n, self.last))
                if len(self.kept) >= self.max_points:  # one slot stays free for the latest batch
                    self.stride *= 2
                    self.kept = [p for p in self.kept if p[0] % self.stride == 0]
        return self

    def frame(self, batches_per_epoch: int) -> pd.DataFrame:
        points = self.kept + ([(self.n, self.last)] if self.n and (not self.kept or self.kept[-1][0] != self.n) else [])
        batch, value = (np.array(c, np.float64) for c in zip(*points)) if points else ([], [])
        return pd.DataFrame({"epoch": np.asarray(batch) / max(1, batches_per_epoch), "value": value})


_LIVE: OrderedDict = OrderedDict()  # (job id, series) -> LiveSeries, shared by everyone watching the job
_LIVE_LOCK = threading.Lock()
LIVE_KEPT = 16  # series kept (a few jobs' loss and accuracy)


def live_series(key, values, batches_per_epoch: int) -> pd.DataFrame:
    """Like smoothed_batches, but only the values added since the last call with this key are processed."""
    with _LIVE_LOCK:
        series = _LIVE.pop(key, None) or LiveSeries()
        _LIVE[key] = series.update(values)
        while len(_LIVE) > LIVE_KEPT:
            _LIVE.popitem(last=False)
        return series.frame(batches_per_epoch)


@functools.lru_cache(maxsize=8)
def _batch_spec(title: str, y_title: str, color: str) -> dict:
    chart = (
        alt.Chart(title=title)
        .mark_line(color=color)
        .encode(
            x=alt.X("epoch:Q", title="epoch (per batch, smoothed)"),
            y=alt.Y("value:Q", title=y_title, scale=alt.Scale(zero=False)),
            tooltip=[alt.Tooltip("epoch:Q", format=".2f"), alt.Tooltip("value:Q", format=".4f")],
        )
        .properties(height=CHART_HEIGHT)
    )
    return _bare_spec(chart)


def _bare_spec(chart: alt.Chart) -> dict:
    """A chart's Vega-Lite spec without its data (it comes with each draw) or config (Streamlit themes it)."""
    spec = chart.to_dict()
    for key in ("data", "datasets", "config"):
        spec.pop(key, None)
    return spec


def batch_spec(title: str, y_title: str, color: str = "#1f77b4") -> dict:
    """The Vega-Lite spec of a live per-batch chart, built once (Altair's validation is the slow part);
    draw it with st.vega_lite_chart(frame, spec)."""
    return copy.deepcopy(_batch_spec(title, y_title, color))


def epoch_chart(history: dict, metric: str, title: str, y_title: str) -> alt.Chart:
    """Training and validation `metric` per epoch (history: loss/accuracy/val_loss/val_accuracy -> lists)."""
    rows = []
    for key, split in ((metric, "training"), (f"val_{metric}", "validation")):
        for i, v in enumerate(history.get(key, ()), start=1):
            if v is not None and np.isfinite(v):
                rows.append({"epoch": i, "value": float(v), "split": split})
    df = pd.DataFrame(rows, columns=["epoch", "value", "split"])
    epochs = int(df["epoch"].max()) if len(df) else 1
    # Whole epochs only: one tick per epoch while they fit, never "1.000000".
    whole = {"values": list(range(1, epochs + 1))} if epochs <= 20 else {"tickMinStep": 1}
    axis = alt.Axis(format="d", **whole)
    return (
        alt.Chart(df, title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X("epoch:Q", title="epoch", axis=axis),
            y=alt.Y("value:Q", title=y_title, scale=alt.Scale(zero=False)),
            color=alt.Color("split:N", title=None, scale=alt.Scale(domain=SPLITS, range=SPLIT_COLOURS)),
            tooltip=["epoch:Q", "split:N", alt.Tooltip("value:Q", format=".4f")],
        )
        .properties(height=CHART_HEIGHT)
    )


def fitted_domain(values: np.ndarray, metric: str) -> list[float]:
    """A y-axis range around `values` with a little margin (accuracy stays within [0, 1])."""
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    pad = max((hi - lo) * 0.08, 0.002 if metric == "accuracy" else 0.005)
    lo, hi = lo - pad, hi + pad
    return [max(0.0, lo), min(1.0, hi)] if metric == "accuracy" else [max(0.0, lo), hi]


def runs_overlay(histories: dict[str, dict], metric: str, title: str) -> alt.Chart:
    """Several runs' curves on one chart: smoothed training per batch (solid), validation per epoch (dashed).

    histories: a short label per run -> its history. The y-axis fits the curves once settled
    (after the first SETTLED of each run), so 95.8% and 98.5% do not both look like "1".
    """
    frames, settled = [], []
    for label, h in histories.items():
        bpe = int(h.get("batches_per_epoch") or 1)
        tr = smoothed_batches(h.get("batch", {}).get(metric, []), bpe, max_points=MAX_POINTS // 2)
        tr["run"], tr["curve"] = label, "training"
        val = list(h.get("epoch", {}).get(f"val_{metric}", []))
        va = pd.DataFrame({"epoch": np.arange(1, len(val) + 1, dtype=float), "value": np.asarray(val, np.float64)})
        va["run"], va["curve"] = label, "validation"
        va = va.dropna()
        frames += [tr, va]
        if len(tr):
            settled.append(tr["value"][tr["epoch"] >= SETTLED * tr["epoch"].iloc[-1]].to_numpy())
        settled.append(va["value"].to_numpy())
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["epoch", "value", "run", "curve"])
    values = np.concatenate(settled) if settled else np.array([])
    y_scale = alt.Scale(domain=fitted_domain(values, metric)) if np.isfinite(values).any() else alt.Scale(zero=False)
    base = alt.Chart(df).encode(
        x=alt.X("epoch:Q", title="epoch"),
        y=alt.Y("value:Q", title=metric, scale=y_scale),
        color=alt.Color("run:N", title=None, scale=alt.Scale(scheme="tableau10"),
                        legend=alt.Legend(orient="bottom", columns=1, labelLimit=0)),
        tooltip=["run:N", "curve:N", alt.Tooltip("epoch:Q", format=".2f"), alt.Tooltip("value:Q", format=".4f")],
    )
    lines = base.transform_filter(alt.datum.curve == "training").mark_line(clip=True)
    points = base.transform_filter(alt.datum.curve == "validation").mark_line(point=True, strokeDash=[4, 3], clip=True)
    return (lines + points).properties(
        # fit-x: the width fits the column, and `height` is the plot area's own (with Streamlit's
        # default "fit" the legend, titles and axes came out of it, leaving ~100 px to read).
        height=COMPARE_HEIGHT, autosize=alt.AutoSizeParams(type="fit-x", contains="padding"),
        padding={"left": 6, "top": 4, "right": 4, "bottom": 4},
        title=alt.TitleParams(title, subtitle="solid: training, per batch (smoothed) · dashed: validation, per epoch",
                              anchor="start"))


@functools.lru_cache(maxsize=8)
def _probabilities_spec(class_names: tuple[str, ...]) -> dict:
    chart = (
        alt.Chart()
        .mark_bar()
        .encode(
            x=alt.X("class:N", title="digit" if class_names[0] == "0" else "class", sort=list(class_names),
                    axis=alt.Axis(labelAngle=0 if len(max(class_names, key=len)) < 3 else -40)),
            y=alt.Y("probability:Q", title="probability", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("predicted:N", legend=None,
                            scale=alt.Scale(domain=[False, True], range=["#9ecae1", "#d62728"])),
            tooltip=["class:N", alt.Tooltip("probability:Q", format=".3f")],
        )
        .properties(height=240)
    )
    return _bare_spec(chart)


def probabilities_spec(probabilities, class_names: list[str]) -> dict:
    """The Vega-Lite spec of a prediction's ten bars, for st.vega_lite_chart(spec=...).

    Drawn on every stroke, so the chart is built once per set of class names and each drawing only
    puts its ten values inline: no DataFrame, no Altair validation (~12 ms each), and none of the
    lock Streamlit holds around every Altair chart's conversion, which all sessions share.
    """
    p = np.asarray(probabilities, np.float64)
    spec = copy.deepcopy(_probabilities_spec(tuple(class_names)))
    spec["data"] = {"values": [{"class": name, "probability": float(v), "predicted": bool(v == p.max())}
                               for name, v in zip(class_names, p)]}
    return spec


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


def sweep_chart(sweep, class_names: list[str]) -> alt.Chart:
    """Each class' probability along a what-if sweep (stepthrough.Sweep), the unchanged drawing marked."""
    n = len(sweep.values)
    df = pd.DataFrame({
        "amount": np.repeat(sweep.values, len(class_names)),
        "class": np.tile(class_names, n),
        "probability": sweep.probabilities.reshape(-1),
    })
    lines = alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("amount:Q", title=sweep.label),
        y=alt.Y("probability:Q", title="probability", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("class:N", sort=class_names, scale=alt.Scale(scheme="tableau10"),
                        legend=alt.Legend(title=None, orient="bottom", direction="horizontal", columns=10)),
        tooltip=["class:N", alt.Tooltip("amount:Q", format="+g"), alt.Tooltip("probability:Q", format=".3f")],
    )
    here = alt.Chart(pd.DataFrame({"amount": [sweep.values[sweep.identity]]})).mark_rule(
        strokeDash=[4, 3], color="grey").encode(x="amount:Q")
    return (lines + here).properties(height=CHART_HEIGHT)


PIXEL = "pixel"  # the selection parameter of a clickable map: {"row": r, "col": c}
MAP_CELL = 11  # pixels per map cell: a 28x28 map is 308 px square


def map_picker(values: np.ndarray, rows: tuple[int, int], cols: tuple[int, int], title: str,
               pick: bool = False) -> alt.Chart:
    """A 2-D map (dark = low, bright = high) with a red box over rows x cols ([start, stop)); pick=True:
    clicking a cell selects it (parameter PIXEL, fields row and col)."""
    h, w = values.shape
    r, c = np.mgrid[:h, :w]
    df = pd.DataFrame({"row": r.ravel(), "col": c.ravel(), "value": np.asarray(values, np.float64).ravel()})
    df["row2"], df["col2"] = df["row"] + 1, df["col"] + 1
    x = alt.X("col:Q", title="column", scale=alt.Scale(domain=[0, w], nice=False), axis=alt.Axis(tickMinStep=1))
    y = alt.Y("row:Q", title="row", scale=alt.Scale(domain=[0, h], nice=False, reverse=True),
              axis=alt.Axis(tickMinStep=1))
    cells = alt.Chart(df).mark_rect().encode(
        x=x, x2="col2:Q", y=y, y2="row2:Q",
        color=alt.Color("value:Q", scale=alt.Scale(scheme="greys", reverse=True), legend=None),
        tooltip=["row:Q", "col:Q", alt.Tooltip("value:Q", format=".4f")],
    )
    if pick:
        cells = cells.add_params(alt.selection_point(name=PIXEL, fields=["row", "col"], on="click"))
    box = pd.DataFrame({"row": [rows[0]], "row2": [rows[1]], "col": [cols[0]], "col2": [cols[1]]})
    lit = alt.Chart(box).mark_rect(fill=None, stroke="#e41a1c", strokeWidth=3).encode(
        x=x, x2="col2:Q", y=y, y2="row2:Q")
    return (cells + lit).properties(width=MAP_CELL * w, height=MAP_CELL * h, title=title)


CELL = "cell"  # the selection parameter of a clickable confusion matrix: {"t": true label, "p": predicted}
CONFUSION_CELL = 30  # pixels per cell


def confusion_chart(cm: np.ndarray, class_names: list[str], cell: tuple[int, int] | None = None,
                    signed: bool = False, pick: bool = False, title: str = "") -> alt.Chart:
    """A confusion matrix (rows: true label, columns: the model's answer) with its counts written in;
    cell: a red box around it; signed: a difference of matrices (blue < 0 < red); pick: clicking a cell
    selects it (parameter CELL, fields t and p)."""
    n = len(class_names)
    t, p = np.mgrid[:n, :n]
    cm = np.asarray(cm)
    df = pd.DataFrame({"t": t.ravel(), "p": p.ravel(), "count": cm.ravel().astype(int),
                       "true label": np.asarray(class_names)[t.ravel()], "answer": np.asarray(class_names)[p.ravel()]})
    top = max(int(np.abs(cm).max()), 1)
    x = alt.X("answer:N", sort=class_names, title="the model's answer", axis=alt.Axis(labelAngle=0, orient="top"))
    y = alt.Y("true label:N", sort=class_names, title="true label")
    colour = (alt.Scale(scheme="redblue", reverse=True, domain=[-top, top]) if signed
              else alt.Scale(scheme="blues", domain=[0, top]))
    base = alt.Chart(df).encode(x=x, y=y)
    rects = base.mark_rect(stroke="white").encode(
        color=alt.Color("count:Q", scale=colour, legend=None),
        tooltip=["true label:N", "answer:N", alt.Tooltip("count:Q", title="digits" if not signed else "difference")])
    if pick:
        rects = rects.add_params(alt.selection_point(name=CELL, fields=["t", "p"], on="click"))
    strong = alt.datum.count * alt.datum.count > (top / 2) ** 2
    text = base.mark_text(fontSize=10).encode(
        text=alt.Text("count:Q", format="+d" if signed else "d"),
        color=alt.condition(strong, alt.value("white"), alt.value("black")))
    layers = [rects, text.transform_filter(alt.datum.count != 0)]
    if cell is not None:
        lit = df[(df["t"] == cell[0]) & (df["p"] == cell[1])]
        layers.append(alt.Chart(lit).mark_rect(fill=None, stroke="#e41a1c", strokeWidth=3).encode(x=x, y=y))
    return alt.layer(*layers).properties(width=CONFUSION_CELL * n, height=CONFUSION_CELL * n, title=title)
