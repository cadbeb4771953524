"""Resources the pages share, and the per-session state that must survive page changes.

Shared by every session (st.cache_resource): the datasets, the one JobManager, the shipped
default model. Per session (st.session_state): the person's attached training job, the
models of runs they opened, their latest drawing and their model choice.

Session-state keys used here (not widgets):
  owner          this learner's id (jobs and runs are tagged with it), kept in a cookie across refreshes
  train_job_id   the training job the Train page shows
  chosen_model   DEFAULT or a run name: the model picked on the Model or Draw page
  last_drawing   (28, 28, 1) float32: the latest preprocessed drawing from the Draw page
  _models        this session's loaded run models (a small LRU)
"""

from __future__ import annotations

import os
import re
import uuid
from collections import OrderedDict
from pathlib import Path

import streamlit as st

from cnn_core import data, runs

DEFAULT = "__default__"  # model choice meaning the shipped default model (never a valid run name)
SESSION_MODELS = 2  # run models kept loaded per session


# --- data -------------------------------------------------------------------------------

@st.cache_resource(show_spinner="Loading the digits…", ttl=600)
def _dataset(name: str, data_dir: str) -> tuple[data.Dataset | None, str | None]:
    # A failure is cached too (for ttl): looking for a missing dataset may wait on a download.
    try:
        return data.load(name, data_dir or None), None
    except data.DataError as e:
        return None, str(e)


def dataset(name: str = "mnist") -> data.Dataset:
    """The dataset, shared by all sessions; raises DataError with cnn_core's message."""
    ds, error = _dataset(name, os.environ.get("CNN_DATA_DIR", ""))
    if ds is None:
        raise data.DataError(error)
    return ds


# --- training jobs ----------------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def _manager(runs_dir: str, ray_address: str):
    # Jobs run in worker processes, never in the server's: a fit here would slow every page.
    # With a Ray address they run on that cluster instead (same interface, runs come back here).
    data_dir = os.environ.get("CNN_DATA_DIR") or None
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
    if "owner" not in st.session_state:
        kept = st.context.cookies.get(OWNER_COOKIE)
        ok = isinstance(kept, str) and _OWNER_ID.fullmatch(kept)  # a cookie is whatever the browser sends
        st.session_state["owner"] = kept if ok else uuid.uuid4().hex[:8]
    return st.session_state["owner"]


def remember_owner() -> None:
    """Called by app.py on every run: give the browser the id's cookie when it does not have it yet."""
    me = owner()
    if st.context.cookies.get(OWNER_COOKIE) != me:
        st.html(f"<script>document.cookie = '{OWNER_COOKIE}={me}; path=/; max-age=31536000; SameSite=Strict';"
                "</script>", unsafe_allow_javascript=True)


def attached_job():
    """The job this session's Train page shows, or None."""
    job_id = st.session_state.get("train_job_id")
    return job_manager().get(job_id) if job_id else None


def attach(job_id: str) -> None:
    st.session_state["train_job_id"] = job_id


def detach() -> None:
    st.session_state.pop("train_job_id", None)


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
    st.session_state["chosen_model"] = choice


def chosen_model() -> str:
    return st.session_state.get("chosen_model", DEFAULT)


@st.cache_resource(show_spinner="Loading the default model…", max_entries=2)
def _shared_predictor(path: str, mtime: float):
    from cnn_core.inference import Predictor

    return Predictor.load(path)


def default_model_path() -> Path:
    return Path(__file__).resolve().parent.parent / "models" / "default.keras"


def predictor(choice: str):
    """A loaded Predictor for DEFAULT or a run name. Raises ModelFileError or RunError."""
    if choice == DEFAULT:
        path = default_model_path()
        if not path.is_file():
            from cnn_core.inference import Predictor

            return Predictor.load(None)  # raises ModelFileError with the how-to message
        return _shared_predictor(str(path), path.stat().st_mtime)
    folder = runs.run_path(choice)
    model_file = folder / runs.MODEL_FILE
    if not model_file.is_file():
        raise runs.RunError(f"no saved model for run {choice} (deleted?)")
    key = (str(model_file), model_file.stat().st_mtime)
    cache: OrderedDict = st.session_state.setdefault("_models", OrderedDict())
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    from cnn_core.inference import Predictor

    with st.spinner(f"Loading model {choice}…"):
        loaded = Predictor.load(folder)
    cache[key] = loaded
    while len(cache) > SESSION_MODELS:
        cache.popitem(last=False)
    return loaded


def model_dataset_name(choice: str, pred) -> str:
    """The dataset a model was trained on: its metadata, read once when the model was loaded."""
    return pred.meta.dataset
