"""AppTest: the Runs page lists runs made in the test, shows one in detail, downloads and deletes."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(scope="module")
def trained_runs(train_runs):
    """Two real tiny runs (a few hundred digits, one or two epochs)."""
    from cnn_core.config import TrainConfig

    return train_runs(TrainConfig(filters=(4,), dense_units=16, epochs=1, limit=400, batch_size=32, seed=1),
                      TrainConfig(filters=(8,), dense_units=0, epochs=2, limit=300, batch_size=50, seed=2))


@pytest.fixture
def runs_here(trained_runs, runs_dir):
    folder, names = trained_runs
    shutil.copytree(folder, runs_dir)
    return names


ALICE = "a11ce000"  # the browser session that trained `alices_run`


@pytest.fixture(scope="module")
def alices_made(tmp_path_factory):
    """A real tiny run trained by a browser session (its owner id recorded in run.json)."""
    from cnn_core import training
    from cnn_core.config import TrainConfig

    folder = tmp_path_factory.mktemp("alices-runs")
    job = training.JobManager(max_jobs=1, runs_dir=folder).submit(
        TrainConfig(filters=(4,), dense_units=16, epochs=1, limit=300, batch_size=32, seed=3), owner=ALICE)
    assert job.wait(300).state == "finished"
    return folder, job.run_dir.name


@pytest.fixture
def alices_run(alices_made, runs_here, runs_dir):
    folder, name = alices_made
    shutil.copytree(folder / name, runs_dir / name)
    return name


def open_runs(**state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page("pages/runs.py").run()
    assert not at.exception, at.exception
    return at


def test_lists_the_runs_made_in_the_test(runs_here):
    at = open_runs()
    table = at.dataframe[0].value
    assert set(runs_here) <= set(table["Name"])
    row = table[table["Name"] == runs_here[0]].iloc[0]
    assert row["State"] == "finished" and row["Epochs"] == "1/1" and row["Filters"] == "4"
    assert 0 <= row["Test accuracy"] <= 1 and row["Digits"] == "400"
    for column in ("Date", "Dataset", "Learning rate", "Batch", "Optimizer"):
        assert column in table.columns
    # What a person looks for is seen without scrolling sideways.
    assert list(table.columns[:3]) == ["Name", "Test accuracy", "State"]
    assert row["Started by"] == "command line or older CNN Lab"


def test_training_time_is_written_as_on_the_train_page(runs_here, runs_dir):
    from cnn_core import runs
    from cnn_lab_ui.widgets import fmt_seconds

    at = open_runs(runs_detail=runs_here[0])
    seconds = runs.read_info(runs_dir / runs_here[0]).train_seconds
    table = at.dataframe[0].value
    assert table[table["Name"] == runs_here[0]].iloc[0]["Training time"] == fmt_seconds(seconds)
    assert {m.label: m.value for m in at.metric}["Training time"] == fmt_seconds(seconds)


def test_damaged_run_folder_is_a_warning_not_a_crash(runs_here, runs_dir):
    (runs_dir / "broken-run").mkdir()
    (runs_dir / "broken-run" / "run.json").write_text("{not json")
    at = open_runs()
    assert any("broken-run" in w.value for w in at.warning)
    assert set(runs_here) <= set(at.dataframe[0].value["Name"])


def test_compare_and_detail(runs_here):
    at = open_runs()
    # The first two runs are compared at first, set through session state only (no widget default too).
    picker = at.multiselect(key="runs_compare")
    assert set(picker.value) == set(runs_here) and not list(picker.proto.default)
    at.multiselect(key="runs_compare").set_value(runs_here).run()
    assert not at.exception
    charts = at.get("vega_lite_chart")
    assert len(charts) >= 3, "accuracy and loss overlays, per-class accuracy"
    at.selectbox(key="runs_detail").set_value(runs_here[1]).run()
    captions = [c for el in at.get("image") for c in el.captions]
    assert any(c.value.startswith("Confusion matrix") for c in at.caption)
    assert any("true label" in c and "answer" in c for c in captions), "gallery of misclassified digits"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Epochs"] == "2/2" and metrics["Test accuracy"].endswith("%")
    download = at.get("download_button")
    assert download and download[0].proto.label == "Download model (.keras)"


def test_compare_charts_are_readable(runs_here):
    import json

    from cnn_core import runs

    at = open_runs()
    at.multiselect(key="runs_compare").set_value(runs_here).run()
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")[:2]]
    infos = {name: runs.read_info(runs.run_path(name)) for name in runs_here}
    labels = set(at.multiselect(key="runs_compare").options)
    for spec, metric in zip(specs, ("accuracy", "loss")):
        # A plot area tall enough to read: `height` is the plot's own (fit-x), not shared with the
        # legend and titles (Streamlit's default "fit" left ~100 of 320 px for the curves).
        assert spec["height"] >= 300 and spec["autosize"]["type"] == "fit-x"
        assert spec["title"]["anchor"] == "start" and len(spec["title"]["text"]) <= 12, "a short title, not clipped"
        # The y-axis fits the curves (every validation point in view), not a fixed 0 to 1.
        domain = spec["layer"][0]["encoding"]["y"]["scale"]["domain"]
        val = [v for name in runs_here for v in runs.load_run(name).history["epoch"][f"val_{metric}"]]
        assert domain[0] <= min(val) and max(val) <= domain[1], (domain, val)
        assert domain[1] - domain[0] < 0.8 * (max(1.0, domain[1]) - 0), domain
    # Short labels a person matches with the picker: the name without its date, and the accuracy.
    for name, info in infos.items():
        label = [text for text in labels if name.endswith(text.split(" · ")[0])]
        assert label and len(label[0]) < len(name) + 10 and f"{info.test_accuracy:.2%}" in label[0], (name, labels)


def test_cell_heatmaps_are_made_once_per_run_version_and_cell(runs_here, monkeypatch):
    from cnn_core.explain import Explainer

    made = []
    real = Explainer.heatmaps
    monkeypatch.setattr(Explainer, "heatmaps", lambda self, *a, **k: made.append(1) or real(self, *a, **k))
    at = open_runs(runs_detail=runs_here[1], runs_cell_true=3, runs_cell_pred=5)
    first = len(made)
    at.run()
    at.switch_page("pages/runs.py").run()
    assert not at.exception, at.exception
    assert first <= 1 and len(made) == first, "a cell's heatmaps are worked out once per run version"


def test_delete_needs_confirmation(alices_run, runs_dir):
    at = open_runs(runs_detail=alices_run, owner=ALICE)
    assert at.button(key="runs_delete").disabled
    at.checkbox(key="runs_delete_sure").check().run()
    at.button(key="runs_delete").click().run()
    assert not at.exception, at.exception
    assert not (runs_dir / alices_run).exists()
    assert any("Deleted run" in s.value for s in at.success)
    assert not at.warning, "the one who deleted it is not told it is gone"
    assert alices_run not in set(at.dataframe[0].value["Name"])


def test_a_run_deleted_while_open_is_named(runs_here, runs_dir):
    """Runs chosen here, then deleted under the page (by their owner elsewhere, by hand): the page names them."""
    first, second = runs_here
    at = open_runs(runs_detail=first)
    at.multiselect(key="runs_compare").set_value([first, second]).run()
    assert not at.warning
    shutil.rmtree(runs_dir / first)
    at.run()
    assert not at.exception, at.exception
    assert [w.value for w in at.warning] == [f"The run **{first}** you had open was deleted."]
    assert at.selectbox(key="runs_detail").value == second
    assert at.multiselect(key="runs_compare").value == [second]
    at.run()
    assert not at.warning, "said once"
    # The last run goes too: named as well, with no runs left to show.
    shutil.rmtree(runs_dir / second)
    at.run()
    assert not at.exception, at.exception
    assert [w.value for w in at.warning] == [f"The run **{second}** you had open was deleted."]
    assert any("No saved runs yet" in i.value for i in at.info)
    at.run()
    assert not at.warning, "said once"


def test_the_runs_folder_is_shown_relative_to_the_app_folder(runs_dir, monkeypatch):
    from cnn_lab_ui import widgets

    monkeypatch.setattr(widgets, "APP_FOLDER", runs_dir.parent)  # as if runs_dir were the app's own runs/
    at = open_runs()
    assert "Runs folder: runs" in [c.value for c in at.caption]
    assert not [c.value for c in at.caption if str(runs_dir) in c.value]


def test_only_the_runs_owner_sees_delete(alices_run, runs_here, runs_dir):
    # Someone else views it (and may compare or download it) but has no Delete.
    bob = open_runs(runs_detail=alices_run, owner="b0b00000")
    assert not [b for b in bob.button if b.key == "runs_delete"]
    assert any(f"Trained by {ALICE}" in c.value for c in bob.caption)
    table = bob.dataframe[0].value
    assert table[table["Name"] == alices_run].iloc[0]["Started by"] == ALICE
    assert bob.get("download_button")
    # A run without an owner (the command line, older versions): nobody deletes it from here.
    for owner in (ALICE, "b0b00000"):
        at = open_runs(runs_detail=runs_here[0], owner=owner)
        assert not [b for b in at.button if b.key == "runs_delete"]
        assert any("command line" in c.value for c in at.caption)
    assert (runs_dir / alices_run).is_dir() and (runs_dir / runs_here[0]).is_dir()


def test_no_runs_yet(runs_dir):
    at = open_runs()
    assert any("No saved runs yet" in i.value for i in at.info)


def test_trained_run_can_be_opened_on_the_model_and_draw_pages(runs_here, runs_dir):
    from cnn_core import runs

    info = runs.read_info(runs_dir / runs_here[0])
    for page, key in (("model", "model_model"), ("draw", "draw_model")):
        at = AppTest.from_file(APP, default_timeout=180)
        at.session_state["chosen_model"] = runs_here[0]
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, at.exception
        assert at.selectbox(key=key).value == runs_here[0]
        assert not at.error
        if page == "model":
            assert {m.label: m.value for m in at.metric}["Total params"] == f"{info.params:,}"


# --- the confusion matrix you can click (cnn_lab_ui.confusion) ---

def _cell_title(at) -> str:
    return next(h.value for h in at.subheader if "test digits labelled" in h.value)


def _shown(at) -> list[str]:
    return [c for el in at.get("image") for c in el.captions if c.startswith("#")]


def test_a_cell_shows_exactly_its_test_digits_with_their_heatmaps(runs_here, mnist):
    from cnn_core import runs
    from cnn_core.evaluate import confusion_matrix

    run = runs.load_run(runs_here[1])
    shown = confusion_matrix(mnist.y_test, run.y_pred)  # the answers whose digits the cells show
    assert np.abs(shown - run.confusion).sum() <= 0.01 * len(run.y_pred), "run.json's matrix but for float16 near-ties"
    at = open_runs(runs_detail=runs_here[1])
    # At first, the model's most frequent confusion.
    off = shown.copy()
    np.fill_diagonal(off, -1)
    t, p = np.unravel_index(off.argmax(), off.shape)
    assert (at.selectbox(key="runs_cell_true").value, at.selectbox(key="runs_cell_pred").value) == (t, p)
    assert _cell_title(at).startswith(f"{shown[t, p]:,} test digits labelled {t} that the model read as {p}")
    # What a click on another cell sets (the second most frequent confusion): its digits, each with a heatmap.
    off[t, p] = -1
    t, p = (int(v) for v in np.unravel_index(off.argmax(), off.shape))
    count = int(shown[t, p])
    assert count > 0
    at.selectbox(key="runs_cell_true").set_value(t).run()
    at.selectbox(key="runs_cell_pred").set_value(p).run()
    assert _cell_title(at).startswith(f"{count:,} test digits labelled {t} that the model read as {p} (wrong)")
    expected = np.flatnonzero((mnist.y_test == t) & (run.y_pred == p))[:40]
    assert [int(c[1:].split(" ")[0]) for c in _shown(at)] == list(expected)
    assert any(f"strongest push to {p}" in m.value for m in at.markdown), "a colour legend for the heatmaps"
    # A diagonal cell holds hundreds: shown 40 at a time, every one of them over the pages.
    at.selectbox(key="runs_cell_true").set_value(3).run()
    at.selectbox(key="runs_cell_pred").set_value(3).run()
    right = int(shown[3, 3])
    pages = -(-right // 40)
    assert pages > 1 and len(_shown(at)) == 40
    at.number_input(key="runs_cell_page").set_value(pages).run()
    assert len(_shown(at)) == right - 40 * (pages - 1)
    # Back to a cell with fewer digits: the page box comes back inside its range.
    at.selectbox(key="runs_cell_true").set_value(t).run()
    at.selectbox(key="runs_cell_pred").set_value(p).run()
    assert not at.exception and len(_shown(at)) == min(count, 40)


def test_an_empty_cell_and_a_run_whose_model_cannot_load_are_said_plainly(runs_here, runs_dir, mnist):
    from cnn_core import runs
    from cnn_core.evaluate import confusion_matrix

    run = runs.load_run(runs_here[0])
    shown = confusion_matrix(mnist.y_test, run.y_pred)
    empty = [(t, p) for t in range(10) for p in range(10) if shown[t, p] == 0]
    at = open_runs(runs_detail=runs_here[0])
    if empty:
        at.selectbox(key="runs_cell_true").set_value(empty[0][0]).run()
        at.selectbox(key="runs_cell_pred").set_value(empty[0][1]).run()
        assert any("No test digit in this cell" in i.value for i in at.info)
    # A model the app refuses to load (5 classes, not 10), the run still listed with its predictions.
    import keras

    five = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(5, activation="softmax")])
    five.save(runs_dir / runs_here[0] / "model.keras")
    at.selectbox(key="runs_cell_true").set_value(1).run()
    at.selectbox(key="runs_cell_pred").set_value(1).run()
    assert not at.exception, at.exception
    warnings = [w.value for w in at.warning]
    assert any("No heatmaps: cannot load this run's model" in w for w in warnings), warnings
    assert len(_shown(at)) == min(int(shown[1, 1]), 40), "the digits are still shown"


def chart_cells(chart) -> np.ndarray:
    """The 10x10 matrix a confusion chart draws, read from the data Streamlit sends to the browser."""
    import pyarrow as pa

    cells = np.full((10, 10), -10**9)
    for ds in chart.proto.datasets:
        table = pa.ipc.open_stream(ds.data.data).read_all().to_pandas()
        if {"t", "p", "count"} <= set(table.columns) and len(table) == 100:
            cells[table["t"], table["p"]] = table["count"]
    return cells


def test_two_runs_side_by_side_with_their_difference(runs_here, mnist):
    import json

    from cnn_core import runs
    from cnn_core.explain import confusion_difference

    a, b = (runs.load_run(n) for n in runs_here)
    at = open_runs(runs_detail=runs_here[0])
    assert not at.exception
    assert at.selectbox(key="runs_compare_with").value == runs_here[1]
    charts = at.get("vega_lite_chart")
    spec = json.loads(charts[-1].proto.spec)
    assert "difference" in json.dumps(spec["title"])
    diff = confusion_difference(mnist.y_test, a.y_pred, b.y_pred)
    assert (diff.sum(axis=1) == 0).all()
    # What the chart draws is that matrix: its cells, read back from the data the page sent.
    drawn = chart_cells(charts[-1])
    assert drawn.shape == (10, 10) and (drawn == diff).all() and (drawn.sum(axis=1) == 0).all()
    other = np.zeros((10, 10), int)
    np.add.at(other, (mnist.y_test, b.y_pred), 1)
    assert (chart_cells(charts[-2]) == other).all()  # beside it, the other run's own matrix
    gained = int(np.trace(diff))
    assert any(f"gets {abs(gained):,} digits {'more' if gained >= 0 else 'fewer'} right" in c.value for c in at.caption)
    assert any("Each row adds up to 0" in c.value for c in at.caption)
