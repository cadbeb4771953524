"""Training on a real Ray cluster: a head started here (tests/ray_head.py), real actors, real
Keras fits on small slices, real kills."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnn_core import config, grow, records, runs
from cnn_core.executor import WORKER_NICE

if importlib.util.find_spec("ray") is None:
    pytest.skip("Ray is not installed", allow_module_level=True)
from cnn_core import ray_executor  # noqa: E402  (imports Ray only when it connects: see ray_head)

ROOT = Path(__file__).resolve().parent.parent
TINY = config.PRESETS["quick"].replace(limit=600, batch_size=32, validation_split=0.1, epochs=1)
LONG = TINY.replace(limit=6000, epochs=20)  # long enough to be stopped or killed mid-fit


def test_cli_trains_on_the_cluster(ray_head, tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "cnn_core", "train", "--ray", ray_head, "--limit", "300", "--epochs", "1",
         "--batch-size", "32", "--runs-dir", str(tmp_path / "runs")],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["executor"] == "ray" and result["worker_pid"] != os.getpid()
    assert runs.read_info(Path(result["run_dir"])).state == "finished"


def test_cli_teaches_on_the_cluster(ray_head, tmp_path):
    """teach --ray: the drawings and the shipped default model travel with the job, a Ray worker fine-tunes
    it, and the taught run comes back into --runs-dir with its before-and-after report."""
    from PIL import Image

    from cnn_core import teach
    from tests.handwriting import make_style

    for style in ("arabic-7", "chinese-4"):  # two digits the default model reads wrong, 5 drawings each
        for i, d in enumerate(make_style(style, teach.MIN_PER_CLASS, seed=0)):
            (tmp_path / "drawings" / str(d.label)).mkdir(parents=True, exist_ok=True)
            Image.fromarray(d.rgba).save(tmp_path / "drawings" / str(d.label) / f"{style}-{i}.png")
    r = subprocess.run(
        [sys.executable, "-m", "cnn_core", "teach", "--ray", ray_head, "--drawings", str(tmp_path / "drawings"),
         "--runs-dir", str(tmp_path / "runs")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    run_dir = Path(result["run_dir"])
    assert result["executor"] == "ray" and run_dir.parent == tmp_path / "runs"
    assert ray_executor.trained_on(run_dir)["worker_pid"] == result["worker_pid"]  # a Ray worker's run came back
    assert result["origin"] == {"kind": "taught", "parent": teach.DEFAULT_MODEL, "freeze": "conv"}
    assert result["before"]["drawings"] <= 0.2 < result["after"]["drawings"]
    assert teach.read_report(runs.read_info(run_dir)).drawings_after == result["after"]["drawings"]


def test_an_unreachable_cluster_is_one_line_before_anything_starts(tmp_path):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]  # nothing listens there
    # The connection attempt gives up after ray_executor.CONNECT_TIMEOUT; the subprocess timeout only
    # bounds the test (no wall-clock assertion: a busy CI machine is slow to start Python).
    r = subprocess.run(
        [sys.executable, "-m", "cnn_core", "train", "--ray", f"127.0.0.1:{port}", "--limit", "300",
         "--runs-dir", str(tmp_path / "runs")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"cannot reach the Ray cluster at 127.0.0.1:{port}" in r.stderr
    assert not list((tmp_path / "runs").glob("2*"))


@pytest.fixture(scope="module")
def pool(ray_head):
    """Two warm actors shared by this module's tests (each actor imports TensorFlow once, as in the
    app); made after the CLI tests above, whose own driver needs the cluster's CPUs free."""
    pool = ray_executor.RayPool(ray_head, workers=2)
    yield pool
    pool.close()


@pytest.fixture
def executor(pool, ray_head, runs_dir):
    return ray_executor.RayExecutor(ray_head, runs_dir=runs_dir, pool=pool)  # each test its own runs folder


