"""Training jobs on a Ray cluster, for a class that outgrows one machine.

The same interface as the local executor (submit, get, jobs, active; jobs with snapshot,
request_stop, wait, run_dir), so the pages and the CLI do not know which one they use:
`RayExecutor` is `executor.LocalExecutor` with a `RayPool` in place of the local worker pool.

- Warm actors (one per CPU the cluster offers, at most CNN_MAX_JOBS when set), each a Ray worker
  process that imported TensorFlow once, run one job at a time with the in-process engine.
  The pool's pump asks each busy actor for its job's progress four times a second (batch
  values as increments, like the local workers' pipes) and passes Stop on.
- A job's run is saved on the actor's node, in a temporary folder, then sent back as one tar
  archive that the app unpacks into its own runs folder (hidden, then renamed into place):
  the app and the nodes share no filesystem. The run records which node and process trained it.
- The job's record (records.py: what a crash of the app leaves on the Runs page) is written here,
  in the app's runs folder, from the progress the pump receives; the actor's own stays on its node.
- The data is the worker's own (its CNN_DATA_DIR, Keras cache or the offline sample).
- An actor that dies (killed, out of memory, its node gone) fails its job with a message
  and is replaced; a cluster that cannot be reached is a UserError before anything starts.

Ray is imported only when a RayExecutor is made: the app on a laptop never loads it.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import logging
import os
import shutil
import socket
import tarfile
import tempfile
import threading
import time
from pathlib import Path

from . import records, training
from . import runs as runs_mod
from .errors import UserError
from .executor import SEND_EVERY, JobQueue, JobSpec, LocalExecutor, ProcessJob, progress_delta
from .files import fsync_dir, write_json
from .training import LOADING, RUNNING

log = logging.getLogger(__name__)
ADDRESS_ENV = "CNN_RAY_ADDRESS"
CONNECT_TIMEOUT = 5.0  # seconds to reach the cluster's head before saying it cannot be reached
CALL_TIMEOUT = 30.0  # seconds an actor may take to answer one progress poll before it counts as gone


class ClusterError(UserError):
    """The Ray cluster cannot be reached, or went away; the message says which address."""


def address_from_env() -> str | None:
    return os.environ.get(ADDRESS_ENV) or None


# --- the actor: runs on a cluster node -----------------------------------------------------

class Trainer:
    """One warm Ray worker process: TensorFlow imported once, one job at a time."""

    def __init__(self):
        from .cli import _import_tensorflow_quietly

        _import_tensorflow_quietly()
        self.folder = Path(tempfile.mkdtemp(prefix="cnn-lab-ray-"))  # this node's own runs folder
        self.manager = training.JobManager(max_jobs=1, runs_dir=self.folder)
        self.job = None
        self.sent = 0

    def where(self) -> dict:
        import ray

        return {"executor": "ray", "node": ray.get_runtime_context().get_node_id(),
                "host": socket.gethostname(), "worker_pid": os.getpid()}

    def start(self, spec: JobSpec, parent: bytes | None = None) -> None:
        if parent is not None:  # a run to continue or transfer from: the app sent it along
            with tarfile.open(fileobj=io.BytesIO(parent), mode="r") as tar:
                tar.extractall(self.folder, filter="data")
        # data_dir None: the worker's own CNN_DATA_DIR / Keras cache / sample, not the app's path.
        self.job = self.manager.submit(spec.config, owner=spec.owner, preset=spec.preset, job_id=spec.job_id,
                                       origin=spec.origin, teach=spec.teach)
        self.sent = 0

    def poll(self) -> dict:
        snap = self.job.snapshot()
        if snap.done:  # its final state is written (its run saved) just before its thread ends: wait for that
            snap = self.job.wait()
        delta, self.sent = progress_delta(snap, self.sent)
        # "done" from the same snapshot: a final state never travels without it, so the app applies it
        # only once the run is home (RayPool._pump_once).
        return {**delta, "done": snap.done}

    def stop(self) -> None:
        if self.job is not None:
            self.job.request_stop()

    def take_run(self) -> bytes | None:
        """The finished job's run folder as a tar archive (removed here), or None when it saved none."""
        job, self.job = self.job, None
        name = job.snapshot().run_name
        if not name:
            return None
        folder = runs_mod.run_path(name, self.folder)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            tar.add(folder, arcname=name)
        shutil.rmtree(folder, ignore_errors=True)
        if job.origin.parent:
            shutil.rmtree(runs_mod.run_path(job.origin.parent, self.folder), ignore_errors=True)
        import gc

        import keras

        keras.backend.clear_session()
        gc.collect()
        return buffer.getvalue()


