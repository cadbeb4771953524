"""Teach it your handwriting (cnn_core/teach.py): the drawings folders, reading them, the teach job.

Real files in tmp_path, real canvas drawings (tests/handwriting.py, tests/drawings.py), a real teach job
of the shipped default model. One taught run is shared by the module; its data is a small real MNIST
file made here (2,500 training, 500 test digits) and the recipe is shortened, so the file stays fast.
"""

import io
import pickle
import shutil
import tarfile

import numpy as np
import pytest
from PIL import Image

from cnn_core import grow, runs, teach, training
from cnn_core.executor import JobSpec
from cnn_core.preprocess import canvas_to_mnist
from cnn_core.runs import TAUGHT, Origin, RunError
from cnn_core.teach import DrawingSet, TeachError, TeachSet
from tests.drawings import make_drawings
from tests.handwriting import make_style

STYLES = ("arabic-7", "chinese-4")  # the default model reads neither (tests/handwriting.py)
SHORT = {"EPOCHS": 3, "COPIES": 10, "REPLAY": 600}  # the recipe, shortened for a test


@pytest.fixture(scope="module")
def small_data(mnist, tmp_path_factory):
    """A real MNIST file, smaller: 2,500 training and 500 test digits."""
    folder = tmp_path_factory.mktemp("small-mnist")
    np.savez(folder / "mnist.npz", x_train=mnist.x_train[:2500], y_train=mnist.y_train[:2500],
             x_test=mnist.x_test[:500], y_test=mnist.y_test[:500])
    return folder


def _keep(folder, drawings) -> DrawingSet:
    kept = DrawingSet(folder)
    for d in drawings:
        kept.add(d.rgba, d.label)
    return kept


@pytest.fixture(scope="module")
def taught(small_data, tmp_path_factory):
    """The shipped default model taught 6 drawings of each of two styles it reads wrong: (job, run info, drawings)."""
    base = tmp_path_factory.mktemp("taught")
    kept = _keep(base / "drawings", [d for s in STYLES for d in make_style(s, 6, seed=0)])
    drawings = teach.read_folder(kept.folder)
    with pytest.MonkeyPatch.context() as mp:
        for name, value in SHORT.items():
            mp.setattr(teach, name, value)
        job = training.JobManager(max_jobs=1, runs_dir=base / "runs", data_dir=small_data).submit_teach(
            teach.DEFAULT_MODEL, drawings)
        snap = job.wait(300)
    assert snap.state == training.FINISHED, snap.error
    return job, runs.read_info(job.run_dir), drawings


# --- a learner's drawings ------------------------------------------------------------------------

def _canvases(n, mnist):
    return make_drawings(mnist.x_test, mnist.y_test, n, seed=3)


def test_a_kept_drawing_has_its_canvas_and_the_28x28_the_model_saw(tmp_path, mnist):
    kept = DrawingSet(tmp_path / "mine")
    first, second = _canvases(2, mnist)
    a = kept.add(first.rgba, first.label)
    b = kept.add(second.rgba, 9)  # the learner says what it really is
    assert [d.id for d in kept.list()] == [b.id, a.id]  # newest first
    assert b.label == 9 and b.canvas_path == tmp_path / "mine" / "9" / f"{b.id}.png"
    np.testing.assert_array_equal(np.asarray(Image.open(a.canvas_path)), first.rgba)  # the canvas as drawn
    seen = teach.to_uint8(canvas_to_mnist(first.rgba))
    np.testing.assert_array_equal(a.seen_image(), seen)  # what the Draw page's prediction saw
    expected = dict.fromkeys(range(10), 0)
    expected[first.label] += 1
    expected[9] += 1
    assert kept.counts() == expected
    assert not [p for p in (tmp_path / "mine").rglob("*") if p.name.endswith(".tmp")]  # atomic: no leftovers


