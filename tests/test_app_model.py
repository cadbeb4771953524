"""AppTest: the Model page's summary, filters and feature maps for the default model."""

import io
import re
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
DEFAULT = ROOT / "models" / "default.keras"
pytestmark = pytest.mark.skipif(not DEFAULT.is_file(), reason="models/default.keras not shipped")


def open_model_page(**state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page("pages/model.py").run()
    assert not at.exception, at.exception
    return at


def keras_summary_total(model) -> int:
    out = io.StringIO()
    with redirect_stdout(out):
        model.summary(line_length=120)
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())
    return int(re.search(r"Total params:\s*([\d,]+)", text).group(1).replace(",", ""))


def test_summary_table_matches_keras(runs_dir):
    from cnn_core.model import load_model

    model = load_model(DEFAULT)
    at = open_model_page()
    table = at.dataframe[0].value
    assert list(table.columns) == ["Layer", "Type", "Output shape", "Param #"]
    assert list(table["Layer"]) == [layer.name for layer in model.layers]
    assert list(table["Param #"]) == [layer.count_params() for layer in model.layers]
    total = {m.label: m.value for m in at.metric}
    assert total["Total params"] == f"{model.count_params():,}" == f"{keras_summary_total(model):,}"
    assert total["Total params"] == "121,930"  # the shipped seed network: 320 + 18,496 + 102,464 + 650
    assert total["Non-trainable params"] == "0"


def test_filters_of_every_conv_layer_and_feature_maps_of_a_test_digit(runs_dir):
    at = open_model_page()
    captions = [c for el in at.get("image") for c in el.captions]
    assert any(c.startswith("conv1: filters 0–31 of 32") for c in captions), captions
    assert any(c.startswith("conv2: filters 0–15 of 64") for c in captions), captions
    for layer in ("conv1", "pool1", "conv2", "pool2"):
        assert any(c.startswith(f"{layer} (") for c in captions), layer
    assert any("test digit #0, labelled 7" in c for c in captions)
    # Page through conv2's filters and pick another digit.
    at.number_input(key="model_filters_page_conv2").set_value(3).run()
    at.number_input(key="model_digit_index").set_value(1).run()
    assert not at.exception
    captions = [c for el in at.get("image") for c in el.captions]
    assert any(c.startswith("conv2: filters 32–47 of 64") for c in captions), captions
    assert any("test digit #1, labelled 2" in c for c in captions), captions


def test_feature_maps_of_the_latest_drawing(runs_dir, mnist):
    at = open_model_page()
    at.radio(key="model_fmap_source").set_value("My latest drawing").run()
    assert any("draw a digit" in i.value.lower() for i in at.info), "no drawing yet: a hint, not an error"
    image = (mnist.x_test[0].astype(np.float32) / 255.0)[..., None]
    at = open_model_page(last_drawing=image, model_fmap_source="My latest drawing")
    captions = [c for el in at.get("image") for c in el.captions]
    assert any("your latest drawing" in c for c in captions), captions
    assert any(c.startswith("pool2 (") for c in captions)


def test_broken_run_choice_shows_an_error_not_a_traceback(runs_dir):
    runs_dir.mkdir()
    at = open_model_page(chosen_model="no-such-run")
    assert not at.exception  # an unknown choice falls back to the default model
    assert at.selectbox(key="model_model").value == "__default__"
    # ... and says so, naming the run (it was deleted, or its folder is gone).
    assert [w.value for w in at.warning] == [
        "The run **no-such-run** you were using was deleted; showing the default model."]
    at.run()  # the default model is now the choice: no more warning
    assert not at.warning and at.selectbox(key="model_model").value == "__default__"


def page_text(at) -> str:
    """Every element's message on the page (main and sidebar): what a person could read there."""
    return "\n".join(str(node.proto) for root in (at.main, at.sidebar) for node in root if hasattr(node, "proto"))


def test_no_path_of_the_machine_is_shown(runs_dir, train_runs):
    """The Model page names the shipped model and a run's model without the checkout's (or runs') absolute path."""
    import shutil

    from cnn_core.config import TrainConfig

    folder, names = train_runs(TrainConfig(filters=(4, 8), batch_norm=True, pooling=False, dense_units=0, epochs=1,
                                           limit=300, batch_size=50, seed=4))  # the same run as the step test below
    shutil.copytree(folder, runs_dir)
    text = page_text(open_model_page())
    assert str(ROOT) not in text
    assert "Model file: models/default.keras" in text  # relative to the app's folder
    text = page_text(open_model_page(chosen_model=names[0]))
    assert f"run {names[0]}" in text
    assert str(runs_dir) not in text and str(ROOT) not in text


def test_figures_are_made_once_per_model_and_image(runs_dir, monkeypatch):
    """Reruns for the same model and image reuse the pictures: counted at the real plotting functions."""
    from cnn_core import introspect, plots
    from cnn_lab_ui import pictures

    pictures.filters_png.clear()
    pictures.feature_maps_png.clear()
    made = {"filters": 0, "maps": 0}

    def counting(name, real):
        def wrapper(*args, **kwargs):
            made[name] += 1
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(plots, "filter_grid", counting("filters", plots.filter_grid))
    monkeypatch.setattr(introspect, "feature_maps", counting("maps", introspect.feature_maps))
    at = open_model_page()
    first = dict(made)
    assert first["filters"] >= 2 and first["maps"] == 1, first  # one grid per conv layer, one image
    at.radio(key="model_filter_input").set_value("channel 0").run()  # conv2's grid changes, not the maps
    at.radio(key="model_filter_input").set_value("mean").run()  # back: nothing new to draw
    at.number_input(key="model_digit_index").set_value(1).run()  # another image: its maps only
    at.number_input(key="model_digit_index").set_value(0).run()  # digit 0 again: cached
    assert not at.exception
    assert made == {"filters": first["filters"] + 1, "maps": 2}, made


