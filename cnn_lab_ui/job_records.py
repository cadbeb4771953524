"""The Runs page's list of trainings that ended without a run: failed, or interrupted by a crash.

Each shows its configuration, its message and its curves so far (from cnn_core.records);
only the person who started it may dismiss it. Widget keys: records_dismiss_<job id>.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cnn_core import records, runs

from . import state


def dismiss(job_id: str) -> None:
    records.dismiss(runs.runs_root(), job_id)


def show() -> None:
    """Nothing when there are none."""
    found = records.list_records(runs.runs_root())
    if not found:
        return
    st.header("Trainings that ended without a run")
    st.caption("A training that failed, or was interrupted because the server stopped abruptly, "
               "keeps its settings and its curves so far here.")
    me = state.owner()
    for rec in found:
        c = rec.config
        title = (f"{rec.state}: {c.dataset}, filters {list(c.filters)}, {rec.epochs_completed} of {c.epochs} "
                 f"epoch(s) done, started {rec.started.replace('T', ' ')[:16]} UTC")
        with st.expander(title):
            st.warning(rec.error or rec.state)
            batch = rec.history.get("batch", {})
            bpe = max(1, int(rec.history.get("batches_per_epoch") or 1))
            if batch.get("index"):
                curve = pd.DataFrame({"epoch": [(i + 1) / bpe for i in batch["index"]],
                                      "loss": batch["loss"], "accuracy": batch["accuracy"]}).set_index("epoch")
                st.line_chart(curve, x_label="epoch", height=220)
            if rec.owner == me:
                st.button("Dismiss", key=f"records_dismiss_{rec.job_id}", on_click=dismiss, args=(rec.job_id,),
                          help="Remove this record; runs are not touched.")
