"""The command line, run as a real subprocess: exit codes, JSON output, one-line errors."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnn_core import records
from cnn_core.config import PRESETS
from cnn_core.cost import shorten

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
    return label, files + [str(jpg), *(str(tmp_path / f"{name}.png") for name in ("empty", "corrupt", "missing"))]


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


def test_flags_switch_preset_options_off_and_on_and_save_model_exports(tmp_path, mnist):
    target = tmp_path / "out" / "mine.keras"
    assert PRESETS["strong"].augment and not PRESETS["strong"].batch_norm
    r = cli("train", "--preset", "strong", "--no-augment", "--batch-norm", "--no-pooling", "--filters", "4",
            "--convs-per-block", "1", "--dense", "0", "--limit", "300", "--epochs", "1", "--lr-schedule", "constant",
            "--runs-dir", str(tmp_path / "runs"), "--save-model", str(target))
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    cfg = result["config"]
    assert cfg["augment"] is False and cfg["batch_norm"] is True and cfg["pooling"] is False
    assert cfg["dropout"] == PRESETS["strong"].dropout > 0  # the rest of the strong preset is kept
    meta = json.loads(target.with_suffix(".json").read_text())
    assert meta["test_accuracy"] == result["test_accuracy"] and "--no-augment" in meta["command"]
    umask = os.umask(0o022)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # as a plain open() would make it (mkstemp's is 0600)
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


def _cli_without_tensorflow(*args, env=None):
    """Run the CLI in a fresh interpreter; returns (result, seconds, whether TensorFlow got imported)."""
    import time

    code = ("import sys\nfrom cnn_core.cli import main\n"
            "try:\n    rc = main(sys.argv[1:])\nexcept SystemExit as e:\n    rc = e.code\n"
            "print('TENSORFLOW' if 'tensorflow' in sys.modules else 'NO-TENSORFLOW', flush=True)\nsys.exit(rc)")
    started = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env={**os.environ, **(env or {})},
                       capture_output=True, text=True, timeout=120)
    return r, time.perf_counter() - started, r.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("args, status, words", [
    (["train", "--filters", "512", "--no-pooling", "--kernel-size", "1", "--dense", "4096", "--limit", "100",
      "--epochs", "1"], 2, "1,644,213,258 parameters"),
    (["train", "--epochs", "0"], 2, "epochs"),
    (["train", "--help"], 0, None),
    (["train", "--batch-size", "8192"], 2, "batch size of at most"),
])
def test_flags_are_checked_before_tensorflow_is_imported(args, status, words):
    r, seconds, tf = _cli_without_tensorflow(*args)
    assert r.returncode == status, r.stderr
    assert tf == "NO-TENSORFLOW"
    assert seconds < 5  # ~0.8 s on an idle machine, 3 s on a busy one, against 5-13 s with TensorFlow's import first
    if words:
        assert "Traceback" not in r.stderr and words in r.stderr.strip().splitlines()[-1]


def test_symlink_loops_and_huge_paths_are_one_short_line_with_status_2(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    huge = str(tmp_path / ("a" * 100_000))
    cases = [
        (["train", "--runs-dir", str(loop / "runs")], "--runs-dir", "Too many levels of symbolic links"),
        (["train", "--data-dir", str(loop)], "--data-dir", "Too many levels of symbolic links"),
        (["train", "--save-model", str(loop / "m.keras")], "--save-model", "Too many levels of symbolic links"),
        (["evaluate", "--model", str(loop)], "--model", "Too many levels of symbolic links"),
        (["train", "--runs-dir", huge], "--runs-dir", "File name too long"),
        (["train", "--optimizer", "x" * 100_000], "optimizer", "is not one of"),
    ]
    for args, flag, words in cases:
        r, _, tf = _cli_without_tensorflow(*args, "--limit", "100") if args[0] == "train" else \
            _cli_without_tensorflow(*args)
        assert r.returncode == 2, (args[:2], r.stderr[:300])
        line = r.stderr.strip()
        assert len(line.splitlines()) == 1 and len(line) < 300, line[:300]  # the long argument is shortened
        assert line.startswith(f"error: {flag}") and words in line
        assert "…" in line or len(" ".join(args)) < 300
        assert "unexpected" not in line and tf == "NO-TENSORFLOW"


def test_a_failed_export_leaves_the_good_model_and_its_json_byte_identical(tmp_path, train_runs):
    """A disk that fills up mid-copy (here: a file-size limit, as a full disk would) must not
    truncate the good .keras that was there, nor leave a stale .json beside a new model."""
    from cnn_core.config import TrainConfig

    folder, names = train_runs(TrainConfig(filters=(4,), dense_units=8, limit=300, epochs=1))
    run_dir = folder / names[0]
    out = tmp_path / "models"
    out.mkdir()
    target = out / "default.keras"
    target.write_bytes((ROOT / "models" / "default.keras").read_bytes())
    target.with_suffix(".json").write_text('{"test_accuracy": 0.9899}\n')
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    limit = (run_dir / "model.keras").stat().st_size // 2  # the new model cannot be written whole
    code = ("import resource, sys\nfrom pathlib import Path\nfrom cnn_core import cli\n"
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
            "try:\n    cli._export(Path(sys.argv[1]), Path(sys.argv[2]))\n"
            "except cli.UsageError as e:\n    print(e)\n    sys.exit(3)\n")
    r = subprocess.run([sys.executable, "-c", code, str(run_dir), str(target)], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "File too large" in r.stdout and f"needed in {out}" in r.stdout and "unchanged" in r.stdout
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # and no temporary file left
    # Without the limit the same export replaces both files.
    r = subprocess.run([sys.executable, "-c", code.replace("resource.setrlimit", "0 and resource.setrlimit"),
                        str(run_dir), str(target)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert target.read_bytes() == (run_dir / "model.keras").read_bytes()
    assert json.loads(target.with_suffix(".json").read_text())["params"] > 0
    assert sorted(p.name for p in out.iterdir()) == ["default.json", "default.keras"]


@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MB file system (tmpfs), when this test runs as root where mounting is allowed."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root); test_cost checks the logic on a real disk")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_is_found_before_training_and_named_in_one_line(small_disk):
    (small_disk / "filler").write_bytes(b"\0" * 900_000)
    r = cli("train", "--limit", "300", "--epochs", "1", "--runs-dir", str(small_disk / "runs"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    line = r.stderr.strip().splitlines()[-1]
    # Long paths are shortened in messages (cost.shorten): compare with what the message shows.
    assert line.startswith(f"error: not enough disk space in {shorten(str(small_disk))}"), line
    assert "needs about" in line, line
    assert "epoch" not in r.stderr and [p.name for p in (small_disk / "runs").iterdir()] == []


def test_a_disk_that_fills_up_while_training_gives_one_line_naming_the_folder(tmp_path):
    """The pre-check passed, then something else filled the disk: the run cannot be saved. One line
    naming the folder and the space needed, no traceback, nothing half-written left behind."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cnn_core", "train", "--limit", "300", "--epochs", "1", "--filters", "4",
             "--dense", "8", "--runs-dir", str(mount / "runs")],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            while not proc.stderr.readline().startswith("data: "):  # the pre-check passed; training starts
                assert proc.poll() is None, proc.stderr.read()
            # Someone else fills the disk (unbuffered: no flush at close).
            with open(mount / "filler", "wb", buffering=0) as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                except OSError:
                    pass
            out, err = proc.communicate(timeout=240)
        finally:
            proc.kill()
        assert proc.returncode == 1, err
        assert "Traceback" not in err and out.strip() == ""
        line = err.strip().splitlines()[-1]
        assert line.startswith(f"error: training failed: not enough disk space in {shorten(str(mount / 'runs'))}"), err
        assert "needs about" in line and len(err.strip().splitlines()) <= 3
        # No half-written run, no temporary folder; only the failed job's hidden record (see records.py).
        assert [p.name for p in (mount / "runs").iterdir() if p.name != records.FOLDER] == []
    finally:
        subprocess.run(["umount", str(mount)], check=True)


