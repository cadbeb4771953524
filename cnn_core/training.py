"""Training jobs that run `fit` in a background thread and publish their progress.

The UI and the CLI never touch a job's model while it trains: they read immutable
snapshots of its Progress and may ask it to stop. A JobManager caps how many jobs fit
at once (concurrent fits share TensorFlow's thread pools); the rest wait in a queue.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import data as data_mod
from . import records
from . import runs as runs_mod
from .config import TrainConfig
from .errors import UserError
from .states import ACTIVE_STATES, FAILED, FINISHED, QUEUED, RUNNING, STOPPED, STOPPING  # noqa: F401 (training.X works)

EPOCH_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")
# Why a stopped job has no run: stopped in the queue or before its first batch (nothing trained).
NOT_STARTED = "stopped before training started; no run saved"
# What an active job is doing, for progress text that says so (None while queued).
LOADING, TRAINING, TESTING, SAVING = "loading", "training", "testing", "saving"

PIPELINE_CALLS = 2  # batches prepared at once, and ready ahead, by the input pipeline (see make_datasets)
AUGMENT_CALLS = 1  # augmented batches are prepared one at a time, so that an augmented run repeats (make_datasets)
MAX_JOBS_ENV = "CNN_MAX_JOBS"  # a teacher's cap on jobs training at once (workers on this machine)


def default_max_jobs() -> int:
    """Concurrent fits; CNN_MAX_JOBS overrides. Two fits share 2 cores well: each is
    mostly single-threaded small kernels, so a third would just slow all of them."""
    env = os.environ.get(MAX_JOBS_ENV)
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(2, os.cpu_count() or 1))


@dataclass(frozen=True)
class Snapshot:
    """An immutable copy of a job's progress, safe to read from any thread."""

    job_id: str
    state: str
    config: TrainConfig
    owner: str | None
    queue_position: int  # 1-based while queued, else 0
    epoch: int  # epochs completed
    epochs: int
    batch: int  # batches completed in the current epoch
    batches_per_epoch: int
    batch_loss: tuple[float, ...]
    batch_accuracy: tuple[float, ...]
    epoch_history: dict  # EPOCH_KEYS -> tuple of floats, one per completed epoch
    elapsed: float
    eta: float | None
    error: str | None
    data_source: str | None
    run_name: str | None
    test_accuracy: float | None
    test_loss: float | None
    phase: str | None = None  # LOADING, TRAINING, TESTING or SAVING while active
    train_seconds: float | None = None  # the fit itself, once it has ended (a continued run's: with its parent's)
    first_epoch: int = 0  # epochs a continued run's parent had trained: its history starts with theirs

    @property
    def done(self) -> bool:
        return self.state not in ACTIVE_STATES

    @property
    def fraction(self) -> float:
        total = self.epochs * self.batches_per_epoch
        if self.state == FINISHED:
            return 1.0
        return 0.0 if not total else min(1.0, (self.epoch * self.batches_per_epoch + self.batch) / total)