# --- the app side ---------------------------------------------------------------------------

class _Slot:
    """The app's handle on one actor."""

    def __init__(self, actor_class):
        self.actor = actor_class.remote()
        self.where: dict | None = None
        self.ready_ref = self.actor.where.remote()
        self.job: ProcessJob | None = None


class RayPool(JobQueue):
    """Warm actors and the FIFO queue of jobs waiting for one: the local WorkerPool's interface."""

    def __init__(self, address: str, workers: int | None = None):
        self.address = address
        self._ray = connect(address)
        cpus = int(self._ray.cluster_resources().get("CPU", 1))
        # One actor per CPU the cluster offers (CNN_MAX_JOBS caps it): this machine's default of 2
        # is about its own 2 cores, not the cluster's.
        cap = workers or (training.default_max_jobs() if os.environ.get(training.MAX_JOBS_ENV) else cpus)
        self.size = max(1, min(cap, cpus))
        self._actor_class = self._ray.remote(num_cpus=1, max_restarts=0)(Trainer)
        super().__init__()
        self._records: dict[str, records.Recorder] = {}  # job id -> its record in the app's runs folder
        self._slots = [_Slot(self._actor_class) for _ in range(self.size)]
        self._woken = threading.Event()  # a new job: the pump dispatches it now, not at its next tick
        self._pump = threading.Thread(target=self._run, name="cnn-lab-ray-pool", daemon=True)
        self._pump.start()
        atexit.register(self.close)  # the server stops: running jobs are saved as stopped runs, as locally

    def _wake(self) -> None:
        self._woken.set()

    def _running(self, job: ProcessJob) -> _Slot | None:
        return next((s for s in self._slots if s.job is job), None)

    def _ask_stop(self, slot: _Slot, job: ProcessJob) -> None:
        slot.actor.stop.remote()

    def worker_pids(self) -> list[int]:
        return [s.where["worker_pid"] for s in self._slots if s.where]

    def close(self, timeout: float = 30.0) -> None:
        """Stop every job (each is saved as a stopped run), bring the runs home, end the actors."""
        if not self._begin_closing():
            return
        with self._lock:
            busy = [s for s in self._slots if s.job is not None]
        for s in busy:
            s.actor.stop.remote()
        deadline = time.monotonic() + timeout
        while any(s.job is not None for s in self._slots) and time.monotonic() < deadline:
            time.sleep(0.1)  # the pump brings the stopped runs home
        for s in self._slots:
            with contextlib.suppress(Exception):  # a cluster already gone
                self._ray.kill(s.actor)

    # --- the pump ---------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                self._pump_once()
            except Exception:  # the pump must outlive any one bad answer
                log.exception("Ray pool: unexpected error")
            if self._closing and all(s.job is None for s in self._slots):
                return
            self._woken.wait(SEND_EVERY)
            self._woken.clear()

    def _pump_once(self) -> None:
        ray = self._ray
        if self._broken is None and not ray.is_initialized():  # the driver lost its cluster (the head stopped)
            self._cluster_gone()
        if self._broken is not None:
            return  # any Ray call now would only try to start another cluster
        for slot in list(self._slots):
            if slot.where is None:
                ready, _ = ray.wait([slot.ready_ref], timeout=0)
                if ready:
                    try:
                        slot.where = ray.get(slot.ready_ref)
                    except Exception as e:  # the actor could not start (no TensorFlow on its node?)
                        log.error("a Ray training worker failed to start: %s", e)
                        self._replace(slot, None)
                continue
            if slot.job is None:
                continue
            job = slot.job
            try:
                delta = ray.get(slot.actor.poll.remote(), timeout=CALL_TIMEOUT)
            except Exception as e:  # RayActorError (worker or node died), GetTimeoutError, cluster gone
                self._lost(slot, e)
                continue
            done = delta.pop("done")
            final = {k: delta.pop(k) for k in ("state", "run_name", "phase")} if done else {}
            job._apply(delta)  # the final state only once the run is home
            if done:
                self._bring_home(slot, job, final)
            elif self._records[job.id].due():
                self._records[job.id].write(job.snapshot())
        self._dispatch()

    def _bring_home(self, slot: _Slot, job: ProcessJob, final: dict) -> None:
        try:
            archive = self._ray.get(slot.actor.take_run.remote(), timeout=300)
        except Exception as e:  # the worker died between its last batch and sending the run
            self._lost(slot, e)
            return
        slot.job = None
        if archive is not None:
            try:
                unpack_run(archive, Path(job.spec.runs_dir), final["run_name"], slot.where)
            except (OSError, UserError, tarfile.TarError) as e:  # a full disk here, a damaged archive
                self._fail(job, f"the run trained on the cluster could not be saved here: {e}")
                return
        failed = final["state"] == training.FAILED
        self._end_record(job, (job.snapshot().error or "the training failed") if failed else None)
        job._apply(final)  # finished / stopped / failed, with its run in the app's runs folder

    def _lost(self, slot: _Slot, error: Exception) -> None:
        job = slot.job
        what = type(error).__name__
        message = (f"the Ray worker training this job was lost ({what}: the process was killed, ran out of "
                   "memory, or its node left the cluster); nothing was saved. Start the training again.")
        log.error("Ray worker %s lost during job %s: %s", slot.where, job.id if job else None, error)
        if job is not None and not job.done:
            self._fail(job, message)
        self._replace(slot, job)

    def _cluster_gone(self) -> None:
        message = (f"the Ray cluster at {self.address} went away (its head stopped, or the network to it "
                   "failed); nothing was saved. Start the training again once the cluster is back and CNN Lab's "
                   "server has been restarted.")
        log.error("Ray cluster at %s lost", self.address)
        with self._lock:
            busy = [s.job for s in self._slots if s.job is not None]
            for s in self._slots:
                s.job = None
        for job in busy:
            if not job.done:
                self._fail(job, message)
        self._break(message)

    def _replace(self, slot: _Slot, job: ProcessJob | None) -> None:
        try:
            self._ray.kill(slot.actor)
        except Exception:
            pass
        with self._lock:
            self._slots.remove(slot)
            if not self._closing:
                self._slots.append(_Slot(self._actor_class))

    def _dispatch(self) -> None:
        with self._lock:
            while self._queue:
                slot = next((s for s in self._slots if s.where and s.job is None), None)
                if slot is None:
                    return
                job = self._queue.popleft()
                self._renumber()
                slot.job, job.worker_pid = job, slot.where["worker_pid"]
                job.progress.update(state=RUNNING, phase=LOADING, queue_position=0, started=time.monotonic())
                recorder = records.Recorder(job.spec.runs_dir, job.id, job.spec.config, job.spec.owner)
                recorder.write(job.snapshot())
                self._records[job.id] = recorder
                slot.actor.start.remote(job.spec, pack_parent(job.spec))

    def _fail(self, job: ProcessJob, message: str) -> None:
        self._end_record(job, message)  # the record first: whoever sees the job failed finds it listed
        job._fail(message)

    def _end_record(self, job: ProcessJob, error: str | None) -> None:
        """Before a job is seen to end: its record goes (its run came home, or it saved none), or stays,
        marked failed with `error`."""
        recorder = self._records.pop(job.id, None)
        if recorder is None:
            return
        if error is None:
            recorder.remove()
        else:
            recorder.write(job.snapshot(), records.FAILED, error)