# --- growing a saved run: --resume, --from, --freeze (issue 15) ---------------------------------

def _last_json(r):
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def cli_parent_made(tmp_path_factory):
    """A real 1-epoch run made by the CLI, once for the module."""
    folder = tmp_path_factory.mktemp("cli-parent")
    return Path(_last_json(cli("train", "--limit", "300", "--epochs", "1", "--filters", "8", "--dense", "16",
                               "--batch-size", "32", "--runs-dir", str(folder)))["run_dir"])


@pytest.fixture
def cli_parent(cli_parent_made, tmp_path):
    """That run, copied into a runs folder of this test's own."""
    return Path(shutil.copytree(cli_parent_made, tmp_path / "runs" / cli_parent_made.name))


def test_resume_continues_a_run_and_counts_its_epochs(cli_parent):
    result = _last_json(cli("train", "--resume", str(cli_parent), "--epochs", "1"))
    assert result["epochs_completed"] == 2 and result["config"]["epochs"] == 2
    assert result["origin"] == {"kind": "continued", "parent": cli_parent.name, "freeze": None}
    assert Path(result["run_dir"]).parent == cli_parent.parent  # saved beside its parent


def test_from_transfers_the_conv_blocks_frozen(cli_parent):
    result = _last_json(cli("train", "--from", str(cli_parent), "--freeze", "conv", "--dataset", "mnist",
                            "--limit", "200", "--epochs", "1", "--dense", "8"))
    assert result["origin"] == {"kind": "transferred", "parent": cli_parent.name, "freeze": "conv"}
    assert result["config"]["filters"] == [8] and result["config"]["dense_units"] == 8
    assert result["epochs_completed"] == 1