def test_two_jobs_train_on_the_cluster_and_come_home(executor, runs_dir):
    a, b = executor.submit(TINY, owner="ann", preset="quick"), executor.submit(TINY.replace(seed=7), owner="bob")
    a.wait(600), b.wait(600)
    for job in (a, b):
        snap = job.snapshot()
        assert snap.state == "finished", snap.error
        info = runs.read_info(job.run_dir)  # in the app's own runs folder, complete
        assert job.run_dir.parent == Path(runs_dir) and info.owner == job.owner
        assert info.test_accuracy == pytest.approx(snap.test_accuracy)
        assert len(snap.batch_loss) == snap.batches_per_epoch * TINY.epochs
        where = ray_executor.trained_on(job.run_dir)
        assert where["executor"] == "ray" and where["node"] and where["worker_pid"] == job.worker_pid
    assert a.worker_pid != b.worker_pid and os.getpid() not in (a.worker_pid, b.worker_pid)
    # The head was started from this process: its workers train below our CPU priority, as local ones
    # do (executor.WORKER_NICE), so that on a machine that also serves the app a page load comes first.
    # Ray itself does it: its raylet starts workers at nice 15 (RAY_worker_niceness).
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    for pid in (a.worker_pid, b.worker_pid):
        assert os.getpriority(os.PRIO_PROCESS, pid) >= min(19, ours + WORKER_NICE)
    # Continued on the cluster: the parent run travels to the node, the child comes home beside it.
    more, origin = grow.continued(runs.read_info(a.run_dir), 1)
    child = executor.submit(more, owner="ann", origin=origin)
    assert child.wait(600).state == "finished", child.snapshot().error
    info = runs.read_info(child.run_dir)
    assert info.origin == origin and info.epochs_completed == TINY.epochs + 1
    assert not [p for p in Path(runs_dir).iterdir() if p.name.startswith(runs.TMP_PREFIX)]
    assert not list(records.folder(runs_dir).glob("*.json"))  # runs home: their records are gone


def test_progress_arrives_while_it_trains_and_stop_keeps_a_stopped_run(executor, runs_dir):
    job = executor.submit(LONG)
    deadline = time.monotonic() + 300
    while len(job.snapshot().batch_loss) < 3:
        assert time.monotonic() < deadline and not job.done, job.snapshot().error
        time.sleep(0.1)
    # Its record is in the app's runs folder (not only on the node): a crash of the app leaves a trace.
    record = json.loads((records.folder(runs_dir) / f"{job.id}.json").read_text())
    assert record["state"] == records.RUNNING and record["pid"] == os.getpid()
    job.request_stop()
    snap = job.wait(300)
    assert snap.state == "stopped" and snap.run_name, snap.error
    info = runs.read_info(job.run_dir)
    assert info.state == "stopped" and info.epochs_completed < LONG.epochs


def test_a_killed_worker_fails_its_job_and_the_other_finishes(executor, runs_dir):
    doomed, other = executor.submit(LONG), executor.submit(TINY)
    deadline = time.monotonic() + 300
    while len(doomed.snapshot().batch_loss) < 2:
        assert time.monotonic() < deadline and not doomed.done, doomed.snapshot().error
        time.sleep(0.1)
    os.kill(doomed.worker_pid, signal.SIGKILL)
    snap = doomed.wait(120)
    assert snap.state == "failed" and "Ray worker" in snap.error and "Start the training again" in snap.error
    assert other.wait(300).state == "finished"
    # The Runs page lists the failed job (its record, in the app's folder) with the same message.
    (record,) = records.list_records(runs_dir)
    assert record.job_id == doomed.id and record.state == records.FAILED and record.error == snap.error
    assert [p.name for p in Path(runs_dir).iterdir() if not p.name.startswith(".")] == [other.run_dir.name]
    again = executor.submit(TINY)  # the learner starts again: a new worker takes it
    assert again.wait(300).state == "finished"


GONE = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from ray_head import RayHead
head = RayHead(cpus=1).start()
from cnn_core import config, ray_executor, records
runs_dir = sys.argv[2]
long = config.PRESETS["quick"].replace(limit=6000, epochs=20, batch_size=32)
ex = ray_executor.RayExecutor(head.address, runs_dir=runs_dir, pool=ray_executor.RayPool(head.address, workers=1))
job = ex.submit(long)
while len(job.snapshot().batch_loss) < 2 and not job.done:
    time.sleep(0.1)
head.stop()  # the cluster goes away mid-run
snap = job.wait(120)
late = ex.submit(long).wait(30)  # a Start pressed afterwards
print(json.dumps({"state": snap.state, "error": snap.error, "late": [late.state, late.error],
                  "records": [[r.state, r.error] for r in records.list_records(runs_dir)]}))
"""


def test_a_cluster_that_goes_away_mid_run_fails_the_job_and_every_later_one(tmp_path):
    """Its own head (the test stops it), in its own process: a process is a driver of one cluster."""
    r = subprocess.run([sys.executable, "-c", GONE, str(ROOT / "tests"), str(tmp_path / "runs")], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]  # the app's process lives on
    result = json.loads(r.stdout.strip().splitlines()[-1])
    gone = "the Ray cluster at 127.0.0.1:"
    assert result["state"] == "failed" and gone in result["error"] and "went away" in result["error"], result
    assert result["late"][0] == "failed" and gone in result["late"][1], result  # at once, not queued for ever
    assert result["records"] == [["failed", result["error"]]], result  # the Runs page lists it
    assert not [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]  # nothing half-written
