"""Training jobs in warm worker processes, so the web server only reads their progress.

A training in the server's own process competes with every page for the interpreter lock:
with the Train page open a fit ran 5x slower, and each learner slowed all the others. Here
each job runs in one of a few worker processes (started once, TensorFlow imported once
per worker, not per job), and the server keeps a copy of each job's Progress that the
workers update a few times a second. Pages read snapshots exactly as with the in-process
`training.JobManager`; `LocalExecutor` has the same interface (submit, get, jobs, active),
so a second executor (a Ray cluster) can stand in for it.

Each worker talks to the server over its own pipe (a shared queue could be left locked by
a worker killed mid-write). A worker that dies fails its job with a message and is
replaced; a worker whose server disappears stops its job after the current batch, saves
it as a stopped run and exits, and so does one sent SIGTERM.
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import types
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path

from . import records, training
from . import runs as runs_mod
from .config import TrainConfig
from .errors import UserError
from .training import (
    ACTIVE_STATES,
    FAILED,
    LOADING,
    NOT_STARTED,
    QUEUED,
    RUNNING,
    STOPPED,
    STOPPING,
    Progress,
    Snapshot,
    new_job_id,
)

log = logging.getLogger(__name__)
SEND_EVERY = 0.25  # seconds between progress messages of a running job: charts update 4x a second
# A worker is replaced after this many jobs: TensorFlow keeps ~20-30 MB per fit that clear_session does not return.
JOBS_PER_WORKER = 10
# Finished jobs the server keeps in memory, per learner and in all: each holds its per-batch curves
# (30-400 KB), and a server up all day must not keep every training ever run. Pages need only a
# learner's latest jobs (the Train page's attached one, the Draw page's latest teach job); the
# saved runs stay on disk, and a page whose job was dropped shows its form again.
KEEP_FINISHED_PER_OWNER = 5
KEEP_FINISHED = 200  # every new browser is a new learner: this bounds the total too
# Workers train at a lower CPU priority than the server: training is batch work that can wait a few
# milliseconds, while a page load, a health check or a drawing's prediction is someone waiting.
# On 2 cores shared by the server, 2 workers (and, on a laptop, the browser) this keeps the pages
# responsive under load; alone, a niced worker trains as fast as ever (nothing competes).
WORKER_NICE = 10
START_FAILURES = 3  # workers that die before they are ready, in a row, before queued jobs are failed
# Scalar Progress fields a worker reports; the per-batch series travel as increments.
FIELDS = ("state", "epoch", "batch", "batches_per_epoch", "error", "data_source", "run_name",
          "test_accuracy", "test_loss", "phase", "train_seconds", "first_epoch")


@dataclass(frozen=True)
class JobSpec:
    """What a worker needs to run a job: plain values, sent through a pipe."""

    job_id: str
    config: TrainConfig
    owner: str | None
    preset: str | None
    runs_dir: str
    data_dir: str | None
    origin: runs_mod.Origin = runs_mod.FROM_SCRATCH  # from scratch, or grown from a parent run (grow.py)
    teach: object = None  # a teach job's drawings (teach.TeachSet: arrays, no paths), sent with the job


class ProcessJob:
    """The server's handle on a job running in a worker: same interface as training.TrainingJob."""

    def __init__(self, spec: JobSpec, pool: "WorkerPool"):
        self.spec, self._pool = spec, pool
        self.id, self.config, self.owner, self.preset = spec.job_id, spec.config, spec.owner, spec.preset
        self.origin = spec.origin  # as TrainingJob's: a teach job is told apart by origin.kind == TAUGHT
        self.progress = Progress(self.id, self.config, self.owner)
        self.run_dir: Path | None = None
        self.worker_pid: int | None = None
        self._sent = 0  # per-batch values received so far
        self._ended = threading.Event()

    def snapshot(self) -> Snapshot:
        return self.progress.snapshot()

    @property
    def done(self) -> bool:
        return self._ended.is_set()

    def wait(self, timeout: float | None = None) -> Snapshot:
        self._ended.wait(timeout)
        return self.snapshot()

    def request_stop(self) -> None:
        """Stop after the current batch (the partly trained model is saved); a queued job just leaves the queue."""
        self._pool.stop(self)

    # Called by the pool's pump thread only.
    def _apply(self, delta: dict) -> None:
        p = self.progress
        with p._lock:
            stop_asked = p.state == STOPPING
            for name in FIELDS:
                if name in delta:
                    setattr(p, name, delta[name])
            if stop_asked and p.state == RUNNING:
                p.state = STOPPING  # a stop asked for here is not undone by a message sent before it arrived
            losses, accs = delta.get("batch_loss", ()), delta.get("batch_accuracy", ())
            p.batch_loss.extend(losses)
            p.batch_accuracy.extend(accs)
            if "epoch_history" in delta:
                p.epoch_history = {k: list(v) for k, v in delta["epoch_history"].items()}
            if "elapsed" in delta and p.started is None:
                p.started = time.monotonic() - delta["elapsed"]
        self._sent += len(losses)
        if delta.get("state") not in (None, *ACTIVE_STATES):
            self._finish()

    def _fail(self, message: str) -> None:
        self.progress.update(state=FAILED, error=message, phase=None)
        self._finish()

    def _finish(self) -> None:
        p = self.progress
        with p._lock:
            p.ended = time.monotonic()
            if p.started is None:
                p.started = p.ended
            p.phase = None
            name = p.run_name
        if name:
            self.run_dir = runs_mod.run_path(name, self.spec.runs_dir)
        self._ended.set()


