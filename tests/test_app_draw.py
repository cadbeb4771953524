"""AppTest: the Draw page, with drawings injected as the canvas component's session-state value.

AppTest cannot draw, but streamlit-drawable-canvas 0.13 keeps its value in
st.session_state["canvas"] as {"drawing": {"raw": ..., "data": "data:image/png;base64,..."},
"backgroundFit": None}; cnn_lab_ui.drawing.canvas_value(rgba) builds exactly that.
"""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from cnn_lab_ui.drawing import canvas_value

from drawings import make_drawings, to_canvas_style

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
pytestmark = pytest.mark.skipif(not (ROOT / "models" / "default.keras").is_file(), reason="no default model")


def open_draw(rgba=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    if rgba is not None:
        at.session_state["canvas"] = canvas_value(rgba)
    at.switch_page("pages/draw.py").run()
    assert not at.exception, at.exception
    return at


def prediction(at):
    found = [m.value for m in at.metric if m.label == "Prediction"]
    return int(found[0]) if found else None


def test_empty_canvas_shows_a_hint_not_an_error(runs_dir):
    at = open_draw()
    assert prediction(at) is None and not at.error
    assert any("Draw one digit" in i.value for i in at.info)
    # An all-black canvas (what the component sends after a reset) is no drawing either.
    black = np.zeros((280, 280, 4), np.uint8)
    black[..., 3] = 255
    at = open_draw(black)
    assert prediction(at) is None and not at.error
    assert any("Draw one digit" in i.value for i in at.info)


def test_drawing_is_predicted_with_probabilities_and_the_28x28_image(runs_dir, mnist):
    drawing = make_drawings(mnist.x_test[:1], mnist.y_test[:1], 1, seed=3)[0]  # a canvas-style 7
    rgba = to_canvas_style(_ink(drawing.rgba), "white-on-black")
    at = open_draw(rgba)
    assert prediction(at) == 7
    confidence = [m.value for m in at.metric if m.label == "Confidence"][0]
    assert confidence.endswith("%")
    (chart,) = at.get("vega_lite_chart")  # a bar chart of the 10 probabilities, the highest in red
    assert json.loads(chart.proto.spec)["mark"]["type"] == "bar"
    bars = pa.ipc.open_stream(chart.proto.data.data).read_all().to_pylist()  # Streamlit sends the values as Arrow
    assert [b["class"] for b in bars] == [str(d) for d in range(10)]
    assert sum(b["probability"] for b in bars) == pytest.approx(1.0, abs=1e-6)
    assert [b["class"] for b in bars if b["predicted"]] == ["7"]
    assert f"{max(b['probability'] for b in bars):.1%}" == confidence
    captions = [c for el in at.get("image") for c in el.captions]
    assert any("28×28" in c for c in captions), captions
    seen = at.session_state["last_drawing"]
    assert seen.shape == (28, 28, 1) and 0 <= seen.min() and seen.max() <= 1


@pytest.mark.parametrize("index", [1, 2, 3])
def test_prediction_matches_the_engine(runs_dir, mnist, index):
    from cnn_core.inference import Predictor

    drawing = make_drawings(mnist.x_test[index:index + 1], mnist.y_test[index:index + 1], 1, seed=index)[0]
    rgba = to_canvas_style(_ink(drawing.rgba), "white-on-black")
    at = open_draw(rgba)
    assert prediction(at) == Predictor.load().predict(rgba).digit


def test_clear_button_empties_the_canvas(runs_dir, mnist):
    drawing = make_drawings(mnist.x_test[:1], mnist.y_test[:1], 1, seed=3)[0]
    at = open_draw(to_canvas_style(_ink(drawing.rgba), "white-on-black"))
    assert prediction(at) == 7
    at.button(key="draw_clear").click().run()
    assert not at.exception
    assert prediction(at) is None, "no stale prediction after Clear"
    assert any("Draw one digit" in i.value for i in at.info)


def test_model_selector_offers_the_default_model(runs_dir):
    at = open_draw()
    assert at.selectbox(key="draw_model").value == "__default__"
    assert "Default model" in at.selectbox(key="draw_model").format_func("__default__")


def test_fashion_model_names_clothes_not_digits(runs_dir, train_runs, mnist):
    import shutil

    from cnn_core import data
    from cnn_core.config import TrainConfig

    try:
        data.load("fashion_mnist")
    except data.DataError as e:
        pytest.skip(f"no Fashion-MNIST here: {e}")
    folder, names = train_runs(TrainConfig(dataset="fashion_mnist", filters=(4,), dense_units=0, epochs=1,
                                           limit=300, batch_size=50))
    shutil.copytree(folder, runs_dir)
    drawing = make_drawings(mnist.x_test[:1], mnist.y_test[:1], 1, seed=3)[0]
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["canvas"] = canvas_value(to_canvas_style(_ink(drawing.rgba), "white-on-black"))
    at.session_state["chosen_model"] = names[0]
    at.switch_page("pages/draw.py").run()
    assert not at.exception, at.exception
    shown = [m.value for m in at.metric if m.label == "Prediction"][0]
    assert shown in data.CLASS_NAMES["fashion_mnist"]
    assert any("Fashion-MNIST" in w.value for w in at.warning)
    spec = at.get("vega_lite_chart")[0].proto.spec
    assert "Ankle boot" in spec or "Ankle boot" in str(at.get("vega_lite_chart")[0].proto)


def _ink(rgba: np.ndarray) -> np.ndarray:
    """Ink in [0, 1] from any canvas style (the drawings module picks a random style)."""
    from cnn_core.preprocess import extract_ink

    return extract_ink(rgba)


def _two_runs(train_runs):
    """Two tiny real runs, made once per test session: (their folder, their names)."""
    from cnn_core.config import TrainConfig

    return train_runs(TrainConfig(filters=(4,), dense_units=16, epochs=1, limit=400, batch_size=32, seed=1),
                      TrainConfig(filters=(8,), dense_units=0, epochs=2, limit=300, batch_size=50, seed=2))


def test_a_run_with_an_unknown_dataset_in_its_record_still_reads_digits(runs_dir, train_runs, mnist):
    """A hand-edited or damaged config.json must not break the page: the names fall back to digits."""
    import json
    import shutil

    folder, names = _two_runs(train_runs)
    shutil.copytree(folder, runs_dir)
    config_file = Path(runs_dir) / names[0] / "config.json"
    config = json.loads(config_file.read_text())
    config_file.write_text(json.dumps({**config, "dataset": "cifar10"}))
    drawing = make_drawings(mnist.x_test[:1], mnist.y_test[:1], 1, seed=3)[0]
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["canvas"] = canvas_value(drawing.rgba)
    at.session_state["chosen_model"] = names[0]
    at.switch_page("pages/draw.py").run()
    assert not at.exception, at.exception
    assert prediction(at) in range(10)


def _dot() -> np.ndarray:
    """One tap of the default brush in the middle of the canvas (white on black)."""
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[..., 3] = 255
    yy, xx = np.mgrid[:280, :280]
    canvas[(yy - 140) ** 2 + (xx - 140) ** 2 <= 10 ** 2, :3] = 255
    return canvas


def test_the_bars_say_softmax_sums_to_one_and_a_dot_is_not_a_digit(runs_dir, mnist):
    drawing = make_drawings(mnist.x_test[:1], mnist.y_test[:1], 1, seed=3)[0]
    at = open_draw(to_canvas_style(_ink(drawing.rgba), "white-on-black"))
    assert any("add up to 100%" in c.value for c in at.caption), [c.value for c in at.caption]
    assert not any("does not look like a digit" in w.value for w in at.warning), "a real 7 is a digit"
    at = open_draw(_dot())
    warnings = [w.value for w in at.warning]
    assert any("That does not look like a digit" in w and "filled shape" in w for w in warnings), warnings
    # The model's answer is still shown, with its bars and the softmax line, worded as a guess.
    assert prediction(at) in range(10) and at.get("vega_lite_chart")
    assert any("as a guess" in w for w in warnings)
    assert any("add up to 100%" in c.value for c in at.caption)


def test_a_deleted_run_is_named_not_silently_replaced(runs_dir, train_runs, mnist):
    import shutil

    folder, names = _two_runs(train_runs)
    shutil.copytree(folder, runs_dir)
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["chosen_model"] = names[0]
    at.switch_page("pages/draw.py").run()
    assert at.selectbox(key="draw_model").value == names[0] and not at.warning
    shutil.rmtree(runs_dir / names[0])  # deleted elsewhere (the Runs page, another session, by hand)
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="draw_model").value == "__default__"
    warnings = [w.value for w in at.warning]
    assert any(f"The run **{names[0]}** you were using was deleted; showing the default model" in w
               for w in warnings), warnings


