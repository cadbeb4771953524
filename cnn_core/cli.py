"""Command line: python -m cnn_core train | teach | predict | explain | evaluate.

Bad input exits with status 2 and one line naming the problem; never a traceback.
The last line of `train`'s stdout is one JSON object, so scripts can read the result.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import math
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from . import config
from .config import DATASETS, PRESETS, ConfigError, TrainConfig, parse_filters, preset
from .cost import shorten
from .errors import UserError

if TYPE_CHECKING:
    from . import training


class UsageError(UserError):
    pass


RAY_HELP = ("{verb} on a Ray cluster: its head's HOST:PORT, or 'local' to start one here "
            "(default: $CNN_RAY_ADDRESS; unset: this machine)")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2, like argparse but without the usage dump
        raise UsageError(message)


def _positive_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m cnn_core", description="CNN Lab's engine: train, predict and evaluate digit CNNs.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a CNN and save it as a run")
    t.add_argument("--preset", default="seed", choices=sorted(PRESETS))
    add_config_flags(t)  # one per TrainConfig field; the flags below are not config fields
    t.add_argument("--data-dir")
    t.add_argument("--runs-dir")
    t.add_argument("--ray", metavar="ADDRESS", help=RAY_HELP.format(verb="train"))
    t.add_argument("--save-model", help="also copy the trained model (.keras) here, with a .json beside it")
    add_grow_flags(t)

    te = sub.add_parser("teach", help="teach a model your handwriting: fine-tune it on a folder of drawings")
    te.add_argument("--model", metavar="PATH_OR_RUN_DIR", help="a run folder (the taught run is saved beside it) "
                    "or the shipped models/default.keras (default)")
    te.add_argument("--drawings", metavar="DIR", required=True, help="a folder with class subfolders 0/ ... 9/ "
                    "of PNG canvas images (Keras' image_dataset_from_directory layout)")
    te.add_argument("--data-dir")
    te.add_argument("--runs-dir")
    te.add_argument("--ray", metavar="ADDRESS", help=RAY_HELP.format(verb="teach"))

    pr = sub.add_parser("predict", help="read digits from PNG/JPEG drawings")
    pr.add_argument("--model", help="a .keras file or a run folder (default: the shipped model)")
    pr.add_argument("images", nargs="+")

    from .explain import DEFAULT_METHOD, METHODS  # no TensorFlow: a cheap import

    x = sub.add_parser("explain", help="heatmaps: which pixels made the model read each drawing as it did")
    x.add_argument("--model", help="a .keras file or a run folder (default: the shipped model)")
    x.add_argument("--method", help=f"{', '.join(METHODS)} (default: {DEFAULT_METHOD})")
    x.add_argument("--target", help="the class to explain, 0-9 (default: the predicted one)")
    x.add_argument("images", nargs="+")

    e = sub.add_parser("evaluate", help="test accuracy, loss and confusion matrix")
    e.add_argument("--model", help="a .keras file or a run folder (default: the shipped model)")
    e.add_argument("--dataset", choices=DATASETS, default=TrainConfig().dataset)
    e.add_argument("--data-dir")
    return p


def _one_of(name: str):
    """A choice checked by the config, with its own message ("optimizer: 'x' is not one of ..."); as a
    UsageError, which is no ValueError, argparse lets it through to main() unchanged."""
    def check(text: str) -> str:
        try:
            config.check_field(name, text)
        except ConfigError as e:
            raise UsageError(str(e)) from None
        return text

    return check


def flag_of(name: str) -> str:
    """The CLI flag of a TrainConfig field: --kernel-size, --dense (dense_units)."""
    return "--" + (config.PARAMS[name].flag or name.replace("_", "-"))


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """A flag per TrainConfig field, generated from its Param (config.py): type, choices, help and range.

    Absent flags stay None, so the preset's value holds; booleans get --x and --no-x."""
    for name, param in config.PARAMS.items():
        kind = config.TYPES[name]
        help = config.help_text(name).replace("%", "%%")  # argparse formats help with %
        if kind is bool:
            parser.add_argument(flag_of(name), dest=name, action=argparse.BooleanOptionalAction, help=help)
        elif param.choices:
            parser.add_argument(flag_of(name), dest=name, choices=param.choices, type=_one_of(name), help=help)
        else:  # filters stays text: parse_filters reads it, with the config's own message
            types = {int: _positive_int, float: _number}
            parser.add_argument(flag_of(name), dest=name, type=types.get(kind, str), help=help)


