"""Resources the pages share, and the per-session state that must survive page changes.

Shared by every session (st.cache_resource): the datasets, the one JobManager, the shipped
default model and the runs' models (a few, the least recently used dropped). Per session
(st.session_state): the person's attached training job, their latest drawing and their model choice.

This module is the one home of every session-state key that is not a widget's: each is a Slot
below, and pages and cnn_lab_ui modules read and write them only through it (tests/test_layout.py
checks). Widget keys (train_*, runs_*, canvas, model selectors) belong to their widgets.
  owner            this learner's id (jobs and runs are tagged with it), kept in a cookie across refreshes
  train_job_id     the training job the Train page shows
  start_problem    why the Train page's last Start submitted nothing (a limit, a full disk), shown once
  chosen_model     DEFAULT or a run name: the model picked on the Model or Draw page
  _chosen_for_job  the job whose run was last made the chosen model (once per job, see jobs.choose_once)
  last_drawing     (28, 28, 1) float32: the latest preprocessed drawing from the Draw page
  runs_message     (kind, text): what the Runs page's last action did ("success"/"error"), shown once
  draw_clears      how many times Clear was pressed (picks the canvas' background spelling, see drawing.py)
  draw_kept        the canvas value after the latest stroke: Streamlit drops a widget's value when
                   its page is left, so the drawing is kept here and put back on return
  draw_initial     the Fabric.js JSON the canvas was (re)opened with; constant while drawing, since
                   the component reloads its drawing (and loses its undo history) when it changes
  teach_job_id     the teach job the Draw page's "Teach it" panel shows (None: none, or hidden; unset: a new
                   session, which looks up the learner's latest teach job, see cnn_lab_ui.teach_panel)
  teach_message    what the panel's last "Keep this drawing" did, shown once
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from cnn_core import data, datasets, runs

DEFAULT = "__default__"  # model choice meaning the shipped default model (never a valid run name)
SHARED_MODELS = 8  # models kept loaded for all sessions (the least recently used goes first)


@dataclass(frozen=True)
class Slot:
    """One non-widget session-state value; its key is spelled here, and only here."""

    key: str
    default: Any = None

    def get(self) -> Any:
        return st.session_state.get(self.key, self.default)

    def set(self, value: Any) -> None:
        st.session_state[self.key] = value

    def pop(self) -> Any:
        return st.session_state.pop(self.key, self.default)

    def is_set(self) -> bool:
        return self.key in st.session_state


# Every non-widget session key (the module docstring says what each holds).
OWNER = Slot("owner")
TRAIN_JOB_ID = Slot("train_job_id")
START_PROBLEM = Slot("start_problem")
CHOSEN_MODEL = Slot("chosen_model", DEFAULT)
CHOSEN_FOR_JOB = Slot("_chosen_for_job")
LAST_DRAWING = Slot("last_drawing")
RUNS_MESSAGE = Slot("runs_message")
DRAW_CLEARS = Slot("draw_clears", 0)
DRAW_KEPT = Slot("draw_kept")
DRAW_INITIAL = Slot("draw_initial")
TEACH_JOB_ID = Slot("teach_job_id")
TEACH_MESSAGE = Slot("teach_message")


# --- data -------------------------------------------------------------------------------

@st.cache_resource(show_spinner="Loading the digits…", ttl=600)
def _dataset(name: str, data_dir: str) -> tuple[data.Dataset | None, str | None]:
    # A failure is cached too (for ttl): looking for a missing dataset may wait on a download.
    try:
        return data.load(name, data_dir or None), None
    except data.DataError as e:
        return None, str(e)


def dataset(name: str = datasets.MNIST.name) -> data.Dataset:
    """The dataset, shared by all sessions; raises DataError with cnn_core's message."""
    ds, error = _dataset(name, os.environ.get(data.DATA_DIR_ENV, ""))
    if ds is None:
        raise data.DataError(error)
    return ds


# --- training jobs ----------------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def _manager(runs_dir: str, ray_address: str):
    # Jobs run in worker processes, never in the server's: a fit here would slow every page.
    # With a Ray address they run on that cluster instead (same interface, runs come back here).
    data_dir = os.environ.get(data.DATA_DIR_ENV) or None
    if ray_address:
        from cnn_core.ray_executor import RayExecutor

        return RayExecutor(ray_address, runs_dir=runs_dir, data_dir=data_dir)
    from cnn_core import executor

    return executor.LocalExecutor(runs_dir=runs_dir, data_dir=data_dir)


