"""Why did it read that? In a real browser, with real mouse input: the heatmap of a drawn digit and of
another class; a feature-map pixel clicked, and its arithmetic; a confusion-matrix cell clicked, and its
digits. Which cell or pixel is under the mouse is read from the chart's own tooltip before the click."""

import re

import numpy as np
import pytest
from playwright.sync_api import expect

import harness as h


def chart_marks(page, key: str):
    """The drawing (svg) of the Altair chart with this widget key."""
    marks = page.locator(f".st-key-{key} .vega-embed svg.marks").first
    marks.scroll_into_view_if_needed()
    expect(marks).to_be_visible()
    return marks


def hover(page, marks, fx: float, fy: float) -> tuple[tuple[float, float], str]:
    """Move the mouse to a fraction of the chart's box; the point and the tooltip's text there."""
    b = h.box(marks)
    point = (b["x"] + fx * b["width"], b["y"] + fy * b["height"])
    page.mouse.move(*point)
    tip = page.locator("#vg-tooltip-element.visible")
    try:
        expect(tip).to_be_visible(timeout=3_000)
    except AssertionError:
        return point, ""  # not over a cell (an axis, a margin)
    return point, tip.inner_text()


def chosen_value(page, label: str) -> str:
    box = page.get_by_test_id("stSelectbox").filter(has=page.get_by_text(label, exact=True))
    return box.get_by_role("combobox").input_value()


def field(tooltip: str, name: str) -> str:
    return re.search(rf"{name}\s+(\S+)", tooltip).group(1)


@pytest.mark.browser
def test_heatmap_of_a_drawn_digit_then_another_class(page):
    h.goto_page(page, "Draw")
    h.draw_strokes(page, h.DIGITS[7])
    expect(h.metric(page, "Prediction")).to_have_text("7")
    expect(h.image_with_caption(page, "why 7")).to_have_count(0)  # closed: nothing computed, nothing shown
    page.get_by_text("Why? Which pixels made it say that").click()
    heat = h.image_with_caption(page, "SmoothGrad: why 7")
    expect(heat).to_be_visible()
    assert heat.evaluate("img => img.naturalWidth") == 224  # the 28x28 image the model saw, 8x
    expect(page.get_by_text("strongest push to 7")).to_be_visible()
    h.select_option(page, "Explain the class", "1")
    expect(h.image_with_caption(page, "SmoothGrad: why 1")).to_be_visible()
    page.get_by_test_id("stRadio").get_by_text("Grad-CAM").click()
    other = h.image_with_caption(page, "Grad-CAM: why 1")
    expect(other).to_be_visible()
    # With the panel open, a new stroke redraws the heatmap of the new drawing.
    before = other.get_attribute("src")
    h.draw_strokes(page, [[(95, 150), (185, 150)]])  # a bar across the 7's stem
    expect(other).not_to_have_attribute("src", before)
    h.expect_no_errors(page)


@pytest.mark.browser
def test_click_a_feature_map_pixel_to_see_its_arithmetic(page, mnist):
    from cnn_core import introspect
    from cnn_core.model import load_model

    h.goto_page(page, "Model")
    marks = chart_marks(page, "model_step_map")
    point, tip = hover(page, marks, 0.72, 0.38)
    assert tip, "no tooltip over the feature map"
    row, col = int(field(tip, "row")), int(field(tip, "col"))
    assert (row, col) != (13, 13), "pick a pixel other than the default one"
    page.mouse.click(*point)
    h.wait_for_script_idle(page)
    expect(h.number_box(page, re.compile(r"^Row"))).to_have_value(str(row))
    expect(h.number_box(page, re.compile(r"^Column"))).to_have_value(str(col))
    expect(page.get_by_text(f"at row {row}, column {col}")).to_be_visible()
    expect(page.get_by_text("Products (patch × kernel)")).to_be_visible()
    expect(page.get_by_text("Keras' own output at this position")).to_be_visible()
    # The value shown is the layer's Keras output for test digit #0, worked out here on its own.
    keras = introspect.feature_maps(load_model(h.ROOT / "models" / "default.keras"),
                                 mnist.x_test[0].astype(np.float32) / 255.0)["conv1"][row, col, 0]
    assert abs(float(h.metric(page, "Output pixel").inner_text()) - keras) < 1e-4
    h.expect_no_errors(page)


@pytest.fixture(scope="module")
def explain_run(app_server):
    """A real tiny run in the app's runs folder."""
    from cnn_core import training
    from cnn_core.config import TrainConfig

    job = training.JobManager(max_jobs=1, runs_dir=app_server.runs_dir).submit(
        TrainConfig(filters=(4,), dense_units=16, epochs=1, limit=300, batch_size=32, seed=14))
    snap = job.wait(600)
    assert snap.state == "finished", snap.error
    return job.run_dir.name


@pytest.mark.browser
def test_click_a_confusion_matrix_cell_to_see_its_digits(page, explain_run):
    h.goto_page(page, "Runs")
    h.select_option(page, "Run", explain_run)
    marks = chart_marks(page, "runs_confusion")
    chosen = (chosen_value(page, "True label"), chosen_value(page, "The model's answer"))
    # Along the diagonal, the first cell with digits that is not the one already chosen.
    for f in np.linspace(0.2, 0.95, 12):
        point, tip = hover(page, marks, f, f)
        if tip and int(field(tip, "digits")) > 0 and (field(tip, "label"), field(tip, "answer")) != chosen:
            break
    else:
        pytest.fail("no cell with digits under the mouse along the diagonal")
    t, p, count = field(tip, "label"), field(tip, "answer"), int(field(tip, "digits"))
    page.mouse.click(*point)
    h.wait_for_script_idle(page)
    expect(page.get_by_role("heading", name=re.compile(
        rf"^{count:,} test digits labelled {t} that the model read as {p}"))).to_be_visible()
    # Each digit is one picture with its caption (its test-set number and probability).
    digits = page.get_by_test_id("stImageContainer").filter(
        has=page.get_by_test_id("stImageCaption").filter(has_text=re.compile(r"^#\d+ · p=")))
    expect(digits).to_have_count(min(count, 40))
    expect(digits.first.locator("img")).to_be_visible()
    h.expect_no_errors(page)
