"""Train and Runs: a tiny training from the form to its final accuracy, watched live; Stop on a
longer one keeps a stopped run; the Runs page lists the tiny run with its accuracy and shows its
confusion matrix; two people training at once each get their own result; a number typed out of
range blocks Start (naming the box) instead of training the old value; each person sees and
controls only their own jobs, and only the owner of a run may delete it.

The tests in this module run in order (the Runs test looks for the run trained before it; when
run alone, it trains one itself).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

import harness as h

# Tiny runs for a 2-core machine: two small conv blocks, a few hundred digits.
TINY = dict(filters="8, 16", limit=400, epochs=2, batch_size=16)
LONG = dict(filters="8, 16", limit=20000, epochs=20, batch_size=16)  # about a minute on 2 cores: stopped early
TRAINED: dict[str, tuple[str, str]] = {}  # "tiny" -> (run name, accuracy text), shared with the Runs test


def progress_value(page: Page) -> int | None:
    """The training progress bar's value (0-100), None when there is none."""
    bar = h.progress(page).locator("[role=progressbar]")
    try:
        value = bar.first.get_attribute("aria-valuenow", timeout=2_000)
    except Exception:  # between two fragment runs, or the job just ended
        return None
    return int(float(value)) if value is not None else None


def chart_titled(page: Page, title: str) -> h.Locator:
    """An Altair chart by its title (Vega draws it as SVG text)."""
    return page.get_by_test_id("stVegaLiteChart").filter(has_text=title).first


def batch_chart(page: Page) -> h.Locator:
    return chart_titled(page, "Loss per batch")


def train_tiny(page: Page) -> tuple[str, str]:
    h.configure_training(page, **TINY)
    h.button(page, "Start training").click()
    expect(h.progress(page)).to_be_visible()
    return h.wait_training_finished(page)


@pytest.mark.browser
def test_train_tiny_run_live_then_final_accuracy(page):
    h.configure_training(page, **TINY)
    h.button(page, "Start training").click()
    # Running: a progress bar (first "Loading…", then "Epoch e/2 · batch b/n"), a Stop
    # button, Start disabled while this person's job runs.
    expect(h.progress(page)).to_be_visible()
    expect(h.button(page, "Stop")).to_be_visible()
    expect(h.button(page, "Start training")).to_be_disabled()

    # Watch it live until the end: record what the progress bar and the charts show.
    # (A tiny run may spend most of its time compiling; the strict "it advances" checks are in
    # the Stop test, on a run long enough to watch.)
    seen: list[tuple[str, int | None, int]] = []

    def watch() -> bool:
        if h.training_result(page).count():
            return True
        try:
            text = h.progress(page).first.inner_text(timeout=1_000)
        except Exception:
            text = ""
        entry = (text.split(" · elapsed")[0], progress_value(page), page.get_by_test_id("stVegaLiteChart").count())
        if text and (not seen or seen[-1] != entry):
            seen.append(entry)
        return False

    h.wait_until(watch, "the tiny training did not finish", timeout=h.TRAIN_TIMEOUT / 1000, interval=0.2)
    assert seen, "never saw the training in progress"
    # Jobs start at once now, and the poll waits for a job's end in its last second: a tiny job may
    # show only its loading before its result.
    assert any(text.startswith(("Queued", "Loading", "Epoch", "Testing", "Saving")) for text, _, _ in seen), seen

    name, accuracy = h.wait_training_finished(page)
    assert float(accuracy.rstrip("%")) > 30, f"a tiny run on 400 digits should beat chance (10%): {accuracy}"
    expect(page.get_by_text("Training finished.")).to_be_visible()
    # The final charts: per batch and per epoch (two epochs: a line, not a dot).
    for chart in ("Loss per batch", "Accuracy per batch", "Loss per epoch", "Accuracy per epoch"):
        expect(chart_titled(page, chart)).to_be_visible()
    expect(h.button(page, "Start training")).to_be_enabled()
    TRAINED["tiny"] = (name, accuracy)