def pack_parent(spec: JobSpec) -> bytes | None:
    """The parent run of a continued or transferred job, as a tar archive for the node (no shared disk)."""
    if spec.origin.parent is None:
        return None
    from . import teach

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        if spec.origin.parent == teach.DEFAULT_MODEL:  # the shipped model: the node has cnn_core, not models/
            tar.add(teach.shipped_default(), arcname=f"{teach.DEFAULT_MODEL}/{runs_mod.MODEL_FILE}")
        else:
            tar.add(runs_mod.run_path(spec.origin.parent, spec.runs_dir), arcname=spec.origin.parent)
    return buffer.getvalue()


def unpack_run(archive: bytes, root: Path, name: str, where: dict | None) -> Path:
    """Unpack a run sent by a node into `root`: in a hidden folder first, then renamed into place."""
    final = runs_mod.run_path(name, root)
    tmp = Path(tempfile.mkdtemp(prefix=f"{runs_mod.TMP_PREFIX}{name}-", dir=root))
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r") as tar:
            tar.extractall(tmp, filter="data")  # plain files inside tmp only: no links, no absolute paths
        inner = tmp / name
        if where:
            write_json(inner / runs_mod.TRAINED_ON, where)
        runs_mod.read_info(inner)  # complete and well-formed, or RunError
        fsync_dir(inner)
        os.replace(inner, final)
        fsync_dir(root)
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def trained_on(run_dir: Path) -> dict | None:
    """Which executor, node and process trained a run (runs trained by the local executor: None)."""
    import json

    try:
        return json.loads((Path(run_dir) / runs_mod.TRAINED_ON).read_text())
    except (OSError, ValueError):
        return None


