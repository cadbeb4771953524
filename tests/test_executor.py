"""Training in worker processes: real workers, real Keras fits on small slices, real signals."""

import os
import signal
import time

import pytest

from cnn_core import config, executor, runs, training

TINY = config.PRESETS["quick"].replace(limit=600, batch_size=32, validation_split=0.1, epochs=1)
LONG = TINY.replace(limit=6000, epochs=20)  # long enough to be stopped or killed mid-fit


@pytest.fixture(scope="module")
def pool():
    p = executor.WorkerPool(workers=2)
    yield p
    p.close()


def wait_for(predicate, timeout=240.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_two_jobs_train_in_other_processes_at_once(pool, runs_dir):
    ex = executor.LocalExecutor(runs_dir=runs_dir, pool=pool)
    a, b = ex.submit(TINY, owner="ann", preset="quick"), ex.submit(TINY.replace(seed=7), owner="bob")
    sa, sb = a.wait(300), b.wait(300)
    assert (sa.state, sb.state) == ("finished", "finished"), (sa.error, sb.error)
    assert a.worker_pid != b.worker_pid and os.getpid() not in (a.worker_pid, b.worker_pid)
    # Workers train below the server's CPU priority: a page load or a prediction is someone waiting.
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    for pid in (a.worker_pid, b.worker_pid):
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, ours + executor.WORKER_NICE)
    for job, snap in ((a, sa), (b, sb)):
        info = runs.read_info(job.run_dir)
        assert info.state == "finished" and info.owner == job.owner
        assert info.test_accuracy == pytest.approx(snap.test_accuracy)
        # Every batch crossed the process boundary, in order, and the epoch history with it.
        assert len(snap.batch_loss) == snap.batches_per_epoch * TINY.epochs
        assert len(snap.epoch_history["val_accuracy"]) == TINY.epochs
        assert snap.train_seconds and snap.train_seconds > 0
    assert {j.id for j in ex.jobs(owner="ann")} == {a.id} and not ex.active()


def test_stop_keeps_a_stopped_run(pool, runs_dir):
    ex = executor.LocalExecutor(runs_dir=runs_dir, pool=pool)
    job = ex.submit(LONG)
    wait_for(lambda: len(job.snapshot().batch_loss) >= 3, what="the first batches")
    job.request_stop()
    assert job.snapshot().state in ("stopping", "stopped")
    snap = job.wait(300)
    assert snap.state == "stopped" and snap.run_name
    info = runs.read_info(job.run_dir)
    assert info.state == "stopped" and info.epochs_completed < LONG.epochs


def test_a_queued_job_stops_at_once_and_positions_are_kept(pool, runs_dir):
    ex = executor.LocalExecutor(runs_dir=runs_dir, pool=pool)
    busy = [ex.submit(LONG), ex.submit(LONG)]
    third, fourth = ex.submit(TINY), ex.submit(TINY)
    wait_for(lambda: all(j.snapshot().state == "running" for j in busy), what="both workers busy")
    assert (third.snapshot().queue_position, fourth.snapshot().queue_position) == (1, 2)
    third.request_stop()
    snap = third.wait(5)
    assert snap.state == "stopped" and snap.error == training.NOT_STARTED and third.run_dir is None
    assert fourth.snapshot().queue_position == 1
    for job in busy + [fourth]:
        job.request_stop()
    for job in busy + [fourth]:
        assert job.wait(300).done


def test_a_killed_worker_fails_its_job_and_the_others_go_on(pool, runs_dir):
    ex = executor.LocalExecutor(runs_dir=runs_dir, pool=pool)
    doomed, other = ex.submit(LONG), ex.submit(TINY)
    wait_for(lambda: len(doomed.snapshot().batch_loss) >= 2, what="the doomed job's first batches")
    os.kill(doomed.worker_pid, signal.SIGKILL)
    snap = doomed.wait(60)
    assert snap.state == "failed" and "killed by SIGKILL" in snap.error and "Start the training again" in snap.error
    assert other.wait(300).state == "finished"
    assert [r.name for r in runs.list_runs(runs_dir)] == [other.snapshot().run_name]
    # The pool replaced the dead worker: the next job runs.
    again = ex.submit(TINY)
    assert again.wait(300).state == "finished"
    assert doomed.worker_pid not in pool.worker_pids()


