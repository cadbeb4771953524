"""The Runs page's side-by-side views of a grown run. "Transfer vs from scratch": a transferred run beside a
run from scratch of the same dataset and the same number of training images (curves, accuracy, time), or a
button to train one. "Before and after teaching": a taught run's report (cnn_lab_ui.teach_panel).

Issue 15's question for a learner: what did the copied conv blocks bring? Only a run that saw the same
data answers it, so the twin must match the dataset and the training-set size (`config.limit`);
among those, one of the same network is preferred, then one of the same number of epochs, then the newest.

Widget keys: versus_scratch ("Train it from scratch").
"""

from __future__ import annotations

import streamlit as st

from cnn_core import datasets, grow, runs
from cnn_core.errors import UserError

from . import charts, runs_table, state
from .widgets import fmt_seconds


def scratch_twin(info: runs.RunInfo, infos: list[runs.RunInfo]) -> runs.RunInfo | None:
    """The run from scratch to compare transferred run `info` with, or None when there is none."""
    same_data = [r for r in infos if r.origin.kind == runs.SCRATCH and r.name != info.name
                 and r.config.dataset == info.config.dataset and r.config.limit == info.config.limit]
    # The same network first (the fairest comparison), then the same epochs, then the newest (ISO dates sort).
    same_data.sort(key=lambda r: (same_network(r.config, info.config), r.epochs_completed == info.epochs_completed,
                                  r.created), reverse=True)
    return same_data[0] if same_data else None


def same_network(a, b) -> bool:
    """The same settings (the network, its optimizer, the data): only the learning rate, seed and epochs may differ."""
    return a.replace(learning_rate=b.learning_rate, seed=b.seed, epochs=b.epochs) == b


def scratch_config(info: runs.RunInfo):
    """The settings of `info` trained from scratch: the same network and data. A fine-tuned transfer
    ran at a fraction of its parent's learning rate; from scratch, the parent's own rate is the fair one."""
    config = info.config
    if info.origin.freeze == runs.FREEZE_NONE:
        try:
            config = config.replace(learning_rate=grow.parent(info.origin).config.learning_rate)
        except UserError:  # the parent is gone: undo the factor the transfer applied
            config = config.replace(learning_rate=min(config.learning_rate / grow.FINE_TUNE_FACTOR, 1.0))
    return config.validate()


def size_text(info: runs.RunInfo) -> str:
    n = info.config.limit
    return f"{datasets.REGISTRY[info.config.dataset].label}, {'all' if n is None else f'{n:,}'} training images"


def show(info: runs.RunInfo, infos: list[runs.RunInfo], me: str) -> None:
    """A grown run beside what it is compared with: a transferred run and its scratch twin (or the offer to
    train one); a taught run, before and after teaching."""
    if info.origin.kind == runs.TAUGHT:
        _taught(info)
    if info.origin.kind != runs.TRANSFERRED:
        return
    st.subheader("Transfer vs from scratch")
    twin = scratch_twin(info, infos)
    if twin is None:
        st.caption(f"No run from scratch on the same data ({size_text(info)}) yet. Train the same network "
                   "from scratch to see what the copied conv blocks bring.")
        if st.button("Train it from scratch", key="versus_scratch",
                     help="The same network, dataset, images and epochs, starting from random weights."):
            _start_scratch(info, me)
        return
    st.caption(f"Same data ({size_text(info)}): what starting from the copied conv blocks of "
               f"{runs_table.origin_text(info.origin).removeprefix('transferred from ')} brings.")
    labels = {info.name: f"transfer · {runs_table.short_label(info)}",
              twin.name: f"scratch · {runs_table.short_label(twin)}"}
    for col, r, other in zip(st.columns(2), (info, twin), (twin, info), strict=True):
        col.markdown(f"**{labels[r.name]}**")
        m1, m2, m3 = col.columns(3)
        m1.metric("Test accuracy", f"{r.test_accuracy:.2%}", delta=f"{(r.test_accuracy - other.test_accuracy):+.2%}")
        m2.metric("Training time", fmt_seconds(r.train_seconds), help="minutes:seconds spent fitting")
        m3.metric("Epochs", r.epochs_completed)
    histories = {}
    for r in (info, twin):
        try:
            histories[labels[r.name]] = runs_table.load_run(*runs_table.run_key(r.name)).history
        except runs.RunError as e:  # deleted or damaged since the scan: the numbers above still stand
            st.warning(str(e))
    c1, c2 = st.columns(2)
    c1.altair_chart(charts.runs_overlay(histories, "accuracy", "Accuracy"), width="stretch")
    c2.altair_chart(charts.runs_overlay(histories, "loss", "Loss"), width="stretch")


def _taught(info: runs.RunInfo) -> None:
    from cnn_core import teach

    from . import teach_panel

    st.subheader("Before and after teaching")
    try:
        report = teach.read_report(info)
    except UserError as e:  # a damaged report: the rest of the run is still shown
        st.warning(f"Cannot read what the teaching did: {e}")
        return
    teach_panel.before_after(report)


def _start_scratch(info: runs.RunInfo, me: str) -> None:
    try:
        job = state.job_manager().submit(scratch_config(info), owner=me, preset=runs.SCRATCH)
    except UserError as e:  # a class limit, no disk space, settings out of range
        st.error(f"Cannot start: {e}")
        return
    state.attach(job.id)
    st.success(f"Started job {job.id}: the same network from scratch.")
    st.page_link("pages/train.py", label="Watch it on the Train page", icon=":material/model_training:")