@pytest.mark.parametrize("canvas, label, words", [
    (np.zeros((280, 280, 4), np.uint8), 3, "The canvas is empty"),
    ("drawing", 10, "must be 0 to 9"),
    ("drawing", True, "must be 0 to 9"),
    (np.zeros((280, 280, 2), np.uint8), 3, "not a canvas image"),
])
def test_an_empty_canvas_or_a_bad_label_is_refused_and_nothing_is_written(tmp_path, mnist, canvas, label, words):
    if isinstance(canvas, str):
        canvas = _canvases(1, mnist)[0].rgba
    with pytest.raises(TeachError, match=words):
        DrawingSet(tmp_path / "mine").add(canvas, label)
    assert not (tmp_path / "mine").exists() or not list((tmp_path / "mine").rglob("*.png"))


def test_learners_drawings_are_never_mixed_and_deleting_one_leaves_the_others(tmp_path, mnist):
    runs_dir = tmp_path / "runs"
    mine, theirs = (DrawingSet(teach.drawings_folder(runs_dir, owner)) for owner in ("aaaa1111", "bbbb2222"))
    assert mine.folder.parent == theirs.folder.parent == runs_dir.resolve() / teach.DRAWINGS_DIR
    canvases = _canvases(5, mnist)
    my = [mine.add(d.rgba, d.label) for d in canvases[:3]]
    their = [theirs.add(d.rgba, d.label) for d in canvases[3:]]
    assert {d.id for d in mine.list()} == {d.id for d in my}
    assert {d.id for d in theirs.list()} == {d.id for d in their}
    mine.delete(my[1].id)
    assert {d.id for d in mine.list()} == {my[0].id, my[2].id}
    assert not my[1].canvas_path.exists() and not my[1].seen.exists()
    assert all(d.canvas_path.exists() and d.seen.exists() for d in my[::2] + their)
    with pytest.raises(TeachError, match="no drawing"):
        theirs.delete(my[0].id)  # one learner's id does not reach another's drawings
    assert my[0].canvas_path.exists()
    for bad in ("../bbbb2222", "", "a/b", None):
        with pytest.raises(TeachError, match="not a learner id"):
            teach.drawings_folder(runs_dir, bad)
    with pytest.raises(TeachError, match="not a drawing id"):
        mine.delete("../../x")


# --- reading a folder to teach ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def folder_made(mnist, tmp_path_factory):
    """A CLI drawings folder, made once: 5 PNG canvases of the digits 1 and 7 in class subfolders."""
    root = tmp_path_factory.mktemp("folder") / "drawings"
    for digit in (1, 7):
        (root / str(digit)).mkdir(parents=True)
        mine = mnist.y_test == digit
        for i, d in enumerate(make_drawings(mnist.x_test[mine][:5], mnist.y_test[mine][:5], 5, seed=5)):
            Image.fromarray(d.rgba).save(root / str(digit) / f"d{i}.png")
    return root


@pytest.fixture
def folder(folder_made, tmp_path):
    """That folder, copied for this test to change."""
    return shutil.copytree(folder_made, tmp_path / "drawings")


def test_read_folder_reads_each_drawing_as_the_app_sees_it(folder):
    root = folder
    (root / ".seen").mkdir()  # hidden entries are never classes or drawings
    (root / "1" / ".DS_Store").write_bytes(b"\0")
    drawings = teach.read_folder(root)
    assert drawings.counts() == {1: 5, 7: 5} and drawings.x.dtype == np.uint8 and drawings.x.shape == (10, 28, 28)
    assert drawings.names[0] == "1/d0.png"
    first = np.asarray(Image.open(root / "1" / "d0.png").convert("RGBA"))
    np.testing.assert_array_equal(drawings.x[0], teach.to_uint8(canvas_to_mnist(first)))