@pytest.mark.browser
def test_stop_a_longer_run_keeps_a_stopped_run(page):
    h.configure_training(page, **LONG)
    h.button(page, "Start training").click()
    expect(h.button(page, "Stop")).to_be_visible()
    # Let it train a few batches and watch it advance.
    expect(h.progress(page).first).to_contain_text(re.compile(r"batch ([1-9]\d*)/"), timeout=h.TRAIN_TIMEOUT)
    expect(batch_chart(page)).to_be_visible()
    first = h.wait_until(lambda: progress_value(page) or None, "the progress bar never left 0",
                         timeout=h.TRAIN_TIMEOUT / 1000)
    chart_before = batch_chart(page).screenshot()
    h.wait_until(lambda: (progress_value(page) or 0) > first, "the progress bar did not advance",
                 timeout=h.TRAIN_TIMEOUT / 1000)
    h.wait_until(lambda: batch_chart(page).screenshot() != chart_before, "the live batch chart did not change")

    h.button(page, "Stop").click()
    expect(h.training_result(page)).to_be_visible(timeout=h.TRAIN_TIMEOUT)
    n = LONG["epochs"]
    stopped = rf"Training was stopped (during epoch \d+ of {n}, after \d+ of \d+ batches|after \d+ of {n} epochs)"
    expect(page.get_by_text(re.compile(stopped))).to_be_visible()
    name, accuracy = h.run_name(page), h.metric(page, "Test accuracy").inner_text().strip()
    assert h.PERCENT.match(accuracy)
    TRAINED["stopped"] = (name, accuracy)

    # The stopped run is saved: the Runs page lists it as stopped, with its accuracy.
    h.goto_page(page, "Runs")
    row = expect_run_listed(page, name, accuracy, state="stopped")
    done, planned = row["Epochs"].split("/")
    assert planned == str(LONG["epochs"]) and int(done) < LONG["epochs"], row


@pytest.fixture
def tiny_run(open_page):
    if "tiny" not in TRAINED:  # this test alone: train one first
        TRAINED["tiny"] = train_tiny(open_page())
    return TRAINED["tiny"]


def run_row(page: Page, name: str) -> dict[str, str]:
    """The run's row in the Runs page's table (waits for it to be listed)."""
    table = page.get_by_test_id("stDataFrame").first
    expect(table).to_be_visible()
    rows: dict[str, dict] = {}

    def listed() -> bool:
        rows.clear()
        rows.update({r.get("Name"): r for r in h.dataframe_rows(table)})
        return name in rows

    h.wait_until(listed, lambda: f"run {name} is not in the runs table: {list(rows)}", interval=1)
    return rows[name]


def expect_run_listed(page: Page, name: str, accuracy: str | None = None, state: str | None = None) -> dict:
    row = run_row(page, name)
    if accuracy is not None:  # the grid keeps the raw fraction in its accessible cells
        assert abs(float(row["Test accuracy"]) * 100 - float(accuracy.rstrip("%"))) < 0.006, (row, accuracy)
    if state is not None:
        assert row["State"] == state, row
    return row


@pytest.mark.browser
def test_runs_page_lists_run_and_shows_confusion_matrix(page, tiny_run):
    name, accuracy = tiny_run
    h.goto_page(page, "Runs")
    row = expect_run_listed(page, name, accuracy, state="finished")
    assert row["Filters"] == "8,16" and row["Digits"] == "400" and row["Epochs"] == "2/2", row
    h.select_option(page, "Run", name)
    expect(h.metric(page, "Test accuracy")).to_have_text(accuracy)
    matrix = page.locator(".st-key-runs_confusion .vega-embed svg.marks").first  # the clickable chart
    expect(matrix).to_be_visible()
    assert h.box(matrix)["width"] > 100
    h.expect_no_errors(page)


@pytest.mark.browser
def test_two_people_train_at_once(open_page):
    alice, bob = open_page(), open_page()
    h.configure_training(alice, **{**TINY, "filters": "8", "epochs": 1})
    h.configure_training(bob, **{**TINY, "filters": "4, 8", "epochs": 1})
    h.button(alice, "Start training").click()
    h.button(bob, "Start training").click()
    expect(h.progress(alice)).to_be_visible()
    expect(h.progress(bob)).to_be_visible()
    # Both jobs are live at the same time, each page showing its own job.
    job_a = alice.get_by_role("heading", name=re.compile(r"^Job \S+:")).first
    job_b = bob.get_by_role("heading", name=re.compile(r"^Job \S+:")).first
    expect(job_a).to_be_visible()
    expect(job_b).to_be_visible()
    id_a = re.match(r"Job (\S+):", job_a.inner_text()).group(1)
    id_b = re.match(r"Job (\S+):", job_b.inner_text()).group(1)
    assert id_a != id_b

    name_a, acc_a = h.wait_training_finished(alice)
    name_b, acc_b = h.wait_training_finished(bob)
    assert name_a != name_b, "both people got the same run"
    # Each sees the job they started, not the other's.
    expect(alice.get_by_role("heading", name=re.compile(rf"^Job {re.escape(id_a)}:"))).to_be_visible()
    expect(bob.get_by_role("heading", name=re.compile(rf"^Job {re.escape(id_b)}:"))).to_be_visible()
    # Their runs carry their own configurations and accuracies.
    h.goto_page(alice, "Runs")
    assert expect_run_listed(alice, name_a, acc_a, state="finished")["Filters"] == "8"
    assert expect_run_listed(alice, name_b, acc_b, state="finished")["Filters"] == "4,8"


