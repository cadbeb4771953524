"""Predictor: loading (files, run folders, damaged files), predictions, batches and threads."""

import json
import shutil
import zipfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from cnn_core import data, inference
from cnn_core.config import TrainConfig
from cnn_core.inference import Prediction, Predictor
from cnn_core.model import ModelFileError, build_model, compile_model
from cnn_core.preprocess import EmptyCanvasError, canvas_to_mnist
from tests.paths import ROOT

import drawings


@pytest.fixture(scope="session")
def mnist_digits():
    return data.load("mnist")


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory, mnist_digits):
    """A one-block CNN trained for two quick epochs on 6,000 digits (about 85% accurate)."""
    config = TrainConfig(filters=(8,), dense_units=16)
    model = build_model(config)
    compile_model(model, config)
    n = min(6000, len(mnist_digits.x_train))
    x = mnist_digits.x_train[:n, :, :, None].astype(np.float32) / 255
    model.fit(x, mnist_digits.y_train[:n], batch_size=64, epochs=2, verbose=0)
    path = tmp_path_factory.mktemp("models") / "tiny.keras"
    model.save(path)
    return path


@pytest.fixture(scope="session")
def predictor(tiny_model_path):
    return Predictor.load(tiny_model_path)


@pytest.fixture(scope="session")
def fast_predictor(tiny_model_path):
    return Predictor.load(tiny_model_path, fast=True)


def as_drawing(digit):
    """An MNIST digit enlarged 10x onto a 280x280 transparent canvas, ink in alpha."""
    return drawings.to_canvas_style(np.kron(digit / 255, np.ones((10, 10))).astype(np.float32), "transparent")


def test_default_model_path():
    assert inference.DEFAULT_MODEL.name == "default.keras"
    assert inference.DEFAULT_MODEL.parent.name == "models"


def test_shipped_default_model_is_small_and_its_json_tells_the_truth(mnist):
    import json

    from cnn_core import evaluate

    path = inference.DEFAULT_MODEL
    if not path.is_file():
        pytest.skip("models/default.keras not shipped")
    assert path.stat().st_size < 1_000_000
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["config"]["augment"] is True
    # The command it records is the one `make default-model` runs to make it again.
    assert meta["command"].replace("python ", "$(PY) ") in (ROOT / "Makefile").read_text().replace("\\\n\t  ", "")
    assert meta["data_source"].startswith("full MNIST")
    if mnist.is_sample:
        pytest.skip("full MNIST not here: cannot re-check the recorded test accuracy")
    result = evaluate.evaluate(inference.Predictor.load().model, mnist.x_test, mnist.y_test)
    # Other CPUs round differently (oneDNN kernels): a few of the 10,000 answers may flip.
    assert result.test_accuracy == pytest.approx(meta["test_accuracy"], abs=2e-3)


def test_predict_returns_digit_probabilities_and_image(predictor, mnist_digits):
    pred = predictor.predict(as_drawing(mnist_digits.x_test[0]))
    assert isinstance(pred, Prediction)
    assert isinstance(pred.digit, int) and 0 <= pred.digit <= 9
    assert pred.probabilities.shape == (10,)
    assert pred.probabilities.sum() == pytest.approx(1.0, abs=1e-9)
    assert pred.digit == int(np.argmax(pred.probabilities))
    assert pred.confidence == pytest.approx(pred.probabilities.max())
    assert pred.image.shape == (28, 28, 1) and pred.image.dtype == np.float32
    np.testing.assert_array_equal(pred.image, canvas_to_mnist(as_drawing(mnist_digits.x_test[0])))


def test_predictions_are_mostly_right_on_drawings_and_digits(predictor, mnist_digits):
    x, y = mnist_digits.x_test[:300], mnist_digits.y_test[:300]
    plain = (predictor.predict_batch(x).argmax(1) == y).mean()
    assert plain > 0.75
    drawn = drawings.make_drawings(x, y, 100, seed=0)
    on_drawings = np.mean([predictor.predict(d.rgba).digit == d.label for d in drawn])
    # Preprocessing makes drawings nearly as easy as MNIST itself (a resized canvas: ~40%).
    assert on_drawings > plain - 0.2


