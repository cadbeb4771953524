"""AppTest: teach it (the Draw page's panel: keep drawings, the learner's gallery, teach, before/after) and
the Runs page's transfer-vs-scratch view, on real tiny trainings and real drawing folders."""

import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnn_core import runs, training
from cnn_core.config import TrainConfig
from cnn_lab_ui import side_by_side
from cnn_lab_ui.runs_table import STAMP

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PARENT = TrainConfig(filters=(4,), dense_units=16, epochs=1, limit=300, batch_size=32, seed=5)
WAIT_S = 300  # a tiny job on 2 shared cores, TensorFlow's start in a worker included


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
