"""AppTest: teach it (the Draw page's panel: keep drawings, the learner's gallery, teach, before/after) and
the Runs page's transfer-vs-scratch view, on real tiny trainings and real drawing folders."""

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from cnn_core import runs, teach, training
from cnn_core.config import TrainConfig
from cnn_lab_ui import side_by_side, state, teach_panel
from cnn_lab_ui.drawing import CANVAS_KEY, canvas_value
from cnn_lab_ui.runs_table import STAMP

from drawings import make_drawings

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PARENT = TrainConfig(filters=(4,), dense_units=16, epochs=1, limit=300, batch_size=32, seed=5)
WAIT_S = 300  # a tiny job on 2 shared cores, TensorFlow's start in a worker included
DEFAULT_SHIPPED = (ROOT / "models" / "default.keras").is_file()


def _train(folder: Path, config: TrainConfig, origin=runs.FROM_SCRATCH, preset=None) -> runs.RunInfo:
    manager = training.JobManager(max_jobs=1, runs_dir=folder)
    job = manager.submit(config, origin=origin, preset=preset)
    snap = job.wait(WAIT_S)
    assert snap.state == training.FINISHED, snap.error
    return runs.read_info(job.run_dir)


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    """A parent (300 images) and its frozen-conv transfer (400 images: the parent is no twin of it)."""
    from cnn_core import grow

    folder = tmp_path_factory.mktemp("grown")
    parent = _train(folder, PARENT)
    config, origin = grow.transferred(parent, "mnist", runs.FREEZE_CONV, {"limit": 400, "epochs": 1})
    transfer = _train(folder, config, origin, preset=runs.TRANSFERRED)
    return folder, parent, transfer


def _copy(folder: Path, runs_dir: Path, *names: str) -> None:
    for name in names:
        shutil.copytree(folder / name, runs_dir / name)