def config_from_args(args) -> TrainConfig:
    return preset(args.preset).replace(**_given_config_fields(args)).validate()


# --- growing a saved run: --resume (continue it) and --from/--freeze (transfer its conv blocks) ---------
# Kept apart from the generic training flags: these name a parent run, whose settings come first.

def add_grow_flags(t: argparse.ArgumentParser) -> None:
    from .runs import FREEZE_CHOICES

    g = t.add_argument_group("grow a saved run (the new run is saved beside it, its origin recorded)")
    g.add_argument("--resume", metavar="RUN_DIR", help="continue this run for --epochs N more epochs, from its "
                   "weights and optimizer state, with its own settings")
    g.add_argument("--from", dest="from_run", metavar="RUN_DIR", help="transfer learning: this run's conv blocks "
                   "under a new dense head, trained on --dataset (its other settings, unless flags change them)")
    g.add_argument("--freeze", choices=FREEZE_CHOICES, help="with --from: conv (default) keeps the conv blocks as "
                   "they are; none fine-tunes them too, at a tenth of the learning rate unless --learning-rate")


def _given_config_fields(args) -> dict:
    """The TrainConfig fields set by flags (None: not given)."""
    given = {name: getattr(args, name, None) for name in config.PARAMS}
    given = {k: v for k, v in given.items() if v is not None}
    if "filters" in given:
        given["filters"] = parse_filters(given["filters"])
    return given


def _parent_folder(flag: str, value: str, args) -> Path:
    """The parent run's folder; the new run goes in the same runs folder (its origin names the parent there)."""
    _check_path(flag, value)
    path = Path(value).expanduser().absolute()
    if not path.is_dir():
        raise UsageError(f"{flag} {value}: no such run folder")
    if args.runs_dir and Path(args.runs_dir).expanduser().resolve() != path.parent.resolve():
        raise UsageError(f"{flag}: the new run is saved beside its parent, in {path.parent}; "
                         f"--runs-dir {args.runs_dir} names another folder")
    args.runs_dir = str(path.parent)
    return path


def grown_config(args):
    """(config, origin) for --resume or --from, checked against the parent run (RunError, ConfigError or
    UsageError naming the problem, before TensorFlow); None for a run from scratch."""
    from . import grow
    from .runs import CONTINUED, FREEZE_CONV, TRANSFERRED, Origin

    if args.resume and args.from_run:
        raise UsageError("--resume and --from: choose one (continue a run, or transfer from it)")
    if args.freeze and not args.from_run:
        raise UsageError("--freeze goes with --from RUN_DIR (the run whose conv blocks are transferred)")
    given = _given_config_fields(args)
    if args.resume:
        folder = _parent_folder("--resume", args.resume, args)
        if "epochs" not in given:
            raise UsageError("--resume needs --epochs N: how many more epochs to train")
        others = sorted(set(given) - {"epochs"})
        if others:
            raise UsageError(f"--resume continues run {folder.name} with its own settings: only --epochs may be "
                             f"given, not --{others[0].replace('_', '-')}")
        info = grow.parent(Origin(CONTINUED, folder.name), folder.parent)
        return grow.continued(info, given["epochs"])
    if args.from_run:
        folder = _parent_folder("--from", args.from_run, args)
        freeze = args.freeze or FREEZE_CONV
        info = grow.parent(Origin(TRANSFERRED, folder.name, freeze), folder.parent)
        dataset = given.pop("dataset", info.config.dataset)
        return grow.transferred(info, dataset, freeze, given)
    return None


def _json_line(obj) -> str:
    """Strict JSON (a diverged run's NaN loss becomes null), so any JSON reader can parse it."""
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(obj), allow_nan=False)


def _check_path(flag: str, value: str | None) -> None:
    """A path flag checked before any work: a symlink loop or a path too long for the system is one
    clear line (status 2), not an "unexpected RuntimeError" from deep inside pathlib."""
    if value is None:
        return
    try:
        os.stat(value)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENAMETOOLONG):
            raise UsageError(f"{flag} {shorten(value)}: {e.strerror} ({len(value):,} characters)"
                             if e.errno == errno.ENAMETOOLONG else f"{flag} {shorten(value)}: {e.strerror}") from None
    except ValueError:  # a NUL byte
        raise UsageError(f"{flag} {shorten(value)!r}: not a valid path") from None