@pytest.mark.parametrize("args, words", [
    (["--resume", "{gone}", "--epochs", "1"], "no such run folder"),
    (["--resume", "{run}"], "--resume needs --epochs N"),
    (["--resume", "{run}", "--epochs", "1", "--batch-size", "8"], "only --epochs may be given, not --batch-size"),
    (["--from", "{run}", "--filters", "4"], "filters: a transfer keeps the conv blocks of run"),
    (["--from", "{run}", "--dataset", "cifar10"], "dataset: 'cifar10' is not one of mnist, fashion_mnist"),
    (["--freeze", "conv"], "--freeze goes with --from"),
    (["--from", "{damaged}"], "it is damaged"),
    (["--resume", "{old}", "--epochs", "1"], "was saved without its optimizer's state"),
])
def test_growing_from_a_bad_run_is_one_line_status_2_and_writes_nothing(cli_parent, args, words):
    from cnn_core import runs

    base = cli_parent.parent
    damaged, old = base / "damaged", base / "old"
    shutil.copytree(cli_parent, damaged)
    (damaged / runs.CONFIG_JSON).write_text("{}" * 3)
    shutil.copytree(cli_parent, old)
    (old / runs.STATE_FILE).unlink()
    before = sorted(p.name for p in base.iterdir())
    names = {"gone": str(base / "deleted-run"), "run": str(cli_parent), "damaged": str(damaged), "old": str(old)}
    r, _, tf = _cli_without_tensorflow("train", *[a.format(**names) for a in args])
    assert r.returncode == 2 and words in r.stderr, r.stderr
    assert tf == "NO-TENSORFLOW"  # found on paper, in a second
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert sorted(p.name for p in base.iterdir()) == before


# --- teach: a model taught a folder of drawings (issue 15 item 3) -----------------------------------

