"""AppTest: the Runs page lists runs made in the test, shows one in detail, downloads and deletes."""

import shutil
from pathlib import Path

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
    assert 0 <= row["Test accuracy"] <= 1 and row["Training time (s)"] > 0 and row["Digits"] == "400"
    for column in ("Date", "Dataset", "Learning rate", "Batch", "Optimizer"):
        assert column in table.columns


def test_damaged_run_folder_is_a_warning_not_a_crash(runs_here, runs_dir):
    (runs_dir / "broken-run").mkdir()
    (runs_dir / "broken-run" / "run.json").write_text("{not json")
    at = open_runs()
    assert any("broken-run" in w.value for w in at.warning)
    assert set(runs_here) <= set(at.dataframe[0].value["Name"])


def test_compare_and_detail(runs_here):
    at = open_runs()
    at.multiselect(key="runs_compare").set_value(runs_here).run()
    assert not at.exception
    charts = at.get("vega_lite_chart")
    assert len(charts) >= 3, "accuracy and loss overlays, per-class accuracy"
    at.selectbox(key="runs_detail").set_value(runs_here[1]).run()
    captions = [c for el in at.get("image") for c in el.captions]
    assert any(c.startswith("Confusion matrix") for c in captions), captions
    assert any("true label" in c and "answer" in c for c in captions), "gallery of misclassified digits"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Epochs"] == "2/2" and metrics["Test accuracy"].endswith("%")
    download = at.get("download_button")
    assert download and download[0].proto.label == "Download model (.keras)"


def test_delete_needs_confirmation(runs_here, runs_dir):
    at = open_runs(runs_detail=runs_here[0])
    assert at.button(key="runs_delete").disabled
    at.checkbox(key="runs_delete_sure").check().run()
    at.button(key="runs_delete").click().run()
    assert not at.exception, at.exception
    assert not (runs_dir / runs_here[0]).exists()
    assert any("Deleted run" in s.value for s in at.success)
    assert runs_here[0] not in set(at.dataframe[0].value["Name"])


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
