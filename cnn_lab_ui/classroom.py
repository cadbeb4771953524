"""The class: a learner's display name (in the sidebar of every page) and the leaderboard.

The name is kept with the learner's owner id (their browser's cookie) in the runs folder's
`.learners.json` (cnn_core.learners), so it survives a refresh and shows on every run they made.
"""

from __future__ import annotations

import streamlit as st

from cnn_core import learners, runs

from . import state
from .widgets import fmt_seconds


def name_box() -> None:
    """Sidebar: "Your name", saved when changed; a bad name is a message, the old name stays."""
    root = runs.runs_root()
    current = learners.names(root).get(state.owner(), "")
    typed = st.sidebar.text_input(
        "Your name (shown to the class)", value=current, key="learner_name", max_chars=learners.MAX_NAME,
        placeholder="e.g. Ada", help="Shown beside your runs on the Runs page's class board. No account needed.")
    if typed.strip() == current:
        return
    try:
        learners.set_name(root, state.owner(), typed)
    except learners.LearnerNameError as e:
        st.sidebar.error(f"Name not saved: {e}")


def board(infos) -> None:
    """The class's runs, best first, with the learner's own rows marked."""
    entries = learners.leaderboard(infos, runs.runs_root(), me=state.owner())
    if not entries:
        st.info("No runs in the class yet.")
        return
    st.dataframe([{
        "#": e.rank, "Learner": (e.learner or "(no name)") + (" (you)" if e.mine else ""),
        "Test accuracy": e.test_accuracy, "Parameters": e.params, "Training time": fmt_seconds(e.train_seconds),
        "Network": e.architecture, "Run": e.run,
    } for e in entries], hide_index=True, column_config={
        "Test accuracy": st.column_config.NumberColumn(format="percent"),
    })
    st.caption("Best test accuracy first; on a tie, fewer parameters, then the faster training. "
               "Pick a name in the sidebar to appear by it.")
