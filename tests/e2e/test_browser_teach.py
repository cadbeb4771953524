"""Teach it, in a real browser: drawings made with the mouse, their digit corrected, kept, taught to the
default model, before and after; another learner does not see them. (The Runs page's transfer beside the
same data from scratch is tested with AppTest in tests/test_app_teach.py.)"""

import re

import pytest
from playwright.sync_api import expect

import harness as h

LABEL = "It is really a"
N_KEPT = 5  # teach.MIN_PER_CLASS: the fewest drawings of a digit that can be taught


def slanted_stroke(i: int) -> list[list[tuple[float, float]]]:
    """A bare slanted stroke, a little different each time: the model reads it as a 1; this learner says 7."""
    x = 110 + 14 * i
    return [[(x + 40, 40 + 6 * i), (x, 245 - 4 * i)]]


def gallery_heading(page, n: int):
    return page.get_by_role("heading", name=f"My drawings ({n})")


@pytest.mark.browser
def test_draw_correct_keep_teach_and_see_before_and_after(open_page):
    from cnn_core import teach

    assert teach.MIN_PER_CLASS == N_KEPT
    page = open_page()
    h.goto_page(page, "Draw")
    expect(gallery_heading(page, 0)).to_be_visible()
    h.select_option(page, LABEL, "7")  # the learner corrects the model: it is really a 7
    for i in range(N_KEPT):
        h.draw_strokes(page, slanted_stroke(i))
        h.wait_until(lambda: h.canvas_ink(page) > 500, "the stroke did not land on the canvas")
        expect(h.metric(page, "Prediction")).to_be_visible()
        h.wait_for_script_idle(page)
        h.button(page, "Keep this drawing").click()
        if i == 0:  # said in a toast (a few seconds)
            toast = page.get_by_test_id("stToast").filter(has_text="Kept as a 7: you have 1 drawing of 7.")
            expect(toast).to_be_visible()
        expect(gallery_heading(page, i + 1)).to_be_visible()
        h.wait_until(lambda: h.canvas_ink(page) == 0, "keeping did not empty the canvas for the next drawing")
        h.wait_for_script_idle(page)
    expect(page.get_by_text(f"7 · {N_KEPT} drawings")).to_be_visible()
    h.expect_no_errors(page)

    h.button(page, "Teach the model").click()
    expect(h.button(page, "Teach the model")).to_be_disabled()
    # Meanwhile another learner (another browser) sees none of these drawings.
    other = open_page()
    h.goto_page(other, "Draw")
    expect(gallery_heading(other, 0)).to_be_visible()
    expect(other.get_by_text("7 · 5 drawings")).to_have_count(0)
    # A refresh while it teaches: the same learner's page finds the job again (the owner cookie).
    page.reload(wait_until="domcontentloaded")
    h.wait_for_app_loaded(page)
    expect(gallery_heading(page, N_KEPT)).to_be_visible()
    done = page.get_by_test_id("stAlertContentSuccess").filter(has_text="Saved as run")
    expect(h.button(page, "Stop").or_(done)).to_be_visible()

    expect(done).to_be_visible(timeout=h.TRAIN_TIMEOUT)
    run = re.search(r"Saved as run (\S+?);", done.inner_text()).group(1)
    expect(page.get_by_text("Before: the default model")).to_be_visible()
    expect(h.metric(page, "Your drawings")).to_have_count(2)
    expect(h.metric(page, "MNIST test digits")).to_have_count(2)
    for value in h.metric(page, "Your drawings").all() + h.metric(page, "MNIST test digits").all():
        expect(value).to_have_text(re.compile(r"^\d{1,3}\.\d{1,2}%$"))
    # The taught run is the Draw page's model now.
    combo = page.get_by_test_id("stSelectbox").filter(has_text="Model").get_by_role("combobox")
    expect(combo).to_have_value(re.compile(re.escape(run)))
    h.expect_no_errors(page)
