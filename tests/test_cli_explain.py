"""`python -m cnn_core explain`, run as a real subprocess: JSON lines, heatmaps, exit codes, one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnn_core import inference
from cnn_core.explain import DEFAULT_METHOD, Explainer
from cnn_core.preprocess import canvas_to_mnist, decode_image
from cnn_core.runs import MODEL_FILE

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "cnn_core", *args], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def images(tmp_path_factory, mnist):
    """Two MNIST digits drawn large (white on black, 280x280 PNGs), an empty file and a blank canvas."""
    folder = tmp_path_factory.mktemp("drawings")
    paths = {}
    for i in (0, 1):
        paths[f"digit{i}"] = folder / f"digit{i}.png"
        Image.fromarray(mnist.x_test[i]).resize((280, 280), Image.BILINEAR).save(paths[f"digit{i}"])
    paths["empty"] = folder / "empty.png"
    paths["empty"].write_bytes(b"")
    paths["blank"] = folder / "blank.png"
    Image.fromarray(np.zeros((280, 280), np.uint8)).save(paths["blank"])
    return {k: str(v) for k, v in paths.items()}


def check_grid(grid):
    a = np.asarray(grid, dtype=np.float64)
    assert a.shape == (28, 28) and np.isfinite(a).all() and a.min() >= 0
    return a


def test_explain_prints_one_json_line_per_image_and_exits_1_when_one_fails(images, mnist):
    if not inference.DEFAULT_MODEL.is_file():
        pytest.skip("models/default.keras not shipped")
    r = cli("explain", images["digit0"], images["empty"], images["blank"], images["digit1"])
    assert r.returncode == 1, r.stderr
    lines = [json.loads(line) for line in r.stdout.strip().splitlines()]
    assert [line["file"] for line in lines] == [images[k] for k in ("digit0", "empty", "blank", "digit1")]
    assert set(lines[1]) == {"file", "error"} and "not a readable PNG/JPEG image" in lines[1]["error"]
    assert set(lines[2]) == {"file", "error"} and "empty" in lines[2]["error"]
    predicted = json.loads(cli("predict", images["digit0"], images["digit1"]).stdout.splitlines()[0])
    for line, label in ((lines[0], mnist.y_test[0]), (lines[3], mnist.y_test[1])):
        assert line["digit"] == label and line["target"] == label and line["method"] == DEFAULT_METHOD
        assert len(line["probabilities"]) == 10 and sum(line["probabilities"]) == pytest.approx(1, abs=1e-4)
        seen = check_grid(line["input"])
        assert seen.max() <= 1 and seen.sum() > 20  # the preprocessed digit the model read
        heat = check_grid(line["heatmap"])
        assert heat.max() == pytest.approx(1)  # normalised: the hottest pixel is 1
    assert lines[0]["probabilities"] == predicted["probabilities"]  # the same reading as `predict`


def test_explain_with_method_and_target_and_a_model_file(images, tmp_path, mnist):
    from cnn_core.config import TrainConfig
    from cnn_core.model import build_model, compile_model

    config = TrainConfig(filters=(4,), dense_units=16)
    model = build_model(config)
    compile_model(model, config)
    model.fit(mnist.x_train[:300, :, :, None] / 255.0, mnist.y_train[:300], epochs=1, verbose=0)
    model.save(tmp_path / "tiny.keras")
    (tmp_path / "run").mkdir()  # the same model as a run folder's model.keras: --model takes either
    model.save(tmp_path / "run" / MODEL_FILE)
    for source in (tmp_path / "tiny.keras", tmp_path / "run"):
        r = cli("explain", "--model", str(source), "--method", "gradcam", "--target", "3", images["digit0"])
        assert r.returncode == 0, r.stderr
        line = json.loads(r.stdout)
        assert line["target"] == 3 and line["method"] == "gradcam"
        check_grid(line["heatmap"])
        # The map is class 3's Grad-CAM of this very model, not the predicted class' or another method's.
        explainer = Explainer(inference.Predictor.load(source))
        image = canvas_to_mnist(decode_image(images["digit0"]))
        expected = explainer.heatmap(image, 3, "gradcam").normalised()
        np.testing.assert_allclose(line["heatmap"], expected, atol=1e-4)
        other = explainer.heatmap(image, 5, "gradcam").normalised()
        assert np.abs(np.asarray(line["heatmap"]) - other).max() > 1e-2  # the comparison can tell classes apart


def test_gradcam_on_a_model_without_conv_layers_is_one_line_offering_the_gradient(images, tmp_path):
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.save(tmp_path / "flat.keras")
    r = cli("explain", "--model", str(tmp_path / "flat.keras"), "--method", "gradcam", images["digit0"])
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().count("\n") == 0 and "convolution layer" in r.stderr and "'gradient'" in r.stderr


@pytest.mark.parametrize("args, words", [
    (["--method", "lime"], "--method: unknown method 'lime'; choose one of gradcam, gradient, smoothgrad"),
    (["--target", "10"], "--target 10 is outside the classes 0 to 9"),
    (["--target", "-1"], "--target -1 is outside the classes 0 to 9"),
    (["--target", "seven"], "--target 'seven' is not a class number; choose 0 to 9"),
])
def test_bad_method_or_target_is_one_line_and_status_2_before_tensorflow_loads(args, words):
    code = ("import sys\nfrom cnn_core.cli import main\nrc = main(sys.argv[1:])\n"
            "print('TENSORFLOW' if 'tensorflow' in sys.modules else 'NO-TENSORFLOW')\nsys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code, "explain", *args, "some.png"], cwd=ROOT, env=dict(os.environ),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stdout.strip() == "NO-TENSORFLOW"
    assert r.stderr.strip() == f"error: {words}"
