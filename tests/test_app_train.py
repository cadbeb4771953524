"""AppTest: the Train page validates before starting, trains for real, stops, and reattaches.

Fragments with run_every do not tick inside AppTest, so the tests poll by rerunning the app.
"""

import re
import time
from pathlib import Path

import pytest
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
    assert at.checkbox(key="train_augment").value is strong.augment is not PRESETS["quick"].augment
    assert at.number_input(key="train_convs_per_block").value == strong.convs_per_block


def test_invalid_hyperparameters_show_the_message_and_disable_start(runs_dir):
    at = open_train(train_filters="32, 64, 128, 256, 512", train_kernel_size=5)
    errors = " ".join(e.value for e in at.error)
    assert "Filters per conv block (comma-separated):" in errors and "shrink the 28x28 image" in errors, errors
    assert start_button(at).disabled

    # validate(n_available): more digits than the dataset has.
    at = open_train(train_limit=10_000_000)
    errors = " ".join(e.value for e in at.error)
    assert "Training digits (0 = all):" in errors and "the dataset has" in errors, errors
    assert start_button(at).disabled

    at = open_train(train_filters="thirty-two")
    assert "Filters per conv block (comma-separated):" in " ".join(e.value for e in at.error)
    assert start_button(at).disabled

    at = open_train(train_learning_rate=0.0)
    assert "Learning rate:" in " ".join(e.value for e in at.error)
    assert start_button(at).disabled

    # Fixing the value enables Start again.
    at.session_state["train_learning_rate"] = 0.001
    at.run()
    assert not at.error and not start_button(at).disabled


@pytest.mark.parametrize("key, value, label", [
    ("train_epochs", 0, "Epochs"), ("train_batch_size", 100_000, "Batch size"),
    ("train_learning_rate", 5.0, "Learning rate"),
    ("train_limit", 5, "Training digits (0 = all)"), ("train_kernel_size", 0, "Kernel size (n × n)"),
    ("train_seed", -1, "Random seed"), ("train_dense_units", 5000, "Dense units (0 = none)"),
])
def test_out_of_range_number_is_what_the_box_shows_and_blocks_start(runs_dir, key, value, label):
    """The box keeps the typed value (no min/max clamps it or leaves it unsent), and Start says why not."""
    at = open_train(**{key: value})
    assert not at.exception, at.exception
    assert at.number_input(key=key).value == value, "the box shows what was typed"
    errors = [e.value for e in at.error]
    assert any(e.startswith(f"Cannot start: {label}: ") for e in errors), errors
    assert start_button(at).disabled
    field = key[len("train_"):]
    assert not any(e.startswith((f"Cannot start: {field}:", f"**Invalid setting** — {field}:")) for e in errors), errors


def test_every_box_label_is_the_one_used_in_messages(runs_dir):
    from cnn_lab_ui import train_form

    at = open_train()
    shown = {w.key: w.label for kind in ("text_input", "number_input", "selectbox", "checkbox", "slider")
             for w in getattr(at, kind) if w.key and w.key.startswith("train_")}
    for field, label in train_form.LABELS.items():
        assert shown[f"train_{field}"] == label, field


def walk(node):
    """The elements under an AppTest block, in page order."""
    for child in getattr(node, "children", {}).values():
        yield child
        yield from walk(child)


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
    # The outcome comes first, right under the job's heading; the curves that led to it follow.
    order = [node.type for node in walk(at.main)]
    first_chart = next(i for i, kind in enumerate(order) if "vega" in kind)
    assert "success" in order[:first_chart], order
    assert {"model", "draw"} <= {link.proto.page for link in at.get("page_link")}
    assert not start_button(at).disabled, "Start is enabled again once the job is done"
    saved = [p for p in runs_dir.iterdir() if not p.name.startswith(".")]
    assert len(saved) == 1 and (saved[0] / "model.keras").is_file()
    # The Model and Draw pages open the new run next.
    assert at.session_state["chosen_model"] == saved[0].name