def test_learners_opening_the_same_run_share_one_loaded_model(runs_dir, train_runs, mnist, monkeypatch):
    """A class opening the run their teacher shared: the model is loaded (and converted) once for the
    server, not once per session; a newer model file under the same run is loaded afresh."""
    import os
    import shutil

    from cnn_core import runs
    from cnn_core.inference import Predictor

    folder, names = _two_runs(train_runs)
    shutil.copytree(folder, runs_dir)
    loads = []
    real_load = Predictor.load.__func__
    monkeypatch.setattr(Predictor, "load", classmethod(lambda cls, *a, **k: loads.append(a) or real_load(cls, *a, **k)))
    sessions = []
    for _ in range(3):  # three learners: three sessions of one server process
        at = AppTest.from_file(APP, default_timeout=180)
        at.session_state["canvas"] = canvas_value(_seven(mnist))
        at.session_state["chosen_model"] = names[0]
        at.switch_page("pages/draw.py").run()
        assert not at.exception, at.exception
        sessions.append(at)
    readings = [prediction(at) for at in sessions]
    assert readings[0] is not None and readings.count(readings[0]) == 3, readings
    assert len(loads) == 1, loads
    model_file = runs_dir / names[0] / runs.MODEL_FILE
    stat = model_file.stat()
    os.utime(model_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # the run's model replaced
    sessions[1].run()
    assert not sessions[1].exception and prediction(sessions[1]) is not None
    assert len(loads) == 2, loads

# --- "look closer": Why?, What if?, Fool it (cnn_lab_ui.why) ---

def _seven(mnist) -> np.ndarray:
    drawing = make_drawings(mnist.x_test[:1], mnist.y_test[:1], 1, seed=3)[0]
    return to_canvas_style(_ink(drawing.rgba), "white-on-black")


def _open_panel(at, key: str) -> AppTest:
    at.session_state[key] = True  # what a click on the expander's header sends
    at.run()
    assert not at.exception, at.exception
    return at


def _captions(at) -> list[str]:
    return [c for el in at.get("image") for c in el.captions]


def test_why_is_computed_only_when_opened_then_follows_class_method_and_contrast(runs_dir, mnist):
    at = open_draw(_seven(mnist))
    assert prediction(at) == 7
    labels = [e.label for e in at.expander]
    assert any(label.startswith("Why?") for label in labels), labels
    assert not any("How to read it" in m.value for m in at.markdown), "closed: nothing computed nor shown"
    _open_panel(at, "draw_why")
    assert "SmoothGrad: why 7" in _captions(at), _captions(at)  # the default method, the predicted class
    assert any("How to read it" in m.value and "towards **7**" in m.value for m in at.markdown)
    assert any("strongest push to 7" in m.value for m in at.markdown), "a colour legend in words"
    at.selectbox(key="why_class").set_value(1).run()
    assert "SmoothGrad: why 1" in _captions(at)
    at.radio(key="why_method").set_value("gradcam").run()
    assert "Grad-CAM: why 1" in _captions(at)
    at.selectbox(key="why_class").set_value(None).run()
    at.selectbox(key="why_versus").set_value(1).run()
    assert "Grad-CAM: why 7 and not 1" in _captions(at)
    assert any("pushes to 1" in m.value and "pushes to 7" in m.value for m in at.markdown)
    at.selectbox(key="why_versus").set_value(7).run()  # the same class twice
    assert any("two different classes" in w.value for w in at.warning)
    assert not at.exception and not at.error


def test_panels_on_an_empty_canvas_say_to_draw_first(runs_dir):
    at = open_draw()
    for key in ("draw_why", "draw_whatif", "draw_fool"):
        at.session_state[key] = True
    at.run()
    assert not at.exception and not at.error
    assert sum("Draw a digit first" in i.value for i in at.info) == 3


def test_gradcam_on_a_model_without_conv_layers_says_why_and_offers_the_gradient(runs_dir, train_runs, mnist):
    import shutil

    import keras

    folder, names = _two_runs(train_runs)
    shutil.copytree(folder, runs_dir)
    flat = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(10, activation="softmax")])
    flat.save(runs_dir / names[0] / "model.keras")  # a run whose model has no convolution at all
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["canvas"] = canvas_value(_seven(mnist))
    at.session_state["chosen_model"] = names[0]
    at.session_state["draw_why"] = True
    at.session_state["why_method"] = "gradcam"
    at.switch_page("pages/draw.py").run()
    assert not at.exception, at.exception
    warnings = [w.value for w in at.warning]
    assert any("Grad-CAM needs a convolution layer and this model has none" in w for w in warnings), warnings
    at.button(key="why_use_gradient").click().run()
    assert at.radio(key="why_method").value == "gradient"
    assert any(c.startswith("Gradient: why ") for c in _captions(at)), _captions(at)


