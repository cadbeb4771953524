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
