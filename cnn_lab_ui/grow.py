"""The Runs page's "Grow this run": train a saved run for more epochs, or transfer its conv blocks to
another dataset. Either starts a job like the Train page's (a worker process, live progress), attached
to this learner's Train page; the engine's rules and messages are cnn_core.grow's.

Widget keys: grow_more_epochs, grow_continue ("Train more epochs"), grow_dataset, grow_freeze,
grow_limit, grow_epochs, grow_transfer ("Transfer").
"""

from __future__ import annotations

import streamlit as st

from cnn_core import datasets, grow, runs
from cnn_core.config import LIMITS
from cnn_core.errors import UserError

from . import state

FREEZE_LABELS = {
    runs.FREEZE_CONV: "Frozen: keep its filters, train only a new dense head",
    runs.FREEZE_NONE: f"Fine-tuned: train everything, at {grow.FINE_TUNE_FACTOR:g} x its learning rate",
}
TRANSFER_LIMIT = 3000  # training images offered by default: transfer shines with little data


def offer(info: runs.RunInfo, me: str) -> None:
    """The two ways to grow run `info`, each with its button."""
    st.subheader("Grow this run")
    more, transfer = st.tabs(["Train more epochs", "Transfer to another dataset"])
    with more:
        _more_epochs(info, me)
    with transfer:
        _transfer(info, me)


def _more_epochs(info: runs.RunInfo, me: str) -> None:
    room = LIMITS["epochs"][1] - info.epochs_completed
    if not info.can_continue:
        st.caption("This run was saved without its optimizer's state (by an older CNN Lab), so it cannot be "
                   "continued exactly. Transfer from it instead, or train a new run.")
        return
    if room < 1:
        st.caption(f"This run has trained {info.epochs_completed} epochs, the most a run may have.")
        return
    st.caption("Continues from its weights and its optimizer's state, with the same settings: the new run's "
               "curves carry on from this run's.")
    epochs = st.number_input("More epochs", min_value=1, max_value=room, value=1, key="grow_more_epochs")
    if st.button("Train more epochs", key="grow_continue"):
        _start(lambda: grow.continued(info, int(epochs)), me)


def _transfer(info: runs.RunInfo, me: str) -> None:
    st.caption("Copies this run's convolution blocks into a new network with a fresh dense head, "
               "and trains it on another dataset.")
    dataset = st.selectbox("Dataset", datasets.NAMES, format_func=lambda n: datasets.REGISTRY[n].label,
                           index=datasets.NAMES.index(datasets.FASHION_MNIST.name), key="grow_dataset")
    freeze = st.radio("Its convolution blocks", runs.FREEZE_CHOICES, format_func=FREEZE_LABELS.get, key="grow_freeze")
    c1, c2 = st.columns(2)
    limit = c1.number_input("Training images (0: all)", min_value=0, max_value=LIMITS["limit"][1],
                            value=TRANSFER_LIMIT, step=500, key="grow_limit")
    epochs = c2.number_input("Epochs", min_value=1, max_value=LIMITS["epochs"][1], value=2, key="grow_epochs")
    if st.button("Transfer", key="grow_transfer"):
        changes = {"limit": int(limit) or None, "epochs": int(epochs)}
        _start(lambda: grow.transferred(info, dataset, freeze, changes), me)


def _start(make, me: str) -> None:
    """Submit the grown run's job (its settings from `make`) and attach it to this learner's Train page."""
    try:
        config, origin = make()
        job = state.job_manager().submit(config, owner=me, preset=origin.kind, origin=origin)
    except UserError as e:  # a parent deleted or damaged meanwhile, settings out of range, no disk space
        st.error(f"Cannot start: {e}")
        return
    state.attach(job.id)
    st.success(f"Started job {job.id} ({origin.describe()}).")
    st.page_link("pages/train.py", label="Watch it on the Train page", icon=":material/model_training:")