def _check_save_target(target: Path) -> None:
    """Before training: a wrong --save-model must not cost a whole training to find out."""
    from . import runs

    _check_path("--save-model", str(target))
    if target.suffix != ".keras":
        raise UsageError(f"--save-model {target}: the file name must end in .keras")
    if target.is_dir():
        raise UsageError(f"--save-model {target}: is a folder; give a file name ending in .keras")
    if runs.meta_path(target).is_dir():
        raise UsageError(f"--save-model {target}: {runs.meta_path(target)} beside it is a folder")
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise UsageError(f"--save-model {target}: cannot write in {parent}")


def cmd_train(args) -> int:
    from . import cost, data, runs

    for flag, value, env in (("--data-dir", args.data_dir, data.DATA_DIR_ENV),
                             ("--runs-dir", args.runs_dir, runs.RUNS_DIR_ENV)):
        _check_path(flag if value else env, value or os.environ.get(env) or None)
    # The memory budget included: before TensorFlow is even imported. A grown run starts from its parent's settings.
    config, origin = grown_config(args) or (config_from_args(args), runs.FROM_SCRATCH)
    if args.save_model:
        _check_save_target(Path(args.save_model))
    ds = data.load(config.dataset, args.data_dir)  # fail early on data problems, before threads
    config.validate(len(ds.x_train))
    runs_dir = runs.ensure_root(args.runs_dir)
    cost.check_free_space(runs_dir, config, len(ds.x_train))
    if args.save_model:  # the exported copy: the model and a small .json
        cost.require_space(Path(args.save_model).parent, cost.model_file_bytes(config), "the exported model")
    _import_tensorflow_quietly()
    from . import training

    print(f"data: {ds.source}", file=sys.stderr)  # training starts now: Ctrl-C from here stops it

    with _job_manager(args, runs_dir) as (manager, address):
        job = manager.submit(config, preset=args.preset, origin=origin)
        with _job_failures_reported_by_us():
            snap = _follow(job)
    if snap.state == training.FAILED:
        print(f"error: training failed: {_failure(snap.error, runs_dir, config, len(ds.x_train))}", file=sys.stderr)
        return 1
    run_dir = job.run_dir
    if run_dir is None:  # stopped before its first batch: nothing was trained or saved
        print(snap.error, file=sys.stderr)  # the job's own words, as the app shows them
        return 130
    info = runs.read_info(run_dir)
    result = _json_line({
        "test_accuracy": info.test_accuracy, "test_loss": info.test_loss,
        "epochs_completed": info.epochs_completed, "train_seconds": info.train_seconds,
        "state": info.state, "run_dir": str(run_dir), "data_source": info.data_source,
        "params": info.params, "config": config.to_dict(), "origin": info.origin.to_json(),
        "executor": "ray" if address else "local", "worker_pid": getattr(job, "worker_pid", None) or os.getpid(),
    })
    if args.save_model:
        try:
            _export(run_dir, Path(args.save_model))
        except UsageError as e:  # the run is saved: its result still gets printed, then the failure
            print(result)
            print(f"error: {e}", file=sys.stderr)
            return 1
    print(result)
    return 0


@contextlib.contextmanager
def _job_manager(args, runs_dir: Path):
    """(manager, address): the Ray cluster at --ray or $CNN_RAY_ADDRESS, whose runs come back into
    runs_dir, its actors released when the block ends; without one (address None), a manager that
    trains in this process."""
    from . import training
    from .ray_executor import RayExecutor, address_from_env  # Ray itself is imported only to connect

    address = args.ray or address_from_env()
    if not address:
        yield training.JobManager(max_jobs=1, runs_dir=runs_dir, data_dir=args.data_dir), None
        return
    manager = RayExecutor(address, runs_dir=runs_dir)
    try:
        yield manager, address
    finally:
        manager.pool.close()


@contextlib.contextmanager
def _job_failures_reported_by_us():
    """The training module logs a failed job's traceback for the server's log; the CLI says it in one
    line instead (CNN_DEBUG=1 keeps the traceback)."""
    import logging

    def one_line_only(record):
        return os.environ.get("CNN_DEBUG") == "1" or "failed" not in record.getMessage().split("\n")[0]

    logger = logging.getLogger("cnn_core.training")
    logger.addFilter(one_line_only)
    try:
        yield
    finally:
        logger.removeFilter(one_line_only)


def _failure(error: str | None, runs_dir: Path, config: TrainConfig, n_train: int) -> str:
    """A failed job's message; when the disk filled up meanwhile, say where and how much is needed."""
    from . import cost
    from .runs import RunError

    try:
        cost.check_free_space(runs_dir, config, n_train)
    except RunError as e:
        return str(e)
    except OSError:
        pass
    return error or "unknown error"


