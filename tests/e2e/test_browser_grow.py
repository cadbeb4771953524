"""Grow a run, in a real browser: the Runs page's "Grow this run" continues a run (the new run's
epochs carry on from its parent's) and transfers its conv blocks to Fashion-MNIST, each job watched
to its end on the Train page like any training."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from cnn_core import runs
from cnn_lab_ui.runs_table import origin_text  # the Origin column's words

import harness as h

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def parent(app_server):
    """A tiny run in the server's runs folder, trained here (the page under test grows it)."""
    from cnn_core import training
    from cnn_core.config import TrainConfig

    manager = training.JobManager(max_jobs=1, runs_dir=app_server.runs_dir)
    job = manager.submit(TrainConfig(filters=(4,), dense_units=16, epochs=1, limit=300, batch_size=32, seed=21))
    assert job.wait(600).state == "finished", job.snapshot().error
    return runs.read_info(job.run_dir)


def runs_row(page, origin: str) -> dict[str, str]:
    """The Runs table's row of the run with this origin (waits for it to be listed)."""
    table = page.get_by_test_id("stDataFrame").first
    rows: list[dict] = []

    def listed():
        rows[:] = h.dataframe_rows(table)
        return next((r for r in rows if r.get("Origin") == origin), None)

    return h.wait_until(listed, lambda: f"no run of origin {origin!r}: {rows}", interval=1)


def grow(page, parent_name: str, tab: str) -> None:
    h.goto_page(page, "Runs")
    h.select_option(page, "Run", parent_name)
    expect(page.get_by_role("heading", name="Grow this run")).to_be_visible()
    page.get_by_role("tab", name=tab).click()


def watch_to_the_end(page) -> str:
    """Follow the success message's link to the Train page and wait for the job's result."""
    expect(page.get_by_test_id("stAlertContentSuccess").filter(has_text="Started job")).to_be_visible()
    page.get_by_role("link", name="Watch it on the Train page").click()
    name, accuracy = h.wait_training_finished(page)
    assert h.PERCENT.match(accuracy)
    expect(page.get_by_test_id("stVegaLiteChart").filter(has_text="Loss per epoch").first).to_be_visible()
    return name


def test_continue_a_run_then_transfer_it_to_fashion_mnist(page, parent):
    grow(page, parent.name, "Train more epochs")
    h.button(page, "Train more epochs").click()
    continued = watch_to_the_end(page)
    h.goto_page(page, "Runs")
    row = runs_row(page, origin_text(runs.Origin(runs.CONTINUED, parent.name)))
    assert row["Name"] == continued and row["Epochs"] == "2/2", row  # its epochs carry on from the parent's

    from cnn_core import data

    try:
        data.load("fashion_mnist")
    except data.DataError:
        pytest.skip("no Fashion-MNIST on this machine (Debian's dataset-fashion-mnist)")
    grow(page, parent.name, "Transfer to another dataset")
    expect(page.get_by_test_id("stSelectbox").filter(has_text="Dataset").get_by_role("combobox")).to_have_value(
        re.compile("Fashion-MNIST"))
    h.set_number(page, "Training images (0: all)", 300)
    h.set_number(page, "Epochs", 1)
    h.button(page, "Transfer").click()
    transferred = watch_to_the_end(page)
    h.goto_page(page, "Runs")
    row = runs_row(page, origin_text(runs.Origin(runs.TRANSFERRED, parent.name, runs.FREEZE_CONV)))
    assert row["Name"] == transferred and row["Dataset"].lower().startswith("fashion"), row
    h.expect_no_errors(page)
