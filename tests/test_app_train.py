"""AppTest: the Train page validates before starting, trains for real, stops, and reattaches.

Fragments with run_every do not tick inside AppTest, so the tests poll by rerunning the app.
"""

import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TINY = {"train_filters": "4", "train_dense_units": 16, "train_epochs": 1, "train_limit": 400, "train_batch_size": 32,
        "train_validation_split": 0.1, "train_augment": False, "train_batch_norm": False}


def open_train(**widgets) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    for key, value in widgets.items():
        at.session_state[key] = value
    return at.run() if widgets else at


def start_button(at):
    return at.button(key="train_start")


def metric(at, label):
    found = [m.value for m in at.metric if m.label == label]
    return found[0] if found else None


def poll(at, until, timeout=180):
    """Rerun the page (what the fragment would do) until `until(at)` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, at.exception
        if until(at):
            return at
        time.sleep(0.5)
    raise AssertionError(f"timed out; page shows: {[e.value for e in at.error]} {[s.value for s in at.subheader]}")


def test_every_hyperparameter_has_a_control_grouped(runs_dir):
    from cnn_core.config import TrainConfig

    at = open_train()
    keys = {w.key for kind in ("text_input", "number_input", "selectbox", "checkbox", "slider")
            for w in getattr(at, kind)}
    for field in TrainConfig.__dataclass_fields__:
        assert f"train_{field}" in keys, field
    assert {"Architecture", "Optimisation", "Data"} <= {s.value for s in at.subheader}
    assert not start_button(at).disabled, "the default preset is valid"


def test_preset_fills_the_controls(runs_dir):
    from cnn_core.config import PRESETS

    at = open_train()
    at.selectbox(key="train_preset").set_value("strong").run()
    strong = PRESETS["strong"]
    assert at.number_input(key="train_epochs").value == strong.epochs
    assert at.checkbox(key="train_batch_norm").value is True
    assert at.number_input(key="train_convs_per_block").value == strong.convs_per_block


def test_invalid_hyperparameters_show_the_message_and_disable_start(runs_dir):
    at = open_train(train_filters="32, 64, 128, 256, 512", train_kernel_size=5)
    errors = " ".join(e.value for e in at.error)
    assert "filters:" in errors and "shrink the 28x28 image" in errors, errors
    assert start_button(at).disabled

    # validate(n_available): more digits than the dataset has.
    at = open_train(train_limit=10_000_000)
    errors = " ".join(e.value for e in at.error)
    assert "limit:" in errors and "the dataset has" in errors, errors
    assert start_button(at).disabled

    at = open_train(train_filters="thirty-two")
    assert "filters:" in " ".join(e.value for e in at.error)
    assert start_button(at).disabled

    at = open_train(train_learning_rate=0.0)
    assert "learning_rate:" in " ".join(e.value for e in at.error)
    assert start_button(at).disabled

    # Fixing the value enables Start again.
    at.session_state["train_learning_rate"] = 0.001
    at.run()
    assert not at.error and not start_button(at).disabled


def test_tiny_training_runs_to_completion_and_shows_test_accuracy(runs_dir):
    at = open_train(**TINY)
    assert not start_button(at).disabled
    start_button(at).click().run()
    assert not at.exception, at.exception
    assert at.session_state["train_job_id"]
    assert start_button(at).disabled or metric(at, "Test accuracy"), "no second start while the job runs"
    poll(at, lambda a: metric(a, "Test accuracy") is not None)
    accuracy = metric(at, "Test accuracy")
    assert accuracy.endswith("%") and 0 < float(accuracy.rstrip("%")) <= 100
    assert metric(at, "Test loss") and metric(at, "Training time")
    assert any("Saved as run" in s.value for s in at.success)
    assert {"model", "draw"} <= {link.proto.page for link in at.get("page_link")}
    assert not start_button(at).disabled, "Start is enabled again once the job is done"
    saved = [p for p in runs_dir.iterdir() if not p.name.startswith(".")]
    assert len(saved) == 1 and (saved[0] / "model.keras").is_file()
    # The Model and Draw pages open the new run next.
    assert at.session_state["chosen_model"] == saved[0].name


def test_running_job_is_listed_reattached_after_refresh_and_stopped(runs_dir):
    at = open_train(**{**TINY, "train_epochs": 60, "train_limit": 1000})
    start_button(at).click().run()
    job_id = at.session_state["train_job_id"]

    # A browser refresh is a new session: the Runs page lists the running job...
    runs_page = AppTest.from_file(APP, default_timeout=180)
    runs_page.switch_page("pages/runs.py").run()
    assert not runs_page.exception, runs_page.exception
    names = list(runs_page.dataframe[0].value["Name"])
    assert any(job_id in n for n in names), names

    # ...and the Train page offers to reattach to it.
    fresh = open_train()
    assert fresh.selectbox(key="train_reattach_job").value == job_id
    fresh.button(key="train_reattach").click().run()
    assert fresh.session_state["train_job_id"] == job_id
    # While it runs: a progress bar with epoch, batch and ETA, and the live charts.
    poll(fresh, lambda a: any("ETA" in p.proto.text for p in a.get("progress")) and len(a.get("vega_lite_chart")) >= 2)
    text = [p.proto.text for p in fresh.get("progress")][0]
    assert text.startswith("Epoch ") and "batch " in text, text
    fresh.button(key="train_stop").click().run()
    poll(fresh, lambda a: metric(a, "Test accuracy") is not None)
    assert any("stopped after" in s.value for s in fresh.success), [s.value for s in fresh.success]
    from cnn_core import runs

    infos = runs.list_runs(runs_dir)
    assert len(infos) == 1 and infos[0].state == "stopped" and infos[0].epochs_completed < 60


def test_live_charts_stay_bounded_as_batches_accumulate():
    import numpy as np

    from cnn_lab_ui import charts

    losses = np.linspace(2.3, 0.05, 200_000) + np.random.default_rng(0).normal(0, 0.2, 200_000)
    df = charts.smoothed_batches(losses, batches_per_epoch=1000)
    assert len(df) <= charts.MAX_POINTS
    assert df["epoch"].iloc[-1] == 200.0, "the latest batch is always drawn"
    assert df["value"].std() < losses.std(), "smoothed"
    spec = charts.batch_chart(losses, 1000, "Loss per batch", "loss").to_dict()
    assert spec["encoding"]["x"]["title"] and spec["encoding"]["y"]["title"] == "loss"
    short = charts.smoothed_batches([1.0, 0.5], batches_per_epoch=2)
    assert list(short["epoch"]) == [0.5, 1.0] and short["value"].iloc[0] == 1.0


def test_runs_folder_that_cannot_be_written_is_said_before_training(tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("a file where the runs folder should be")
    monkeypatch.setenv("CNN_RUNS_DIR", str(tmp_path / "a-file" / "runs"))
    at = open_train(**TINY)
    start_button(at).click().run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert any(e.startswith("Cannot start: cannot save runs in") for e in errors), errors
    assert metric(at, "Test accuracy") is None
