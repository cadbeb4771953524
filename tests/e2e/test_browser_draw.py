"""Draw: digits drawn with the mouse on the canvas are read by the shipped default model."""

import pytest
from playwright.sync_api import expect

import harness as h

HINT = "Draw one digit"
PREVIEW = "What the model saw"


@pytest.mark.browser
def test_drawn_digits_are_predicted(page):
    h.goto_page(page, "Draw")
    expect(page.get_by_text(HINT)).to_be_visible()
    expect(h.metric(page, "Prediction")).to_have_count(0)
    assert h.canvas_ink(page) == 0

    for digit in (1, 0, 7):  # a vertical line, a closed loop, a 7 as two strokes
        h.draw_strokes(page, h.DIGITS[digit])
        h.wait_until(lambda: h.canvas_ink(page) > 1000, "the strokes did not land on the canvas")
        expect(h.metric(page, "Prediction")).to_have_text(str(digit))
        expect(h.metric(page, "Confidence")).to_have_text(h.re.compile(r"^\d+(\.\d)?%$"))
        preview = h.image_with_caption(page, PREVIEW)
        expect(preview).to_be_visible()
        # The 28x28 preview, enlarged 8x (224 px).
        assert preview.evaluate("img => img.naturalWidth") == 224
        h.expect_no_errors(page)

        h.button(page, "Clear").click()
        expect(h.metric(page, "Prediction")).to_have_count(0)
        expect(page.get_by_text(HINT)).to_be_visible()
        expect(h.image_with_caption(page, PREVIEW)).to_have_count(0)
        h.wait_until(lambda: h.canvas_ink(page) == 0, "Clear left strokes on the canvas")


@pytest.mark.browser
def test_canvas_toolbar_undo_and_reset(page):
    h.goto_page(page, "Draw")
    h.draw_strokes(page, h.DIGITS[7])
    expect(h.metric(page, "Prediction")).to_have_text("7")
    preview = h.image_with_caption(page, PREVIEW)
    before = preview.get_attribute("src")
    # Undo the diagonal: the model now sees only the horizontal bar (a new 28x28 preview).
    h.canvas_tool(page, "Undo").click()
    expect(preview).not_to_have_attribute("src", before)
    expect(h.metric(page, "Prediction")).to_be_visible()
    h.canvas_tool(page, "Reset canvas & history").click()
    expect(h.metric(page, "Prediction")).to_have_count(0)
    expect(page.get_by_text(HINT)).to_be_visible()