_start_lock = threading.Lock()


@contextlib.contextmanager
def _main_module_hidden():
    """Start a spawned process without it running the parent's main script first.

    A spawned child imports the parent's `__main__` again, from its file. In the app's server
    that is app.py, not the server's entry point: Streamlit puts each script run's module in
    sys.modules["__main__"]. So every worker ran the whole app (Streamlit imported, the Home
    page drawn to nowhere, warnings in the server's log) before its first job. A stand-in with
    no file and no spec makes the child import nothing; the worker's own code comes from
    cnn_core by name.
    """
    with _start_lock:
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            if main is not None:
                sys.modules["__main__"] = main


class _Worker:
    def __init__(self, ctx):
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_worker_main, args=(child,), name="cnn-lab-worker", daemon=True)
        with _main_module_hidden():
            self.process.start()
        child.close()  # the child's end lives in the child: EOF here means the worker is gone
        self.ready = False  # TensorFlow imported, waiting for jobs
        self.leaving = False  # told to exit, or exiting after its job: give it no new job
        self.job: ProcessJob | None = None
        self.jobs_done = 0
        self.send_lock = threading.Lock()

    def send(self, message) -> bool:
        with self.send_lock:
            try:
                self.conn.send(message)
                return True
            except (OSError, EOFError, ValueError):
                return False


