"""Model: the layer summary, the learned filters and the feature maps of the shipped default model."""

import re

import pytest
from playwright.sync_api import expect

import harness as h


@pytest.mark.browser
def test_model_page_shows_summary_filters_and_feature_maps(page):
    h.goto_page(page, "Model")
    expect(page.get_by_role("heading", name="Layers")).to_be_visible()

    # The summary table: Keras' rows, and totals that add up.
    rows = h.dataframe_rows(page.get_by_test_id("stDataFrame").first)
    assert [r["Layer"] for r in rows][:1] and {"Layer", "Type", "Output shape", "Param #"} <= set(rows[0]), rows
    types = [r["Type"] for r in rows]
    assert "Conv2D" in types and "Dense" in types, types
    assert rows[-1]["Output shape"].replace(" ", "").endswith(",10)"), rows[-1]
    total = sum(int(r["Param #"]) for r in rows)
    expect(h.metric(page, "Total params")).to_have_text(f"{total:,}")

    # At least one grid of learned filters per conv layer (the first one: 1 input channel).
    conv = [r["Layer"] for r in rows if r["Type"] == "Conv2D"]
    first = h.image_with_caption(page, f"{conv[0]}: filters 0–")
    expect(first).to_be_visible()
    assert first.evaluate("img => img.complete && img.naturalWidth > 50")
    for layer in conv:
        expect(h.image_with_caption(page, f"{layer}: filters")).to_have_count(1)

    # Feature maps of test digit #0, one grid per conv / pooling layer.
    expect(page.get_by_text(re.compile(r"Input: test digit #0, labelled \d\. The model reads \d"))).to_be_visible()
    fmap = h.image_with_caption(page, f"{conv[0]} (Conv2D): output")
    expect(fmap).to_be_visible()
    assert fmap.evaluate("img => img.complete && img.naturalWidth > 50")
    h.expect_no_errors(page)

    # Another digit: new feature maps.
    before = fmap.get_attribute("src")
    h.set_number(page, re.compile(r"^Test digit number"), 1)
    expect(page.get_by_text(re.compile(r"Input: test digit #1, labelled"))).to_be_visible()
    expect(fmap).not_to_have_attribute("src", before)

    # The latest drawing: none yet in this session, the page says where to make one.
    page.get_by_test_id("stRadio").get_by_text("My latest drawing").click()
    expect(page.get_by_text("No drawing yet")).to_be_visible()
    expect(h.image_with_caption(page, "(Conv2D): output")).to_have_count(0)


@pytest.mark.browser
def test_model_page_feature_maps_of_my_drawing(page):
    h.goto_page(page, "Draw")
    h.draw_strokes(page, h.DIGITS[0])
    expect(h.metric(page, "Prediction")).to_have_text("0")
    h.goto_page(page, "Model")
    page.get_by_test_id("stRadio").get_by_text("My latest drawing").click()
    expect(page.get_by_text(re.compile(r"Input: your latest drawing.*reads 0"))).to_be_visible()
    expect(h.image_with_caption(page, "(Conv2D): output").first).to_be_visible()
    h.expect_no_errors(page)
