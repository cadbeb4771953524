"""Teach a model the learner's own handwriting: their drawings, kept, then a fine-tuning job.

A learner's drawings live in a folder with class subfolders `0/` ... `9/` of PNG canvas images
(the layout of Keras' image_dataset_from_directory); the app keeps one such folder per learner in
`<runs folder>/.drawings/<owner id>/`, and the CLI's `teach --drawings DIR` names one. Beside each
canvas image the app keeps the 28x28 the model saw, in a hidden `.seen/` folder that the folder
reader skips (hidden entries are never classes).

Teaching fine-tunes a model (a run, or the shipped default) on augmented copies of the drawings
mixed with replayed MNIST training digits: the drawings teach the new shapes, the replayed digits
keep the old ones (without them a few epochs on 50 drawings wash out what 60,000 digits taught).
The result is a new run, Origin(TAUGHT, parent), with a report (REPORT_FILE): accuracy before and
after on the drawings and on the MNIST test set, and each drawing's prediction before and after.

Everything that can be checked without TensorFlow (the folder, its images, the parent) is checked
before a job is queued. The drawings travel with the job as a TeachSet (arrays, no paths): Ray
workers share no disk with the app.
"""

from __future__ import annotations

import io
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

from . import datasets
from . import runs as runs_mod
from .config import IMAGE_SIZE, NUM_CLASSES, TrainConfig
from .errors import UserError
from .files import write_bytes
from .limits import ClassLimits
from .preprocess import EmptyCanvasError, ImageFormatError, canvas_to_mnist, decode_image
from .runs import FREEZE_CONV, TAUGHT, Origin, RunError, RunInfo

# --- the drawings' layout: one home for these names ---------------------------------------------
DRAWINGS_DIR = ".drawings"  # in the runs folder: one subfolder per learner (hidden: not a run)
SEEN_DIR = ".seen"  # in a drawings folder: the 28x28 the model saw of each drawing, same file name
CLASSES = datasets.DIGITS  # the class subfolders, "0" .. "9"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")  # what a class folder may hold (PNG is what the app writes)
MIN_PER_CLASS = 5  # a digit taught from fewer drawings is refused before the job starts
MAX_DRAWINGS = 2000  # in one folder: each is preprocessed, and they all travel with the job
MAX_SIDE = 2048  # px: a canvas is 280; larger images are refused from their header
DEFAULT_MODEL = "default-model"  # submit_teach's name for the shipped default model, and its name as a parent
_OWNER_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")

# --- the recipe, tuned with bench/teach.py (4 styles MNIST lacks, 15 drawings of each) ---------------
# Measured there: Adam (even at 2e-4) cost 0.8-1.0 points of MNIST test accuracy: its first steps move
# every weight by about the learning rate, gradient or not, which a converged model pays for. SGD moves
# weights by their gradients, so what the new shapes do not need stays as it was. Frozen conv blocks
# kept MNIST best and train 3x faster: the filters that find strokes are already good; only which
# strokes make which digit is new. More replay, fewer copies: less forgetting (3,000 replayed digits and
# 12 copies lost 0.3-0.6 points, 4,000 and 8 copies 0.3), the held-out drawings still read at 98%.
# The whole job: 10.9 s on 2 cores (15 CPU seconds), against the 30 s.
EPOCHS = 4
COPIES = 8  # each drawing appears this many times an epoch, each copy augmented differently
REPLAY = 4000  # MNIST digits replayed each epoch, so the old ones are not forgotten (the offline sample has 4,000)
OPTIMIZER = "sgd"  # with momentum 0.9 (model.compile_model)
LEARNING_RATE = 0.01
BATCH_SIZE = 64
FREEZE = FREEZE_CONV  # only the dense layers learn the new shapes (runs.FREEZE_NONE: every layer)
SEED = 7


class TeachError(UserError, ValueError):
    """A drawings folder, a drawing or a teach request that cannot be used; the message says why."""


# --- one learner's drawings ------------------------------------------------------------------------

def drawings_folder(runs_dir, owner: str) -> Path:
    """The folder of `owner`'s drawings in the runs folder (not created here)."""
    if not isinstance(owner, str) or not _OWNER_RE.match(owner):
        raise TeachError(f"{owner!r:.80} is not a learner id (letters, digits, '-', '_')")
    return runs_mod.runs_root(runs_dir) / DRAWINGS_DIR / owner


