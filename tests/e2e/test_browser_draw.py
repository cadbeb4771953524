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
    # The bar alone already reads 7: wait for the run of the last stroke before reading the preview.
    h.wait_for_script_idle(page)
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


@pytest.mark.browser
def test_a_stroke_from_the_top_right_corner_draws_at_once(page):
    """The canvas toolbar used to lie, invisible, over the top right of the drawing square until the
    mouse had hovered it for 0.1 s: a press there right after entering drew nothing. Now it sits below."""
    h.goto_page(page, "Draw")
    assert h.canvas_ink(page) == 0
    # A tall 1 from the very top right corner: the mouse enters there and presses at once.
    h.draw_strokes(page, [[(272, 6), (262, 140), (250, 270)]])
    h.wait_until(lambda: h.canvas_ink(page) > 1000, lambda: f"the stroke drew {h.canvas_ink(page)} px of ink")
    expect(h.metric(page, "Prediction")).to_be_visible()
    # The toolbar is below the drawing square, visible without hovering.
    square, undo = h.box(h.canvas(page)), h.box(h.canvas_tool(page, "Undo"))
    assert undo["y"] >= square["y"] + square["height"], (undo, square)
    assert h.canvas_tool(page, "Undo").evaluate("b => getComputedStyle(b.closest('.dc-toolbar')).opacity") == "1"


@pytest.mark.browser
def test_the_drawing_and_its_prediction_are_kept_when_you_come_back(page):
    h.goto_page(page, "Draw")
    h.draw_strokes(page, h.DIGITS[7])
    expect(h.metric(page, "Prediction")).to_have_text("7")
    ink = h.settled_ink(page)  # each pen-up sends: the 7's first stroke alone may already read as a 7
    h.goto_page(page, "Model")
    h.goto_page(page, "Draw")
    expect(h.metric(page, "Prediction")).to_have_text("7")
    h.wait_until(lambda: abs(h.canvas_ink(page) - ink) < 0.05 * ink,
                 lambda: f"the canvas came back with {h.canvas_ink(page)} px of ink, not {ink}")
    # And the drawing can be continued.
    h.draw_strokes(page, [[(40, 150), (240, 150)]])
    h.wait_until(lambda: h.canvas_ink(page) > 1.1 * ink, "a stroke after coming back did not add ink")
    # Clear forgets the drawing for good.
    h.button(page, "Clear").click()
    expect(h.metric(page, "Prediction")).to_have_count(0)
    h.goto_page(page, "Model")
    h.goto_page(page, "Draw")
    expect(page.get_by_text(HINT)).to_be_visible()
    assert h.canvas_ink(page) == 0


@pytest.mark.browser
def test_a_stroke_reruns_only_the_canvas_and_prediction(app_server, browser):
    page = h.new_page(browser)
    try:
        reruns = h.record_reruns(page)
        page.goto(app_server.url + "/draw", wait_until="domcontentloaded", timeout=h.APP_TIMEOUT)
        h.wait_for_app_loaded(page)
        expect(h.title(page, h.PAGES["Draw"])).to_be_visible()
        before = len(reruns)
        h.draw_strokes(page, h.DIGITS[1])
        expect(h.metric(page, "Prediction")).to_have_text("1")
        stroke = reruns[before:]
        assert stroke and all(stroke), f"a stroke asked for a whole-page run: {stroke}"
        # The scribble flag and the softmax line come with that panel.
        h.draw_strokes(page, [[(60, 60), (220, 70), (70, 120), (210, 130), (60, 180), (220, 190), (70, 240)]])
        expect(page.get_by_text("add up to 100%")).to_be_visible()
        # A dot is flagged, the model's guess and its bars still shown.
        h.button(page, "Clear").click()
        expect(h.metric(page, "Prediction")).to_have_count(0)
        h.draw_strokes(page, [[(140, 140), (143, 142)]])
        expect(page.get_by_text("That does not look like a digit")).to_be_visible()
        expect(h.metric(page, "Prediction")).to_be_visible()
        expect(page.get_by_test_id("stVegaLiteChart")).to_have_count(1)
        h.expect_no_errors(page)
    finally:
        page.context.close()


@pytest.mark.browser
def test_each_pen_up_sends_the_drawing_at_once(app_server, browser):
    """The canvas component sends a drawing 200 ms after its last change (a debounce of its own);
    the app sends it on each pen-up instead (cnn_lab_ui.drawing). Two strokes in quick succession,
    well within those 200 ms, are then two sends, each read by the model, not one."""
    page = h.new_page(browser)
    try:
        reruns = h.record_reruns(page)
        page.goto(app_server.url + "/draw", wait_until="domcontentloaded", timeout=h.APP_TIMEOUT)
        h.wait_for_app_loaded(page)
        expect(page.locator("[data-send-on-release]")).to_have_count(1)
        h.draw_strokes(page, h.DIGITS[1])  # the default model loads; the first stroke is read
        expect(h.metric(page, "Prediction")).to_have_text("1")
        h.button(page, "Clear").click()
        expect(h.metric(page, "Prediction")).to_have_count(0)
        h.wait_until(lambda: h.canvas_ink(page) == 0, "Clear left strokes on the canvas")
        h.wait_for_script_idle(page)
        before = len(reruns)
        h.draw_strokes(page, h.DIGITS[7], steps=1)  # two strokes a few ms apart
        expect(h.metric(page, "Prediction")).to_have_text("7")
        h.wait_for_script_idle(page)
        assert len(reruns[before:]) == 2, f"two pen-ups sent {len(reruns[before:])} drawings: {reruns[before:]}"
        h.expect_no_errors(page)
    finally:
        page.context.close()
