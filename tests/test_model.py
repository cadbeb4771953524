import zipfile

import numpy as np
import pytest

from cnn_core.config import TrainConfig, preset
from cnn_core.model import ModelFileError, build_model, load_model, save_for_inference

import hostile


def test_seed_preset_is_the_tutorial_network_layer_by_layer():
    model = build_model(preset("seed"))
    layers = [(type(layer).__name__, tuple(layer.output.shape[1:]), layer.count_params()) for layer in model.layers]
    assert layers == [
        ("Conv2D", (26, 26, 32), 320),
        ("MaxPooling2D", (13, 13, 32), 0),
        ("Conv2D", (11, 11, 64), 18496),
        ("MaxPooling2D", (5, 5, 64), 0),
        ("Flatten", (1600,), 0),
        ("Dense", (64,), 102464),
        ("Dense", (10,), 650),
    ]
    assert model.count_params() == 121_930
    assert model.layers[0].activation.__name__ == "relu"
    assert model.layers[-1].activation.__name__ == "softmax"
    assert model.layers[0].kernel_size == (3, 3) and model.layers[1].pool_size == (2, 2)


def test_reference_keras_script_has_same_shapes_and_parameters():
    """The keras-io mnist_convnet-style model written out by hand, as a reference."""
    import keras
    from keras import layers

    ref = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    ours = build_model(preset("seed"))
    assert [w.shape for w in ref.weights] == [w.shape for w in ours.weights]
    # Same weights -> same outputs: the architectures compute the same function.
    ref.set_weights(ours.get_weights())
    x = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(ref(x), ours(x), atol=1e-5)


def test_options_change_the_architecture():
    m = build_model(TrainConfig(filters=(8, 16, 32), convs_per_block=2, kernel_size=3, pooling=False,
                                batch_norm=True, dense_units=0, dropout=0.2, activation="elu"))
    kinds = [type(layer).__name__ for layer in m.layers]
    assert kinds.count("Conv2D") == 6 and kinds.count("BatchNormalization") == 6
    assert "MaxPooling2D" not in kinds and kinds.count("Dense") == 1 and "Dropout" in kinds
    assert m.outputs[0].shape[1:] == (10,)


def test_same_seed_same_weights():
    a, b = build_model(TrainConfig(seed=3)), build_model(TrainConfig(seed=3))
    c = build_model(TrainConfig(seed=4))
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


def test_save_for_inference_round_trip_is_small(tmp_path):
    cfg = preset("seed")
    model = build_model(cfg)
    path = tmp_path / "m.keras"
    save_for_inference(model, cfg, path)
    assert path.stat().st_size < 1_000_000
    loaded = load_model(path)
    x = np.random.default_rng(1).random((2, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(loaded(x), model(x), atol=1e-6)


def test_refuses_files_that_are_not_models(tmp_path):
    cases = {
        "missing.keras": None,
        "text.keras": b"hello, I am not a model",
        "random.keras": np.random.default_rng(0).bytes(4096),
        "model.h5": b"\x89HDF\r\n\x1a\n",
    }
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(ModelFileError) as err:
            load_model(path)
        assert name in str(err.value)
    empty_zip = tmp_path / "empty.keras"
    with zipfile.ZipFile(empty_zip, "w") as z:
        z.writestr("readme.txt", "nothing")
    with pytest.raises(ModelFileError, match="no config.json"):
        load_model(empty_zip)


def test_refuses_wrong_shapes(tmp_path):
    import keras

    wrong_in = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10)])
    wrong_out = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    for model, words in ((wrong_in, "input shape"), (wrong_out, "output shape")):
        path = tmp_path / "wrong.keras"
        model.save(path)
        with pytest.raises(ModelFileError, match=words):
            load_model(path)


