"""AppTest: the Runs page's "Grow this run" starts a continued or transferred job like any other (in a
worker process, attached to the learner's Train page), and the runs table shows each run's origin."""

import json
import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnn_core import runs
from cnn_core.config import TrainConfig

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PARENT = TrainConfig(filters=(4,), dense_units=16, epochs=1, limit=300, batch_size=32, seed=5)


@pytest.fixture
def parent(train_runs, runs_dir):
    folder, [name] = train_runs(PARENT)
    shutil.copytree(folder, runs_dir)
    return name


def open_runs(name) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.switch_page("pages/runs.py").run()
    assert not at.exception, at.exception
    at.selectbox(key="runs_detail").set_value(name).run()
    return at


def origins(at) -> dict:
    table = at.dataframe[0].value
    return dict(zip(table["Name"], table["Origin"]))


def test_train_more_epochs_starts_a_continued_job_whose_run_records_its_parent(parent, runs_dir):
    at = open_runs(parent)
    assert origins(at)[parent] == "scratch"
    at.number_input(key="grow_more_epochs").set_value(1)
    at.button(key="grow_continue").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Started job" in s.value and "continued from" in s.value for s in at.success)

    at.switch_page("pages/train.py").run()  # the job is attached to this learner's Train page
    deadline = time.monotonic() + 240
    while not any("Saved as run" in s.value for s in at.success):
        assert time.monotonic() < deadline, [e.value for e in at.error]
        time.sleep(1)
        at.run()
        assert not at.exception, at.exception
    [child] = [r for r in runs.list_runs(runs_dir) if r.name != parent]
    assert child.origin == runs.Origin(runs.CONTINUED, parent) and child.epochs_completed == 2

    at.switch_page("pages/runs.py").run()
    short = runs_table_label(parent)
    assert origins(at)[child.name] == f"continued from {short}"
    history = json.loads((child.path / runs.HISTORY_JSON).read_text())
    assert len(history["epoch"]["loss"]) == 2  # the parent's epoch, then the new one: one curve


def runs_table_label(name):
    from cnn_lab_ui.runs_table import STAMP

    return STAMP.sub("", name)


def test_transfer_from_a_run_of_another_input_shape_says_so(parent, runs_dir):
    import keras

    other = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10)])
    other.save(runs_dir / parent / runs.MODEL_FILE)  # still listed: its files are all there and readable
    at = open_runs(parent)
    at.selectbox(key="grow_dataset").set_value("mnist")
    at.radio(key="grow_freeze").set_value(runs.FREEZE_NONE)
    before = sorted(str(p) for p in runs_dir.rglob("*"))
    at.button(key="grow_transfer").click().run()
    assert not at.exception, at.exception
    message = f"Cannot start: cannot transfer from run {parent}: its model takes 32x32x3 images, not 28x28x1 ones"
    assert [e.value for e in at.error] == [message]
    assert sorted(str(p) for p in runs_dir.rglob("*")) == before  # nothing written


def test_a_run_saved_without_its_optimizer_state_offers_transfer_only(parent, runs_dir):
    (runs_dir / parent / runs.STATE_FILE).unlink()
    at = open_runs(parent)
    assert not [b for b in at.button if b.key == "grow_continue"]
    assert any("cannot be continued exactly" in c.value for c in at.caption)
    assert at.button(key="grow_transfer")