class JobQueue:
    """What every pool of workers shares: the FIFO queue of jobs waiting for a worker, its
    positions, Stop, and the start of closing. A pool says which worker runs a job (`_running`)
    and how to ask it to stop (`_ask_stop`)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._queue: deque[ProcessJob] = deque()
        self._closing = False  # close() began: no new jobs, no new workers
        self._broken: str | None = None  # why this pool can run no job any more (a Ray cluster gone)

    def enqueue(self, job: ProcessJob) -> None:
        with self._lock:
            accepted = not self._closing and self._broken is None
            if accepted:
                self._queue.append(job)
                self._renumber()
        if accepted:
            self._wake()  # the pump hands it to a free worker now, not at its next tick
            return
        job._fail(self._broken or "the server is stopping; start the training again once it is back")

    def _wake(self) -> None:
        """Tell the pump that there is a job to dispatch."""
        raise NotImplementedError

    def _break(self, message: str) -> None:
        """For good: the queued jobs fail with `message`, and so does every job submitted from now on."""
        with self._lock:
            self._broken = message
            queued = list(self._queue)
            self._queue.clear()
        for job in queued:
            job._fail(message)

    def stop(self, job: ProcessJob) -> None:
        with self._lock:
            if job in self._queue:
                self._queue.remove(job)
                self._renumber()
                job.progress.update(state=STOPPED, error=NOT_STARTED)
                job._finish()
                return
            worker = self._running(job)
        if worker is not None and not job.done:
            with job.progress._lock:
                if job.progress.state in (RUNNING, QUEUED):
                    job.progress.state = STOPPING
            self._ask_stop(worker, job)

    def _running(self, job: ProcessJob):
        raise NotImplementedError

    def _ask_stop(self, worker, job: ProcessJob) -> None:
        raise NotImplementedError

    def _begin_closing(self) -> bool:
        """Once: no new jobs; the queued ones stop at once. False when closing had begun already."""
        with self._lock:
            if self._closing:
                return False
            self._closing = True
            queued = list(self._queue)
            self._queue.clear()
        for job in queued:
            job.progress.update(state=STOPPED, error=NOT_STARTED)
            job._finish()
        return True

    def _renumber(self) -> None:
        for i, job in enumerate(self._queue, start=1):
            job.progress.update(queue_position=i)


class WorkerPool(JobQueue):
    """A few warm worker processes and the FIFO queue of jobs waiting for one."""

    def __init__(self, workers: int | None = None):
        self.size = workers or training.default_max_jobs()
        super().__init__()
        self._ctx = multiprocessing.get_context("spawn")  # never fork a process that runs TensorFlow threads
        self._workers: list[_Worker] = []
        self._start_failures = 0
        self._closed = False  # close() ended: the pump stops
        for _ in range(self.size):
            self._workers.append(_Worker(self._ctx))
        # The pump sleeps in wait() on the workers' pipes; a new job writes a byte to this one to wake it.
        self._wake_r, self._wake_w = self._ctx.Pipe(duplex=False)
        self._pump = threading.Thread(target=self._run, name="cnn-lab-pool", daemon=True)
        self._pump.start()
        atexit.register(self.close)

    def _wake(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # closed: the pump has stopped anyway
            self._wake_w.send_bytes(b"")

    def _running(self, job: ProcessJob) -> _Worker | None:
        return next((w for w in self._workers if w.job is job), None)

    def _ask_stop(self, worker: _Worker, job: ProcessJob) -> None:
        worker.send(("stop", job.id))

    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process.pid]

    def close(self, timeout: float = 30.0) -> None:
        """Stop every job after its current batch (each is saved as a stopped run), then end the workers.

        The pump goes on reading the workers' pipes meanwhile: a worker whose pipe nobody reads
        blocks on its next progress message and never gets to save and exit. One still there at
        the deadline is killed (SIGTERM would only ask again for what "exit" asked).

        Exits are awaited on the workers' sentinels, and the pump alone reaps them: two threads
        joining one child race, and the loser's waitpid() finds no child and takes it for alive.
        """
        if not self._begin_closing():
            return
        with self._lock:
            workers = list(self._workers)
        for w in workers:
            w.send(("exit",))  # a busy worker stops its job, saves it, then exits
        running = {w.process.sentinel: w for w in workers}
        deadline = time.monotonic() + timeout
        while running and (left := deadline - time.monotonic()) > 0:
            for gone in wait(list(running), left):
                del running[gone]
        for w in running.values():  # not ended, so not reaped: its pid is still its own
            log.error("training worker %s did not exit within %.0f s; killing it", w.process.pid, timeout)
            w.process.kill()
        end = time.monotonic() + 5
        while self._workers and time.monotonic() < end:  # the pump sees each exit (an unsaved job fails)
            time.sleep(0.05)
        self._closed = True
        self._wake()  # the pump leaves its wait() now; then its wake-up pipe can go
        self._pump.join(5)
        if not self._pump.is_alive():
            self._wake_r.close()
            self._wake_w.close()

    # --- the pump: the only reader of the workers' pipes -----------------------------------

    def _run(self) -> None:
        while not self._closed:
            try:
                self._pump_once()
            except Exception:  # the pump must outlive any one bad message
                log.exception("job pool: unexpected error")
                time.sleep(0.5)

    def _pump_once(self) -> None:
        with self._lock:
            workers = list(self._workers)
        conns = {w.conn: w for w in workers}
        sentinels = {w.process.sentinel: w for w in workers}
        for ready in wait([self._wake_r, *conns, *sentinels], timeout=0.2):
            if ready is self._wake_r:
                self._wake_r.recv_bytes()
                continue
            worker = conns.get(ready) or sentinels.get(ready)
            if worker not in self._workers:
                continue  # its pipe and its exit both woke us: already replaced
            if ready in conns:
                try:
                    message = ready.recv()
                except (EOFError, OSError):
                    message = None
                if message is not None:
                    self._handle(worker, message)
                    continue
            self._drain(worker)  # its last messages (the job's end) came before its exit
            worker.process.join(5)  # EOF or exit: reap it, then replace it
            if worker.process.exitcode is None:  # still exiting (TensorFlow's teardown, at low priority, can
                # outlast the wait): reaped whenever it ends, so no zombie is left behind
                threading.Thread(target=worker.process.join, name="cnn-lab-reaper", daemon=True).start()
            self._replace(worker)
        self._dispatch()

    def _drain(self, worker: _Worker) -> None:
        try:
            while worker.conn.poll():
                self._handle(worker, worker.conn.recv())
        except (EOFError, OSError):
            pass

    def _handle(self, worker: _Worker, message: tuple) -> None:
        kind = message[0]
        if kind == "ready":
            worker.ready = True
            self._start_failures = 0
        elif kind == "leaving":
            worker.leaving = True
        elif kind == "progress" and worker.job is not None and worker.job.id == message[1]:
            worker.job._apply(message[2])
            if worker.job.done:
                worker.job, worker.jobs_done = None, worker.jobs_done + 1
                if worker.jobs_done >= JOBS_PER_WORKER:
                    worker.leaving = True
                    worker.send(("exit",))  # replaced when it has gone

    def _replace(self, worker: _Worker) -> None:
        code = worker.process.exitcode
        job = worker.job
        if job is not None and not job.done:
            message = (f"the training process ended unexpectedly ({_describe_exit(code)}); "
                       "nothing was saved. Start the training again.")
            records.mark(job.spec.runs_dir, job.id, records.FAILED, message)  # before anyone sees it failed
            job._fail(message)
            log.error("worker %s died during job %s: %s", worker.process.pid, job.id, _describe_exit(code))
        if not worker.ready and job is None:
            self._start_failures += 1
            log.error("a training worker failed to start (%s)", _describe_exit(code))
        worker.conn.close()
        with self._lock:
            self._workers.remove(worker)
            if not self._closing:
                self._workers.append(_Worker(self._ctx))
            queued = list(self._queue) if self._start_failures >= START_FAILURES else []
            if queued:
                self._queue.clear()
        for q in queued:
            q._fail("the training processes cannot start (see the server's log); try again later")

    def _dispatch(self) -> None:
        with self._lock:
            while self._queue:
                worker = next((w for w in self._workers
                               if w.ready and not w.leaving and w.job is None and w.process.is_alive()), None)
                if worker is None:
                    return
                job = self._queue.popleft()
                self._renumber()
                worker.job, job.worker_pid = job, worker.process.pid
                job.progress.update(state=RUNNING, phase=LOADING, queue_position=0, started=time.monotonic())
                if not worker.send(("run", job.spec)):
                    worker.job = None
                    job._fail("the training process could not be reached; start the training again")



def _describe_exit(code: int | None) -> str:
    if code is None:
        return "it stopped answering"
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        why = ", often because the machine ran out of memory" if -code == signal.SIGKILL else ""
        return f"killed by {name}{why}"
    return f"exit status {code}"


_shared: WorkerPool | None = None
_shared_lock = threading.Lock()


def shared_pool() -> WorkerPool:
    """The process-wide pool: every executor in this process (one per runs folder) shares its workers."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared._closing:
            _shared = WorkerPool()
        return _shared


