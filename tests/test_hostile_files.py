"""Hostile files (issue 11, items 2, 3, 7 and 8), each built here, in a temporary folder.

Images decoded before their size was checked, run files trusted as written (types, ranges,
array headers, sizes), FIFOs that block for ever, links that lead out of the runs folder,
leftovers of killed saves, and a full disk while saving a run.
"""

import errno
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from cnn_core import evaluate, files, runs
from cnn_core.config import TrainConfig
from cnn_core.model import MAX_MODEL_BYTES, build_model, save_for_inference
from cnn_core.preprocess import ImageFormatError, decode_image
from cnn_core.runs import RunError

import hostile

ROOT = Path(__file__).resolve().parent.parent
CFG = TrainConfig(filters=(4,), dense_units=0, epochs=1)


def finishes_within(seconds, work, unblock=None):
    """work() in a daemon thread: True when it returned (or raised) within `seconds`.

    A FIFO opened for reading blocks until a writer comes: `unblock` then opens it for writing
    so that a blocked thread (the bug) ends too and does not outlive the test.
    """
    thread = threading.Thread(target=lambda: _swallow(work), daemon=True)
    thread.start()
    thread.join(seconds)
    done = not thread.is_alive()
    if not done and unblock is not None:
        unblock()
        thread.join(5)
    return done


def _swallow(work):
    try:
        work()
    except Exception:
        pass


def release_fifo(path):
    def unblock():
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
    return unblock


# --- item 2: images --------------------------------------------------------------------------

@pytest.mark.parametrize("side", [13000, 20000])
def test_a_huge_png_is_refused_from_its_header(side):
    png = hostile.huge_png(side, side)
    tracemalloc.start()
    try:
        with pytest.raises(ImageFormatError, match="refused before decoding") as e:
            decode_image(png)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, peak
    assert f"{side} x {side} px" in str(e.value) or f"{side * side} pixels" in str(e.value)


def test_decode_image_reads_good_images_and_names_every_failure(tmp_path):
    from PIL import Image

    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[100:180, 120:160] = 255
    Image.fromarray(rgba).save(tmp_path / "good.png")
    assert np.array_equal(decode_image(tmp_path / "good.png"), rgba)
    Image.fromarray(rgba[..., 0]).save(tmp_path / "grey.png")
    assert decode_image((tmp_path / "grey.png").read_bytes()).shape == (280, 280, 4)
    frames = [Image.fromarray(rgba[..., 0]), Image.fromarray(255 - rgba[..., 0])]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(ImageFormatError, match="animated GIF"):
        decode_image(tmp_path / "anim.gif")
    with pytest.raises(ImageFormatError, match="no such file"):
        decode_image(tmp_path / "missing.png")
    with pytest.raises(ImageFormatError, match="a folder"):
        decode_image(tmp_path)
    with pytest.raises(ImageFormatError, match="not a readable PNG/JPEG"):
        decode_image(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)


def test_a_fifo_named_as_an_image_does_not_block(tmp_path):
    fifo = tmp_path / "drawing.png"
    os.mkfifo(fifo)
    errors = []
    assert finishes_within(10, lambda: errors.append(pytest.raises(ImageFormatError, decode_image, fifo)),
                           release_fifo(fifo))
    assert "named pipe" in str(errors[0].value)