@pytest.fixture(scope="module")
def teach_folder(tmp_path_factory):
    """A drawings folder in the CLI's layout: 5 canvases each of two styles the default model reads wrong,
    and a real MNIST file with as many training digits as the offline sample (4,000) and 500 test digits."""
    from cnn_core import data
    from tests.handwriting import make_style

    base = tmp_path_factory.mktemp("teach")
    for style in ("arabic-7", "chinese-4"):
        for i, d in enumerate(make_style(style, 5, seed=0)):
            (base / "drawings" / str(d.label)).mkdir(parents=True, exist_ok=True)
            Image.fromarray(d.rgba).save(base / "drawings" / str(d.label) / f"{style}-{i}.png")
    mnist = data.load("mnist")
    (base / "data").mkdir()
    np.savez(base / "data" / "mnist.npz", x_train=mnist.x_train[:4000], y_train=mnist.y_train[:4000],
             x_test=mnist.x_test[:500], y_test=mnist.y_test[:500])
    return base


def test_teach_prints_json_last_with_the_taught_run_and_before_after(teach_folder, tmp_path):
    from cnn_core import runs, teach

    result = _last_json(cli("teach", "--drawings", str(teach_folder / "drawings"), "--runs-dir", str(tmp_path),
                            "--data-dir", str(teach_folder / "data")))
    run_dir = Path(result["run_dir"])
    assert run_dir.parent == tmp_path and result["drawings"] == 10 and result["state"] == "finished"
    assert result["origin"] == {"kind": "taught", "parent": teach.DEFAULT_MODEL, "freeze": "conv"}
    assert result["before"]["drawings"] <= 0.2 < result["after"]["drawings"]
    assert result["after"]["mnist_test"] == result["test_accuracy"] > 0.9
    assert teach.read_report(runs.read_info(run_dir)).drawings_after == result["after"]["drawings"]


@pytest.mark.parametrize("make, words", [
    (lambda d: d / "missing", "no such folder"),
    (lambda d: d, "the folder is empty"),
    (lambda d: (d / "cats").mkdir() or d, "the subfolder 'cats' is not a digit"),
    (lambda d: (d / "3").mkdir() or d, "holds no drawings"),
])
def test_teach_with_a_bad_folder_is_one_line_status_2_and_writes_nothing(tmp_path, make, words):
    (tmp_path / "drawings").mkdir()
    folder = make(tmp_path / "drawings")
    r, _, tf = _cli_without_tensorflow("teach", "--drawings", str(folder), "--runs-dir", str(tmp_path / "runs"))
    assert r.returncode == 2 and tf == "NO-TENSORFLOW"  # found before TensorFlow's seconds
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert words in r.stderr and not (tmp_path / "runs").exists()


def test_teach_with_too_few_drawings_or_a_bad_model_says_so_and_writes_nothing(teach_folder, tmp_path):
    few = Path(shutil.copytree(teach_folder / "drawings", tmp_path / "few"))
    next((few / "7").iterdir()).unlink()
    r = cli("teach", "--drawings", str(few), "--runs-dir", str(tmp_path / "runs"))
    assert r.returncode == 2 and "only 4 drawings of the digit 7" in r.stderr.strip().splitlines()[-1]
    other = tmp_path / "other.keras"
    other.write_bytes(b"")
    r = cli("teach", "--drawings", str(teach_folder / "drawings"), "--model", str(other),
            "--runs-dir", str(tmp_path / "runs"))
    assert r.returncode == 2 and "give a run folder or the shipped models/default.keras" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "runs").exists()


def test_teach_a_run_saves_the_taught_run_beside_it(teach_folder, cli_parent):
    result = _last_json(cli("teach", "--model", str(cli_parent), "--drawings", str(teach_folder / "drawings"),
                            "--data-dir", str(teach_folder / "data")))
    assert result["origin"]["parent"] == cli_parent.name and Path(result["run_dir"]).parent == cli_parent.parent
