"""The Train page's job helpers: the reattach offer after a refresh, and the progress bar's text."""

from __future__ import annotations

import streamlit as st

from . import state
from .widgets import fmt_seconds


def reattach_offer(manager) -> None:
    """After a browser refresh the session is new: offer the jobs still running in this app.

    Widget keys: train_reattach_job (which job), train_reattach ("Reattach").
    """
    others = manager.active()
    if not others:
        return
    with st.container(border=True):
        st.markdown("**Training jobs are running in this app.** Reattach to watch one (or stop it).")
        labels = {j.id: f"{j.id} — {j.snapshot().state}, {j.config.epochs} epoch(s), filters {list(j.config.filters)}"
                  for j in others}
        pick = st.selectbox("Running job", list(labels), format_func=labels.get, key="train_reattach_job")
        if st.button("Reattach", key="train_reattach"):
            state.attach(pick)
            st.rerun()


def progress(snap) -> tuple[float, str]:
    """The progress bar's fraction and text for an active job's snapshot."""
    if snap.state == "queued":
        return 0.0, f"Queued: position {snap.queue_position} (other trainings are using the CPU)"
    if not snap.batches_per_epoch:
        return 0.0, "Preparing: loading TensorFlow, the digits and the model…"
    text = (f"Epoch {min(snap.epoch + 1, snap.epochs)}/{snap.epochs} · batch {snap.batch}/{snap.batches_per_epoch} · "
            f"elapsed {fmt_seconds(snap.elapsed)} · ETA {fmt_seconds(snap.eta)}")
    if not snap.batch_loss:
        text += " · the first batch is slow: TensorFlow compiles the training step"
    if snap.state == "stopping":
        text = "Stopping after this batch… · " + text
    return snap.fraction, text


def outcome(snap) -> str:
    """'finished' or 'was stopped after 2 of 6 epoch(s) and 40 batches of the next' (counted in batches)."""
    if snap.state == "finished":
        return "finished"
    full, extra = divmod(len(snap.batch_loss), max(1, snap.batches_per_epoch))
    more = f" and {extra} batch{'es' if extra > 1 else ''} of the next" if extra else ""
    return f"was stopped after {full} of {snap.epochs} epoch(s){more}"


def choose_once(job_id: str, run_name: str) -> None:
    """Point the Model and Draw pages at a job's run, once (later choices there are kept)."""
    if st.session_state.get("_chosen_for_job") != job_id:
        st.session_state["_chosen_for_job"] = job_id
        state.choose_model(run_name)