class Progress:
    """Written by the job's thread only, read by any thread through snapshot()."""

    def __init__(self, job_id: str, config: TrainConfig, owner: str | None):
        self._lock = threading.Lock()
        self.job_id, self.config, self.owner = job_id, config, owner
        self.state = QUEUED
        self.queue_position = 0
        self.epoch = self.batch = self.batches_per_epoch = 0
        self.batch_loss: list[float] = []
        self.batch_accuracy: list[float] = []
        self.epoch_history: dict[str, list[float]] = {k: [] for k in EPOCH_KEYS}
        self.started = self.ended = None
        self.error = self.data_source = self.run_name = None
        self.test_accuracy = self.test_loss = None
        self.phase = self.train_seconds = None
        self.first_epoch = 0
        # Set when the job changes state or phase, or ends: a worker sends such news at once, not at
        # its next tick, so a page sees "testing" (and then the result) as it happens.
        self.changed = threading.Event()

    def resume_from(self, history: dict, epochs: int) -> None:
        """A continued run's progress starts with its parent's curves and epochs."""
        with self._lock:
            self.first_epoch = self.epoch = epochs
            self.batch_loss = list(history["batch"].get("loss", []))
            self.batch_accuracy = list(history["batch"].get("accuracy", []))
            self.batch_accuracy += [np.nan] * (len(self.batch_loss) - len(self.batch_accuracy))
            self.epoch_history = {k: list(history["epoch"].get(k, []))[:epochs] for k in EPOCH_KEYS}
            for values in self.epoch_history.values():
                values += [np.nan] * (epochs - len(values))

    def update(self, **fields) -> None:
        with self._lock:
            for k, v in fields.items():
                setattr(self, k, v)
        if "state" in fields or "phase" in fields:
            self.changed.set()

    def add_batch(self, batch: int, loss: float, accuracy: float) -> None:
        with self._lock:
            self.batch = batch
            self.batch_loss.append(loss)
            self.batch_accuracy.append(accuracy)

    def add_epoch(self, epoch: int, logs: dict) -> None:
        with self._lock:
            self.epoch, self.batch = epoch, 0
            for k in EPOCH_KEYS:
                self.epoch_history[k].append(float(logs.get(k, np.nan)))

    def snapshot(self) -> Snapshot:
        with self._lock:
            now = self.ended or time.monotonic()
            elapsed = 0.0 if self.started is None else now - self.started
            # This job's own batches: a continued run's parent's epochs took no time here.
            done_batches = (self.epoch - self.first_epoch) * self.batches_per_epoch + self.batch
            total = (self.config.epochs - self.first_epoch) * self.batches_per_epoch
            eta = None
            if self.state == RUNNING and done_batches and total:
                eta = elapsed / done_batches * (total - done_batches)
            return Snapshot(
                job_id=self.job_id, state=self.state, config=self.config, owner=self.owner,
                queue_position=self.queue_position, epoch=self.epoch, epochs=self.config.epochs,
                batch=self.batch, batches_per_epoch=self.batches_per_epoch,
                batch_loss=tuple(self.batch_loss), batch_accuracy=tuple(self.batch_accuracy),
                epoch_history={k: tuple(v) for k, v in self.epoch_history.items()},
                elapsed=elapsed, eta=eta, error=self.error, data_source=self.data_source,
                run_name=self.run_name, test_accuracy=self.test_accuracy, test_loss=self.test_loss,
                phase=self.phase, train_seconds=self.train_seconds, first_epoch=self.first_epoch,
            )


def _progress_callback(progress: Progress, stop_event: threading.Event, recorder: "records.Recorder"):
    import keras

    class ProgressCallback(keras.callbacks.Callback):
        """Copies Keras' logs into Progress and turns a stop request into model.stop_training.

        Runs in the job's own thread (it is not async_safe), so the stop flag is set by the
        only thread that touches the model, right after the current batch.
        """

        def on_train_batch_end(self, batch, logs=None):
            logs = logs or {}
            progress.add_batch(batch + 1, float(logs.get("loss", np.nan)), float(logs.get("accuracy", np.nan)))
            if stop_event.is_set():
                self.model.stop_training = True
            if recorder.due():  # every few seconds: a snapshot copies the whole history
                recorder.write(progress.snapshot())

        def on_epoch_end(self, epoch, logs=None):
            # Keras also ends the epoch a stop cut short (and validates it): that partial
            # epoch is not a completed one, so its batches stay in the batch history only.
            if stop_event.is_set() and progress.batch < progress.batches_per_epoch:
                return
            progress.add_epoch(epoch + 1, logs or {})
            recorder.write(progress.snapshot())

    return ProgressCallback()


