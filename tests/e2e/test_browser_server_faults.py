"""The server goes away under a learner: the running job is saved, the page says so in plain words.

Its own server (not the session's shared one), since the test stops it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from cnn_core import runs

import harness as h

pytestmark = pytest.mark.browser
LONG = {"filters": "8", "limit": 20000, "epochs": 30, "batch_size": 32}


def children(pid: int) -> list[int]:
    """The server's direct child processes (its training workers), from /proc."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def test_sigterm_saves_the_running_job_and_the_page_says_the_server_stopped(tmp_path, browser):
    server = h.AppServer(runs_dir=tmp_path / "runs", log_path=tmp_path / "server.log").start()
    try:
        page = h.new_page(browser, server.url)
        h.configure_training(page, **LONG)
        h.button(page, "Start training").click()
        expect(h.progress(page).first).to_contain_text(re.compile(r"batch [1-9]\d*/"), timeout=h.TRAIN_TIMEOUT)
        workers = children(server.proc.pid)
        assert workers, "the training should run in worker processes"
        os.kill(server.proc.pid, signal.SIGTERM)  # the server alone, as `kill PID` or a service manager would
        try:
            server.proc.wait(120)
        except subprocess.TimeoutExpired:
            for pid in (server.proc.pid, *workers):  # every thread's stack into the log, then fail with it
                os.kill(pid, signal.SIGUSR1)
            time.sleep(3)
            pytest.fail("the server did not exit within 120 s of SIGTERM; its log:\n" + server.log_tail())
        # The job was stopped after its current batch and saved as a stopped run; no worker is left.
        (info,) = runs.list_runs(tmp_path / "runs")
        assert info.state == "stopped" and info.epochs_completed < LONG["epochs"]
        deadline = time.monotonic() + 30
        while any(alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(alive(w) for w in workers)
        # The page that lost its server says what happened, not "are you connected to the internet?".
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("CNN Lab's server has stopped", timeout=60_000)
        expect(dialog).not_to_contain_text("internet")
        expect(dialog).not_to_contain_text("streamlit run")
    finally:
        server.stop()