def _follow(job) -> "training.Snapshot":
    """A one-line progress bar on stderr, redrawn twice a second (a line per epoch when not a terminal).

    The first Ctrl-C stops like the app's Stop button (after the current batch, the partly
    trained model is saved as a stopped run) while the progress goes on; a second one quits.
    The first interrupt only raises a flag: a KeyboardInterrupt raised in the middle of a print
    or of a lock held by snapshot() could repeat a line or leave the job's state half-read.
    """
    import signal

    interrupts = 0

    def on_sigint(signum, frame):
        nonlocal interrupts
        interrupts += 1
        if interrupts > 1:
            # Quit now. Unwinding normally would leave fit() running in its thread while the
            # interpreter shuts down, and TensorFlow's C++ threads then abort the process.
            print("interrupted", file=sys.stderr)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        printed, stop_asked = 0, False  # epoch lines written so far (when not a terminal)
        while True:
            if interrupts and not stop_asked:
                stop_asked = True
                print("\nstopping after the current batch... (Ctrl-C again to quit without saving)", file=sys.stderr)
                job.request_stop()
            snap, printed = _show_progress(job, printed)
            if snap.done:
                return snap
            job.wait(0.25)
    finally:
        signal.signal(signal.SIGINT, previous)


def _show_progress(job, printed: int) -> tuple["training.Snapshot", int]:
    """Draw the job's progress once; returns its snapshot and how many epoch lines are printed."""
    from . import training

    width = 30
    tty = sys.stderr.isatty()
    snap = job.snapshot()
    if snap.state == training.QUEUED:
        line = f"queued (position {snap.queue_position})"
    else:
        filled = int(snap.fraction * width)
        loss = snap.batch_loss[-1] if snap.batch_loss else float("nan")
        acc = snap.batch_accuracy[-1] if snap.batch_accuracy else float("nan")
        eta = f" ETA {snap.eta:4.0f}s" if snap.eta is not None else ""
        line = (f"epoch {min(snap.epoch + 1, snap.epochs)}/{snap.epochs} [{'#' * filled}{'.' * (width - filled)}] "
                f"batch {snap.batch}/{snap.batches_per_epoch} loss {loss:.4f} acc {acc:.4f}{eta}")
        if snap.epoch_history["val_accuracy"]:
            line += f" val_acc {snap.epoch_history['val_accuracy'][-1]:.4f}"
    if tty:
        print("\r" + line.ljust(100), end="", file=sys.stderr, flush=True)
    else:  # logs and pipes get one line per finished epoch, even when several end between polls
        history = snap.epoch_history
        for i in range(printed, len(history["loss"])):
            h = {k: v[i] for k, v in history.items()}
            print(f"epoch {i + 1}/{snap.epochs} loss {h['loss']:.4f} acc {h['accuracy']:.4f} "
                  f"val_loss {h['val_loss']:.4f} val_acc {h['val_accuracy']:.4f} ({snap.elapsed:.0f}s)",
                  file=sys.stderr, flush=True)
        printed = len(history["loss"])
    if snap.done and tty:
        print(file=sys.stderr)
    return snap, printed


def _export(run_dir: Path, target: Path) -> None:
    """Copy the run's model to target with its .json beside it, never destroying a good pair: the
    model is copied to a temporary file in the target's folder, the .json is written (atomically),
    then the model is renamed into place (a failure before the rename leaves the old pair as it was)."""
    import shutil

    from . import cost, files, runs

    _check_save_target(target)
    info = runs.read_info(run_dir)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with files.atomic_path(target) as model_tmp:  # renamed onto target when the block ends
            shutil.copyfile(run_dir / runs.MODEL_FILE, model_tmp)
            # The .json first: a new model never sits beside an old .json.
            runs.write_model_meta(target, info, "python -m cnn_core " + " ".join(sys.argv[1:]))
    except OSError as e:
        need = ""
        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            need = f"; {cost.size_text((run_dir / runs.MODEL_FILE).stat().st_size + cost.MB)} needed in {target.parent}"
        raise UsageError(f"--save-model {target}: {e.strerror or e}{need} (the old files are unchanged; "
                         f"the run itself is saved in {run_dir})") from None


