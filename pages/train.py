"""Train: choose hyperparameters, start a background training job, watch it live, stop it.

Widget keys: train_preset, train_<TrainConfig field> (see cnn_lab_ui/train_form.py),
train_start ("Start training"), train_stop ("Stop"), train_reattach_job + train_reattach
("Reattach"), train_back ("Back to the form"), train_new ("Train another model").
Session state: train_job_id (the attached job; the page reattaches to it on return).
A person watches and stops only their own jobs (state.owner()).
"""

import streamlit as st

import cnn_lab_ui
from cnn_core import datasets, training
from cnn_core.config import ConfigError
from cnn_core.data import DataError
from cnn_core.errors import UserError
from cnn_lab_ui import charts, cost_panel, jobs, runs_table, state, train_form

cnn_lab_ui.use_app_navigation()

st.title("Train a CNN")
manager = state.job_manager()
me = state.owner()
job = state.attached_job()
if job is not None and job.owner != me:  # only your own jobs are watched (and stopped) here
    state.detach()
    job = None

if job is None:
    jobs.reattach_offer(manager, me)  # after a browser refresh: your jobs still running

panel = st.container()  # the attached job's progress, charts and results: above the form, seen first
train_form.init()
st.caption("Every control below is a field of the engine's training configuration. "
           "Presets are starting points; change anything afterwards.")
train_form.preset_control()
col_arch, col_opt, col_data = st.columns(3, border=True)
boxes = {}
with col_arch:
    st.subheader("Architecture")
    train_form.architecture_controls()
    boxes["architecture"] = st.container()
with col_opt:
    st.subheader("Optimisation")
    train_form.optimisation_controls()
    boxes["optimisation"] = st.container()
with col_data:
    st.subheader("Data")
    train_form.data_controls()
    boxes["data"] = st.container()

# Validate before anything starts: the engine's own message, naming the box it concerns.
config, problem = None, None
try:
    config = train_form.config_from_widgets()
    ds = train_form.check(config)
    boxes["data"].caption(f"Source: {ds.source}")
    if note := train_form.data_note(ds, datasets.REGISTRY[config.dataset].n_train):
        boxes["data"].warning(note)
except ConfigError as e:
    problem = train_form.problem(e)
    boxes[train_form.group_of(e.parameter)].error(f"**Invalid setting** — {problem}")
except DataError as e:
    problem = str(e)
    boxes["data"].error(problem)
    config = None


def start_job() -> None:
    """Start's callback: it submits before the page is drawn, so one run draws the page with the job."""
    attached = state.attached_job()
    if attached is not None and not attached.done:
        return
    try:  # the form's values now, checked again (they may have changed with the click)
        config = train_form.config_from_widgets()
        train_form.check(config)
        started = state.job_manager().submit(config, owner=state.owner(), preset=train_form.preset_tag(config))
    except UserError as e:  # a bad setting, a full disk, a class limit, an unreachable cluster
        state.START_PROBLEM.set(str(e))
        return
    state.attach(started.id)


cost_panel.show(config)  # parameters, memory, time and every layer's output size, before Start
busy = job is not None and not job.done
st.button("Start training", key="train_start", type="primary", on_click=start_job,
          disabled=config is None or problem is not None or busy,
          help="Fix the setting marked in red first." if problem else
          "Wait for the current job, or stop it." if busy else
          "Train in the background; you may leave this page.")
if problem:
    st.error(f"Cannot start: {problem}")
if failed := state.START_PROBLEM.pop():
    st.error(f"Cannot start: {failed}")

if job is None:
    panel.info("Choose the hyperparameters below and press **Start training**.")
    st.stop()


def show_job(job_id: str, was_active: bool, epochs_drawn: int) -> None:
    """Polled by the fragment: the job's latest progress and per-batch charts; once it ended, its result.

    The epoch charts are drawn by the page, which the fragment reruns only when a new epoch arrived
    or the job ended: a poll sends a progress bar and two small charts.
    """
    job = manager.get(job_id)
    if job is None:  # forgotten by the server (see executor.KEEP_FINISHED_PER_OWNER): the page shows the form
        st.rerun(scope="app")
    snap = job.snapshot()
    # Stop before any rerun below: a click counts only in the run it arrives with.
    if not snap.done and job.owner == me and st.button(
            "Stop", key="train_stop", disabled=snap.state == training.STOPPING,
            help="Stop after the current batch; the partly trained model is tested and saved."):
        job.request_stop()
        snap = job.snapshot()
    if was_active:
        # Near its end nothing here moves: wait for the result (the job's own event) before drawing, so
        # the page does not redraw the same charts while the job tests, on the cores it tests on.
        snap = jobs.settle(job, snap)
        # A new epoch redraws the page (its epoch charts); the last one's arrive with the result instead.
        if snap.done or (snap.epoch != epochs_drawn and not jobs.ends_soon(snap)):
            st.rerun(scope="app")
    st.subheader(f"Job {snap.job_id}: {snap.state}")
    if snap.done:  # the outcome first, then the curves that led to it (the browser shows it sooner too)
        jobs.show_result(snap)
    else:
        st.progress(*jobs.progress(snap, jobs.test_size_for(snap)))
    jobs.batch_charts(snap)


snap = job.snapshot()
active = not snap.done
with panel:
    st.caption(f"Started by {runs_table.started_by(job.owner, me)}. Settings: {train_form.summary(job.config)}")
    st.fragment(show_job, run_every=jobs.POLL_S if active else None)(job.id, active, snap.epoch)
    if snap.epoch_history["loss"]:
        c3, c4 = st.columns(2)
        c3.altair_chart(charts.epoch_chart(snap.epoch_history, "loss", "Loss per epoch", "loss"), width="stretch")
        c4.altair_chart(charts.epoch_chart(snap.epoch_history, "accuracy", "Accuracy per epoch", "accuracy"),
                        width="stretch")
    if active:
        if st.button("Back to the form", key="train_back",
                     help="Stop watching: the job keeps training, and you can reattach to it at the top of this page."):
            state.detach()
            st.rerun()
    elif st.button("Train another model", key="train_new", help="Hide this job's results."):
        state.detach()
        st.rerun()
    st.divider()