def test_safe_mode_refuses_lambda_layers(tmp_path):
    """A Lambda layer carries arbitrary Python bytecode: safe mode must refuse it."""
    import keras

    hostile = keras.Sequential([
        keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Lambda(lambda x: x * 2),
        keras.layers.Dense(10, activation="softmax"),
    ])
    path = tmp_path / "hostile.keras"
    hostile.save(path)
    with pytest.raises(ModelFileError, match="cannot load this model safely"):
        load_model(path)


@pytest.mark.parametrize("cfg", [preset("seed"), preset("strong"), preset("strong").replace(batch_norm=True),
                                 TrainConfig(filters=(4, 8, 8, 8), pooling=False, kernel_size=2, dense_units=0)])
def test_declared_size_of_a_saved_model_is_its_keras_parameter_count(tmp_path, cfg):
    from cnn_core.model import check_declared_size

    model = build_model(cfg)
    save_for_inference(model, cfg, tmp_path / "m.keras")
    assert check_declared_size(tmp_path / "m.keras") == model.count_params()


def test_a_small_file_declaring_a_huge_layer_is_refused_before_keras_builds_it(tmp_path):
    """The shipped 517 KB model with its Dense(64) declared as Dense(2,000,000): Keras would allocate
    12 GB before finding that the weights do not match. Refused on reading config.json, in a fresh
    process that never even imports Keras."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    huge = hostile.dense_declaring(root / "models" / "default.keras", tmp_path / "hostile.keras", 2_000_000)
    assert huge.stat().st_size < 600_000
    # The peak is VmHWM: ru_maxrss would include the memory of pytest's process, inherited across exec.
    code = ("import sys\nfrom cnn_core.model import ModelFileError, load_model\n"
            "try:\n    load_model(sys.argv[1])\nexcept ModelFileError as e:\n    print(e)\n"
            "peak = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
            "print(int(peak) // 1024, 'keras' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code, str(huge)], cwd=root, capture_output=True, text=True,
                       timeout=120)
    message, figures = r.stdout.strip().splitlines()
    peak_mb, keras_imported = figures.split()
    # dense: 1,600 inputs x 2,000,000 units + biases; the output layer then has 2,000,000 inputs
    assert "declares 3,222,018,826 parameters" in message and "layer dense alone 3,202,000,000" in message
    assert "refused before building it" in message and "CNN_MAX_TRAIN_MEMORY_MB" in message
    assert int(peak_mb) < 300 and keras_imported == "False", figures
    print(f"hostile Dense(2,000,000) model refused at a peak of {peak_mb} MB")


def test_declared_sizes_cannot_hide_in_build_config_or_odd_values(tmp_path):
    from cnn_core.model import check_declared_size

    cfg = preset("seed")
    save_for_inference(build_model(cfg), cfg, tmp_path / "m.keras")

    def wide_build(c):  # Keras builds a layer from its build_config's input shape
        hostile.layer(c, "dense")["build_config"]["input_shape"] = [None, 10**9]

    def silly_units(c):
        hostile.layer(c, "dense")["config"]["units"] = 1e300

    def unknown_layer(c):
        c["config"]["layers"].insert(2, {"class_name": "Embedding", "config": {"input_dim": 10**9, "output_dim": 512}})

    for edit, words in ((wide_build, "refused before building it"), (silly_units, "impossible size"),
                        (unknown_layer, "cannot load this model safely")):
        path = hostile.keras_with_config(tmp_path / "m.keras", tmp_path / f"{edit.__name__}.keras", edit)
        with pytest.raises(ModelFileError, match=words):
            load_model(path)
    nested = hostile.keras_with_config(tmp_path / "m.keras", tmp_path / "deep.keras", json_deep(10_000))
    with pytest.raises(ModelFileError, match="not a Keras model file"):
        check_declared_size(nested)


def json_deep(n):
    """A model config of n Sequentials nested in each other, as JSON text."""
    return '{"class_name": "Sequential", "config": {"layers": [' * n + "{}" + "]}}" * n