def test_sigterm_to_a_worker_saves_its_job_as_stopped(pool, runs_dir):
    ex = executor.LocalExecutor(runs_dir=runs_dir, pool=pool)
    job = ex.submit(LONG)
    wait_for(lambda: len(job.snapshot().batch_loss) >= 2, what="the first batches")
    os.kill(job.worker_pid, signal.SIGTERM)
    snap = job.wait(300)
    assert snap.state == "stopped", snap.error
    assert runs.read_info(job.run_dir).state == "stopped"


def test_job_records_trace_running_failed_and_interrupted_jobs(pool, runs_dir):
    from cnn_core import records

    ex = executor.LocalExecutor(runs_dir=runs_dir, pool=pool)
    job = ex.submit(LONG, owner="ann")
    path = records.folder(runs_dir) / f"{job.id}.json"
    wait_for(lambda: len(job.snapshot().epoch_history["loss"]) >= 1, what="the first epoch")
    wait_for(path.is_file, 30, "the job's record")
    raw = __import__("json").loads(path.read_text())
    assert raw["state"] == "running" and raw["owner"] == "ann" and raw["pid"] == job.worker_pid
    # The worker dies: the server marks the record failed, with the curves so far.
    os.kill(job.worker_pid, signal.SIGKILL)
    job.wait(60)
    (failed,) = records.list_records(runs_dir)
    assert failed.state == "failed" and "SIGKILL" in failed.error and failed.config == LONG
    assert failed.epochs_completed >= 1 and len(failed.history["epoch"]["loss"]) >= 1
    # A record left "running" by a process that is gone (the whole server killed) is interrupted on start.
    raw.update(job_id="ghost", pid=2**22 + 12345)  # beyond pid_max: no such process
    (records.folder(runs_dir) / "ghost.json").write_text(__import__("json").dumps(raw))
    executor.LocalExecutor(runs_dir=runs_dir, pool=pool)
    states = {r.job_id: r.state for r in records.list_records(runs_dir)}
    assert states == {job.id: "failed", "ghost": "interrupted"}
    records.dismiss(runs_dir, "ghost")
    assert [r.job_id for r in records.list_records(runs_dir)] == [job.id]
    # A job that ends with a run leaves no record: the run says everything.
    done = ex.submit(TINY)
    assert done.wait(300).state == "finished"
    assert not (records.folder(runs_dir) / f"{done.id}.json").exists()


def test_close_saves_the_running_job_and_the_server_sees_it_end(runs_dir):
    """What the server does on SIGTERM: its own view of the job ends too, not just the worker's."""
    own = executor.WorkerPool(workers=1)
    try:
        ex = executor.LocalExecutor(runs_dir=runs_dir, pool=own)
        job = ex.submit(LONG)
        wait_for(lambda: len(job.snapshot().batch_loss) >= 2, what="the first batches")
        (worker,) = own.worker_pids()
        own.close()
        snap = job.snapshot()
        assert snap.state == "stopped" and snap.run_name, (snap.state, snap.error)
        assert runs.read_info(job.run_dir).state == "stopped"
        assert not own.worker_pids() and not os.path.exists(f"/proc/{worker}/status")
        late = ex.submit(TINY)  # a Start pressed while the server stops: told, not queued forever
        assert late.wait(5).state == "failed" and "stopping" in late.snapshot().error
    finally:
        own.close()


def test_close_lets_workers_that_exit_go_without_killing_them(runs_dir, caplog):
    """The pump reaps each worker that exits; close() reaping them too raced it (the loser of two
    waitpid() calls sees no child and took it for alive), and logged killing workers that had left."""
    own = executor.WorkerPool(workers=2)
    try:
        snap = executor.LocalExecutor(runs_dir=runs_dir, pool=own).submit(TINY.replace(limit=200)).wait(240)
        assert snap.state == training.FINISHED, snap.error
        wait_for(lambda: all(w.ready for w in own._workers), what="both workers' start")
        processes = [w.process for w in own._workers]
    finally:
        own.close()
    assert [p.exitcode for p in processes] == [0, 0]
    assert not [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]