def test_what_if_plots_each_class_along_the_sweep(runs_dir, mnist):
    at = _open_panel(open_draw(_seven(mnist)), "draw_whatif")
    charts = at.get("vega_lite_chart")
    assert len(charts) == 2, "the probability bars and the sweep"
    assert any("Your drawing at each step" in c for c in _captions(at))
    assert any("It reads **7** at every step" in m.value or "It stops reading **7**" in m.value for m in at.markdown)
    at.radio(key="whatif_kind").set_value("rotate").run()
    assert not at.exception
    assert "rotation" in str(at.get("vega_lite_chart")[1].proto.spec)


def test_fool_it_shows_the_engines_attack(runs_dir, mnist):
    from cnn_core.explain import Explainer
    from cnn_core.inference import Predictor

    rgba = _seven(mnist)
    at = _open_panel(open_draw(rgba), "draw_fool")
    nudged = [m.value for m in at.metric if m.label == "Nudged, it reads"]
    predictor = Predictor.load()
    expected = Explainer(predictor).fgsm(predictor.predict(rgba).image, 0.1).prediction.digit
    assert nudged == [str(expected)]
    at.slider(key="fool_epsilon").set_value(0.0).run()
    assert [m.value for m in at.metric if m.label == "Nudged, it reads"] == ["7"], "no nudge, no change"
    assert any("push harder" in m.value for m in at.markdown)
    at.slider(key="fool_epsilon").set_value(0.3).run()
    assert any("at most 0.3" in c for c in _captions(at))
    assert not at.exception and not at.error


def test_closed_panels_cost_nothing_and_the_explainer_is_built_once_per_model(runs_dir, mnist, monkeypatch):
    from cnn_core import explain
    from cnn_lab_ui import why

    why._explainer.clear()
    made, maps = [], []
    real_init, real_maps = explain.Explainer.__init__, explain.Explainer.signed_maps
    monkeypatch.setattr(explain.Explainer, "__init__", lambda self, *a: made.append(1) or real_init(self, *a))
    monkeypatch.setattr(explain.Explainer, "signed_maps",
                        lambda self, *a, **k: maps.append(1) or real_maps(self, *a, **k))
    at = open_draw(_seven(mnist))
    at.run()  # a stroke reruns the canvas and the prediction, the panels closed
    assert made == [] and maps == [], "a learner who never opens a panel pays nothing for it"
    _open_panel(at, "draw_why")
    at.selectbox(key="why_class").set_value(2).run()
    at.session_state["draw_fool"] = True
    at.run()
    assert not at.exception
    assert len(made) == 1 and len(maps) == 3, (made, maps)  # one Explainer for the model, one map per run
