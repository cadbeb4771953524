"""The Runs page's confusion matrix you can click, the test digits of a cell each with its heatmap,
and the difference of two runs' matrices.

A click on a cell is copied into the two boxes (true label, answer) by the chart's on_select
callback; the boxes stay the one source of the chosen cell, also for keyboards. The digits of a
cell are cnn_core.explain.confusion_cell's, shown PAGE_SIZE at a time, each beside its heatmap for
the model's answer; a page's pictures are cached per run version.
Widget keys: runs_confusion (the clickable chart), runs_cell_true, runs_cell_pred, runs_cell_page,
runs_compare_with.
"""

from __future__ import annotations

import math

import numpy as np
import streamlit as st

from cnn_core import explain
from cnn_core.errors import UserError
from cnn_core.evaluate import confusion_matrix

from . import charts, pictures, runs_table, state, why

CHART, TRUE, PRED, PAGE = "runs_confusion", "runs_cell_true", "runs_cell_pred", "runs_cell_page"
OTHER = "runs_compare_with"
PAGE_SIZE = 40  # digits per page of a cell (a diagonal cell holds about a thousand)
SCALE = 3  # each 28x28 digit shown 84 px square


def _picked() -> None:
    """on_select of the matrix: the clicked cell becomes the chosen one."""
    points = st.session_state[CHART].selection.get(charts.CELL, [])
    if points:
        st.session_state[TRUE], st.session_state[PRED] = int(points[0]["t"]), int(points[0]["p"])


def biggest_mistake(cm: np.ndarray) -> tuple[int, int]:
    """The off-diagonal cell with the most digits (the model's favourite confusion)."""
    off = np.asarray(cm).copy()
    np.fill_diagonal(off, -1)
    return tuple(int(v) for v in np.unravel_index(np.argmax(off), off.shape))


def run_matrix(run, ds) -> np.ndarray:
    """The matrix of the answers whose digits a cell shows (run.y_pred, from the saved probabilities).

    run.json's own matrix came from float32 probabilities; predictions.npz keeps float16 ones, whose
    argmax differs on the rare near-ties (7 digits of 10,000 for a tiny test run), so counting from the
    same answers is what makes a cell's count and its digits agree."""
    if ds is None or len(ds.y_test) != len(run.y_pred):
        return run.confusion
    return confusion_matrix(ds.y_test, run.y_pred, len(ds.class_names))


def matrix(cm: np.ndarray, class_names: list[str]) -> tuple[int, int]:
    """The clickable confusion matrix and the boxes of its chosen cell; returns (true label, answer)."""
    t0, p0 = biggest_mistake(cm)
    st.session_state.setdefault(TRUE, t0)
    st.session_state.setdefault(PRED, p0)
    picked = (st.session_state[TRUE], st.session_state[PRED])
    st.altair_chart(charts.confusion_chart(cm, class_names, picked, pick=True),
                    key=CHART, on_select=_picked, selection_mode=charts.CELL, width="content")
    st.caption("Confusion matrix: row = the true label, column = the model's answer; the diagonal holds the "
               "right answers. **Click a cell** to see its test digits.")
    c1, c2 = st.columns(2)
    classes = list(range(len(class_names)))
    t = c1.selectbox("True label", classes, key=TRUE, format_func=class_names.__getitem__)
    p = c2.selectbox("The model's answer", classes, key=PRED, format_func=class_names.__getitem__)
    return t, p


def cell_digits(name: str, run, ds, cell: tuple[int, int]) -> None:
    """Exactly the test digits of one cell, each beside its heatmap for the model's answer."""
    t, p = cell
    names = ds.class_names
    idx = explain.confusion_cell(ds.y_test, run.y_pred, t, p)
    right = "right" if t == p else "wrong"
    st.subheader(f"{len(idx):,} test digits labelled {names[t]} that the model read as {names[p]} ({right})")
    if not len(idx):
        st.info("No test digit in this cell: pick another one.")
        return
    pages = math.ceil(len(idx) / PAGE_SIZE)
    page = 1
    if pages > 1:
        if not 1 <= st.session_state.get(PAGE, 1) <= pages:
            st.session_state[PAGE] = 1
        page = st.number_input(f"Page (1–{pages}, {PAGE_SIZE} digits each)", 1, pages, key=PAGE)
    shown = idx[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    captions = [f"#{i} · p={run.probabilities[i, p]:.2f}" for i in shown]
    try:
        predictor = state.predictor(name)
    except UserError as e:
        st.warning(f"No heatmaps: cannot load this run's model ({e}).")
        st.image([pictures.strip(ds.x_test[i:i + 1] / 255.0, SCALE) for i in shown], caption=captions)
        return
    folder, mtime = runs_table.run_key(name)
    pairs = _gallery(folder, mtime, ds.source, t, p, page, predictor, ds.x_test[shown], p)
    st.image(pairs, caption=captions)
    st.markdown(pictures.colour_legend(pictures.HEAT_CMAP, "no push", f"strongest push to {names[p]}"),
                unsafe_allow_html=True)
    st.caption(f"Each digit (left, its test-set number and the probability the model gave {names[p]}) beside the "
               f"pixels that pushed the model to answer {names[p]} "
               f"(right: {why.METHOD_LABELS[explain.DEFAULT_METHOD]}).")


@st.cache_data(show_spinner="Working out the heatmaps…", max_entries=16)
def _gallery(folder: str, mtime: float, source: str, t: int, p: int, page: int, _predictor, _images, target: int):
    """Each digit beside its heatmap, as uint8 pictures (cached per run version, cell and page)."""
    images = np.asarray(_images, np.float32) / 255.0
    heat = why.explainer(_predictor).heatmaps(images, [target] * len(images))
    out = []
    for image, h in zip(images, heat):
        top = float(h.max())
        overlay = pictures.heat_overlay(image, h / top if top > 0 else h, SCALE)
        grey = np.repeat(pictures.strip(image[None], SCALE)[..., None], 3, axis=2)
        out.append(np.concatenate([grey, np.full((grey.shape[0], 4, 3), 255, np.uint8), overlay], axis=1))
    return out


def difference(name: str, run, ds, infos, labels: dict[str, str]) -> None:
    """Another run's matrix beside the difference of the two (other minus this one)."""
    st.subheader("Compare two runs' confusion matrices")
    others = [r.name for r in infos if r.name != name and r.config.dataset == run.info.config.dataset]
    if not others:
        st.info("Train another run on the same dataset to compare their confusion matrices.")
        return
    if st.session_state.get(OTHER) not in others:
        st.session_state.pop(OTHER, None)
    other = st.selectbox("Compare with", others, key=OTHER, format_func=labels.get)
    try:
        other_run = runs_table.load_run(*runs_table.run_key(other))
        diff = explain.confusion_difference(ds.y_test, run.y_pred, other_run.y_pred)
    except UserError as e:
        st.warning(f"Cannot compare with {other}: {e}")
        return
    c1, c2 = st.columns(2)
    c1.altair_chart(charts.confusion_chart(run_matrix(other_run, ds), ds.class_names, title=labels[other]),
                    width="content")
    c2.altair_chart(charts.confusion_chart(diff, ds.class_names, signed=True, title="difference: that run − this one"),
                    width="content")
    gained = int(np.trace(diff))
    c2.caption(f"Red: that run put more digits in the cell, blue: fewer. Each row adds up to 0 (both runs read the "
               f"same test digits of each label). On the diagonal it gets {abs(gained):,} digits "
               f"{'more' if gained >= 0 else 'fewer'} right than this run.")