def cmd_teach(args) -> int:
    """Fine-tune a run or the shipped default on a drawings folder; a new run, Origin(TAUGHT, parent)."""
    from . import cost, data, runs, teach

    for flag, value, env in (("--data-dir", args.data_dir, data.DATA_DIR_ENV),
                             ("--runs-dir", args.runs_dir, runs.RUNS_DIR_ENV)):
        _check_path(flag if value else env, value or os.environ.get(env) or None)
    _check_path("--drawings", args.drawings)
    drawings = teach.read_folder(args.drawings)  # every drawing read and checked: nothing written yet
    model = _teach_parent(args)
    _import_tensorflow_quietly()  # the shipped default's path lives with the predictor, which imports TensorFlow
    config, _ = teach.plan(model, drawings, args.runs_dir)
    runs_dir = runs.ensure_root(args.runs_dir)
    cost.check_free_space(runs_dir, config)
    from . import training

    with _job_manager(args, runs_dir) as (manager, address):
        job = manager.submit_teach(model, drawings)  # on Ray, the drawings and the shipped model travel with it
        print(f"teaching {model} {len(drawings.y)} drawings ({_counts(drawings)})", file=sys.stderr)
        with _job_failures_reported_by_us():
            snap = _follow(job)
    if snap.state == training.FAILED:
        print(f"error: teaching failed: {snap.error}", file=sys.stderr)
        return 1
    if job.run_dir is None:  # stopped before its first batch
        print(snap.error, file=sys.stderr)
        return 130
    info = runs.read_info(job.run_dir)
    report = teach.read_report(info)
    print(_json_line({
        "test_accuracy": info.test_accuracy, "test_loss": info.test_loss, "epochs_completed": info.epochs_completed,
        "train_seconds": info.train_seconds, "state": info.state, "run_dir": str(job.run_dir),
        "data_source": info.data_source, "origin": info.origin.to_json(), "executor": "ray" if address else "local",
        "worker_pid": getattr(job, "worker_pid", None) or os.getpid(), "drawings": len(drawings.y),
        "before": {"drawings": report.drawings_before, "mnist_test": report.mnist_before},
        "after": {"drawings": report.drawings_after, "mnist_test": report.mnist_after},
        "fixed": [d.name for d in report.drawings if d.fixed],
    }))
    return 0


def _counts(drawings) -> str:
    return ", ".join(f"{n} of {digit}" for digit, n in sorted(drawings.counts().items()))


def _teach_parent(args) -> str:
    """--model as the name teach.plan takes: a run (args.runs_dir becomes its runs folder: the taught run is
    saved beside it) or teach.DEFAULT_MODEL. Any other model file is refused: a taught run names its parent."""
    from . import runs, teach

    if args.model is None:
        return teach.DEFAULT_MODEL
    _check_path("--model", args.model)
    path = Path(args.model).expanduser().absolute()
    if path.is_file() and path.name == runs.MODEL_FILE:  # a run's model.keras: that run
        path = path.parent
    if path.is_file():
        _import_tensorflow_quietly()
        if path.resolve() == teach.shipped_default().resolve():
            return teach.DEFAULT_MODEL
        raise UsageError(f"--model {shorten(args.model)}: give a run folder or the shipped models/default.keras "
                         "(a taught run records the run it was taught from)")
    if not path.is_dir():
        raise UsageError(f"--model {shorten(args.model)}: no such run folder or model file")
    return _parent_folder("--model", str(path), args).name


def cmd_predict(args) -> int:
    _check_path("--model", args.model)
    _import_tensorflow_quietly()
    from .inference import Predictor
    from .preprocess import EmptyCanvasError, ImageFormatError, decode_image

    predictor = Predictor.load(args.model)
    failed = 0
    for name in args.images:
        out = {"file": name}
        try:
            # Checks the file (regular, size) and the image's header before decoding a pixel.
            pred = predictor.predict(decode_image(name))
            out.update(digit=pred.digit, probabilities=[round(float(p), 6) for p in pred.probabilities])
        except (EmptyCanvasError, ImageFormatError) as e:
            out["error"] = str(e)
        failed += "error" in out
        print(_json_line(out), flush=True)
    return 1 if failed else 0