def test_the_poll_waits_for_a_job_that_ends_before_its_next_turn(runs_dir):
    """Near a job's end the fragment's poll waits for the end (jobs.settle) instead of showing it a poll
    later: real jobs caught in the last second of training, and testing or saving, are returned ended (or
    after END_WAIT_S); one caught early in training at once, unchanged."""
    from cnn_core import config, executor, training
    from cnn_lab_ui import jobs

    def catch(job, wanted):
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            snap = job.snapshot()
            if snap.done:
                raise AssertionError("the job ended before a poll saw it near its end")
            if wanted(snap):
                return snap
            time.sleep(0.002)
        raise AssertionError("no such snapshot within 240 s")

    def assert_waited_for_the_end(job, snap):
        assert jobs.ends_soon(snap), snap
        t = time.monotonic()
        settled = jobs.settle(job, snap)
        waited = time.monotonic() - t
        assert settled.done or waited >= jobs.END_WAIT_S, f"returned after {waited:.2f} s, job {settled.state}"
        assert waited < jobs.END_WAIT_S + 0.5, "the wait outlasted the poll's period"
        if settled.done:
            assert settled.state == training.FINISHED and settled.run_name

    pool = executor.WorkerPool(workers=1)
    try:
        ex = executor.LocalExecutor(runs_dir=runs_dir, pool=pool)
        cfg = config.PRESETS["quick"].replace(limit=2000, batch_size=32, epochs=2)
        # The first trains for seconds: the worker sends its progress every executor.SEND_EVERY, and a poll
        # must see its ETA fall under POLL_S while it still trains.
        first, second = ex.submit(cfg.replace(batch_size=16, epochs=3)), ex.submit(cfg.replace(seed=2))

        early = catch(first, lambda s: s.phase == training.TRAINING and s.epoch == 0 and s.batch > 0)
        assert early.eta is not None and early.eta > jobs.POLL_S and not jobs.ends_soon(early), early
        t = time.monotonic()
        assert jobs.settle(first, early) is early and time.monotonic() - t < 0.1, "a job far from its end waited"
        assert_waited_for_the_end(first, catch(first, lambda s: s.phase == training.TRAINING and s.eta is not None
                                                                  and s.eta < jobs.POLL_S))
        assert_waited_for_the_end(second, catch(second, lambda s: s.phase in (training.TESTING, training.SAVING)))
    finally:
        pool.close()


def test_own_job_is_reattached_with_its_settings_others_see_nothing_to_stop(runs_dir):
    long_job = {**TINY, "train_filters": "4, 8", "train_epochs": 60, "train_limit": 1000}
    at = open_train(**long_job)
    start_button(at).click().run()
    job_id, alice = at.session_state["train_job_id"], at.session_state["owner"]

    # Anyone's Runs page lists the running job, and who started it.
    runs_page = AppTest.from_file(APP, default_timeout=180)
    runs_page.switch_page("pages/runs.py").run()
    assert not runs_page.exception, runs_page.exception
    table = runs_page.dataframe[0].value
    row = table[table["Name"].str.contains(job_id)].iloc[0]
    assert row["Started by"] == alice, row

    # Another person: no offer to reattach, and forcing the job id does not give them a Stop.
    bob = open_train()
    assert not [s for s in bob.selectbox if s.key == "train_reattach_job"]
    bob.session_state["train_job_id"] = job_id
    bob.run()
    assert not [b for b in bob.button if b.key == "train_stop"] and "train_job_id" not in bob.session_state

    # The same person after a refresh (a new session with their owner id): their job is offered,
    # and reattaching shows the job's own settings, not the form's defaults.
    fresh = AppTest.from_file(APP, default_timeout=180)
    fresh.session_state["owner"] = alice
    fresh.switch_page("pages/train.py").run()
    assert fresh.text_input(key="train_filters").value != "4, 8", "the fresh form starts from the preset"
    assert fresh.selectbox(key="train_reattach_job").value == job_id
    fresh.button(key="train_reattach").click().run()
    assert fresh.session_state["train_job_id"] == job_id
    assert fresh.text_input(key="train_filters").value == "4, 8"
    assert fresh.number_input(key="train_epochs").value == 60 and fresh.number_input(key="train_limit").value == 1000
    assert any("Started by you" in c.value and "filters 4, 8" in c.value and "60 epochs" in c.value
               for c in fresh.caption), [c.value for c in fresh.caption]

    # While it runs: progress with epoch, batch and ETA, and the live charts.
    poll(fresh, lambda a: any("ETA" in p.proto.text for p in a.get("progress")) and len(a.get("vega_lite_chart")) >= 2)
    text = [p.proto.text for p in fresh.get("progress")][0]
    assert text.startswith("Epoch ") and "batch " in text, text

    # "Back to the form" leaves the job running, and Start is usable again; reattach, then stop.
    fresh.button(key="train_back").click().run()
    assert "train_job_id" not in fresh.session_state and not start_button(fresh).disabled
    assert fresh.selectbox(key="train_reattach_job").value == job_id
    fresh.button(key="train_reattach").click().run()
    fresh.button(key="train_stop").click().run()
    poll(fresh, lambda a: metric(a, "Test accuracy") is not None)
    said = [s.value for s in fresh.success]
    stopped = r"Training was stopped (during epoch \d+ of 60, after \d+ of \d+ batches|after \d+ of 60 epochs)"
    assert any(re.search(stopped, s) for s in said), said
    from cnn_core import runs

    infos = runs.list_runs(runs_dir)
    assert len(infos) == 1 and infos[0].state == "stopped" and infos[0].epochs_completed < 60
    assert infos[0].owner == alice