def job_manager():
    """The process-wide job executor for the current runs folder (CNN_RUNS_DIR, default ./runs):
    the Ray cluster at CNN_RAY_ADDRESS when it is set, else worker processes on this machine.
    A cluster that cannot be reached stops the page with its message (and is tried again on
    the next visit: errors are not cached)."""
    from cnn_core.errors import UserError
    from cnn_core.ray_executor import ADDRESS_ENV

    try:
        return _manager(str(runs.runs_root()), os.environ.get(ADDRESS_ENV) or "")
    except UserError as e:
        st.error(f"Training is not available: {e}", icon=":material/cloud_off:")
        st.stop()


OWNER_COOKIE = "cnn_lab_learner"
_OWNER_ID = re.compile(r"[0-9a-f]{8}")


def owner() -> str:
    """This learner's id. A refresh starts a new Streamlit session: the browser's cookie keeps
    the id, so the learner's jobs and runs stay theirs (two tabs of one browser are one learner)."""
    if not OWNER.is_set():
        kept = st.context.cookies.get(OWNER_COOKIE)
        ok = isinstance(kept, str) and _OWNER_ID.fullmatch(kept)  # a cookie is whatever the browser sends
        OWNER.set(kept if ok else uuid.uuid4().hex[:8])
    return OWNER.get()


def remember_owner() -> None:
    """Called by app.py on every run: give the browser the id's cookie when it does not have it yet."""
    me = owner()
    if st.context.cookies.get(OWNER_COOKIE) != me:
        st.html(f"<script>document.cookie = '{OWNER_COOKIE}={me}; path=/; max-age=31536000; SameSite=Strict';"
                "</script>", unsafe_allow_javascript=True)


def attached_job():
    """The job this session's Train page shows, or None."""
    job_id = TRAIN_JOB_ID.get()
    return job_manager().get(job_id) if job_id else None


def attach(job_id: str) -> None:
    TRAIN_JOB_ID.set(job_id)


def detach() -> None:
    TRAIN_JOB_ID.pop()


# --- models -----------------------------------------------------------------------------

def scan_runs() -> tuple[list, list[str]]:
    return runs.scan_runs()


def model_choices() -> tuple[list[str], dict[str, str]]:
    """[DEFAULT, run names...] and a label for each."""
    infos, _ = runs.scan_runs()
    labels = {DEFAULT: "Default model (shipped with CNN Lab)"}
    for r in infos:
        labels[r.name] = f"{r.name} — {r.test_accuracy:.1%} test accuracy ({r.state})"
    return list(labels), labels


def choose_model(choice: str) -> None:
    """Make `choice` the model the Model and Draw pages open next."""
    CHOSEN_MODEL.set(choice)


def chosen_model() -> str:
    return CHOSEN_MODEL.get()


def default_model_path() -> Path:
    return runs.SHIPPED_MODEL


def predictor(choice: str):
    """A loaded Predictor for DEFAULT or a run name. Raises ModelFileError or RunError."""
    if choice == DEFAULT:
        path = default_model_path()
        if not path.is_file():
            from cnn_core.inference import Predictor

            return Predictor.load(None)  # raises ModelFileError with the how-to message
        return _shared_predictor(str(path), path.stat().st_mtime_ns)
    folder = runs.run_path(choice)
    model_file = folder / runs.MODEL_FILE
    if not model_file.is_file():
        raise runs.RunError(f"no saved model for run {choice} (deleted?)")
    return _shared_predictor(str(folder), model_file.stat().st_mtime_ns)


# Shared by every session, the default model and runs' alike: a class opening the run their teacher
# shared loads and converts it once, not once per learner (a Predictor is safe to share between
# threads). The modification time is in the key, so a model file that changed is loaded afresh.
@st.cache_resource(show_spinner="Loading the model…", max_entries=SHARED_MODELS)
def _shared_predictor(path: str, mtime_ns: int):
    from cnn_core.inference import Predictor

    return Predictor.load(path, fast=True)  # fast: every stroke is one prediction


def model_dataset_name(choice: str, pred) -> str:
    """The dataset a model was trained on: its metadata, read once when the model was loaded."""
    return pred.meta.dataset