# --- step by step (cnn_lab_ui.step_panel) ---

def _tables(at) -> list:
    return [t.value for t in at.table]


def _output_pixel(at) -> float:
    return float([m.value for m in at.metric if m.label == "Output pixel"][0])


def test_conv_step_shows_the_arithmetic_and_equals_keras_on_every_layer(runs_dir, mnist):
    from cnn_core import introspect
    from cnn_core.model import load_model

    maps = introspect.feature_maps(load_model(DEFAULT), mnist.x_test[0].astype(np.float32) / 255.0)
    at = open_model_page()
    # The default: conv1, filter 0, the centre of its 26x26 map, on test digit #0.
    assert at.selectbox(key="model_step_layer").value == "conv1"
    assert (at.number_input(key="model_step_row").value, at.number_input(key="model_step_col").value) == (13, 13)
    patch, kernel, products, steps = _tables(at)
    assert patch.shape == kernel.shape == products.shape == (3, 3)
    assert np.allclose(products.to_numpy(), patch.to_numpy() * kernel.to_numpy())
    assert np.isclose(_output_pixel(at), maps["conv1"][13, 13, 0], atol=1e-5)
    assert list(steps["step"])[-1] == "relu (the activation)"
    assert any("Keras' own output" in s.value for s in at.success)
    # A deeper layer sums over its 32 input channels: the per-channel sums are shown.
    at.selectbox(key="model_step_layer").set_value("conv2").run()
    at.number_input(key="model_step_filter").set_value(5).run()
    at.number_input(key="model_step_row").set_value(2).run()
    at.number_input(key="model_step_col").set_value(7).run()
    assert not at.exception, at.exception
    sums = next(d.value for d in at.dataframe if "sum of its products" in d.value.columns)
    assert len(sums) == 32
    total = _tables(at)[-1].set_index("step")["value"]
    assert np.isclose(sums["sum of its products"].sum(), total.iloc[0], atol=1e-4)
    assert np.isclose(_output_pixel(at), maps["conv2"][2, 7, 5], atol=1e-5)
    at.number_input(key="model_step_channel").set_value(31).run()
    assert any("input channel 31" in m.value for m in at.markdown)


def test_pool_step_names_the_max_and_a_position_outside_a_smaller_map_is_moved_inside(runs_dir, mnist):
    from cnn_core import introspect
    from cnn_core.model import load_model

    maps = introspect.feature_maps(load_model(DEFAULT), mnist.x_test[0].astype(np.float32) / 255.0)
    at = open_model_page()
    at.number_input(key="model_step_row").set_value(25).run()  # inside conv1's 26x26 map...
    at.selectbox(key="model_step_layer").set_value("pool2").run()  # ...outside pool2's 5x5 one
    assert not at.exception and not at.error, at.exception
    assert (at.number_input(key="model_step_row").value, at.number_input(key="model_step_col").value) == (2, 2)
    window = _tables(at)[0].to_numpy()
    assert window.shape == (2, 2)
    assert np.isclose(_output_pixel(at), window.max(), atol=1e-3)
    assert np.isclose(_output_pixel(at), maps["pool2"][2, 2, 0], atol=1e-5)
    assert any("keeps only its largest value" in m.value for m in at.markdown)


def test_step_through_a_batch_normalised_run_ends_at_the_blocks_keras_output(runs_dir, train_runs, mnist):
    import shutil

    import keras

    from cnn_core.config import TrainConfig
    from cnn_core.model import load_model

    folder, names = train_runs(TrainConfig(filters=(4, 8), batch_norm=True, pooling=False, dense_units=0, epochs=1,
                                           limit=300, batch_size=50, seed=4))
    shutil.copytree(folder, runs_dir)
    model = load_model(runs_dir / names[0] / "model.keras")
    convs = [layer.name for layer in model.layers if type(layer).__name__ == "Conv2D"]
    at = open_model_page(chosen_model=names[0])
    at.selectbox(key="model_step_layer").set_value(convs[1]).run()  # the deeper block: 4 input channels
    assert not at.exception, at.exception
    steps = list(at.table[-1].value["step"])
    assert any(s.startswith("batch norm") for s in steps), steps
    row, col = at.number_input(key="model_step_row").value, at.number_input(key="model_step_col").value
    # The block's output: the layer after the conv's batch norm and activation, computed by Keras itself.
    names_ = [layer.name for layer in model.layers]
    end = model.layers[names_.index(convs[1]) + 2].name
    x = (mnist.x_test[:1].astype("float32") / 255.0)[..., None]
    expected = keras.Model(model.inputs, model.get_layer(end).output)([x]).numpy()[0, row, col, 0]
    assert np.isclose(float([m.value for m in at.metric if m.label == "Output pixel"][0]), expected, atol=1e-5)
