"""The Train page's "what it will cost" panel, drawn before Start from cnn_core.cost (no TensorFlow).

It shows the parameter count, the memory training needs against the budget a job may use,
an estimated training time on this machine, and every layer's output size (with its padding
and stride), so a network that shrinks below 1x1 is seen while it is being chosen.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cnn_core import cost, runs
from cnn_core.config import ConfigError, TrainConfig
from cnn_core.data import DataError

from . import state
from .widgets import fmt_seconds


@st.cache_data(ttl=60, show_spinner=False)
def _speed(runs_dir: str) -> tuple[float, int]:
    """This machine's speed against cost.py's reference, from the runs saved here; re-read once a minute."""
    return cost.speed_factor(runs_dir)


def layer_table(estimate: cost.Cost) -> pd.DataFrame:
    rows = []
    for layer in estimate.layers:
        size = " × ".join(str(d) for d in layer.shape)
        rows.append({"Layer": layer.name, "Does": layer.does, "Output": "below 1×1" if layer.too_small else size,
                     "Parameters": layer.params})
    return pd.DataFrame(rows)


def _size_problem(config: TrainConfig, estimate: cost.Cost, n_train: int | None) -> str | None | bool:
    """None: the config is valid; a message: it fails on size (shrinks below 1x1, over the memory
    budget), which the panel explains; False: another problem, shown elsewhere on the page."""
    try:
        config.validate(n_train)
        return None
    except ConfigError as e:
        if not estimate.fits or "a job may use" in str(e):
            return str(e)
        return False


def show(config: TrainConfig | None) -> None:
    """Draw the panel for the form's config (nothing when there is none or it fails on other grounds)."""
    if config is None:
        return
    try:
        estimate = cost.estimate(config)
    except (TypeError, ValueError):
        return  # not even a network yet; the page shows the setting's own message
    try:
        n_train = len(state.dataset(config.dataset).x_train)  # cached for all sessions
    except DataError:
        n_train = None
    problem = _size_problem(config, estimate, n_train)
    if problem is False:
        return
    with st.container(border=True, key="cost_panel"):
        st.markdown("**What this network will cost**")
        if estimate.fits:
            budget = cost.memory_budget()
            speed, measured = _speed(str(runs.runs_root()))
            seconds = cost.train_seconds(config, n_train, speed)
            c1, c2, c3 = st.columns(3)
            c1.metric("Parameters", f"{estimate.params:,}", help="Weights and biases the training adjusts.")
            c2.metric("Memory to train", f"{estimate.total_bytes / cost.MB:,.0f} MB",
                      help=f"Weights, gradients and the optimiser's copies "
                           f"({estimate.weight_bytes / cost.MB:,.1f} MB) plus the activations of one batch of "
                           f"{config.batch_size} ({estimate.activation_bytes / cost.MB:,.1f} MB). "
                           f"A job may use {budget / cost.MB:,.0f} MB ({cost.MEMORY_ENV}).")
            c2.progress(min(1.0, estimate.total_bytes / budget),
                        text=f"of the {budget / cost.MB:,.0f} MB a job may use")
            c3.metric("Estimated training time", f"≈ {fmt_seconds(seconds)}",
                      help="An estimate, for this job training alone: a cost per step of the optimiser, plus, for "
                           "every digit of every epoch, the network's multiplications and the values its layers "
                           "pass on (small networks spend more time moving values than multiplying), at the speed "
                           + (f"measured on the {measured} run(s) saved here." if measured else
                              "of a 2-core laptop (no run saved here yet to measure this machine)."))
        st.dataframe(layer_table(estimate), hide_index=True, width="stretch",
                     height=min(400, 36 + 35 * len(estimate.layers)),
                     column_config={"Parameters": st.column_config.NumberColumn(format="localized")})
        st.caption("Convolutions use valid padding and stride 1 (each shrinks the image by kernel − 1); "
                   "2×2 max-pooling has stride 2 (it halves it).")
        if problem:
            st.warning(problem)
