"""The Train page's job helpers: the reattach offer, who started a job, and text that says what it is doing.

A person sees and controls only their own jobs (their session's `state.owner()`): the reattach
offer lists only those, and only the owner gets a Stop button.
"""

from __future__ import annotations

import streamlit as st

from cnn_core import runs, training

from . import charts, state, train_form
from .widgets import fmt_seconds


def _reattach(job_id: str) -> None:
    # A callback runs before the form is drawn, so the form can show the job's own settings.
    job = state.job_manager().get(job_id)
    if job is not None:
        train_form.load(job.config, job.preset)
        state.attach(job_id)


def reattach_offer(manager, me: str) -> None:
    """After a browser refresh the page has no job: offer this person's jobs that still run.

    Widget keys: train_reattach_job (which job), train_reattach ("Reattach").
    """
    # Teach jobs are the Draw page's (it finds them again itself); their settings are no Train form's.
    mine = [j for j in manager.jobs(owner=me) if not j.done and j.origin.kind != runs.TAUGHT]
    if not mine:
        return
    with st.container(border=True):
        st.markdown("**Your training jobs are still running.** Reattach to watch one (or stop it).")
        labels = {j.id: f"{j.id}: {j.snapshot().state}, {j.config.epochs} epoch(s), filters "
                        f"{', '.join(map(str, j.config.filters))}" for j in mine}
        pick = st.selectbox("Running job", list(labels), format_func=labels.get, key="train_reattach_job")
        st.button("Reattach", key="train_reattach", on_click=_reattach, args=(pick,),
                  help="Show this job here; the form below takes its settings.")


def test_size(dataset: str) -> int | None:
    """How many test digits a job of this dataset is tested on, when the server has the data."""
    try:
        return len(state.dataset(dataset).y_test)
    except Exception:  # no data here (the job may still have it): say it without the number
        return None


def progress(snap, n_test: int | None = None) -> tuple[float, str]:
    """The progress bar's fraction and text for an active job's snapshot: what it is doing now."""
    test_set = f"{n_test:,} digits" if n_test else "the test set"
    stopping = snap.state == training.STOPPING
    if snap.state == training.QUEUED:
        return 0.0, f"Queued: position {snap.queue_position} (other trainings are using the CPU)"
    if snap.phase == training.TESTING:
        if stopping:
            return snap.fraction, f"Stopped: testing the partly trained model on {test_set}…"
        return 1.0, f"Testing on {test_set}…"
    if snap.phase == training.SAVING:
        return (snap.fraction if stopping else 1.0), "Saving the run…"
    if snap.phase == training.LOADING or not snap.batches_per_epoch:
        return 0.0, "Loading the digits and building the model…"
    text = (f"Epoch {min(snap.epoch + 1, snap.epochs)}/{snap.epochs} · batch {snap.batch}/{snap.batches_per_epoch} · "
            f"elapsed {fmt_seconds(snap.elapsed)} · ETA {fmt_seconds(snap.eta)}")
    if not snap.batch_loss:
        text += " · the first batch is slow: TensorFlow compiles the training step"
    if stopping:
        text = "Stopping after this batch… · " + text
    return snap.fraction, text


def outcome(snap) -> str:
    """'finished', 'was stopped after 2 of 6 epochs' or 'was stopped during epoch 3 of 6, after 40 of 446 batches'."""
    if snap.state == training.FINISHED:
        return "finished"
    if snap.batch and snap.batch < snap.batches_per_epoch:
        return (f"was stopped during epoch {snap.epoch + 1} of {snap.epochs}, "
                f"after {snap.batch} of {snap.batches_per_epoch} batches")
    return f"was stopped after {snap.epoch} of {snap.epochs} epoch{'s' if snap.epochs != 1 else ''}"


def choose_once(job_id: str, run_name: str) -> None:
    """Point the Model and Draw pages at a job's run, once (later choices there are kept)."""
    if state.CHOSEN_FOR_JOB.get() != job_id:
        state.CHOSEN_FOR_JOB.set(job_id)
        state.choose_model(run_name)


def batch_charts(snap) -> None:
    """A running job's loss and accuracy per batch, side by side (a bounded number of points, the specs
    reused: see charts.live_series)."""
    if not snap.batch_loss:
        return
    c1, c2 = st.columns(2)
    for col, series, title, colour in ((c1, snap.batch_loss, "Loss per batch", "#d62728"),
                                       (c2, snap.batch_accuracy, "Accuracy per batch", "#1f77b4")):
        frame = charts.live_series((snap.job_id, title), series, snap.batches_per_epoch)
        col.vega_lite_chart(frame, charts.batch_spec(title, title.split()[0].lower(), colour), width="stretch")


# The fragment polls a running job once per POLL_S. Near a job's end it waits for the end instead (the
# job's own event, no CPU), so the result shows the moment it exists, not up to a poll later: once
# training is over (testing, saving: nothing on the page moves) or when the ETA says it ends before the
# next poll. The wait stays under the period, so the page never looks frozen for longer than a poll.
POLL_S = 1.0
END_WAIT_S = 0.8


def ends_soon(snap) -> bool:
    """An active job whose training is over, or will be before the next poll."""
    if snap.done:
        return False
    if snap.phase in (training.TESTING, training.SAVING):
        return True
    return (snap.state == training.RUNNING and snap.phase == training.TRAINING
            and snap.eta is not None and snap.eta < POLL_S)


def settle(job, snap):
    """The job's snapshot, once it has ended if it ends soon (see ends_soon) and within END_WAIT_S."""
    if not ends_soon(snap):
        return snap
    return job.wait(END_WAIT_S)


def test_size_for(snap) -> int | None:
    """The test-set size while the job is testing (None otherwise: no need to look it up)."""
    return test_size(snap.config.dataset) if snap.phase == training.TESTING else None


def show_result(snap) -> None:
    """A job that ended: what happened, its test metrics and where to go next."""
    if snap.state == training.FAILED:
        st.error(f"Training failed: {snap.error}")
        return
    if not snap.run_name:
        st.warning(snap.error or "The job ended before training started.")
        return
    st.success(f"Training {outcome(snap)}. Saved as run **{snap.run_name}**.")
    m1, m2, m3 = st.columns(3)
    m1.metric("Test accuracy", f"{snap.test_accuracy:.2%}")
    m2.metric("Test loss", f"{snap.test_loss:.4f}")
    seconds = snap.train_seconds if snap.train_seconds is not None else snap.elapsed
    m3.metric("Training time", fmt_seconds(seconds), help="minutes:seconds spent fitting (without start-up and test)")
    st.caption(f"Tested on {snap.data_source}")
    choose_once(snap.job_id, snap.run_name)  # the Model and Draw pages open this run next
    l1, l2, l3 = st.columns(3)
    l1.page_link("pages/model.py", label="Look inside this model", icon=":material/search_insights:")
    l2.page_link("pages/draw.py", label="Draw digits for this model", icon=":material/draw:")
    l3.page_link("pages/runs.py", label="Compare with other runs", icon=":material/monitoring:")