def test_predict_image_accepts_both_shapes_and_matches_the_batch(predictor, mnist_digits):
    img = mnist_digits.x_test[1] / 255
    a = predictor.predict_image(img)
    b = predictor.predict_image(img[..., None].astype(np.float32))
    np.testing.assert_allclose(a.probabilities, b.probabilities, rtol=1e-6)
    batch = predictor.predict_batch(mnist_digits.x_test[:3])  # uint8 is scaled from 0..255
    assert batch.shape == (3, 10)
    np.testing.assert_allclose(batch[1], a.probabilities, rtol=1e-4, atol=1e-6)


def test_predict_batch_chunks_and_edge_cases(predictor, mnist_digits):
    x = mnist_digits.x_test[:70]
    whole = predictor.predict_batch(x)
    np.testing.assert_allclose(predictor.predict_batch(x[..., None] / 255.0, batch=16), whole, rtol=1e-4, atol=1e-6)
    assert predictor.predict_batch(np.zeros((0, 28, 28), np.uint8)).shape == (0, 10)
    with pytest.raises(ValueError, match="shape"):
        predictor.predict_batch(np.zeros((4, 32, 32)))
    with pytest.raises(ValueError, match="shape"):
        predictor.predict_image(np.zeros((784,)))


def test_empty_canvas_propagates(predictor):
    with pytest.raises(EmptyCanvasError):
        predictor.predict(np.zeros((280, 280, 4), np.uint8))


def test_predictions_are_read_only_copies(predictor, mnist_digits):
    img = (mnist_digits.x_test[2] / 255).astype(np.float32)
    pred = predictor.predict_image(img)
    img[:] = 0  # the caller's array stays theirs, and the prediction does not change with it
    assert pred.image.max() == 1.0
    with pytest.raises(ValueError):
        pred.probabilities[0] = 1.0
    with pytest.raises(AttributeError):
        pred.digit = 3


def test_run_folder_and_meta(tiny_model_path, tmp_path):
    """Every model's metadata is one typed ModelMeta, read once at load: a run's from its files (checked),
    a .keras file's from the JSON beside it (the shipped default's layout); missing or damaged: empty."""
    from cnn_core import evaluate, runs

    cfg = TrainConfig(filters=(8,), dense_units=16, dataset="fashion_mnist")
    model = build_model(cfg)
    result = evaluate.evaluate(model, np.zeros((20, 28, 28), np.uint8), np.zeros(20, int))
    run = runs.save_run(tmp_path / "runs", "run1", config=cfg, model_writer=lambda p: shutil.copy(tiny_model_path, p),
                        history={}, evaluation=result, state="finished", epochs_completed=5, train_seconds=12.5,
                        data_source="here", params=1,
                        origin=runs.Origin(runs.TRANSFERRED, "parent-run", runs.FREEZE_CONV))
    p = Predictor.load(run)
    assert p.path == (run / runs.MODEL_FILE).resolve()
    assert isinstance(p.meta, runs.ModelMeta) and p.meta.config == cfg and p.meta.dataset == "fashion_mnist"
    assert p.meta.train_seconds == 12.5 and p.meta.epochs_completed == 5
    assert p.meta.origin == runs.Origin("transferred", "parent-run", "conv")

    (run / runs.RUN_JSON).write_text(json.dumps({"test_accuracy": 0.9}))  # damaged: created, state... missing
    assert Predictor.load(run).meta == runs.ModelMeta()  # metadata is optional: the model still loads

    shutil.copy(tiny_model_path, tmp_path / "m.keras")
    assert Predictor.load(tmp_path / "m.keras").meta == runs.ModelMeta()  # no JSON beside it
    assert Predictor.load(tmp_path / "m.keras").meta.dataset == "mnist"  # unknown: an MNIST model
    (tmp_path / "m.json").write_text(json.dumps({"test_accuracy": 0.97, "train_seconds": 3, "config": cfg.to_dict(),
                                                 "command": "python -m cnn_core train"}))
    meta = Predictor.load(str(tmp_path / "m.keras")).meta
    assert (meta.test_accuracy, meta.train_seconds, meta.config, meta.origin) == (0.97, 3.0, cfg, runs.FROM_SCRATCH)
    (tmp_path / "m.json").write_text("{damaged")
    assert Predictor.load(tmp_path / "m.keras").meta == runs.ModelMeta()
    (tmp_path / "m.json").write_text(json.dumps({"config": {**cfg.to_dict(), "dataset": "cifar"}}))
    assert Predictor.load(tmp_path / "m.keras").meta.dataset == "mnist"  # a bad record never breaks a page