@dataclass(frozen=True)
class Drawing:
    """One kept drawing: its canvas image in `<label>/<id>.png`, the 28x28 it became in `.seen/<id>.png`."""

    id: str
    label: int
    canvas_path: Path
    seen: Path  # a 28x28 greyscale PNG (uint8, white ink on black)

    def seen_image(self) -> np.ndarray:
        """The 28x28 uint8 image the model saw."""
        with Image.open(self.seen) as img:
            return np.asarray(img.convert("L"))


class DrawingSet:
    """A folder of drawings in the teach layout; each change is one atomic file write or removal."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    def add(self, canvas_rgba: np.ndarray, label: int) -> Drawing:
        """Keep a canvas image as a drawing of `label`: preprocessed the way the Draw page's prediction
        is (canvas_to_mnist), the canvas and the 28x28 written atomically. TeachError for an empty
        canvas, a label that is not 0-9, or an array that is not an image."""
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < NUM_CLASSES:
            raise TeachError(f"label {label!r:.40}: a drawing's digit must be 0 to 9")
        try:
            seen = to_uint8(canvas_to_mnist(canvas_rgba))
        except EmptyCanvasError:
            raise TeachError("The canvas is empty: draw the digit, then keep it") from None
        except ImageFormatError as e:
            raise TeachError(f"not a canvas image: {e}") from None
        drawing_id = f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S-%f}-{os.urandom(2).hex()}"
        canvas_path = self.folder / str(int(label)) / f"{drawing_id}.png"
        seen_path = self.folder / SEEN_DIR / f"{drawing_id}.png"
        try:
            for folder in (canvas_path.parent, seen_path.parent):
                folder.mkdir(parents=True, exist_ok=True)
            # The 28x28 first: a drawing lists once its canvas is there, and then both are.
            write_bytes(seen_path, _png(seen))
            write_bytes(canvas_path, _png(np.asarray(canvas_rgba)))
        except OSError as e:
            raise TeachError(f"cannot keep the drawing in {self.folder}: {e.strerror or e}") from None
        return Drawing(drawing_id, int(label), canvas_path, seen_path)

    def list(self) -> list[Drawing]:
        """Every drawing, newest first (ids start with the time they were kept)."""
        found = []
        for label in CLASSES:
            folder = self.folder / label
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                if path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file():
                    found.append(Drawing(path.stem, int(label), path, self.folder / SEEN_DIR / f"{path.stem}.png"))
        return sorted(found, key=lambda d: d.id, reverse=True)

    def delete(self, drawing_id: str) -> None:
        """Remove one drawing (its canvas, then its 28x28); the others are untouched. TeachError when
        there is no such drawing."""
        if not isinstance(drawing_id, str) or not _ID_RE.match(drawing_id):
            raise TeachError(f"{drawing_id!r:.80} is not a drawing id")
        matches = [d for d in self.list() if d.id == drawing_id]
        if not matches:
            raise TeachError(f"there is no drawing {drawing_id} in {self.folder}")
        for d in matches:
            d.canvas_path.unlink(missing_ok=True)
            d.seen.unlink(missing_ok=True)

    def counts(self) -> dict[int, int]:
        """Drawings per digit, every digit listed (0 when there is none)."""
        counts = dict.fromkeys(range(NUM_CLASSES), 0)
        for d in self.list():
            counts[d.label] += 1
        return counts

    def clear(self) -> None:
        """Remove the whole folder (a learner's "delete all")."""
        shutil.rmtree(self.folder, ignore_errors=True)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A preprocessed (28, 28[, 1]) float image in [0, 1] -> (28, 28) uint8, as MNIST's arrays are."""
    return np.round(np.asarray(image, np.float32).reshape(IMAGE_SIZE, IMAGE_SIZE) * 255).astype(np.uint8)


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


# --- a folder read for teaching ------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class TeachSet:
    """Drawings ready to teach: what the model sees (x), their digits (y) and their file names."""

    x: np.ndarray  # (n, 28, 28) uint8
    y: np.ndarray  # (n,) int64
    names: tuple[str, ...]  # "3/drawing.png", relative to the folder

    def __post_init__(self):
        x, y = np.asarray(self.x), np.asarray(self.y)
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise TeachError(f"drawings must be (n, {IMAGE_SIZE}, {IMAGE_SIZE}) uint8 images, got {x.shape} {x.dtype}")
        if y.shape != (len(x),) or len(self.names) != len(x) or not len(x):
            raise TeachError(f"{len(x)} drawings, {len(y)} labels and {len(self.names)} names: one each, at least one")
        if y.min() < 0 or y.max() >= NUM_CLASSES:
            raise TeachError("a drawing's label is not a digit 0-9")

    def counts(self) -> dict[int, int]:
        return {int(d): int(n) for d, n in zip(*np.unique(self.y, return_counts=True))}

    def check_enough(self) -> None:
        """TeachError naming the first digit with fewer than MIN_PER_CLASS drawings."""
        for digit, n in sorted(self.counts().items()):
            if n < MIN_PER_CLASS:
                raise TeachError(f"only {n} drawing{'s' if n != 1 else ''} of the digit {digit}: teaching needs at "
                                 f"least {MIN_PER_CLASS} of each digit it learns (draw more, or delete these)")


def read_folder(folder: str | os.PathLike) -> TeachSet:
    """Read a drawings folder (class subfolders 0/ ... 9/ of PNG/JPEG canvas images), each drawing
    preprocessed as the Draw page does. TeachError naming the problem: no such folder, empty, no class
    subfolders, a subfolder that is not 0-9, an unreadable, hostile or empty image (its name), too many
    drawings, or fewer than MIN_PER_CLASS drawings of a digit."""
    root = Path(folder)
    if not root.exists():
        raise TeachError(f"{root}: no such folder")
    if not root.is_dir():
        raise TeachError(f"{root}: not a folder (give a folder with class subfolders 0/ ... 9/)")
    try:
        entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    except OSError as e:
        raise TeachError(f"{root}: cannot be read ({e.strerror or e})") from None
    if not entries:
        raise TeachError(f"{root}: the folder is empty (put drawings in class subfolders 0/ ... 9/)")
    classes = [p for p in entries if p.is_dir()]
    if not classes:
        raise TeachError(f"{root}: no class subfolders: put each drawing in the subfolder of its digit, 0/ ... 9/")
    for p in classes:
        if p.name not in CLASSES:
            raise TeachError(f"{root}: the subfolder {p.name!r:.60} is not a digit: class subfolders are 0/ ... 9/")
    files = []
    for p in classes:
        for f in sorted(p.iterdir()):
            if f.name.startswith("."):
                continue
            name = f"{p.name}/{f.name}"
            if f.is_dir():
                raise TeachError(f"{root}: {name!r:.80} is a folder inside a class folder: drawings only there")
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                raise TeachError(f"{root}: {name!r:.80} is not a PNG or JPEG image")
            files.append((f, int(p.name), name))
    if not files:
        raise TeachError(f"{root}: holds no drawings (its class subfolders are empty)")
    if len(files) > MAX_DRAWINGS:
        raise TeachError(f"{root}: {len(files):,} drawings, more than the {MAX_DRAWINGS:,} one teach can take")
    x = np.empty((len(files), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    for i, (f, _, name) in enumerate(files):
        try:
            x[i] = to_uint8(canvas_to_mnist(decode_image(f, max_pixels=MAX_SIDE * MAX_SIDE)))
        except EmptyCanvasError:
            raise TeachError(f"{root}: {name!r:.80} is an empty drawing") from None
        except ImageFormatError as e:
            raise TeachError(f"{root}: {name!r:.80}: {e}") from None
    drawings = TeachSet(x, np.array([label for _, label, _ in files], np.int64), tuple(n for _, _, n in files))
    drawings.check_enough()
    return drawings


# --- the report a taught run keeps ---------------------------------------------------------------

@dataclass(frozen=True)
class DrawingResult:
    name: str
    label: int
    before: int  # the parent model's prediction
    after: int  # the taught model's

    @property
    def fixed(self) -> bool:
        return self.before != self.label and self.after == self.label


ACCURACIES = ("drawings_before", "drawings_after", "mnist_before", "mnist_after")


@dataclass(frozen=True)
class TeachReport:
    """Before (the parent) and after (the taught run), on the learner's drawings and on the MNIST test set."""

    parent: str  # a run name, or DEFAULT_MODEL
    drawings_before: float
    drawings_after: float
    mnist_before: float
    mnist_after: float
    drawings: tuple[DrawingResult, ...]
    mnist_source: str = ""

    def to_json(self) -> dict:
        return {"parent": self.parent, "drawings_before": self.drawings_before, "drawings_after": self.drawings_after,
                "mnist_before": self.mnist_before, "mnist_after": self.mnist_after, "mnist_source": self.mnist_source,
                "drawings": [[d.name, d.label, d.before, d.after] for d in self.drawings]}

    @classmethod
    def from_json(cls, obj: dict) -> "TeachReport":
        """Checked: RunError (via runs' reader) / TeachError for anything malformed."""
        try:
            rows = obj["drawings"]
            if not isinstance(rows, list) or len(rows) > MAX_DRAWINGS:
                raise ValueError("drawings: not a list")
            drawings = tuple(DrawingResult(str(n)[:300], _digit(a), _digit(b), _digit(c)) for n, a, b, c in rows)
            numbers = {k: _fraction(obj[k]) for k in ACCURACIES}
            return cls(parent=str(obj["parent"])[:200], drawings=drawings,
                       mnist_source=str(obj.get("mnist_source", ""))[:2000], **numbers)
        except (KeyError, TypeError, ValueError) as e:
            raise TeachError(f"the teach report is damaged ({type(e).__name__}: {str(e)[:200]})") from None


def _digit(v) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < NUM_CLASSES:
        raise ValueError(f"{v!r:.40} is not a digit")
    return v


def _fraction(v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
        raise ValueError(f"{v!r:.40} is not an accuracy")
    return float(v)


def read_report(run: RunInfo | str | os.PathLike) -> TeachReport | None:
    """A taught run's report; None for a run that was not taught. RunError when the run is damaged."""
    info = run if isinstance(run, RunInfo) else runs_mod.read_info(Path(run))
    if info.origin.kind != TAUGHT:
        return None
    obj = runs_mod.read_run_json(info, runs_mod.TEACH_REPORT)
    try:
        return TeachReport.from_json(obj)
    except TeachError as e:
        raise RunError(f"{info.name}: {runs_mod.TEACH_REPORT}: {e}") from None


# --- before a job: what to teach, and the parent (no TensorFlow) ---------------------------------

def default_model_file(runs_dir=None) -> Path:
    """The shipped default model. On a Ray node, which has cnn_core but not models/, the copy the app
    sent with the job (in the node's own runs folder, under DEFAULT_MODEL)."""
    sent = runs_mod.runs_root(runs_dir) / DEFAULT_MODEL / runs_mod.MODEL_FILE
    if sent.is_file():
        return sent
    return shipped_default()


def shipped_default() -> Path:
    return runs_mod.SHIPPED_MODEL


def parent_info(origin: Origin, runs_dir=None) -> RunInfo | None:
    """The parent run (checked by grow.parent), None for the shipped default. RunError naming the problem."""
    from . import grow

    if origin.kind != TAUGHT:
        raise RunError(f"a teach job's origin is {TAUGHT}, not {origin.kind}")
    if origin.parent == DEFAULT_MODEL:
        if not default_model_file(runs_dir).is_file():
            raise RunError("the shipped default model (models/default.keras) is missing: choose a run to teach")
        return None
    info = grow.parent(origin, runs_dir)
    if not datasets.REGISTRY[info.config.dataset].reads_digits:
        raise RunError(f"cannot teach run {info.name}: it reads {datasets.REGISTRY[info.config.dataset].label}, "
                       "not digits")
    return info


def plan(model: str, drawings: TeachSet, runs_dir=None) -> tuple[TrainConfig, Origin]:
    """The settings and origin of a teach job for `model` (a run name or DEFAULT_MODEL): the parent's
    network, the teach recipe. TeachError / RunError before anything is queued."""
    if not isinstance(drawings, TeachSet):
        raise TeachError("teaching needs drawings (a TeachSet: read_folder or DrawingSet)")
    drawings.check_enough()
    origin = Origin(TAUGHT, model, FREEZE)  # the job reads which layers learn from here
    info = parent_info(origin, runs_dir)
    if info is not None:
        base = info.config
    else:
        base = runs_mod.read_model_meta(default_model_file(runs_dir)).config
        if base is None:
            raise RunError("the shipped default model has no record of its settings (models/default.json): "
                           "choose a run to teach")
    # A class's limits (limits.py) shorten the recipe rather than refuse it: teaching stays possible.
    limits = ClassLimits.from_env()
    config = base.replace(epochs=min(EPOCHS, limits.epochs or EPOCHS), learning_rate=LEARNING_RATE,
                          lr_schedule="constant", batch_size=BATCH_SIZE, optimizer=OPTIMIZER, augment=True,
                          validation_split=0.0, limit=min(REPLAY, limits.train_digits or REPLAY), seed=SEED)
    return config.validate(budget=False), origin


def check(config: TrainConfig, origin: Origin, drawings: TeachSet | None, runs_dir=None) -> RunInfo | None:
    """Before a teach job is queued (and again in the worker): drawings, and a parent that is there."""
    if drawings is None:
        raise TeachError("a taught run is made from drawings: use submit_teach")
    if not isinstance(drawings, TeachSet):
        raise TeachError("teaching needs drawings (a TeachSet)")
    drawings.check_enough()
    return parent_info(origin, runs_dir)


# --- in the job: the mix to train on, and the report (TensorFlow from here on) -------------------

class Lesson:
    """A teach job's model and data: the parent loaded, measured on the drawings and the MNIST test set
    (before), the mixed training set, the model compiled; `report` measures it again (after)."""

    def __init__(self, config: TrainConfig, origin: Origin, drawings: TeachSet, ds, runs_dir=None):
        from . import data as data_mod
        from . import evaluate, grow, training
        from . import model as model_mod
        from .model import ModelFileError

        check(config, origin, drawings, runs_dir)
        path = default_model_file(runs_dir) if origin.parent == DEFAULT_MODEL else \
            runs_mod.model_file(runs_mod.run_path(origin.parent, runs_dir))
        try:
            model = model_mod.load_model(path)
        except ModelFileError as e:
            raise RunError(f"cannot teach {origin.parent}: {e}") from None
        self.origin, self.drawings, self.ds = origin, drawings, ds
        self.before = evaluate.probabilities(model, drawings.x).argmax(axis=1)
        self.mnist_before = _recorded_accuracy(path, ds.source)
        if self.mnist_before is None:  # its record is of another test set (or none): measured here
            self.mnist_before = evaluate.evaluate(model, ds.x_test, ds.y_test).test_accuracy
        x, y = mix(drawings, ds.x_train, ds.y_train, config)
        mixed = data_mod.Dataset(ds.name, x, y, ds.x_test[:0], ds.y_test[:0], ds.source)
        self.train, _, self.batches = training.make_datasets(config.replace(limit=None), mixed)
        if origin.freeze == FREEZE_CONV:
            model_mod.freeze_conv(model)
        model_mod.compile_model(model, config, self.batches)
        self.start = grow.Start(model)

    def report(self, model, evaluation) -> TeachReport:
        from . import evaluate

        after = evaluate.probabilities(model, self.drawings.x).argmax(axis=1)
        y = self.drawings.y
        return TeachReport(
            parent=self.origin.parent, drawings_before=float((self.before == y).mean()),
            drawings_after=float((after == y).mean()), mnist_before=self.mnist_before,
            mnist_after=evaluation.test_accuracy, mnist_source=self.ds.source,
            drawings=tuple(DrawingResult(n, int(lab), int(b), int(a))
                           for n, lab, b, a in zip(self.drawings.names, y, self.before, after)),
        )


def _recorded_accuracy(model_path: Path, source: str) -> float | None:
    """The parent's test accuracy as recorded when it was made, if it was tested on this same data (the
    same source line: same file, same digits). Inference is deterministic, so it is what a measurement
    here would give, without its seconds (a third of a teach job's)."""
    meta = runs_mod.read_model_meta(model_path)
    return meta.test_accuracy if meta.test_accuracy is not None and meta.data_source == source else None


def mix(drawings: TeachSet, x_train: np.ndarray, y_train: np.ndarray, config: TrainConfig):
    """COPIES of each drawing and `config.limit` MNIST training digits (a seeded random choice), as
    one training set; tf.data shuffles and augments it each epoch."""
    rng = np.random.default_rng(config.seed)
    replay = rng.choice(len(x_train), size=min(config.limit or REPLAY, len(x_train)), replace=False)
    x = np.concatenate([np.repeat(drawings.x, COPIES, axis=0), x_train[replay]])
    y = np.concatenate([np.repeat(drawings.y, COPIES), np.asarray(y_train[replay], np.int64)])
    return x, y
