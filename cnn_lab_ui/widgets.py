"""Widget helpers that return plain values, and small display helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from cnn_core import runs

from . import state

APP_FOLDER = Path(__file__).resolve().parent.parent  # app.py's folder: the checkout or install


def model_selector(key: str, label: str = "Model") -> str:
    """A selectbox of the default model and every saved run; returns DEFAULT or a run name.

    The choice is shared by the Model and Draw pages and survives page changes (it lives in
    the non-widget key `chosen_model`; the Train page sets it to a run that just finished).
    When the chosen run no longer exists, a warning says so and the default model is chosen.
    """
    choices, labels = state.model_choices()
    chosen = state.chosen_model()
    if chosen not in choices:
        # The run was deleted (on the Runs page, by someone else, by hand): say so, never switch silently.
        st.warning(f"The run **{chosen}** you were using was deleted; showing the default model.",
                   icon=":material/delete:")
        chosen = state.DEFAULT
        state.choose_model(chosen)
    if st.session_state.get(key) != chosen:
        st.session_state[key] = chosen

    def remember():
        state.choose_model(st.session_state[key])

    return st.selectbox(label, choices, key=key, format_func=labels.get, on_change=remember,
                        help="The model shipped with CNN Lab, or one you trained (see the Runs page).")


def enlarge(image: np.ndarray, scale: int = 10) -> np.ndarray:
    """A (28, 28[, 1]) image in [0, 1] as uint8, enlarged with nearest-neighbour (crisp pixels)."""
    img = np.asarray(image, np.float32).squeeze()
    img = np.clip(img * 255 if img.max() <= 1.0 else img, 0, 255).astype(np.uint8)
    return np.kron(img, np.ones((scale, scale), np.uint8))


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "–"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def shown_path(path: str | Path) -> str:
    """A path as a page shows it: relative to the app's folder when inside it (models/default.keras).

    Pages never show where the app was installed (a path of the machine, with its home folder);
    folders someone named on purpose (CNN_DATA_DIR, CNN_RUNS_DIR outside the app) are shown as named.
    """
    path = Path(path)
    return path.relative_to(APP_FOLDER).as_posix() if path.is_relative_to(APP_FOLDER) else str(path)


def model_file(choice: str, path: str | Path) -> str:
    """Where the Model page's model comes from: the shipped file, or a run's by the run's name."""
    if choice == state.DEFAULT:
        return f"{shown_path(path)} (shipped with CNN Lab)"
    return f"{runs.MODEL_FILE} of run {choice}, in the runs folder (see the Runs page)"
