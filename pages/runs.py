"""Runs: every saved run (and running job) in a table, curves overlaid, one run in detail.

Anyone may view and compare any run; only the session that trained a run sees Delete for it
(runs from the command line or older versions have no owner: nobody deletes them from here).
Widget keys: runs_compare (multiselect of runs to overlay), runs_detail (the run shown in
detail), runs_download ("Download model (.keras)"), runs_delete_sure (confirmation checkbox),
runs_delete ("Delete run"), runs_view (all runs / mine / the class: cnn_lab_ui.classroom);
runs_confusion, runs_cell_* and runs_compare_with: the clickable confusion matrix, its cell's
digits and the difference of two runs (cnn_lab_ui.confusion); versus_scratch (cnn_lab_ui.side_by_side).
"""

import numpy as np
import streamlit as st

import cnn_lab_ui
from cnn_core import runs
from cnn_core.data import DataError
from cnn_lab_ui import charts, classroom, confusion, grow, job_records, runs_table, side_by_side, state
from cnn_lab_ui.widgets import fmt_seconds, shown_path

cnn_lab_ui.use_app_navigation()
me = state.owner()


def delete(name: str) -> None:
    try:
        if not runs_table.may_delete(runs.read_info(runs.run_path(name)), me):  # checked again at the click
            raise runs.RunError(f"run {name} is not yours to delete")
        runs.delete_run(name)
        state.RUNS_MESSAGE.set(("success", f"Deleted run {name}."))
        runs_table.forget_chosen([name])  # you deleted it: no "was deleted" warning on top of the success
    except runs.RunError as e:
        state.RUNS_MESSAGE.set(("error", str(e)))
    st.session_state["runs_delete_sure"] = False


st.title("Saved runs")
if message := state.RUNS_MESSAGE.pop():
    getattr(st, message[0])(message[1])
infos, problems = state.scan_runs()
for problem in problems:
    st.warning(f"Skipped a damaged run folder: {problem}")
by_name = {r.name: r for r in infos}
# A run you had open that was deleted under the page (by its owner elsewhere, by hand): say so, once.
for name in runs_table.forget_chosen([n for n in runs_table.chosen() if n not in by_name]):
    st.warning(f"The run **{name}** you had open was deleted.", icon=":material/delete:")
jobs = [j.snapshot() for j in state.job_manager().active()]
if jobs:
    st.info(f"{len(jobs)} training job(s) running. Open the Train page to watch or stop one.")
    st.page_link("pages/train.py", label="Go to the Train page", icon=":material/model_training:")
view = classroom.view_picker()  # every run, my runs, or the class's leaderboard
if view == classroom.CLASS:
    classroom.board(infos)
else:
    st.dataframe(runs_table.table(classroom.only_mine(infos, me) if view == classroom.MINE else infos, jobs, me),
                 hide_index=True, column_config={"Test accuracy": st.column_config.NumberColumn(format="percent"),
                                                 "Learning rate": st.column_config.NumberColumn(format="%.4f")})
st.caption(f"Runs folder: {shown_path(runs.runs_root())}")
job_records.show()  # failed or interrupted trainings, with their curves so far
if not infos:
    st.info("No saved runs yet: train a model and it appears here.")
    st.page_link("pages/train.py", label="Train a model", icon=":material/model_training:")
    st.stop()

names = [r.name for r in infos]
labels = {r.name: runs_table.short_label(r) for r in infos}  # the same words in the picker and the legends
st.header("Compare runs")
# Session state alone sets the choice (a default as well would be a second source, and a warning).
st.session_state["runs_compare"] = st.session_state.get("runs_compare", names[:2])
picked = st.multiselect("Runs to overlay", names, key="runs_compare", format_func=labels.get)
histories = {}
for name in picked:
    try:
        histories[labels[name]] = runs_table.load_run(*runs_table.run_key(name)).history
    except runs.RunError as e:
        st.warning(str(e))
if histories:
    c1, c2 = st.columns(2)
    c1.altair_chart(charts.runs_overlay(histories, "accuracy", "Accuracy"), width="stretch")
    c2.altair_chart(charts.runs_overlay(histories, "loss", "Loss"), width="stretch")

st.header("One run in detail")
name = st.selectbox("Run", names, key="runs_detail")
key = runs_table.run_key(name)
try:
    run = runs_table.load_run(*key)
except runs.RunError as e:
    st.error(str(e))
    st.stop()
info = run.info
m1, m2, m3, m4 = st.columns(4)
m1.metric("Test accuracy", f"{info.test_accuracy:.2%}")
m2.metric("Test loss", f"{info.test_loss:.4f}")
m3.metric("Epochs", f"{info.epochs_completed}/{info.config.epochs}", help=f"state: {info.state}")
m4.metric("Training time", fmt_seconds(info.train_seconds), help="minutes:seconds spent fitting")
st.caption(f"Data: {info.data_source}")
side_by_side.show(info, infos, me)  # a transferred run beside the same data from scratch

try:
    ds = state.dataset(info.config.dataset)
    class_names = ds.class_names
except DataError as e:
    ds, class_names = None, [str(i) for i in range(10)]
    st.warning(f"Dataset not available, so no gallery of mistakes: {e}")
c1, c2 = st.columns(2)
with c1:
    cell = confusion.matrix(confusion.run_matrix(run, ds), class_names)  # clickable: its digits are shown below
totals = run.confusion.sum(axis=1)
per_class = np.divide(np.diag(run.confusion), totals, out=np.zeros(10), where=totals > 0)
c2.altair_chart(charts.per_class_chart(per_class, class_names), width="stretch")
c2.caption("Per-class accuracy: the share of each label's test digits the model got right.")

if ds is not None and len(ds.y_test) == len(run.probabilities):
    confusion.cell_digits(name, run, ds, cell)
    idx, total = runs_table.mistakes(run.probabilities, ds.y_test)
    st.subheader(f"Misclassified test digits ({total:,} in all; the most confident mistakes first)")
    if total:
        titles = [f"true {class_names[ds.y_test[i]]} → {class_names[run.y_pred[i]]}\np={run.probabilities[i].max():.2f}"
                  for i in idx]
        st.image(runs_table.mistakes_png(*key, ds.source, ds.x_test[idx], tuple(titles)),
                 caption="Each digit: its true label → the model's answer, and the probability the model gave it.")
    confusion.difference(name, run, ds, infos, labels)
elif ds is not None:
    st.warning(f"This run was tested on {len(run.probabilities):,} digits, the dataset here has "
               f"{len(ds.y_test):,} (another copy of the data), so its mistakes cannot be shown.")

st.subheader("Model file")
d1, d2 = st.columns(2)
d1.download_button("Download model (.keras)", data=lambda: runs.model_bytes(info), file_name=f"{name}.keras",
                   mime="application/octet-stream", key="runs_download", on_click="ignore")
with d2:
    if runs_table.may_delete(info, me):
        sure = st.checkbox(f"Yes, delete run {name} for good", key="runs_delete_sure")
        st.button("Delete run", key="runs_delete", disabled=not sure, on_click=delete, args=(name,), type="primary")
    elif info.owner is None:
        st.caption("Made on the command line (or by an older CNN Lab): no one deletes it from the browser; "
                   "remove its folder from the runs folder instead.")
    else:
        st.caption(f"Trained by {info.owner}: only they can delete it. You may view, compare and download it.")

# Grow this run: "Train more epochs" / "Transfer to another dataset" (cnn_lab_ui/grow.py).
grow.offer(info, me)