# --- connecting --------------------------------------------------------------------------

_connected: str | None = None
_connect_lock = threading.Lock()


def connect(address: str):
    """ray, initialised once per process for `address` ("local": a Ray started here with this
    machine's cores; "HOST:PORT": an existing cluster's head). ClusterError when unreachable."""
    global _connected
    with _connect_lock:
        # A driver whose cluster went away would start a Ray of its own at its next call (Ray reads this
        # when it is imported): never on the app's machine behind the teacher's back.
        os.environ["RAY_ENABLE_AUTO_CONNECT"] = "0"
        try:
            import ray
        except ImportError:
            raise ClusterError("Ray is not installed: pip install -r requirements.txt") from None
        if _connected is not None:
            if _connected != address:
                raise ClusterError(f"already connected to the Ray cluster at {_connected}, not {address}")
            return ray
        if address != "local":
            _check_reachable(address)
        package = str(Path(__file__).resolve().parent)
        try:
            ray.init(address=None if address == "local" else address, include_dashboard=False,
                     logging_level=logging.WARNING, log_to_driver=False,
                     runtime_env={"py_modules": [package]})  # the nodes get this cnn_core, not a stale copy
        except Exception as e:
            raise ClusterError(f"cannot connect to the Ray cluster at {address}: {e}") from None
        _connected = address
        return ray


def _check_reachable(address: str) -> None:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"Ray address {address!r}: expected HOST:PORT (the head's GCS port, 6379 by "
                           "default) or 'local'")
    try:
        socket.create_connection((host.removeprefix("ray://"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as e:
        raise ClusterError(f"cannot reach the Ray cluster at {address} ({e.strerror or e}); is `ray start "
                           "--head` running there, and is the port open?") from None


class RayExecutor(LocalExecutor):
    """Same interface as LocalExecutor and training.JobManager; the fits run on a Ray cluster."""

    name = "ray"

    def __init__(self, address: str, runs_dir=None, data_dir=None, pool: RayPool | None = None):
        super().__init__(runs_dir=runs_dir, data_dir=data_dir, pool=pool or RayPool(address))