def open_run(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.switch_page("pages/runs.py").run()
    assert not at.exception, at.exception
    at.selectbox(key="runs_detail").set_value(name).run()
    assert not at.exception, at.exception
    return at


def subheaders(at) -> list[str]:
    return [s.value for s in at.subheader]


def metrics(at, label: str) -> list[str]:
    return [m.value for m in at.metric if m.label == label]


# --- transfer vs scratch (the Runs page) ------------------------------------------------------

def _info(name: str, config: TrainConfig, origin=runs.FROM_SCRATCH, epochs=1, created="2026-01-01T00:00:00+00:00"):
    return runs.RunInfo(name=name, path=runs.runs_root(), created=created, state="finished", config=config,
                        epochs_completed=epochs, test_accuracy=0.5, test_loss=1.0, train_seconds=1.0, origin=origin)


def test_the_scratch_twin_has_the_same_dataset_and_training_set_size():
    transfer = _info("t", PARENT, runs.Origin(runs.TRANSFERRED, "p", runs.FREEZE_CONV))
    others = [
        _info("other-size", PARENT.replace(limit=1000), created="2026-03-01T00:00:00+00:00"),
        _info("other-data", PARENT.replace(dataset="fashion_mnist"), created="2026-03-01T00:00:00+00:00"),
        _info("not-scratch", PARENT, runs.Origin(runs.CONTINUED, "p"), created="2026-03-01T00:00:00+00:00"),
    ]
    assert side_by_side.scratch_twin(transfer, [transfer, *others]) is None
    old, new = _info("old", PARENT), _info("new", PARENT, created="2026-02-01T00:00:00+00:00")
    longer = _info("longer", PARENT, epochs=3, created="2026-03-01T00:00:00+00:00")
    assert side_by_side.scratch_twin(transfer, [transfer, *others, old, longer, new]).name == "new"  # same epochs
    assert side_by_side.scratch_twin(transfer, [transfer, longer]).name == "longer"  # else any of the same data
    other_net = _info("other-net", PARENT.replace(dense_units=64), created="2026-04-01T00:00:00+00:00")
    assert side_by_side.scratch_twin(transfer, [transfer, other_net, old]).name == "old"  # the same network first


def test_a_transfer_is_shown_beside_its_scratch_twin(grown, runs_dir):
    folder, parent, transfer = grown
    _copy(folder, runs_dir, parent.name, transfer.name)
    scratch = _train(runs_dir, transfer.config, preset=runs.SCRATCH)
    at = open_run(transfer.name)
    assert "Transfer vs from scratch" in subheaders(at)
    shown = [m.value for m in at.markdown]
    assert any(STAMP.sub("", transfer.name) in s and s.startswith("**transfer ·") for s in shown), shown
    assert any(STAMP.sub("", scratch.name) in s and s.startswith("**scratch ·") for s in shown), shown
    # Its own metrics and the twin's, beside the run's own "Test accuracy" at the top.
    assert metrics(at, "Test accuracy")[1:] == [f"{transfer.test_accuracy:.2%}", f"{scratch.test_accuracy:.2%}"]
    assert len(metrics(at, "Training time")) == 3
    assert len(at.get("vega_lite_chart")) >= 2  # the overlaid curves

    at.selectbox(key="runs_detail").set_value(parent.name).run()  # a run from scratch has no such view
    assert "Transfer vs from scratch" not in subheaders(at)


def test_without_a_twin_the_same_network_is_trained_from_scratch(grown, runs_dir):
    folder, parent, transfer = grown
    _copy(folder, runs_dir, parent.name, transfer.name)
    at = open_run(transfer.name)
    assert "Transfer vs from scratch" in subheaders(at)
    assert any("No run from scratch on the same data" in c.value for c in at.caption)
    at.button(key="versus_scratch").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("the same network from scratch" in s.value for s in at.success)

    at.switch_page("pages/train.py").run()  # attached to this learner's Train page, like a grown run
    deadline = time.monotonic() + WAIT_S
    while not any("Saved as run" in s.value for s in at.success):
        assert time.monotonic() < deadline, [e.value for e in at.error]
        time.sleep(1)
        at.run()
        assert not at.exception, at.exception
    [scratch] = [r for r in runs.list_runs(runs_dir) if r.name not in (parent.name, transfer.name)]
    assert scratch.origin == runs.FROM_SCRATCH and scratch.config == transfer.config

    at = open_run(transfer.name)
    assert metrics(at, "Test accuracy")[1:] == [f"{transfer.test_accuracy:.2%}", f"{scratch.test_accuracy:.2%}"]


# --- teach it (the Draw page) -------------------------------------------------------------------

@pytest.fixture(scope="module")
def canvases(mnist):
    """Canvas drawings of real MNIST test digits (label -> list of RGBA canvases), 6 of each of 3, 4 and 8."""
    wanted = [i for d in (3, 4, 8) for i in (mnist.y_test == d).nonzero()[0][:6]]
    found = {}
    for d in make_drawings(mnist.x_test[wanted], mnist.y_test[wanted], len(wanted), seed=11):
        found.setdefault(int(d.label), []).append(d.rgba)
    return found


def open_draw(owner: str, rgba=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state[state.OWNER.key] = owner  # as the owner cookie does after a refresh
    if rgba is not None:
        at.session_state[CANVAS_KEY] = canvas_value(rgba)
    at.switch_page("pages/draw.py").run()
    assert not at.exception, at.exception
    return at


def keep(at: AppTest, rgba, label) -> AppTest:
    at.session_state[CANVAS_KEY] = canvas_value(rgba)  # as a stroke sends it
    if label is not None:
        at.selectbox(key="teach_label").set_value(label)
    at.button(key="teach_keep").click().run()
    assert not at.exception, at.exception
    return at


def folder(runs_dir: Path, owner: str) -> teach.DrawingSet:
    return teach.DrawingSet(teach.drawings_folder(runs_dir, owner))


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def delete_buttons(at) -> list:
    return [b for b in at.button if b.key.startswith("teach_delete_")]


@pytest.mark.skipif(not DEFAULT_SHIPPED, reason="no default model")
def test_keep_asks_for_the_digit_and_a_drawing_first(runs_dir, canvases):
    at = open_draw("a1b2c3d4", canvases[3][0])
    at.button(key="teach_keep").click().run()  # no digit chosen
    assert any("Choose the digit you drew" in w for w in texts(at.warning)), texts(at.warning)
    empty = np.zeros((280, 280, 4), np.uint8)
    empty[..., 3] = 255
    keep(at, empty, 3)
    assert any("The canvas is empty" in w for w in texts(at.warning)), texts(at.warning)
    assert not folder(runs_dir, "a1b2c3d4").list()  # nothing kept


@pytest.mark.skipif(not DEFAULT_SHIPPED, reason="no default model")
def test_kept_drawings_are_the_learners_own_grouped_by_digit_and_deleted_one_at_a_time(runs_dir, canvases):
    at = open_draw("a1b2c3d4", canvases[8][0])
    seen = at.session_state["last_drawing"]  # what the prediction saw of this canvas
    keep(at, canvases[8][0], 8)
    assert "Kept as a 8: you have 1 drawing of 8." in texts(at.toast)
    mine = folder(runs_dir, "a1b2c3d4")
    [kept] = mine.list()
    assert kept.label == 8 and np.array_equal(kept.seen_image(), teach.to_uint8(seen))  # the 28x28 it read
    assert at.session_state[CANVAS_KEY]["drawing"]["data"] is None  # the canvas is empty for the next one
    for rgba, label in [(c, 8) for c in canvases[8][1:3]] + [(c, 3) for c in canvases[3][:2]]:
        keep(at, rgba, label)
    assert mine.counts()[8] == 3 and mine.counts()[3] == 2
    assert "My drawings (5)" in texts(at.subheader)
    assert [m for m in texts(at.markdown) if m.startswith("**")][:2] == ["**3** · 2 drawings", "**8** · 3 drawings"]
    assert len(delete_buttons(at)) == 5
    assert any(f"Only 2 of 3, 3 of 8: teaching needs at least {teach.MIN_PER_CLASS}" in i for i in texts(at.info))
    assert at.button(key="teach_start").disabled  # said before anything starts

    gone = mine.list()[0]
    at.button(key=f"teach_delete_{gone.id}").click().run()
    assert not at.exception, at.exception
    assert gone.id not in {d.id for d in mine.list()} and len(mine.list()) == 4
    assert not gone.canvas_path.exists() and not gone.seen.exists()
    assert "My drawings (4)" in texts(at.subheader)

    other = open_draw("e5f6a7b8")  # another learner sees none of them
    assert "My drawings (0)" in texts(other.subheader) and not delete_buttons(other)
    again = open_draw("a1b2c3d4")  # the same learner after a refresh sees all of them
    assert "My drawings (4)" in texts(again.subheader)


def test_too_few_drawings_are_named_before_teaching():
    none, enough = dict.fromkeys(range(10), 0), teach.MIN_PER_CLASS
    assert f"Keep at least {enough} drawings" in teach_panel.too_few(none)
    assert teach_panel.too_few({**none, 3: enough, 7: enough + 4}) is None
    assert f"Only {enough - 1} of 7:" in teach_panel.too_few({**none, 3: enough, 7: enough - 1})


def wait_for(at: AppTest, done, what: str) -> AppTest:
    deadline = time.monotonic() + WAIT_S
    while not done(at):
        assert time.monotonic() < deadline, f"{what}: {texts(at.error)} {texts(at.warning)}"
        time.sleep(1)
        at.run()
        assert not at.exception, at.exception
    return at


@pytest.mark.skipif(not DEFAULT_SHIPPED, reason="no default model")
def test_teaching_shows_before_and_after_and_the_taught_run_becomes_the_model(runs_dir, canvases):
    mine = folder(runs_dir, "c0ffee00")
    for digit in (3, 4):
        for rgba in canvases[digit][:teach.MIN_PER_CLASS]:
            mine.add(rgba, digit)
    at = open_draw("c0ffee00")
    assert not at.button(key="teach_start").disabled and not at.info.values[1:]
    at.button(key="teach_start").click().run()
    assert not at.exception and not at.error, texts(at.error)
    job_id = at.session_state[state.TEACH_JOB_ID.key]
    assert at.button(key="teach_start").disabled  # one teaching at a time

    # A refresh (a new session, the same learner's cookie) finds the teaching: still running, or its results.
    fresh = open_draw("c0ffee00")
    assert fresh.session_state[state.TEACH_JOB_ID.key] == job_id
    assert [b for b in fresh.button if b.key == "teach_stop"] or any("Saved as run" in s for s in texts(fresh.success))
    assert open_draw("0badf00d").session_state[state.TEACH_JOB_ID.key] is None  # not another learner's
    train = AppTest.from_file(APP, default_timeout=180)  # the Train page offers only trainings to reattach to
    train.session_state[state.OWNER.key] = "c0ffee00"
    train.switch_page("pages/train.py").run()
    assert not train.exception and not [s for s in train.selectbox if s.key == "train_reattach_job"]

    wait_for(at, lambda a: any("Saved as run" in s for s in texts(a.success)), "the teaching did not finish")
    [run] = [r for r in runs.list_runs(runs_dir) if r.origin.kind == runs.TAUGHT]
    assert (run.origin.kind, run.origin.parent, run.owner) == (runs.TAUGHT, teach.DEFAULT_MODEL, "c0ffee00")
    report = teach.read_report(run)
    assert [m for m in texts(at.markdown) if m.startswith("**Before**")] == ["**Before**: the default model"]
    assert metrics(at, "Your drawings") == [f"{report.drawings_before:.1%}", f"{report.drawings_after:.1%}"]
    assert metrics(at, "MNIST test digits") == [f"{report.mnist_before:.2%}", f"{report.mnist_after:.2%}"]
    assert any("of your drawings were read right before and after" in c for c in texts(at.caption))
    # The taught run is now the Draw page's model, and selectable like any run.
    assert at.selectbox(key="draw_model").value == run.name

    # The Runs page: its lineage, and the same before/after.
    at.switch_page("pages/runs.py").run()
    table = at.dataframe[0].value
    assert dict(zip(table["Name"], table["Origin"]))[run.name] == "taught from the default model"
    at.selectbox(key="runs_detail").set_value(run.name).run()
    assert "Before and after teaching" in subheaders(at)
    assert metrics(at, "Your drawings") == [f"{report.drawings_before:.1%}", f"{report.drawings_after:.1%}"]

    # Back on the Draw page the results stay until hidden; hidden, they stay hidden.
    at.switch_page("pages/draw.py").run()
    assert any("Saved as run" in s for s in texts(at.success))
    at.button(key="teach_hide").click().run()
    assert not any("Saved as run" in s for s in texts(at.success)) and not metrics(at, "Your drawings")
    at.run()
    assert not any("Saved as run" in s for s in texts(at.success))