def test_shipped_default_model_meta_is_typed():
    if not inference.DEFAULT_MODEL.is_file():
        pytest.skip("models/default.keras not shipped")
    meta = Predictor.load().meta
    assert meta.config is not None and meta.config.augment and meta.dataset == "mnist"
    assert meta.train_seconds > 0 and meta.epochs_completed == meta.config.epochs and meta.origin.kind == "scratch"


def test_missing_and_damaged_model_files(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    (tmp_path / "random.keras").write_bytes(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with zipfile.ZipFile(tmp_path / "noconfig.keras", "w") as z:
        z.writestr("metadata.json", "{}")
    (tmp_path / "text.keras").write_text("this is not a model\n")
    (tmp_path / "model.txt").write_text("nor is this\n")
    (tmp_path / "emptyrun").mkdir()
    cases = {
        "random.keras": "not a .keras archive",
        "noconfig.keras": "no config.json",
        "text.keras": "not a .keras archive",
        "model.txt": "not a .keras model file",
        "missing.keras": "no such model file",
        "emptyrun": "no model.keras inside",
    }
    for name, message in cases.items():
        with pytest.raises(ModelFileError, match=message) as err:
            Predictor.load(tmp_path / name)
        assert name in str(err.value)

    monkeypatch.setattr(inference, "DEFAULT_MODEL", tmp_path / "models" / "default.keras")
    with pytest.raises(ModelFileError, match="default model is missing"):
        Predictor.load()


def test_wrong_shaped_model_is_refused(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.save(tmp_path / "cifar.keras")
    with pytest.raises(ModelFileError, match="input shape"):
        Predictor.load(tmp_path / "cifar.keras")


def test_fast_predictor_gives_tensorflows_answers_through_litert(predictor, fast_predictor, mnist_digits):
    assert fast_predictor.fast and not predictor.fast
    canvases = [d.rgba for d in drawings.make_drawings(mnist_digits.x_test, mnist_digits.y_test, 60, seed=3)]
    canvases += [as_drawing(d) for d in mnist_digits.x_test[:60]]
    for canvas in canvases:
        slow, fast = predictor.predict(canvas), fast_predictor.predict(canvas)
        assert fast.digit == slow.digit
        np.testing.assert_allclose(fast.probabilities, slow.probabilities, atol=inference.LITERT_TOLERANCE)
        np.testing.assert_array_equal(fast.image, slow.image)
    # Batches still go through TensorFlow: the same numbers as the plain predictor's.
    np.testing.assert_array_equal(fast_predictor.predict_batch(mnist_digits.x_test[:100]),
                                  predictor.predict_batch(mnist_digits.x_test[:100]))


def test_fast_predictor_falls_back_to_tensorflow_when_litert_cannot_be_made(
        tiny_model_path, predictor, mnist_digits, monkeypatch, tmp_path, caplog):
    import tempfile

    # The conversion writes a SavedModel to a temporary folder; with none to be had (a full or
    # missing temporary disk), single digits still get TensorFlow's answers.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-folder"))
    fallback = Predictor.load(tiny_model_path, fast=True)
    assert not fallback.fast
    assert "LiteRT conversion failed" in caplog.text
    canvas = as_drawing(mnist_digits.x_test[0])
    np.testing.assert_array_equal(fallback.predict(canvas).probabilities, predictor.predict(canvas).probabilities)


@pytest.mark.parametrize("kind", ["tensorflow", "litert"])
def test_concurrent_predictions_match_sequential_ones(kind, predictor, fast_predictor, mnist_digits):
    predictor = fast_predictor if kind == "litert" else predictor
    canvases = [as_drawing(d) for d in mnist_digits.x_test[:24]]
    sequential = [predictor.predict(c).probabilities for c in canvases]
    with ThreadPoolExecutor(max_workers=6) as pool:
        for _ in range(3):  # several rounds, so threads really overlap
            concurrent = list(pool.map(lambda c: predictor.predict(c).probabilities, canvases))
            np.testing.assert_allclose(np.array(concurrent), np.array(sequential), rtol=1e-5, atol=1e-7)
        batches = list(pool.map(predictor.predict_batch, [mnist_digits.x_test[i:i + 50] for i in range(0, 300, 50)]))
    whole = predictor.predict_batch(mnist_digits.x_test[:300])
    np.testing.assert_allclose(np.concatenate(batches), whole, rtol=1e-4, atol=1e-6)