def snapshot(**fields):
    """A real job snapshot (from training.Progress) with some fields changed."""
    import dataclasses

    from cnn_core import training
    from cnn_core.config import TrainConfig

    base = training.Progress("job1-abcd", TrainConfig(epochs=5), owner="me").snapshot()
    return dataclasses.replace(base, **fields)


def test_progress_text_says_what_the_job_is_doing():
    from cnn_core import training
    from cnn_lab_ui import jobs

    def text(n_test=None, **fields):
        return jobs.progress(snapshot(**fields), n_test)[1]

    assert text(state="queued", queue_position=2).startswith("Queued: position 2")
    assert text(state="running", phase=training.LOADING) == "Loading the digits and building the model…"
    training_text = text(state="running", phase=training.TRAINING, batches_per_epoch=446, epoch=1, batch=40,
                         batch_loss=(0.5,) * 486, eta=12.0)
    assert training_text.startswith("Epoch 2/5 · batch 40/446"), training_text
    # After the last batch: the test set is being evaluated, not "batch 0/446 · ETA 0:00".
    after = dict(batches_per_epoch=446, epoch=5, batch=0, batch_loss=(0.5,) * 2230, eta=0.0)
    assert text(10_000, state="running", phase=training.TESTING, **after) == "Testing on 10,000 digits…"
    assert text(None, state="running", phase=training.TESTING, **after) == "Testing on the test set…"
    assert text(state="running", phase=training.SAVING, **after) == "Saving the run…"
    # After Stop: first the current batch ends, then the partly trained model is tested.
    stopped = dict(batches_per_epoch=446, epoch=0, batch=171, batch_loss=(0.5,) * 171)
    assert text(state="stopping", phase=training.TRAINING, **stopped).startswith("Stopping after this batch")
    assert text(10_000, state="stopping", phase=training.TESTING, **stopped) == (
        "Stopped: testing the partly trained model on 10,000 digits…")


def test_outcome_says_where_a_stopped_job_stopped():
    from cnn_lab_ui import jobs

    assert jobs.outcome(snapshot(state="finished", epoch=5, batches_per_epoch=446)) == "finished"
    assert jobs.outcome(snapshot(state="stopped", epoch=0, batch=171, batches_per_epoch=446)) == (
        "was stopped during epoch 1 of 5, after 171 of 446 batches")
    assert jobs.outcome(snapshot(state="stopped", epoch=2, batch=0, batches_per_epoch=446)) == (
        "was stopped after 2 of 5 epochs")


def test_epoch_chart_ticks_are_whole_epochs():
    from cnn_lab_ui import charts

    spec = charts.epoch_chart({"loss": [0.3], "val_loss": [0.2]}, "loss", "Loss per epoch", "loss").to_dict()
    axis = spec["encoding"]["x"]["axis"]
    assert axis["format"] == "d" and axis["values"] == [1], axis
    spec = charts.epoch_chart({"loss": [0.3] * 50}, "loss", "Loss per epoch", "loss").to_dict()
    assert spec["encoding"]["x"]["axis"]["format"] == "d"