class LocalExecutor:
    """Same interface as training.JobManager; the fits run in the shared pool's worker processes."""

    name = "local"  # which executor trained a job: the CLI's JSON says it

    def __init__(self, runs_dir=None, data_dir=None, pool: WorkerPool | None = None):
        self.runs_dir, self.data_dir = runs_dir, data_dir
        self.pool = pool or shared_pool()
        self.max_jobs = self.pool.size
        # Jobs left "running" by a server that crashed or was killed are interrupted, not running.
        records.recover(runs_mod.runs_root(runs_dir))
        self._lock = threading.Lock()
        self._jobs: dict[str, ProcessJob] = {}

    def submit(self, config: TrainConfig, *, owner: str | None = None, preset: str | None = None,
               origin: runs_mod.Origin = runs_mod.FROM_SCRATCH, teach=None) -> ProcessJob:
        """Validate, then queue a job. ConfigError or RunError before anything starts."""
        from .cost import check_free_space
        from .grow import check
        from .limits import ClassLimits

        config.validate()
        limits = ClassLimits.from_env()  # the teacher's caps, read now: a changed setting applies at once
        limits.check_config(config)
        root = runs_mod.ensure_root(self.runs_dir)
        check(config, origin, root, teach)  # a parent run to grow from: there, readable, and fitting `config`
        check_free_space(root, config)
        spec = JobSpec(new_job_id(), config, owner, preset, str(root),
                       None if self.data_dir is None else str(self.data_dir), origin, teach)
        job = ProcessJob(spec, self.pool)
        with self._lock:  # counted and added in one step: two quick Starts cannot both pass the cap
            limits.check_jobs(owner, sum(1 for j in self._jobs.values() if j.owner == owner and not j.done))
            self._jobs[job.id] = job
            self._forget_old()
        self.pool.enqueue(job)
        return job

    def _forget_old(self) -> None:
        """Drop old finished jobs (see KEEP_FINISHED_PER_OWNER); unfinished ones always stay. Lock held."""
        kept, per_owner = 0, {}
        for job in reversed(list(self._jobs.values())):  # newest first
            if not job.done:
                continue
            if kept >= KEEP_FINISHED or per_owner.get(job.owner, 0) >= KEEP_FINISHED_PER_OWNER:
                del self._jobs[job.id]
            else:
                kept, per_owner[job.owner] = kept + 1, per_owner.get(job.owner, 0) + 1

    def submit_teach(self, model: str, drawings, *, owner: str | None = None) -> ProcessJob:
        """Teach `model` (a run name or teach.DEFAULT_MODEL) the drawings (a teach.TeachSet): a job like any
        other (queue, progress, Stop, limits), whose run is Origin(TAUGHT, model). TeachError / RunError first."""
        from . import teach

        config, origin = teach.plan(model, drawings, self.runs_dir)
        return self.submit(config, owner=owner, origin=origin, teach=drawings)

    def get(self, job_id: str) -> ProcessJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self, owner: str | None = None) -> list[ProcessJob]:
        with self._lock:
            return [j for j in self._jobs.values() if owner is None or j.owner == owner]

    def active(self) -> list[ProcessJob]:
        return [j for j in self.jobs() if not j.done]