def _broken(root):
    (root / "1" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")


def _huge(root):
    from tests.hostile import huge_png

    (root / "7" / "bomb.png").write_bytes(huge_png(13000, 13000))


def _blank(root):
    Image.new("RGBA", (280, 280)).save(root / "7" / "blank.png")


@pytest.mark.parametrize("damage, words", [
    (lambda root: shutil.rmtree(root), "no such folder"),
    (lambda root: [shutil.rmtree(p) for p in root.iterdir()], "the folder is empty"),
    (lambda root: [shutil.rmtree(root / "1"), shutil.rmtree(root / "7"), (root / "x.png").write_bytes(b"")],
     "no class subfolders"),
    (lambda root: (root / "cats").mkdir(), "the subfolder 'cats' is not a digit"),
    (lambda root: (root / "10").mkdir(), "the subfolder '10' is not a digit"),
    (lambda root: [shutil.rmtree(root / "1"), shutil.rmtree(root / "7"), (root / "3").mkdir()], "holds no drawings"),
    (_broken, "'1/broken.png': not a readable PNG/JPEG image"),
    (_huge, "'7/bomb.png': image of 13000 x 13000 px refused before decoding"),
    (_blank, "'7/blank.png' is an empty drawing"),
    (lambda root: (root / "1" / "notes.txt").write_text("hi"), "'1/notes.txt' is not a PNG or JPEG image"),
    (lambda root: (root / "7" / "d0.png").unlink(), "only 4 drawings of the digit 7: teaching needs at least 5"),
])
def test_a_bad_drawings_folder_is_one_message_naming_the_problem(folder, damage, words):
    root = folder
    damage(root)
    with pytest.raises(TeachError, match=words.replace("(", r"\(").replace(")", r"\)")):
        teach.read_folder(root)


# --- the teach job ---------------------------------------------------------------------------------

def test_the_taught_run_records_its_parent_and_its_report(taught):
    job, info, drawings = taught
    assert info.origin == Origin(TAUGHT, teach.DEFAULT_MODEL, runs.FREEZE_CONV) and info.state == "finished"
    assert info.origin.describe() == f"taught from {teach.DEFAULT_MODEL}"
    assert info.epochs_completed == SHORT["EPOCHS"] and "-taught-" in info.name
    assert [r.name for r in runs.list_runs(info.path.parent)] == [info.name]  # the drawings are not a run
    report = teach.read_report(info)
    assert report == teach.read_report(info.path)
    assert report.parent == teach.DEFAULT_MODEL and len(report.drawings) == len(drawings.y)
    assert [(d.name, d.label) for d in report.drawings] == list(zip(drawings.names, drawings.y.tolist()))
    assert report.drawings_before == np.mean([d.before == d.label for d in report.drawings]) <= 0.2
    assert report.drawings_after == np.mean([d.after == d.label for d in report.drawings]) > report.drawings_before
    assert report.mnist_after == info.test_accuracy
    assert report.mnist_before > 0.95 and report.mnist_after > 0.9  # the old digits are not forgotten
    assert not info.can_continue
    with pytest.raises(RunError, match="it was taught drawings"):
        grow.parent(Origin(runs.CONTINUED, info.name), info.path.parent)


def test_a_taught_model_reads_the_taught_style_better(taught):
    from cnn_core.inference import Predictor

    _, info, _ = taught
    held_out = [d for s in STYLES for d in make_style(s, 10, seed=1)]  # drawings it was not taught
    before, after = Predictor.load(), Predictor.load(info.path)
    read = {name: np.mean([p.predict(d.rgba).digit == d.label for d in held_out])
            for name, p in (("before", before), ("after", after))}
    assert read["before"] <= 0.1 and read["after"] >= 0.6, read


def test_a_report_is_read_only_for_taught_runs_and_checked(taught, tmp_path):
    _, info, _ = taught
    copy = tmp_path / "runs" / info.name
    shutil.copytree(info.path, copy)
    (copy / runs.TEACH_REPORT).write_text('{"parent": "x", "drawings": [["a", 11, 0, 0]]}')
    with pytest.raises(RunError, match="teach.json"):
        teach.read_report(copy)
    meta = (copy / runs.RUN_JSON).read_text().replace('"kind": "taught"', '"kind": "transferred"')
    (copy / runs.RUN_JSON).write_text(meta)
    assert teach.read_report(copy) is None


def test_stop_ends_a_teach_job_after_the_current_batch_and_keeps_a_stopped_run(small_data, tmp_path, mnist,
                                                                               monkeypatch):
    monkeypatch.setattr(teach, "EPOCHS", 20)  # and REPLAY (4,000) more than the 2,500 digits there are
    drawings = TeachSet(mnist.x_train[:10], np.array([1] * 5 + [7] * 5), tuple(f"d{i}" for i in range(10)))
    job = training.JobManager(max_jobs=1, runs_dir=tmp_path / "runs", data_dir=small_data).submit_teach(
        teach.DEFAULT_MODEL, drawings)
    while not job.snapshot().batch_loss and not job.done:
        job.wait(0.05)
    job.request_stop()
    snap = job.wait(300)
    assert snap.state == training.STOPPED and snap.epoch < 20, snap.error
    info = runs.read_info(job.run_dir)
    assert info.state == "stopped" and info.origin.kind == TAUGHT and info.config.limit == 2500
    assert len(teach.read_report(info).drawings) == 10


def test_bad_teach_requests_are_refused_before_anything_is_queued(tmp_path, mnist):
    manager = training.JobManager(max_jobs=1, runs_dir=tmp_path / "runs")
    few = TeachSet(mnist.x_train[:7], np.array([1] * 5 + [7] * 2), tuple("abcdefg"))
    with pytest.raises(TeachError, match="only 2 drawings of the digit 7"):
        manager.submit_teach(teach.DEFAULT_MODEL, few)
    enough = TeachSet(mnist.x_train[:5], np.array([1] * 5), tuple("abcde"))
    with pytest.raises(RunError, match="no such run"):
        manager.submit_teach("20250101-000000-mnist-seed-0000", enough)
    with pytest.raises(TeachError, match="use submit_teach"):  # a taught origin without drawings
        manager.submit(training.TrainConfig(), origin=Origin(TAUGHT, teach.DEFAULT_MODEL))
    with pytest.raises(TeachError, match="uint8"):
        TeachSet(mnist.x_train[:5].astype(np.float32), np.array([1] * 5), tuple("abcde"))
    assert manager.jobs() == []


def test_the_drawings_travel_with_the_job_and_the_default_model_with_a_ray_job(tmp_path, mnist):
    """No shared disk: the worker gets the TeachSet in the job spec (pickled through its pipe or by Ray),
    and a Ray node, which has cnn_core but not models/, gets the shipped default model packed."""
    from cnn_core.ray_executor import pack_parent

    drawings = TeachSet(mnist.x_train[:5], np.array([1] * 5), tuple("abcde"))
    config, origin = teach.plan(teach.DEFAULT_MODEL, drawings, tmp_path)
    spec = JobSpec("job1", config, None, None, str(tmp_path), None, origin, drawings)
    sent = pickle.loads(pickle.dumps(spec))
    np.testing.assert_array_equal(sent.teach.x, drawings.x)
    assert sent.teach.names == drawings.names and sent.origin == origin
    node = tmp_path / "node"
    with tarfile.open(fileobj=io.BytesIO(pack_parent(spec))) as tar:
        tar.extractall(node, filter="data")
    assert teach.default_model_file(node) == node.resolve() / teach.DEFAULT_MODEL / runs.MODEL_FILE
    assert teach.default_model_file(node).read_bytes() == teach.shipped_default().read_bytes()
    assert teach.default_model_file(tmp_path / "app") == teach.shipped_default()


def test_a_class_s_limits_shorten_the_recipe_rather_than_refuse_it(tmp_path, mnist, monkeypatch):
    drawings = TeachSet(mnist.x_train[:5], np.array([1] * 5), tuple("abcde"))
    config, _ = teach.plan(teach.DEFAULT_MODEL, drawings, tmp_path)
    assert (config.epochs, config.limit) == (teach.EPOCHS, teach.REPLAY)
    monkeypatch.setenv("CNN_MAX_EPOCHS", "2")
    monkeypatch.setenv("CNN_MAX_TRAIN_DIGITS", "500")
    config, _ = teach.plan(teach.DEFAULT_MODEL, drawings, tmp_path)
    assert (config.epochs, config.limit) == (2, 500)
