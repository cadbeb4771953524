"""The command line, run as a real subprocess: exit codes, JSON output, one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, env=None, timeout=300):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "cnn_core", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def test_train_prints_json_last_and_saves_a_run(tmp_path):
    r = cli("train", "--preset", "seed", "--limit", "400", "--epochs", "1", "--filters", "8", "--dense", "16",
            "--runs-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    for key in ("test_accuracy", "test_loss", "epochs_completed", "train_seconds", "run_dir", "data_source"):
        assert key in result
    assert result["epochs_completed"] == 1 and 0.2 < result["test_accuracy"] <= 1
    assert Path(result["run_dir"]).parent == tmp_path and (Path(result["run_dir"]) / "model.keras").is_file()
    assert result["config"]["filters"] == [8] and result["config"]["limit"] == 400
    assert "epoch 1/1" in r.stderr  # the progress on stderr
    assert "oneDNN" not in r.stderr and "cuInit" not in r.stderr  # no TensorFlow start-up noise around it


def test_hidden_tensorflow_notices_never_hide_other_errors():
    """The start-up filter works on file descriptor 2, where C++ writes: notices go, the rest stays."""
    script = (
        "import os, sys\n"
        "from cnn_core.cli import tensorflow_notices_hidden\n"
        "with tensorflow_notices_hidden():\n"
        "    os.write(2, b'I0000 00:00:1.2 1 port.cc:153] oneDNN custom operations are on.\\n')\n"
        "    os.write(2, b'E0000 00:00:1.3 1 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\\n')\n"
        "    os.write(2, b'F0000 00:00:1.4 1 op_kernel.cc:9] Check failed: something real\\n')\n"
        "    print('a Python warning', file=sys.stderr)\n"
        "print('after', file=sys.stderr)\n"
    )
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == [
        "F0000 00:00:1.4 1 op_kernel.cc:9] Check failed: something real", "a Python warning", "after"]


@pytest.mark.parametrize("args, words", [
    (["train", "--epochs", "0"], "epochs: 0 is out of range; allowed 1 to 200"),
    (["train", "--filters", "32,64,128,256"], "below 1x1"),
    (["train", "--dropout", "1"], "dropout"),
    (["train", "--learning-rate", "abc"], "'abc' is not a number"),
    (["train", "--optimizer", "adamw"], "optimizer"),
    (["train", "--preset", "huge"], "invalid choice"),
    (["train", "--limit", "99999999"], "limit"),
    (["fly"], "invalid choice"),
    (["predict", "--model", "/nonexistent/model.keras", "x.png"], "no such model file"),
    (["evaluate", "--model", "README.md"], "not a .keras model file"),
])
def test_bad_input_exits_2_with_one_line_and_no_traceback(args, words):
    r = cli(*args)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and words in last


def _drawings(tmp_path, mnist):
    """PNGs of real test digits in the three canvas styles, plus an empty, a corrupt and a missing file."""
    digit, label = mnist.x_test[0], int(mnist.y_test[0])
    big = np.asarray(Image.fromarray(digit).resize((280, 280), Image.BILINEAR))
    styles = {
        "white_on_black.png": np.dstack([big, big, big, np.full_like(big, 255)]),
        "black_on_white.png": np.dstack([255 - big] * 3 + [np.full_like(big, 255)]),
        "transparent.png": np.dstack([np.zeros_like(big)] * 3 + [big]),
    }
    files = []
    for name, rgba in styles.items():
        Image.fromarray(rgba, "RGBA").save(tmp_path / name)
        files.append(str(tmp_path / name))
    Image.fromarray(np.zeros((280, 280, 4), np.uint8), "RGBA").save(tmp_path / "empty.png")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    jpg = tmp_path / "digit.jpg"
    Image.fromarray(255 - big).save(jpg)
    return label, files + [str(jpg), str(tmp_path / "empty.png"), str(tmp_path / "corrupt.png"), str(tmp_path / "missing.png")]


def test_predict_reads_every_style_and_reports_bad_files(tmp_path, mnist):
    label, files = _drawings(tmp_path, mnist)
    r = cli("predict", *files)
    assert r.returncode == 1, r.stderr  # some files failed, the others were still read
    lines = [json.loads(line) for line in r.stdout.strip().splitlines()]
    assert [line["file"] for line in lines] == files
    for good in lines[:4]:
        assert good["digit"] == label and len(good["probabilities"]) == 10
        assert abs(sum(good["probabilities"]) - 1) < 1e-3
    empty, corrupt, missing = lines[4:]
    assert "empty" in empty["error"].lower()
    assert "not a readable" in corrupt["error"]
    assert missing["error"] == "no such file"
    assert "Traceback" not in r.stderr


def test_predict_all_good_exits_0(tmp_path, mnist):
    _, files = _drawings(tmp_path, mnist)
    r = cli("predict", "--model", str(ROOT / "models" / "default.keras"), files[0])
    assert r.returncode == 0 and json.loads(r.stdout)["digit"] == int(mnist.y_test[0])


def test_evaluate_default_model(mnist):
    r = cli("evaluate")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    matrix = np.array(result["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == len(mnist.x_test)
    assert result["test_accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    assert result["test_accuracy"] > 0.95 and result["test_loss"] < 0.2


def test_evaluate_a_run_dir(tmp_path):
    r = cli("train", "--limit", "300", "--epochs", "1", "--filters", "4", "--dense", "0", "--runs-dir", str(tmp_path))
    run_dir = json.loads(r.stdout.strip().splitlines()[-1])["run_dir"]
    r = cli("evaluate", "--model", run_dir)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["model"].startswith(run_dir)


def test_predict_survives_an_image_pillow_rejects_with_valueerror(tmp_path, mnist):
    _, files = _drawings(tmp_path, mnist)
    bad = tmp_path / "bad-maxval.pgm"  # Pillow raises ValueError (not OSError) for this header
    bad.write_bytes(b"P5\n10 10\n70000\n" + b"\x00" * 200)
    r = cli("predict", str(bad), files[0])
    assert r.returncode == 1 and "Traceback" not in r.stderr
    first, second = [json.loads(line) for line in r.stdout.strip().splitlines()]
    assert first["file"] == str(bad) and "cannot read this image" in first["error"]
    assert second["digit"] == int(mnist.y_test[0])


@pytest.mark.parametrize("target, words", [
    ("model.h5", "must end in .keras"),
    ("a-file/model.keras", "cannot write in"),
])
def test_bad_save_model_is_refused_before_training(tmp_path, target, words):
    (tmp_path / "a-file").write_text("a file, not a folder")
    r = cli("train", "--limit", "300", "--epochs", "1", "--runs-dir", str(tmp_path / "runs"),
            "--save-model", str(tmp_path / target))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert words in r.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "runs").exists(), "refused before any training"


def test_unwritable_runs_dir_is_refused_before_training(tmp_path):
    (tmp_path / "taken").write_text("a file where the runs folder should be")
    r = cli("train", "--limit", "300", "--epochs", "1", "--runs-dir", str(tmp_path / "taken" / "runs"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot save runs in") and "epoch" not in r.stderr


def test_flags_switch_preset_options_off_and_save_model_exports(tmp_path, mnist):
    target = tmp_path / "out" / "mine.keras"
    r = cli("train", "--preset", "strong", "--no-augment", "--no-batch-norm", "--no-pooling", "--filters", "4",
            "--convs-per-block", "1", "--dense", "0", "--limit", "300", "--epochs", "1", "--lr-schedule", "constant",
            "--runs-dir", str(tmp_path / "runs"), "--save-model", str(target))
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    cfg = result["config"]
    assert cfg["augment"] is False and cfg["batch_norm"] is False and cfg["pooling"] is False
    assert cfg["dropout"] == 0.3  # the rest of the strong preset is kept
    meta = json.loads(target.with_suffix(".json").read_text())
    assert meta["test_accuracy"] == result["test_accuracy"] and "--no-augment" in meta["command"]
    r = cli("predict", "--model", str(target), _drawings(tmp_path, mnist)[1][0])
    assert r.returncode == 0 and len(json.loads(r.stdout)["probabilities"]) == 10


def test_json_output_is_strict_even_for_a_diverged_run():
    from cnn_core.cli import _json_line

    line = _json_line({"test_loss": float("nan"), "history": [1.0, float("inf")], "n": 3})
    assert json.loads(line) == {"test_loss": None, "history": [1.0, None], "n": 3}
    assert "NaN" not in line and "Infinity" not in line


def test_ctrl_c_stops_after_the_current_batch_and_keeps_a_stopped_run(tmp_path):
    import signal

    proc = subprocess.Popen(
        [sys.executable, "-m", "cnn_core", "train", "--limit", "2000", "--epochs", "100", "--filters", "8",
         "--dense", "16", "--runs-dir", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    import threading

    watchdog = threading.Timer(240, proc.kill)  # never hang the suite
    watchdog.start()
    try:
        seen = []
        while not seen or not seen[-1].startswith("epoch "):  # not a terminal: a line per epoch
            line = proc.stderr.readline()
            assert line, "the CLI ended before its first epoch: " + "".join(seen)
            seen.append(line)
        proc.send_signal(signal.SIGINT)
        err = "".join(seen) + proc.stderr.read()  # the same buffered reader: nothing is lost
        out = proc.stdout.read()
        proc.wait()
    finally:
        watchdog.cancel()
        proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "stopping after the current batch" in err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["state"] == "stopped" and 1 <= result["epochs_completed"] < 100
    # Every finished epoch has its line, in order, however fast they went by.
    numbers = [int(line.split()[1].split("/")[0]) for line in err.splitlines() if line.startswith("epoch ")]
    assert numbers == list(range(1, result["epochs_completed"] + 1))
    assert (Path(result["run_dir"]) / "model.keras").is_file()


def test_a_second_ctrl_c_quits_without_saving(tmp_path):
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "cnn_core", "train", "--limit", "2000", "--epochs", "100", "--filters", "8",
         "--dense", "16", "--runs-dir", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not proc.stderr.readline().startswith("data: "):  # printed before training starts
            assert proc.poll() is None, proc.stderr.read()
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)  # well before the stop could complete (a batch, the test set, saving)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "interrupted"
    assert out.strip() == ""  # no JSON result
    from cnn_core import runs

    assert runs.scan_runs(tmp_path) == ([], [])  # no run, and nothing half-written that lists as damaged


def test_an_export_that_fails_after_training_still_prints_the_saved_run(tmp_path):
    """--save-model is checked before training, but the target can change meanwhile: the run is
    saved anyway, so its JSON line comes out, then the export error, exit status 1."""
    target = tmp_path / "out.keras"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnn_core", "train", "--limit", "1000", "--epochs", "2", "--filters", "8",
         "--dense", "16", "--runs-dir", str(tmp_path / "runs"), "--save-model", str(target)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not proc.stderr.readline().startswith("data: "):  # checks passed; training starts
            assert proc.poll() is None, proc.stderr.read()
        target.mkdir()  # someone makes a folder of that name while it trains
        out, err = proc.communicate(timeout=240)
    finally:
        proc.kill()
    assert proc.returncode == 1, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["state"] == "finished" and (Path(result["run_dir"]) / "model.keras").is_file()
    assert err.strip().splitlines()[-1].startswith(f"error: --save-model {target}: is a folder")
