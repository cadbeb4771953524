"""The class: two learners name themselves in the sidebar, the Runs page's class board shows
their runs by name, best first. Its own server and runs folder (runs trained here, by owner)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from cnn_core import config, learners, runs, training
from cnn_lab_ui.state import OWNER_COOKIE

import harness as h

pytestmark = pytest.mark.browser
TINY = config.PRESETS["quick"].replace(limit=300, batch_size=32, epochs=1)
ANN, BOB = "aaaa0001", "bbbb0002"  # owner ids, as the app's cookie keeps them


def learner_page(browser, server, owner: str):
    context = browser.new_context(viewport=h.VIEWPORT, device_scale_factor=1)
    context.add_cookies([{"name": OWNER_COOKIE, "value": owner, "url": server.url}])
    context.set_default_timeout(h.RUN_TIMEOUT)
    page = context.new_page()
    page.goto(server.url, wait_until="domcontentloaded", timeout=h.APP_TIMEOUT)
    h.wait_for_app_loaded(page, h.APP_TIMEOUT)
    return page


def test_two_learners_names_on_the_class_board(tmp_path, browser):
    manager = training.JobManager(max_jobs=1, runs_dir=tmp_path / "runs")
    for owner, limit in ((ANN, 300), (BOB, 600)):
        assert manager.submit(TINY.replace(limit=limit), owner=owner).wait(300).state == "finished"
    server = h.AppServer(runs_dir=tmp_path / "runs", log_path=tmp_path / "server.log").start()
    try:
        ann, bob = learner_page(browser, server, ANN), learner_page(browser, server, BOB)
        for page, name in ((ann, "Ann"), (bob, "Bob")):
            h.goto_page(page, "Runs")
            h.set_text(page, "Your name (shown to the class)", name)
        # The rerun that saves a name can begin after set_text's short settle (CI, 2 busy cores): poll the file.
        h.wait_until(lambda: learners.names(tmp_path / "runs") == {ANN: "Ann", BOB: "Bob"},
                     lambda: f"names saved: {learners.names(tmp_path / 'runs')}", timeout=60)
        ann.get_by_test_id("stButtonGroup").get_by_text("The class").click()
        h.wait_for_script_idle(ann)
        rows = h.dataframe_rows(ann.get_by_test_id("stDataFrame").first)
        best_first = sorted(runs.list_runs(tmp_path / "runs"), key=lambda i: -i.test_accuracy)
        expected = {ANN: "Ann (you)", BOB: "Bob"}
        assert [r["Learner"] for r in rows] == [expected[i.owner] for i in best_first]
        assert [r["Run"] for r in rows] == [i.name for i in best_first]
        ann.get_by_test_id("stButtonGroup").get_by_text("My runs").click()  # her own runs only
        h.wait_for_script_idle(ann)
        expect(ann.get_by_test_id("stDataFrame").first).to_be_visible()
        (mine,) = [i.name for i in best_first if i.owner == ANN]
        assert [r["Name"] for r in h.dataframe_rows(ann.get_by_test_id("stDataFrame").first)] == [mine]
        h.expect_no_errors(ann)
    finally:
        server.stop()