def _cli_peak(*args, timeout=240):
    """`python -m cnn_core ARGS` and its peak RSS in bytes (VmHWM: ru_maxrss would carry over
    this big pytest process's peak into the child, across fork and exec)."""
    code = ("import sys; from cnn_core.cli import main; rc = main(sys.argv[1:]); "
            "print('peak', [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')][0], "
            "file=sys.stderr); sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    return r, int(r.stderr.strip().splitlines()[-1].split()[1]) * 1024


def test_cli_predict_refuses_a_huge_png_and_a_fifo_and_reads_the_rest(tmp_path, mnist):
    from PIL import Image

    (tmp_path / "huge.png").write_bytes(hostile.huge_png(13000, 13000))
    os.mkfifo(tmp_path / "pipe.png")
    good = np.kron(mnist.x_test[0], np.ones((10, 10), np.uint8))
    Image.fromarray(good).save(tmp_path / "good.png")
    names = [str(tmp_path / n) for n in ("huge.png", "pipe.png", "good.png")]
    try:
        r, peak = _cli_peak("predict", *names)
    except subprocess.TimeoutExpired:
        release_fifo(tmp_path / "pipe.png")()
        pytest.fail("predict blocked on a FIFO")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    huge, pipe, read = [json.loads(line) for line in r.stdout.strip().splitlines()]
    assert "13000 x 13000 px refused before decoding" in huge["error"]
    assert "named pipe" in pipe["error"]
    assert read["digit"] == int(mnist.y_test[0])
    assert peak < 2**30, f"peak RSS {peak / 2**20:.0f} MB"  # was 3.3 GB; TensorFlow alone is ~0.5 GB


# --- item 3: run files ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def good_run(tmp_path_factory, mnist):
    """One real run (a real, untrained model evaluated on 500 real test digits), made once."""
    folder = tmp_path_factory.mktemp("good-run")
    model = build_model(CFG)
    result = evaluate.evaluate(model, mnist.x_test[:500], mnist.y_test[:500])
    runs.save_run(folder, "good", config=CFG, model_writer=lambda p: save_for_inference(model, CFG, p),
                  history={"batch": {"loss": [2.3, float("nan")], "accuracy": [0.1, 0.2]},
                           "epoch": {"loss": [2.3]}, "batches_per_epoch": 2},
                  evaluation=result, state="finished", epochs_completed=1, train_seconds=1.5,
                  data_source=mnist.source, params=model.count_params())
    return folder / "good"


@pytest.fixture
def make_run(good_run, runs_dir):
    """make_run(name) -> a fresh copy of the good run in the test's runs folder."""
    def make(name):
        shutil.copytree(good_run, runs_dir / name)
        return runs_dir / name
    return make


def edit_json(path, **changes):
    obj = json.loads(path.read_text())
    obj.update(changes)
    path.write_text(json.dumps(obj))


# Each damages one file of a copy of a good run: (file, how) -> words the skip message must hold.
DAMAGE = {
    "deep-brackets": ("run.json", lambda p: p.write_text(hostile.deep_json()), "RecursionError"),
    "infinite-accuracy": ("run.json", lambda p: p.write_text(p.read_text().replace(
        '"test_accuracy": ', '"test_accuracy": Infinity, "x": ')), "test_accuracy: inf is out of range"),
    "huge-seconds": ("run.json", lambda p: p.write_text(p.read_text().replace(
        '"train_seconds": ', '"train_seconds": 1e999, "x": ')), "train_seconds: inf is out of range"),
    "impossible-date": ("run.json", lambda p: edit_json(p, created="2026-02-30T10:00:00+00:00"), "not a date"),
    "year-one": ("run.json", lambda p: edit_json(p, created="0001-01-01T00:00:00+14:00"), "between 1970"),
    "text-epochs": ("run.json", lambda p: edit_json(p, epochs_completed="1"), "epochs_completed"),
    "bad-state": ("run.json", lambda p: edit_json(p, state=["finished"]), "state"),
    "bad-matrix": ("run.json", lambda p: edit_json(p, confusion_matrix=[[1e999] * 10] * 10), "confusion_matrix"),
    "text-limit": ("config.json", lambda p: edit_json(p, limit="5000"), "limit"),
    "list-dataset": ("config.json", lambda p: edit_json(p, dataset=["mnist"]), "dataset"),
    "huge-lr": ("config.json", lambda p: p.write_text(p.read_text().replace(
        '"learning_rate": 0.001', '"learning_rate": 1e999')), "learning_rate"),
    "huge-run-json": ("run.json", lambda p: p.write_text(" " * (2 * 2**20)), "more than the"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_run_metadata_is_skipped_with_a_message_naming_the_run(make_run, runs_dir, case):
    file, damage, words = DAMAGE[case]
    make_run("fine")
    damage(make_run(case) / file)
    found, problems = runs.scan_runs(runs_dir)
    assert [r.name for r in found] == ["fine"]
    assert len(problems) == 1 and problems[0].startswith(f"{case}: {file}") and words in problems[0], problems
    with pytest.raises(RunError, match=case):
        runs.load_run(case, runs_dir)


@pytest.mark.parametrize("history, words", [
    ({"batch": {"loss": [1.0]}, "batches_per_epoch": "lots"}, "batches_per_epoch"),
    ({"batch": {"loss": [1.0]}, "batches_per_epoch": 1e999}, "batches_per_epoch"),
    ({"batch": {"loss": ["1.0", {}]}}, "'loss'"),
    ({"epoch": [1, 2]}, "epoch"),
    ({"batch": {"loss": [1.0, 1e999]}}, "inf"),
])
def test_damaged_history_is_refused_when_the_run_is_loaded(make_run, runs_dir, history, words):
    (make_run("bad-history") / "history.json").write_text(json.dumps(history))
    with pytest.raises(RunError, match="bad-history: history.json is damaged") as e:
        runs.load_run("bad-history", runs_dir)
    assert words in str(e.value)


def test_a_good_history_loads_with_nan_kept(make_run, runs_dir):
    make_run("ok")
    run = runs.load_run("ok", runs_dir)
    assert run.history["batches_per_epoch"] == 2 and np.isnan(run.history["batch"]["loss"][1])


def test_a_huge_history_is_refused_by_its_size(make_run, runs_dir):
    path = make_run("long") / "history.json"
    with open(path, "w") as f:
        f.write('{"batch": {"loss": [' + "0.5," * (5 * 2**20) + '0.5]}}')  # 20 MB
    with pytest.raises(RunError, match="long: history.json refused: .* more than the 16.0 MB allowed"):
        runs.load_run("long", runs_dir)


def test_predictions_declaring_30_million_rows_are_refused_before_allocating(make_run, runs_dir):
    hostile.npz_declaring(make_run("many-rows") / "predictions.npz", 30_000_000)  # 600 MB declared, ~0.6 MB here
    tracemalloc.start()
    try:
        with pytest.raises(RunError, match=r"an array of \(30000000, 10\) float16, expected \(500, 10\)"):
            runs.load_run("many-rows", runs_dir)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"{peak / 2**20:.0f} MB allocated"


def test_predictions_of_the_wrong_dtype_or_truncated_are_refused(make_run, runs_dir):
    np.savez_compressed(make_run("ints") / "predictions.npz", probabilities=np.zeros((500, 10), np.int64))
    with pytest.raises(RunError, match="ints: predictions.npz is damaged: an array of"):
        runs.load_run("ints", runs_dir)
    np.savez_compressed(make_run("nan") / "predictions.npz", probabilities=np.full((500, 10), np.nan, np.float16))
    with pytest.raises(RunError, match="nan: predictions.npz is damaged"):
        runs.load_run("nan", runs_dir)


@pytest.mark.parametrize("file", ["run.json", "config.json", "model.keras"])
def test_a_fifo_in_a_run_does_not_block_the_listing(make_run, runs_dir, file):
    make_run("fine")
    fifo = make_run("piped") / file
    fifo.unlink()
    os.mkfifo(fifo)
    result = []
    assert finishes_within(20, lambda: result.append(runs.scan_runs(runs_dir)), release_fifo(fifo))
    found, problems = result[0]
    assert [r.name for r in found] == ["fine"]
    pipe = runs_dir / "piped" / file
    assert problems == [f"piped: {file} refused: {pipe} is a named pipe (FIFO), not a regular file"]


@pytest.mark.parametrize("file", ["history.json", "predictions.npz"])
def test_a_fifo_in_a_run_does_not_block_loading_it(make_run, runs_dir, file):
    fifo = make_run("piped") / file
    fifo.unlink()
    os.mkfifo(fifo)
    errors = []
    assert finishes_within(20, lambda: errors.append(pytest.raises(RunError, runs.load_run, "piped", runs_dir)),
                           release_fifo(fifo))
    assert "named pipe" in str(errors[0].value)


def test_a_huge_sparse_model_is_neither_listed_nor_read(make_run, runs_dir):
    folder = make_run("sparse")
    model = (folder / "model.keras").read_bytes()
    hostile.sparse_keras(folder / "model.keras", model, MAX_MODEL_BYTES + 2**20)  # 201 MB, a hole on disk
    info = runs.read_info(make_run("fine"))
    found, problems = runs.scan_runs(runs_dir)
    assert [r.name for r in found] == ["fine"]
    sparse = folder / "model.keras"
    assert problems == [f"sparse: model.keras refused: {sparse} is 201.0 MB, more than the 200.0 MB allowed"]
    assert runs.model_bytes(info) == model  # the download of a good run
    fake = runs.RunInfo(**{**info.__dict__, "name": "sparse", "path": folder})
    tracemalloc.start()
    try:
        with pytest.raises(RunError, match="more than the 200.0 MB allowed"):
            runs.model_bytes(fake)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20


# --- item 8: links and leftovers --------------------------------------------------------------

def test_run_files_linking_outside_the_runs_folder_are_refused(make_run, runs_dir, tmp_path):
    from cnn_core.inference import Predictor
    from cnn_core.model import ModelFileError

    folder = make_run("linked")
    outside = tmp_path / "elsewhere.keras"
    shutil.move(folder / "model.keras", outside)
    (folder / "model.keras").symlink_to(outside)
    found, problems = runs.scan_runs(runs_dir)
    assert found == []
    assert problems == [f"linked: model.keras links to {outside}, outside the runs folder {runs_dir}: refused"]
    with pytest.raises(ModelFileError, match="outside the runs folder"):
        Predictor.load(folder)
    info = runs.read_info(make_run("fine"))
    (info.path / "model.keras").unlink()
    (info.path / "model.keras").symlink_to(outside)  # read once, then swapped for a link
    with pytest.raises(RunError, match="outside the runs folder"):
        runs.model_bytes(info)


def test_a_run_folder_linking_outside_is_refused(make_run, runs_dir, tmp_path):
    outside = tmp_path / "outside-run"
    shutil.move(make_run("moved"), outside)
    (runs_dir / "alias").symlink_to(outside)
    found, problems = runs.scan_runs(runs_dir)
    assert found == [] and problems == [f"alias links to {outside}, outside the runs folder {runs_dir}: refused"]
    with pytest.raises(RunError):
        runs.load_run("alias", runs_dir)


def test_deleting_an_alias_removes_the_link_never_the_real_run(make_run, runs_dir):
    real = make_run("real")
    (runs_dir / "alias").symlink_to(real)
    assert runs.load_run("alias", runs_dir).info.name == "alias"  # a link inside the runs folder is a run
    runs.delete_run("alias", runs_dir)
    assert not os.path.lexists(runs_dir / "alias")
    assert [r.name for r in runs.list_runs(runs_dir)] == ["real"]
    assert sorted(p.name for p in real.iterdir()) == sorted(runs.RUN_FILES)


def test_deleting_a_run_never_follows_links_inside_it(make_run, runs_dir, tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("keep me")
    folder = make_run("doomed")
    (folder / "notes").symlink_to(precious)
    runs.delete_run("doomed", runs_dir)
    assert not folder.exists() and (precious / "thesis.txt").read_text() == "keep me"


def test_leftovers_of_killed_saves_and_deletions_are_cleaned_up_when_old(runs_dir, tmp_path, make_run):
    make_run("fine")
    old = time.time() - runs.LEFTOVER_AGE_S - 60
    for name in (".tmp-killed-1234", ".deleting-gone-abcd", ".tmp-being-written-5678"):
        (runs_dir / name).mkdir()
        (runs_dir / name / "run.json").write_text("{}")
    for name in (".tmp-killed-1234", ".deleting-gone-abcd"):
        for p in (runs_dir / name / "run.json", runs_dir / name):
            os.utime(p, (old, old))
    outside = tmp_path / "not-ours"
    outside.mkdir()
    (outside / "data").write_text("x")
    (runs_dir / ".tmp-a-link").symlink_to(outside)
    found, problems = runs.scan_runs(runs_dir)
    assert [r.name for r in found] == ["fine"] and problems == []
    left = sorted(p.name for p in runs_dir.iterdir())
    assert left == [".tmp-a-link", ".tmp-being-written-5678", "fine"]  # fresh ones and links are kept
    assert (outside / "data").exists()



def test_a_job_record_rewrite_killed_before_its_rename_leaves_nothing_behind_once_old(runs_dir, tmp_path):
    """A job rewrites its record every few seconds (cnn_core.records); a kill -9 between the write
    and the rename leaves a hidden temporary file in .jobs, which recover() removes once it is old."""
    from cnn_core import records

    jobs = records.folder(runs_dir)
    jobs.mkdir(parents=True)
    (jobs / "job-1.json").write_text('{"state": "failed"}')
    killed = ("from cnn_core import files; import os, signal, sys\n"
              "with files.atomic_path(sys.argv[1]) as tmp:\n"
              "    tmp.write_text('{\"state\": \"run')\n"
              "    os.kill(os.getpid(), signal.SIGKILL)\n")
    repo = Path(runs.__file__).parents[1]
    for _ in range(2):
        assert subprocess.run([sys.executable, "-c", killed, str(jobs / "job-1.json")], cwd=repo).returncode == -9
    stale, fresh = sorted(p for p in jobs.iterdir() if p.name.endswith(files.TEMPORARY_SUFFIX))
    old = time.time() - files.LEFTOVER_AGE_S - 60
    os.utime(stale, (old, old))
    (jobs / ".job-2.json.link.tmp").symlink_to(tmp_path / "not-ours")
    os.utime(jobs / ".job-2.json.link.tmp", (old, old), follow_symlinks=False)

    records.recover(runs_dir)
    assert sorted(p.name for p in jobs.iterdir()) == sorted([".job-2.json.link.tmp", fresh.name, "job-1.json"])
    assert (jobs / "job-1.json").read_text() == '{"state": "failed"}'  # the record the kill interrupted is whole


# --- item 7: a full disk while saving a run ----------------------------------------------------

def _save(runs_dir, name, model_writer, mnist, config=CFG):
    result = evaluate.evaluate(build_model(CFG), mnist.x_test[:50], mnist.y_test[:50])
    return runs.save_run(runs_dir, name, config=config, model_writer=model_writer, history={"batch": {}},
                         evaluation=result, state="finished", epochs_completed=1, train_seconds=1,
                         data_source="", params=3_000_000)


def test_a_full_disk_while_saving_is_one_message_and_leaves_nothing(runs_dir, mnist):
    def full(path):
        path.write_bytes(b"half a model")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    with pytest.raises(RunError) as e:
        _save(runs_dir, "no-room", full, mnist)
    message = str(e.value)
    assert message.startswith(f"cannot save run no-room in {runs_dir}: the disk is full")
    assert "needs about 11.5 MB" in message and "MB free" in message
    assert e.value.__suppress_context__ and e.value.__cause__ is None  # one message, no chained traceback
    assert list(runs_dir.iterdir()) == []


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 1 MB filesystem (tmpfs) as the runs folder; skipped where mounting is not allowed."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_real_full_disk_while_saving_a_run(tiny_disk, mnist, monkeypatch):
    big = TrainConfig(filters=(16,), dense_units=256, epochs=1)  # 0.7 M weights: a 2.8 MB model.keras
    model = build_model(big)
    with pytest.raises(RunError, match=f"cannot save run big in {tiny_disk}: the disk is full") as e:
        _save(tiny_disk, "big", lambda p: save_for_inference(model, big, p), mnist, config=big)
    assert e.value.__cause__ is None and e.value.__suppress_context__
    assert list(tiny_disk.iterdir()) == []  # nothing partial left
    assert runs.scan_runs(tiny_disk) == ([], [])


# --- item 5: atomic writes --------------------------------------------------------------------

def test_atomic_writes_replace_whole_or_not_at_all(tmp_path):
    target = tmp_path / "model.json"
    files.write_json(target, {"accuracy": 0.99})
    assert json.loads(target.read_text()) == {"accuracy": 0.99}
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~files._UMASK)  # not mkstemp's 0600
    with pytest.raises(RuntimeError, match="killed"):
        with files.atomic_path(target) as tmp:
            tmp.write_text('{"accur')
            raise RuntimeError("killed mid-write")
    assert json.loads(target.read_text()) == {"accuracy": 0.99}  # the good file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["model.json"]  # and no temporary file is left
    files.write_bytes(target, b"new")
    assert target.read_bytes() == b"new"


def test_reads_refuse_fifos_folders_and_oversized_files(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(files.UnsafeFileError, match="named pipe"):
        files.open_regular(tmp_path / "pipe", 100)
    with pytest.raises(files.UnsafeFileError, match="a folder"):
        files.open_regular(tmp_path, 100)
    (tmp_path / "big").write_bytes(b"x" * 101)
    with pytest.raises(files.UnsafeFileError, match="101 bytes, more than the 100 bytes allowed"):
        files.open_regular(tmp_path / "big", 100)
    with files.open_regular(tmp_path / "big", 101) as f:
        assert f.read() == b"x" * 101


# --- the pages: a message, never an exception box ------------------------------------------

APP = str(ROOT / "app.py")


def open_page(page, **state):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=240)
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("side", [13000, 20000])
def test_draw_page_shows_a_message_for_a_huge_canvas_image(runs_dir, side):
    # What a modified client can put in the canvas value: a PNG of side x side (DecompressionBombError at 20000).
    at = open_page("pages/draw.py", canvas=hostile.canvas_value_with(hostile.huge_png(side, side)))
    assert [e.value for e in at.error] and "Cannot read the canvas image" in at.error[0].value
    assert "refused before decoding" in at.error[0].value
    assert not [m for m in at.metric if m.label == "Prediction"]


def test_draw_page_shows_a_message_for_a_damaged_canvas_value(runs_dir):
    value = hostile.canvas_value_with(b"")
    value["drawing"]["data"] = "data:image/png;base64,@@@not base64@@@"
    at = open_page("pages/draw.py", canvas=value)
    assert "Cannot read the canvas image" in at.error[0].value


@pytest.fixture
def damaged_runs(make_run, runs_dir, tmp_path):
    """Two good runs beside one of each kind of damage: {name: words of its warning}."""
    make_run("good-1")
    make_run("good-2")
    expected = {}
    for case in ("deep-brackets", "infinite-accuracy", "impossible-date", "text-limit", "list-dataset", "year-one"):
        file, damage, words = DAMAGE[case]
        damage(make_run(case) / file)
        expected[case] = words
    os.unlink(make_run("fifo") / "run.json")
    os.mkfifo(runs_dir / "fifo" / "run.json")
    expected["fifo"] = "named pipe"
    folder = make_run("sparse-model")
    hostile.sparse_keras(folder / "model.keras", (folder / "model.keras").read_bytes(), 5 * 2**30)  # 5 GB, a hole
    expected["sparse-model"] = "more than the 200.0 MB allowed"
    folder = make_run("linked-model")
    shutil.move(folder / "model.keras", tmp_path / "outside.keras")
    (folder / "model.keras").symlink_to(tmp_path / "outside.keras")
    expected["linked-model"] = "outside the runs folder"
    yield expected
    release_fifo(runs_dir / "fifo" / "run.json")  # nothing should be blocked on it; just in case


def test_runs_page_lists_good_runs_and_names_each_damaged_one(damaged_runs):
    result = []
    assert finishes_within(200, lambda: result.append(open_page("pages/runs.py"))), "the Runs page blocked"
    at = result[0]
    warnings = [w.value for w in at.warning]
    for name, words in damaged_runs.items():
        assert any(name in w and words in w for w in warnings), (name, warnings)
    assert set(at.dataframe[0].value["Name"]) == {"good-1", "good-2"}
    download = at.get("download_button")
    assert download and download[0].proto.label == "Download model (.keras)"


def test_history_damaged_after_listing_is_a_message_on_the_runs_page(make_run, runs_dir):
    make_run("good-1")
    (make_run("bad-history") / "history.json").write_text('{"batches_per_epoch": "lots"}')
    at = open_page("pages/runs.py", runs_detail="bad-history", runs_compare=["bad-history"])
    assert any("bad-history: history.json is damaged: batches_per_epoch" in e.value for e in at.error)


def test_draw_and_model_pages_offer_only_the_good_runs(damaged_runs):
    for page, key in (("pages/draw.py", "draw_model"), ("pages/model.py", "model_model")):
        at = open_page(page)
        options = at.selectbox(key=key).options
        assert not any(name in o for name in damaged_runs for o in options), options
        assert any("good-1" in o for o in options)