# --- the worker process -------------------------------------------------------------------

def _worker_main(conn: Connection) -> None:
    """Runs jobs one at a time with the in-process engine and reports their progress, then ends at once."""
    _serve(conn)
    # Every job is saved and reported by now. What is left is the interpreter's teardown, which a spawned
    # process goes through (sys.exit): with TensorFlow loaded it garbage-collects for a second or more at
    # this low priority, longer on a busy machine, and a pool's close() or a worker's replacement waits for
    # it. Nothing in it is ours to keep.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _serve(conn: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the server's terminal: the server decides
    stopping = threading.Event()  # SIGTERM or the server gone: finish (stop) the current job, then exit
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 PID`: its stacks in the server's log
    with contextlib.suppress(OSError):  # already at the lowest priority: train anyway
        os.nice(WORKER_NICE)
    from .cli import _import_tensorflow_quietly

    _import_tensorflow_quietly()  # the slow import, paid once per worker, without TensorFlow's CUDA notices
    import keras

    conn.send(("ready", os.getpid()))
    manager = training.JobManager(max_jobs=1)
    while not stopping.is_set():
        try:
            if not conn.poll(0.5):
                continue
            message = conn.recv()
        except (EOFError, OSError):
            return  # the server is gone and no job is running
        if message[0] == "exit":
            return
        if message[0] == "run":
            _run_job(conn, manager, message[1], stopping)
            import gc

            keras.backend.clear_session()  # the finished model's graphs and layer names
            gc.collect()


def progress_delta(snap: Snapshot, sent: int) -> tuple[dict, int]:
    """What a worker sends the server about its job: the scalar fields, the per-batch values after the
    first `sent` (increments: a long run's series never travel twice), the epoch curves. Returns the
    message and the new count sent. Read by ProcessJob._apply; the Ray actor sends the same."""
    delta = {name: getattr(snap, name) for name in FIELDS}
    delta.update(batch_loss=snap.batch_loss[sent:], batch_accuracy=snap.batch_accuracy[sent:],
                 epoch_history=snap.epoch_history, elapsed=snap.elapsed)
    return delta, len(snap.batch_loss)


def _run_job(conn: Connection, manager: training.JobManager, spec: JobSpec, stopping: threading.Event) -> None:
    manager.runs_dir, manager.data_dir = spec.runs_dir, spec.data_dir
    try:
        job = manager.submit(spec.config, owner=spec.owner, preset=spec.preset, job_id=spec.job_id, origin=spec.origin,
                             teach=spec.teach)
    except UserError as e:  # checked by the server, changed since (a parent run deleted meanwhile)
        with contextlib.suppress(OSError, EOFError, ValueError):
            conn.send(("progress", spec.job_id, {"state": FAILED, "error": str(e)}))
        return
    sent, server_gone = 0, False
    while True:
        job.progress.changed.wait(SEND_EVERY)  # a tick, or at once when the job changes state or phase, or ends
        job.progress.changed.clear()
        finished = job._ended.is_set()  # after the clear: an end after it sets `changed` again
        try:
            while conn.poll():
                message = conn.recv()
                if message[0] == "stop" and message[1] == job.id:
                    job.request_stop()
                elif message[0] == "exit":
                    stopping.set()
        except (EOFError, OSError):
            server_gone = True
        if (stopping.is_set() or server_gone) and not job._stop.is_set():
            job.request_stop()  # saved as a stopped run, like the CLI's Ctrl-C
        if finished and stopping.is_set() and not server_gone:
            try:
                conn.send(("leaving",))  # before the job's end, so the server sends this worker no new job
            except (OSError, EOFError, ValueError):
                server_gone = True
        snap = job.snapshot()
        if not finished and snap.done:
            # Its final state is written just before its thread ends. Sent before that, the server would
            # hand this worker its next job while this loop still reads (and drops) the messages.
            continue
        delta, sent = progress_delta(snap, sent)
        if not server_gone:
            try:
                conn.send(("progress", job.id, delta))
            except (OSError, EOFError, ValueError):
                server_gone = True
        if finished:
            if server_gone:
                stopping.set()
            return