@pytest.mark.browser
def test_out_of_range_number_blocks_start_naming_the_box(page):
    h.goto_page(page, "Train")
    start = h.button(page, "Start training")
    expect(start).to_be_enabled()
    # Typed with the keyboard and committed with Enter, as a learner does.
    for label, bad, good in (("Epochs", "0", "1"), ("Batch size", "100000", "64"), ("Learning rate", "5", "0.002")):
        box = h.number_box(page, label)
        box.fill("")
        box.press_sequentially(bad)
        box.press("Enter")
        h.wait_for_script_idle(page)
        expect(start).to_be_disabled()
        expect(page.get_by_test_id("stAlertContentError").filter(has_text=f"Cannot start: {label}:")).to_be_visible()
        box.fill("")
        box.press_sequentially(good)
        box.press("Enter")
        h.wait_for_script_idle(page)
        expect(start).to_be_enabled()
        expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    # Every checkbox label is shown whole (none cut off in its narrow column).
    # (Streamlit ends a label too long for its line with an ellipsis: its text is wider than its box.)
    cut = page.get_by_test_id("stCheckbox").evaluate_all("""boxes => boxes.filter(b => {
        const m = b.querySelector('[data-testid=stWidgetLabel] [data-testid=stMarkdownContainer]');
        return m && m.scrollWidth > m.clientWidth + 1;
    }).map(b => b.innerText)""")
    assert not cut, f"checkbox labels cut off: {cut}"


@pytest.mark.browser
def test_each_person_controls_only_their_own_jobs_and_runs(open_page):
    alice, bob = open_page(), open_page()
    h.configure_training(alice, **LONG)
    h.button(alice, "Start training").click()
    expect(h.button(alice, "Stop")).to_be_visible()
    job = alice.get_by_role("heading", name=re.compile(r"^Job \S+:")).first
    expect(job).to_be_visible()
    job_id = re.match(r"Job (\S+):", job.inner_text()).group(1)
    expect(alice.get_by_text(re.compile(r"^Started by you"))).to_be_visible()

    # Bob's Train page offers no job to reattach (Alice's is not his) and shows no Stop.
    h.goto_page(bob, "Train")
    expect(h.button(bob, "Reattach")).to_have_count(0)
    expect(h.button(bob, "Stop")).to_have_count(0)
    expect(bob.get_by_text(job_id)).to_have_count(0)

    # Alice can go back to her form while the job runs, and reattach to it.
    h.button(alice, "Back to the form").click()
    h.wait_for_script_idle(alice)
    expect(h.button(alice, "Start training")).to_be_enabled()
    # A refresh is a new Streamlit session: the browser's cookie keeps Alice's id, so her job is still hers.
    alice.reload(wait_until="domcontentloaded")
    h.wait_for_app_loaded(alice)
    expect(h.title(alice, h.PAGES["Train"])).to_be_visible()
    expect(h.button(alice, "Reattach")).to_be_visible()
    h.button(alice, "Reattach").click()
    h.wait_for_script_idle(alice)
    expect(alice.get_by_role("heading", name=re.compile(rf"^Job {re.escape(job_id)}:"))).to_be_visible()
    expect(h.progress(alice).first).to_contain_text(re.compile(r"batch [1-9]\d*/"), timeout=h.TRAIN_TIMEOUT)
    h.button(alice, "Stop").click()
    name, _ = h.wait_training_finished(alice)

    # Everyone sees the run; only Alice has Delete.
    h.goto_page(bob, "Runs")
    run_row(bob, name)
    h.select_option(bob, "Run", name)
    expect(bob.get_by_text(re.compile(r"^Trained by \S+: only they can delete it"))).to_be_visible()
    expect(h.button(bob, "Delete run")).to_have_count(0)
    h.goto_page(alice, "Runs")
    h.select_option(alice, "Run", name)
    expect(h.button(alice, "Delete run")).to_be_visible()
