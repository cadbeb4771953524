"""Train: choose hyperparameters, start a background training job, watch it live, stop it.

Widget keys: train_preset, train_<TrainConfig field> (see cnn_lab_ui/train_form.py),
train_start ("Start training"), train_stop ("Stop"), train_reattach_job + train_reattach
("Reattach"), train_new ("Train another model").
Session state: train_job_id (the attached job; the page reattaches to it on return).
"""

import streamlit as st

import cnn_lab_ui
from cnn_core import runs
from cnn_core.config import ConfigError
from cnn_core.data import DataError
from cnn_lab_ui import charts, cost_panel, jobs, state, train_form
from cnn_lab_ui.widgets import fmt_seconds

cnn_lab_ui.use_app_navigation()

st.title("Train a CNN")
manager = state.job_manager()
job = state.attached_job()

if job is None:
    jobs.reattach_offer(manager)  # after a browser refresh: the jobs still running

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

# Validate before anything starts: the engine's own message, next to the controls it concerns.
config, problem = None, None
try:
    config = train_form.config_from_widgets()
    ds = state.dataset(config.dataset)
    config.validate(len(ds.x_train))
    boxes["data"].caption(f"Source: {ds.source}")
except ConfigError as e:
    problem = str(e)
    boxes[train_form.group_of(e.parameter)].error(f"**Invalid setting** — {problem}")
except DataError as e:
    problem = str(e)
    boxes["data"].error(problem)
    config = None

cost_panel.show(config)  # parameters, memory, time and every layer's output size, before Start
busy = job is not None and not job.done
start = st.button("Start training", key="train_start", type="primary", disabled=config is None or problem is not None or busy,
                  help="Fix the setting marked in red first." if problem else
                  "Wait for the current job, or stop it." if busy else "Train in the background; you may leave this page.")
if problem:
    st.error(f"Cannot start: {problem}")
if start and config is not None and problem is None and not busy:
    try:
        job = manager.submit(config, owner=state.owner(), preset=train_form.preset_tag(config))
    except (ConfigError, runs.RunError) as e:
        st.error(f"Cannot start: {e}")
        st.stop()
    state.attach(job.id)
    st.rerun()  # redraw the form with Start disabled while the job runs

if job is None:
    panel.info("Choose the hyperparameters below and press **Start training**.")
    st.stop()


def show_job(job_id: str, was_active: bool) -> None:
    """Polled by the fragment: draws the job's latest snapshot; never touches the training thread."""
    job = manager.get(job_id)
    snap = job.snapshot()
    if was_active and snap.done:
        st.rerun(scope="app")  # once: the whole page switches to the final state (Start enabled again)
    if not snap.done and st.button("Stop", key="train_stop", disabled=snap.state == "stopping",
                                   help="Stop after the current batch; the partly trained model is kept and saved."):
        job.request_stop()
        snap = job.snapshot()
    st.subheader(f"Job {snap.job_id}: {snap.state}")
    if not snap.done:
        st.progress(*jobs.progress(snap))
    if snap.batch_loss:
        c1, c2 = st.columns(2)
        c1.altair_chart(charts.batch_chart(snap.batch_loss, snap.batches_per_epoch, "Loss per batch", "loss",
                                           "#d62728"), width="stretch")
        c2.altair_chart(charts.batch_chart(snap.batch_accuracy, snap.batches_per_epoch, "Accuracy per batch",
                                           "accuracy"), width="stretch")
    if snap.epoch_history["loss"]:
        c3, c4 = st.columns(2)
        c3.altair_chart(charts.epoch_chart(snap.epoch_history, "loss", "Loss per epoch", "loss"), width="stretch")
        c4.altair_chart(charts.epoch_chart(snap.epoch_history, "accuracy", "Accuracy per epoch", "accuracy"),
                        width="stretch")
    if snap.state == "failed":
        st.error(f"Training failed: {snap.error}")
    elif snap.done and snap.run_name:
        st.success(f"Training {jobs.outcome(snap)}. Saved as run **{snap.run_name}**.")
        m1, m2, m3 = st.columns(3)
        m1.metric("Test accuracy", f"{snap.test_accuracy:.2%}")
        m2.metric("Test loss", f"{snap.test_loss:.4f}")
        try:
            seconds = runs.read_info(job.run_dir).train_seconds  # the fit itself, without start-up and test
        except (runs.RunError, TypeError):
            seconds = snap.elapsed
        m3.metric("Training time", fmt_seconds(seconds), help="minutes:seconds spent fitting")
        st.caption(f"Tested on {snap.data_source}")
        jobs.choose_once(job_id, snap.run_name)  # the Model and Draw pages open this run next
        l1, l2, l3 = st.columns(3)
        l1.page_link("pages/model.py", label="Look inside this model", icon=":material/search_insights:")
        l2.page_link("pages/draw.py", label="Draw digits for this model", icon=":material/draw:")
        l3.page_link("pages/runs.py", label="Compare with other runs", icon=":material/monitoring:")
    elif snap.done:
        st.warning(snap.error or "The job ended before training started.")


active = not job.done
with panel:
    st.fragment(show_job, run_every=0.5 if active else None)(job.id, active)
    if not active and st.button("Train another model", key="train_new", help="Hide this job's results."):
        state.detach()
        st.rerun()
    st.divider()