def make_datasets(config: TrainConfig, ds: data_mod.Dataset):
    """tf.data pipelines: uint8 batches scaled (and augmented) on the fly, shuffled with the run's seed.

    Like Keras' validation_split, validation takes the last fraction of the training digits.
    """
    import tensorflow as tf

    x, y = ds.x_train, ds.y_train
    if config.limit is not None:
        x, y = x[: config.limit], y[: config.limit]
    n_val = int(len(x) * config.validation_split)
    x_tr, y_tr = x[: len(x) - n_val, :, :, None], y[: len(x) - n_val]
    augment = None
    if config.augment:
        from .model import BUILD_LOCK

        with BUILD_LOCK:  # creating and building Keras layers is not thread-safe (see model.py)
            augment = augmenter(config)
            augment.build((None, 28, 28, 1))  # weights and seed generators now, not in tf.data's trace

    def prepare(xb, yb, training):
        xb = tf.cast(xb, tf.float32) / 255.0
        if training and augment is not None:
            xb = augment(xb, training=True)
        return xb, yb

    # Fixed parallelism and tf.data's autotuner off. Keras makes two iterators per epoch, and with the
    # autotuner on, destroying one waited for its tuning thread: 10-20 s per epoch, the CPU idle, on a
    # busy 2-core machine (quick preset 41.5 s -> 25.2 s). Scaling, and even augmentation, are small
    # next to a training step, so two parallel calls and two batches ready ahead keep the model fed.
    # Augmenting batches takes one call at a time: its layers draw from one seed generator, and two calls
    # at once drew in whichever order their threads ran, so an augmented run did not repeat (no slower).
    options = tf.data.Options()
    options.autotune.enabled = False
    train = (
        tf.data.Dataset.from_tensor_slices((x_tr, y_tr))
        .shuffle(len(x_tr), seed=config.seed, reshuffle_each_iteration=True)
        .batch(config.batch_size)
        .map(lambda a, b: prepare(a, b, True), num_parallel_calls=PIPELINE_CALLS if augment is None else AUGMENT_CALLS)
        .prefetch(PIPELINE_CALLS)
        .with_options(options)
    )
    val = None
    if n_val:
        val = (
            tf.data.Dataset.from_tensor_slices((x[len(x) - n_val:, :, :, None], y[len(x) - n_val:]))
            .batch(max(config.batch_size, 256))
            .map(lambda a, b: prepare(a, b, False))
            .cache()
            .with_options(options)
        )
    batches = -(-len(x_tr) // config.batch_size)
    return train, val, batches


def augmenter(config: TrainConfig):
    """Small shifts (10%), rotations (about 10 degrees) and zoom (10%): digits stay readable."""
    import keras

    s = config.seed
    return keras.Sequential([
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=s),
        keras.layers.RandomRotation(10 / 360, fill_mode="constant", seed=s + 1),
        keras.layers.RandomZoom(0.1, fill_mode="constant", seed=s + 2),
    ], name="augment")


_job_numbers = itertools.count(1)


def new_job_id() -> str:
    return f"job{next(_job_numbers)}-{os.urandom(2).hex()}"


