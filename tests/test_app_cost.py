"""AppTest: before Start, the Train page says what the network will cost (cnn_lab_ui/cost_panel.py)."""

import shutil
from pathlib import Path

from streamlit.testing.v1 import AppTest

from cnn_core import cost
from cnn_core.config import TrainConfig, preset

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def open_train(**widgets) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    for key, value in widgets.items():
        at.session_state[key] = value
    if widgets:
        at.run()
        assert not at.exception, at.exception
    return at


def metrics(at) -> dict:
    return {m.label: m for m in at.metric}


def layer_rows(at) -> list[dict]:
    frames = [d.value for d in at.dataframe if "Layer" in d.value.columns]
    assert len(frames) == 1
    return frames[0].to_dict("records")


def test_parameters_memory_time_and_every_layer_before_start(runs_dir):
    at = open_train()  # the default preset, quick: conv 16, conv 32, dense 128
    shown = metrics(at)
    expected = cost.estimate(preset("quick"))
    # 160 + 4,640 (the convs) + 800 x 128 + 128 + 128 x 10 + 10 (the dense layers)
    assert shown["Parameters"].value == f"{expected.params:,}" == "108,618"
    assert shown["Memory to train"].value == f"{expected.total_bytes / cost.MB:,.0f} MB"
    assert "1,536 MB" in shown["Memory to train"].help and cost.MEMORY_ENV in shown["Memory to train"].help
    assert shown["Estimated training time"].value.startswith("≈ 0:")
    tip = shown["Estimated training time"].help
    assert "estimate" in tip and "no run saved here" in tip
    rows = layer_rows(at)
    assert [r["Output"] for r in rows] == ["28 × 28 × 1", "26 × 26 × 16", "13 × 13 × 16", "11 × 11 × 32",
                                           "5 × 5 × 32", "800", "128", "10"]
    assert sum(r["Parameters"] for r in rows) == 108_618
    assert "stride 1, valid padding" in rows[1]["Does"] and "stride 2" in rows[2]["Does"]
    assert not at.button(key="train_start").disabled


def test_a_network_that_shrinks_below_1x1_shows_where(runs_dir):
    at = open_train(train_filters="8, 8, 8", train_kernel_size=5)
    rows = layer_rows(at)
    assert [r["Output"] for r in rows][-3:] == ["8 × 8 × 8", "4 × 4 × 8", "below 1×1"] and rows[-1]["Layer"] == "conv3"
    assert "Parameters" not in metrics(at)  # no cost for a network that cannot be built
    assert any("below 1x1" in w.value for w in at.warning)
    assert at.button(key="train_start").disabled


def test_a_network_over_the_memory_budget_shows_its_size_and_cannot_start(runs_dir):
    at = open_train(train_filters="512", train_pooling=False, train_kernel_size=1, train_dense_units=4096)
    assert metrics(at)["Parameters"].value == "1,644,213,258"
    assert any("a job may use 1,536 MB" in w.value for w in at.warning)
    assert at.button(key="train_start").disabled


def test_the_time_estimate_learns_this_machines_speed_from_saved_runs(runs_dir, train_runs, mnist):
    folder, names = train_runs(TrainConfig(filters=(4,), dense_units=8, limit=300, epochs=1))
    shutil.copytree(folder, runs_dir)
    speed, n = cost.speed_factor(runs_dir)
    at = open_train()
    shown = metrics(at)["Estimated training time"]
    assert "measured on the 1 run(s) saved here" in shown.help
    from cnn_lab_ui.widgets import fmt_seconds

    assert n == 1 and speed != 1.0
    assert shown.value == f"≈ {fmt_seconds(cost.train_seconds(preset('quick'), len(mnist.x_train), speed))}"
