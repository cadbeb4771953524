import json
import shutil

import numpy as np
import pytest

from cnn_core import evaluate, runs
from cnn_core.config import TrainConfig
from cnn_core.model import build_model, save_for_inference, save_training_state
from cnn_core.runs import RunError

CFG = TrainConfig(filters=(4,), dense_units=0, epochs=1)


@pytest.fixture
def saved(runs_dir, mnist):
    """A real run: a real (untrained) model evaluated on 500 real test digits."""
    def make(name):
        model = build_model(CFG)
        result = evaluate.evaluate(model, mnist.x_test[:500], mnist.y_test[:500])
        return runs.save_run(
            runs_dir, name, config=CFG, model_writer=lambda p: save_for_inference(model, CFG, p),
            history={"batch": {"loss": [2.3], "accuracy": [0.1]}, "epoch": {"loss": [2.3]}},
            evaluation=result, state="finished", epochs_completed=1, train_seconds=1.5,
            data_source=mnist.source, params=model.count_params(),
        )
    return make


def test_save_list_load_delete(saved, runs_dir):
    path = saved("run-a")
    assert sorted(p.name for p in path.iterdir()) == sorted(runs.RUN_FILES)
    [info] = runs.list_runs(runs_dir)
    assert info.name == "run-a" and info.state == "finished" and info.config == CFG
    run = runs.load_run("run-a", runs_dir)
    assert run.confusion.shape == (10, 10) and run.confusion.sum() == 500
    assert np.array_equal(run.y_pred, run.probabilities.argmax(1))
    assert info.test_accuracy == pytest.approx(np.trace(run.confusion) / 500)
    runs.delete_run("run-a", runs_dir)
    assert runs.list_runs(runs_dir) == [] and not path.exists()


def test_crash_mid_write_leaves_no_run(runs_dir, mnist):
    def broken_writer(path):
        path.write_bytes(b"half a model")
        raise OSError("disk full")

    result = evaluate.evaluate(build_model(CFG), mnist.x_test[:50], mnist.y_test[:50])
    with pytest.raises(RunError, match="cannot save run crashed in .*: disk full"):
        runs.save_run(runs_dir, "crashed", config=CFG, model_writer=broken_writer, history={}, evaluation=result,
                      state="finished", epochs_completed=1, train_seconds=1, data_source="", params=1)
    assert runs.scan_runs(runs_dir) == ([], [])
    assert list(runs_dir.iterdir()) == []


def test_damaged_runs_are_skipped_with_a_message(saved, runs_dir):
    for name in ("good", "no-meta", "bad-json", "bad-config", "bad-model"):
        saved(name)
    (runs_dir / "no-meta" / "run.json").unlink()
    (runs_dir / "bad-json" / "run.json").write_text("{ truncated")
    (runs_dir / "bad-config" / "config.json").write_text(json.dumps({"filters": "x,y"}))
    (runs_dir / "bad-model" / "model.keras").write_bytes(b"\x00" * 10)
    (runs_dir / ".tmp-being-written").mkdir()
    (runs_dir / "stray-file.txt").write_text("hi")
    found, problems = runs.scan_runs(runs_dir)
    assert [r.name for r in found] == ["good"]
    assert len(problems) == 4
    assert any("no-meta: run.json is missing" in p for p in problems)
    assert any("bad-json: run.json is damaged" in p for p in problems)
    assert any("bad-config: config.json is damaged" in p for p in problems)
    assert any("bad-model: model.keras is missing or damaged" in p for p in problems)
    with pytest.raises(RunError):
        runs.load_run("bad-json", runs_dir)


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "a/b", "..", ".", "", ".hidden", "x" * 200, "a\\b"])
def test_names_cannot_escape_the_runs_folder(runs_dir, name):
    with pytest.raises(RunError):
        runs.run_path(name, runs_dir)
    with pytest.raises(RunError):
        runs.delete_run(name, runs_dir)


def test_symlinked_run_pointing_outside_is_refused(runs_dir, tmp_path, saved):
    outside = saved("real").parent.parent / "outside"
    shutil.move(str(runs_dir / "real"), outside)
    (runs_dir / "link").symlink_to(outside)
    with pytest.raises(RunError):
        runs.delete_run("link", runs_dir)
    assert outside.exists()


def test_existing_name_is_not_overwritten(saved):
    saved("same")
    with pytest.raises(RunError, match="already exists"):
        saved("same")


def test_runs_dir_from_environment(saved, runs_dir):
    saved("env-run")
    assert [r.name for r in runs.list_runs()] == ["env-run"]


def test_a_run_records_its_origin_and_its_training_state(runs_dir, mnist):
    model = build_model(CFG)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)
    result = evaluate.evaluate(model, mnist.x_test[:50], mnist.y_test[:50])
    origin = runs.Origin(runs.CONTINUED, "the-parent")
    path = runs.save_run(runs_dir, "grown", config=CFG, model_writer=lambda p: save_for_inference(model, CFG, p),
                         history={}, evaluation=result, state="finished", epochs_completed=1, train_seconds=1,
                         data_source="", params=1, origin=origin,
                         state_writer=lambda p: save_training_state(model, p))
    assert sorted(p.name for p in path.iterdir()) == sorted((*runs.RUN_FILES, runs.STATE_FILE))
    info = runs.read_info(path)
    assert info.origin == origin and info.can_continue and runs.state_file(info).is_file()
    assert json.loads((path / runs.RUN_JSON).read_text())["origin"] == {
        "kind": "continued", "parent": "the-parent", "freeze": None}


def test_only_runs_py_spells_the_run_folders_file_names():
    """One home for the layout (issue 13): other modules import runs.RUN_JSON & co."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    names = (*runs.RUN_FILES, runs.STATE_FILE, runs.TEACH_REPORT, runs.TRAINED_ON, runs.SHIPPED_MODEL.name)
    spelled = re.compile(r"[\"'](%s)[\"']" % "|".join(re.escape(n) for n in names))
    files = [root / "app.py", *(p for folder in ("cnn_core", "cnn_lab_ui", "pages", "tools")
                                for p in sorted((root / folder).glob("*.py")))]
    offenders = [f"{path.relative_to(root)}:{i}: {line.strip()}" for path in files if path.name != "runs.py"
                 for i, line in enumerate(path.read_text().splitlines(), 1)
                 for m in spelled.finditer(line)
                 # config.json is also the file inside a .keras archive: model.py reads that one
                 if not (m.group(1) == runs.CONFIG_JSON and path.name == "model.py")]
    assert offenders == []


def test_a_models_json_is_written_in_the_shape_it_is_read_back(tmp_path):
    """cli's --save-model and tools/default_model.py both write default.json through write_model_meta."""
    model = tmp_path / "some.keras"
    meta = runs.ModelMeta(config=CFG, test_accuracy=0.98, test_loss=0.07, epochs_completed=2, train_seconds=3.5,
                          data_source="full MNIST", params=1234, created="2026-11-30T08:00:00+00:00",
                          origin=runs.Origin(runs.TRANSFERRED, "a-parent", runs.FREEZE_CONV))
    written = runs.write_model_meta(model, meta, "python -m cnn_core train")
    assert runs.meta_path(model) == tmp_path / "some.json"
    assert json.loads(runs.meta_path(model).read_text()) == written and written["command"] == "python -m cnn_core train"
    assert runs.read_model_meta(model) == meta