class TrainingJob:
    def __init__(self, config: TrainConfig, *, manager: "JobManager", data_dir=None, owner=None, preset=None,
                 job_id: str | None = None, origin: runs_mod.Origin = runs_mod.FROM_SCRATCH, teach=None):
        self.id = job_id or new_job_id()
        self.config = config
        self.preset = preset
        self.origin = origin
        self.teach = teach  # a teach job's drawings (teach.TeachSet), None for any other job
        self.owner = owner
        self._manager = manager
        self._data_dir = data_dir
        self._stop = threading.Event()
        self._ended = threading.Event()  # set when the thread is done (its state is final)
        self.progress = Progress(self.id, config, owner)
        self.run_dir: Path | None = None
        self._recorder: records.Recorder | None = None
        self.thread = threading.Thread(target=self._run, name=f"cnn-train-{self.id}", daemon=True)

    def snapshot(self) -> Snapshot:
        return self.progress.snapshot()

    def request_stop(self) -> None:
        """Ask the job to stop after the current batch; it keeps and saves the partly trained model."""
        self._stop.set()
        with self.progress._lock:
            if self.progress.state == RUNNING:
                self.progress.state = STOPPING
        self.progress.changed.set()

    def wait(self, timeout: float | None = None) -> Snapshot:
        # An Event, not thread.join: in Python 3.11 a join interrupted by Ctrl-C can make later
        # joins return at once while the thread still runs (a known CPython quirk).
        self._ended.wait(timeout)
        return self.snapshot()

    @property
    def done(self) -> bool:
        return self.snapshot().done

    def _run(self) -> None:
        try:
            self._run_job()
        finally:
            self._ended.set()
            self.progress.changed.set()

    def _run_job(self) -> None:
        manager, progress = self._manager, self.progress
        try:
            if not manager._acquire(self):
                progress.update(state=STOPPED, error=NOT_STARTED)
                return
            try:
                self._train()
            finally:
                manager._release()
        except UserError as e:  # bad settings, data, a full disk: the message is for the learner as it is
            progress.update(state=FAILED, error=str(e), ended=time.monotonic())
        except Exception as e:  # the message is shown in the UI; the traceback goes to the log
            detail = traceback.format_exc(limit=3)
            progress.update(state=FAILED, error=f"{type(e).__name__}: {e}", ended=time.monotonic())
            import logging

            logging.getLogger(__name__).error("training job %s failed:\n%s", self.id, detail)
        if self._recorder is not None and progress.state == FAILED:
            self._recorder.write(progress.snapshot(), records.FAILED, progress.error)

    def _train(self) -> None:
        progress, config = self.progress, self.config
        # A stop asked for while queued or starting up shows as "stopping", not "running".
        progress.update(state=STOPPING if self._stop.is_set() else RUNNING, queue_position=0,
                        started=time.monotonic(), phase=LOADING)
        self._recorder = records.Recorder(runs_mod.runs_root(self._manager.runs_dir), self.id, config, self.owner)
        self._recorder.write(progress.snapshot())
        import keras  # the first import takes seconds: the job already shows as running

        from . import evaluate, grow
        from . import model as model_mod

        keras.config.set_dtype_policy("float32")  # per-thread Keras state: set it in the worker
        if self._ended_before_training():
            return
        ds = data_mod.load(config.dataset, self._data_dir)
        if self._ended_before_training():  # loading takes seconds; building the model would take more
            return
        if self.teach is not None:  # a teach job replays at most the digits there are (a small data folder)
            config = config.replace(limit=min(config.limit or len(ds.x_train), len(ds.x_train)))
        config.validate(len(ds.x_train))
        progress.update(data_source=ds.source)
        lesson = None
        if self.teach is not None:  # the parent model and the drawings mixed with replayed digits: teach.py
            from .teach import Lesson

            lesson = Lesson(config, self.origin, self.teach, ds, self._manager.runs_dir)
            train, val, batches, begin = lesson.train, None, lesson.batches, lesson.start
        else:
            train, val, batches = make_datasets(config, ds)
            # From scratch, or from a parent run (continued: its weights, optimizer and curves; transferred:
            # its conv blocks): see grow.py.
            begin = grow.start(config, self.origin, batches, self._manager.runs_dir)
        progress.update(batches_per_epoch=batches)
        model = begin.model
        if begin.history is not None:
            progress.resume_from(begin.history, begin.first_epoch)
            grow.skip_epochs(train, begin.first_epoch)  # the shuffles the parent's epochs used
        inherited_batches = len(progress.snapshot().batch_loss)
        started = time.monotonic()
        progress.update(phase=TRAINING)
        if not self._stop.is_set():
            model.fit(train, validation_data=val, epochs=config.epochs, initial_epoch=begin.first_epoch, verbose=0,
                      shuffle=False, callbacks=[_progress_callback(progress, self._stop, self._recorder)])
        train_seconds = time.monotonic() - started + begin.seconds
        progress.update(train_seconds=train_seconds, phase=TESTING)
        snap = progress.snapshot()
        if len(snap.batch_loss) == inherited_batches:  # stopped before its first batch: an untrained model is not a run
            self._ended_before_training(stopped=True)
            return
        stopped = self._stop.is_set() and (snap.epoch < config.epochs)
        result = evaluate.evaluate(model, ds.x_test, ds.y_test)
        history = {
            "batch": {"loss": list(snap.batch_loss), "accuracy": list(snap.batch_accuracy)},
            "epoch": {k: list(v) for k, v in snap.epoch_history.items()},
            "batches_per_epoch": batches,
        }
        name = runs_mod.new_run_name(config, self.preset if self.origin.parent is None else self.origin.kind)
        progress.update(phase=SAVING)
        self.run_dir = runs_mod.save_run(
            self._manager.runs_dir, name, config=config,
            model_writer=lambda p: model_mod.save_for_inference(model, config, p),
            history=history, evaluation=result, state=STOPPED if stopped else FINISHED,
            epochs_completed=snap.epoch, train_seconds=train_seconds, data_source=ds.source,
            params=model.count_params(), owner=self.owner, origin=self.origin,
            state_writer=None if lesson else lambda p: model_mod.save_training_state(model, p),
            extra_json={runs_mod.TEACH_REPORT: lesson.report(model, result).to_json()} if lesson else None,
        )
        self._recorder.remove()  # the run folder now holds everything the record did
        progress.update(
            state=STOPPED if stopped else FINISHED, run_name=name, ended=time.monotonic(), phase=None,
            test_accuracy=result.test_accuracy, test_loss=result.test_loss,
        )

    def _ended_before_training(self, stopped: bool = False) -> bool:
        """A stop asked for while starting up ends the job there, as one that never started (no run)."""
        if not (stopped or self._stop.is_set()):
            return False
        self.progress.update(state=STOPPED, error=NOT_STARTED, ended=time.monotonic(), phase=None)
        self._recorder.remove()
        return True