def test_live_charts_stay_bounded_as_batches_accumulate():
    import numpy as np

    from cnn_lab_ui import charts

    losses = np.linspace(2.3, 0.05, 200_000) + np.random.default_rng(0).normal(0, 0.2, 200_000)
    losses[5] = np.nan
    df = charts.smoothed_batches(losses, batches_per_epoch=1000)
    assert len(df) <= charts.MAX_POINTS <= 300
    assert df["epoch"].iloc[-1] == 200.0, "the latest batch is always drawn"
    assert df["value"].std() < np.nanstd(losses), "smoothed"
    short = charts.smoothed_batches([1.0, 0.5], batches_per_epoch=2)
    assert list(short["epoch"]) == [0.5, 1.0] and short["value"].iloc[0] == 1.0

    # Live: polled as the job grows, only the new batches are processed, the points sent stay
    # few, and they are the same EMA as the whole-series one.
    key = ("job-test", "loss")
    for n in (1, 2, 999, 5_000, 77_777, 200_000):
        live = charts.live_series(key, tuple(losses[:n]), batches_per_epoch=1000)
        assert 1 <= len(live) <= charts.MAX_POINTS and live["epoch"].iloc[-1] == n / 1000
        batches = (live["epoch"].to_numpy() * 1000).round().astype(int)
        assert np.allclose(live["value"], charts.ema(losses[:n])[batches - 1], equal_nan=True)
    series = charts._LIVE[key]
    assert series.n == 200_000 and len(series.kept) < charts.MAX_POINTS
    # The spec is built once and reused; each draw gets its own copy.
    spec = charts.batch_spec("Loss per batch", "loss")
    assert spec["encoding"]["x"]["title"] and spec["encoding"]["y"]["title"] == "loss" and "data" not in spec
    again = charts.batch_spec("Loss per batch", "loss")
    assert again == spec and again is not spec


def test_runs_folder_that_cannot_be_written_is_said_before_training(tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("a file where the runs folder should be")
    monkeypatch.setenv("CNN_RUNS_DIR", str(tmp_path / "a-file" / "runs"))
    at = open_train(**TINY)
    start_button(at).click().run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert any(e.startswith("Cannot start: cannot save runs in") for e in errors), errors
    assert metric(at, "Test accuracy") is None


def test_a_job_the_server_has_forgotten_leaves_the_form(runs_dir):
    """The server forgets old finished jobs (executor.KEEP_FINISHED_PER_OWNER): a session still
    attached to one shows the form, ready to start, not an error."""
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["train_job_id"] = "job9-gone"
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    assert any("Start training" in i.value for i in at.info) and not start_button(at).disabled


def test_preset_accuracies_are_said_to_be_full_mnists_and_a_smaller_dataset_is_named(tmp_path, monkeypatch, mnist):
    """On the offline sample the quick preset gives far less than it gives on full MNIST: the page says so."""
    from cnn_core import data
    from cnn_lab_ui import state

    at = open_train()
    assert all("on full MNIST" in label for label in at.selectbox(key="train_preset").options)
    smaller = [w.value for w in at.warning if "not the full" in w.value]
    assert bool(smaller) == (len(mnist.x_train) < 60_000)  # full MNIST here (../shared/data): nothing to say
    # No data folder, an empty Keras cache and no download: the 5,000-digit offline sample.
    monkeypatch.setattr(data, "KERAS_CACHE", tmp_path / "empty-cache")
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    data._load_cached.cache_clear()
    state._dataset.clear()
    try:
        at = open_train()
        sample = state.dataset(mnist.name)
        assert sample.is_sample and len(sample.x_train) < 60_000
        assert any(f"These are {len(sample.x_train):,} training digits, not the full 60,000" in w.value
                   for w in at.warning)
        assert start_button(at).disabled is False  # said, not refused: a smaller set still trains
    finally:
        data._load_cached.cache_clear()
        state._dataset.clear()