def cmd_explain(args) -> int:
    """Like predict, plus the heatmap (normalised: the hottest pixel is 1) and the 28x28 input."""
    from .explain import DEFAULT_METHOD, ExplainError, check_class, check_method

    method = args.method or DEFAULT_METHOD
    try:  # the flags first, before TensorFlow's seconds
        check_method(method)
    except ExplainError as e:
        raise UsageError(f"--method: {e}") from None
    try:
        target = None if args.target is None else check_class(_whole(args.target), "--target")
    except ExplainError as e:
        raise UsageError(str(e)) from None
    _check_path("--model", args.model)
    _import_tensorflow_quietly()
    import numpy as np

    from .explain import Explainer
    from .inference import Predictor
    from .preprocess import EmptyCanvasError, ImageFormatError, canvas_to_mnist, decode_image

    explainer = Explainer(Predictor.load(args.model))
    explainer.check_can(method)  # Grad-CAM on a model without conv layers: why, and what to use instead
    failed = 0
    for name in args.images:
        out = {"file": name}
        try:
            image = canvas_to_mnist(decode_image(name))
            pred = explainer.predictor.predict_image(image)
            heat = explainer.heatmap(image, pred.digit if target is None else target, method)
            out.update(digit=pred.digit, probabilities=[round(float(p), 6) for p in pred.probabilities],
                       method=method, target=heat.target,
                       input=np.round(heat.image, 4).tolist(), heatmap=np.round(heat.normalised(), 4).tolist())
        except (EmptyCanvasError, ImageFormatError) as e:
            out["error"] = str(e)
        failed += "error" in out
        print(_json_line(out), flush=True)
    return 1 if failed else 0


def _whole(text: str):
    try:
        return int(text)
    except ValueError:
        return text


def cmd_evaluate(args) -> int:
    _check_path("--model", args.model)
    from . import data

    _check_path("--data-dir" if args.data_dir else data.DATA_DIR_ENV,
                args.data_dir or os.environ.get(data.DATA_DIR_ENV) or None)
    _import_tensorflow_quietly()
    from . import evaluate
    from .inference import Predictor

    predictor = Predictor.load(args.model)
    ds = data.load(args.dataset, args.data_dir)
    result = evaluate.evaluate(predictor.model, ds.x_test, ds.y_test)
    print(_json_line({**result.to_json(), "model": str(predictor.path), "data_source": ds.source,
                      "per_class_accuracy": [round(float(a), 4) for a in result.per_class_accuracy()]}))
    return 0


# TensorFlow's start-up chatter on a CPU-only machine; anything else it prints is passed on.
_TF_NOTICES = re.compile(
    r"^(I\d{4} |WARNING: All log messages before absl|To enable the following instructions"
    r"|.*(cuInit|cuda_platform|cudart_stub|Unable to register cu(DNN|FFT|BLAS)|cuda drivers))")


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow without its C++ notices (oneDNN, "no CUDA drivers").

    TensorFlow 2.21 prints them before its logging is set up, so TF_CPP_MIN_LOG_LEVEL cannot
    silence them; they would bury the progress a learner is watching. Import errors raise as
    usual. CNN_DEBUG=1 shows everything.
    """
    if os.environ.get("CNN_DEBUG") == "1" or "tensorflow" in sys.modules:
        return
    with tensorflow_notices_hidden():
        import tensorflow as tf

        tf.config.list_physical_devices()  # device discovery logs "failed call to cuInit" without a GPU


@contextlib.contextmanager
def tensorflow_notices_hidden():
    """Send file descriptor 2 to a temporary file meanwhile (C++ code writes there directly),
    then write back every line that is not a known notice: a fatal error or a Python warning
    is never hidden."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile("w+", errors="replace") as captured:
        try:
            os.dup2(captured.fileno(), 2)
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured:
                if line.strip() and not _TF_NOTICES.match(line):
                    sys.stderr.write(line)
            sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:

    argv = sys.argv[1:] if argv is None else argv

    def say(message: str) -> None:  # long arguments (a 100 KB path) are not echoed whole
        for arg in sorted(argv, key=len, reverse=True):
            if len(arg) > 80:
                message = message.replace(arg, shorten(arg))
        print(shorten(message, 2000), file=sys.stderr)

    try:
        # TensorFlow is imported by each command once its flags are checked: a bad flag is
        # answered in a fraction of a second, without TensorFlow's seconds and hundreds of MB.
        args = build_parser().parse_args(argv)
        return {"train": cmd_train, "teach": cmd_teach, "predict": cmd_predict, "explain": cmd_explain,
                "evaluate": cmd_evaluate}[args.command](args)
    except UserError as e:  # ConfigError, DataError, ModelFileError, RunError, UsageError, ...
        say(f"error: {e}")
        return 2
    except KeyboardInterrupt:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this exit short
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug or an unforeseen system error: one line, not a traceback
        say(f"error: unexpected {type(e).__name__}: {e} (set CNN_DEBUG=1 for the traceback)")
        if os.environ.get("CNN_DEBUG") == "1":
            raise
        return 1
