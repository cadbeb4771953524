"""AppTest: trainings that ended without a run (failed, interrupted) are shown on the Runs page."""

import json
import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnn_core import config, records, training

APP = str(Path(__file__).resolve().parent.parent / "app.py")
CFG = config.TrainConfig(filters=(8,), epochs=3, limit=500)


def write_record(runs_dir, job_id, owner, pid):
    """A record as a job writes it: the real Recorder, with a Progress that trained one epoch."""
    progress = training.Progress(job_id, CFG, owner)
    progress.update(batches_per_epoch=4)
    for b in range(1, 5):
        progress.add_batch(b, 2.0 / b, 0.2 * b)
    progress.add_epoch(1, {"loss": 0.9, "accuracy": 0.7, "val_loss": 0.8, "val_accuracy": 0.75})
    recorder = records.Recorder(runs_dir, job_id, CFG, owner)
    recorder.base["pid"] = pid
    recorder.write(progress.snapshot())


def open_runs(owner) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["owner"] = owner
    at.switch_page("pages/runs.py").run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def interrupted(runs_dir):
    runs_dir.mkdir(parents=True, exist_ok=True)
    write_record(runs_dir, "job-ghost", "ann", pid=2**22 + 777)  # beyond pid_max: its process is gone
    write_record(runs_dir, "job-alive", "ann", pid=os.getpid())  # still running: not shown
    assert records.recover(runs_dir) == 1
    return runs_dir


def test_an_interrupted_training_is_shown_with_its_curves(interrupted):
    at = open_runs("ann")
    (exp,) = at.expander
    assert exp.label.startswith("interrupted: mnist, filters [8], 1 of 3 epoch(s) done")
    assert "interrupted" in at.warning[-1].value
    assert len(at.expander[0].get("vega_lite_chart")) == 1  # the curves so far
    # Its owner may dismiss it; the record goes, nothing else does.
    at.button(key="records_dismiss_job-ghost").click().run()
    assert not at.expander
    assert [p.name for p in records.folder(interrupted).iterdir()] == ["job-alive.json"]


def test_only_its_owner_can_dismiss_it(interrupted):
    at = open_runs("bob")
    assert len(at.expander) == 1
    assert not [b for b in at.button if b.key == "records_dismiss_job-ghost"]


def test_a_reused_pid_does_not_keep_a_dead_job_running(runs_dir):
    """A record names its process by pid and start time: a later process that got the same pid
    (pids wrap round) does not keep the dead job "running" and hidden for ever."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    write_record(runs_dir, "job-reused", "ann", pid=os.getpid())
    assert records.recover(runs_dir) == 0, "its process (this one) is alive"
    path = records.folder(runs_dir) / "job-reused.json"
    raw = json.loads(path.read_text())
    raw["pid_started"] -= 1  # the job's process started earlier: this one only reused its pid
    path.write_text(json.dumps(raw))
    assert records.recover(runs_dir) == 1
    assert [(r.job_id, r.state) for r in records.list_records(runs_dir)] == [("job-reused", records.INTERRUPTED)]