def test_close_kills_a_worker_that_does_not_exit(runs_dir):
    own = executor.WorkerPool(workers=1)
    wait_for(lambda: own._workers[0].ready, what="the worker's start")
    (pid,) = own.worker_pids()
    os.kill(pid, signal.SIGSTOP)  # frozen: it can never read "exit", nor act on SIGTERM
    started = time.monotonic()
    own.close(timeout=2)
    assert time.monotonic() - started < 15
    assert not os.path.exists(f"/proc/{pid}/status"), "the frozen worker should be killed and reaped"


def test_a_worker_does_not_run_the_parents_main_script(runs_dir, tmp_path, monkeypatch):
    """In the app's server, sys.modules["__main__"] is Streamlit's module for app.py: a spawned
    worker would run the whole app again (as `__mp_main__`) before its first job."""
    import sys
    import types

    marker = tmp_path / "main-script-ran"
    script = tmp_path / "app_like.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    main = types.ModuleType("__main__")
    main.__file__ = str(script)  # as Streamlit's script module: a file, no spec
    monkeypatch.setitem(sys.modules, "__main__", main)
    own = executor.WorkerPool(workers=1)
    try:
        wait_for(lambda: own._workers[0].ready, what="the worker's start")
        snap = executor.LocalExecutor(runs_dir=runs_dir, pool=own).submit(TINY.replace(limit=200)).wait(240)
        assert snap.state == training.FINISHED, snap.error
    finally:
        own.close()
    assert sys.modules["__main__"] is main, "the parent's main module is put back"
    assert not marker.exists(), "the worker ran the parent's main script"


def test_a_worker_is_replaced_after_jobs_per_worker_jobs(runs_dir, monkeypatch):
    """TensorFlow keeps memory per fit that clear_session does not return: a worker is replaced after
    JOBS_PER_WORKER jobs. The server counts them (WorkerPool._handle), so lowering it here is enough."""
    monkeypatch.setattr(executor, "JOBS_PER_WORKER", 2)
    own = executor.WorkerPool(workers=1)
    try:
        ex = executor.LocalExecutor(runs_dir=runs_dir, pool=own)
        jobs = [ex.submit(TINY.replace(limit=200, seed=s)) for s in (1, 2, 3)]
        for job in jobs:
            snap = job.wait(300)
            assert snap.state == training.FINISHED, snap.error
        first, second, third = (job.worker_pid for job in jobs)
        assert first == second, "the first two jobs share a worker"
        assert third != first, "the third job runs in a fresh worker"
        assert own.worker_pids() == [third]
        # Its exit (TensorFlow's teardown, at low priority) may outlast the third job: it is reaped when it ends.
        wait_for(lambda: not os.path.exists(f"/proc/{first}/status"), 120, "the old worker to exit and be reaped")
    finally:
        own.close()


def test_old_finished_jobs_are_forgotten_their_runs_stay(runs_dir, monkeypatch):
    """Each finished job holds its per-batch curves: the server keeps only each learner's latest few
    (and a cap in all), never an unfinished one; the saved run stays on disk."""
    monkeypatch.setattr(executor, "KEEP_FINISHED_PER_OWNER", 2)
    own = executor.WorkerPool(workers=1)
    try:
        ex = executor.LocalExecutor(runs_dir=runs_dir, pool=own)

        def run(owner, seed):
            job = ex.submit(TINY.replace(limit=200, seed=seed), owner=owner)
            assert job.wait(300).state == training.FINISHED, job.snapshot().error
            return job

        a1, a2, b1, a3 = run("ann", 1), run("ann", 2), run("bob", 3), run("ann", 4)
        assert len(ex.jobs()) == 4, "nothing is forgotten before the next Start"
        a4 = ex.submit(TINY.replace(limit=200, seed=5), owner="ann")
        assert ex.get(a1.id) is None, "ann's oldest finished job is forgotten"
        assert {j.id for j in ex.jobs()} == {a2.id, b1.id, a3.id, a4.id}
        assert runs.read_info(a1.run_dir).state == training.FINISHED, "its run stays on disk"
        assert a4.wait(300).state == training.FINISHED

        monkeypatch.setattr(executor, "KEEP_FINISHED", 2)  # the cap over all learners
        b2 = ex.submit(TINY.replace(limit=200, seed=6), owner="bob")
        assert {j.id for j in ex.jobs()} == {a3.id, a4.id, b2.id}, "the newest finished ones, and the new job"
        assert b2.wait(300).state == training.FINISHED
    finally:
        own.close()