class JobManager:
    """Starts jobs, caps how many fit at once and keeps a FIFO queue of the others."""

    def __init__(self, max_jobs: int | None = None, runs_dir=None, data_dir=None):
        self.max_jobs = max_jobs or default_max_jobs()
        self.runs_dir = runs_dir
        self.data_dir = data_dir
        self._cond = threading.Condition()
        self._running = 0
        self._queue: deque[TrainingJob] = deque()
        self._jobs: dict[str, TrainingJob] = {}

    def submit(self, config: TrainConfig, *, owner: str | None = None, preset: str | None = None,
               job_id: str | None = None, origin: runs_mod.Origin = runs_mod.FROM_SCRATCH, teach=None) -> TrainingJob:
        """Validate, then start a job (it waits in the queue when the cap is reached).

        ConfigError for a bad configuration, RunError when runs cannot be saved or `origin`'s parent run
        cannot be grown (missing, damaged, settings that do not fit it): all before training.
        """
        from . import grow

        config.validate()
        runs_mod.ensure_root(self.runs_dir)
        grow.check(config, origin, self.runs_dir, teach)
        job = TrainingJob(config, manager=self, data_dir=self.data_dir, owner=owner, preset=preset, job_id=job_id,
                          origin=origin, teach=teach)
        with self._cond:
            self._jobs[job.id] = job
            self._queue.append(job)
            self._renumber()
        job.thread.start()
        return job

    def submit_teach(self, model: str, drawings, *, owner: str | None = None) -> TrainingJob:
        """Teach `model` (a run name or teach.DEFAULT_MODEL) the drawings (a teach.TeachSet): a job like any
        other, whose run is Origin(TAUGHT, model). TeachError / RunError before it is queued."""
        from . import teach

        config, origin = teach.plan(model, drawings, self.runs_dir)
        return self.submit(config, owner=owner, origin=origin, teach=drawings)

    def get(self, job_id: str) -> TrainingJob | None:
        with self._cond:
            return self._jobs.get(job_id)

    def jobs(self, owner: str | None = None) -> list[TrainingJob]:
        with self._cond:
            return [j for j in self._jobs.values() if owner is None or j.owner == owner]

    def active(self) -> list[TrainingJob]:
        return [j for j in self.jobs() if not j.done]

    def _renumber(self) -> None:
        for i, job in enumerate(self._queue, start=1):
            job.progress.update(queue_position=i)

    def _acquire(self, job: TrainingJob) -> bool:
        with self._cond:
            while not (self._queue[0] is job and self._running < self.max_jobs):
                if job._stop.is_set():
                    self._queue.remove(job)
                    self._renumber()
                    self._cond.notify_all()
                    return False
                self._cond.wait(timeout=0.2)
            self._queue.popleft()
            self._running += 1
            self._renumber()
            self._cond.notify_all()
            return True

    def _release(self) -> None:
        with self._cond:
            self._running -= 1
            self._cond.notify_all()
