"""The Train page with the Ray executor: the same page, the job trains on a real Ray cluster.

Its own server (CNN_RAY_ADDRESS set), beside the session's shared one.
"""

from __future__ import annotations

import pytest

from cnn_core import ray_executor, runs, training

import harness as h

pytestmark = pytest.mark.browser


def test_train_page_trains_on_the_ray_cluster(tmp_path, browser, ray_head):
    server = h.AppServer(runs_dir=tmp_path / "runs", log_path=tmp_path / "server.log",
                         env={ray_executor.ADDRESS_ENV: ray_head,
                              training.MAX_JOBS_ENV: "1"}).start()  # one actor: one TensorFlow import
    try:
        page = h.new_page(browser, server.url)
        h.configure_training(page, filters="8", limit=600, epochs=1, batch_size=32)
        h.button(page, "Start training").click()
        name, _ = h.wait_training_finished(page)
        (info,) = runs.list_runs(tmp_path / "runs")
        assert info.name == name and info.state == "finished"
        where = ray_executor.trained_on(info.path)
        assert where and where["executor"] == "ray", "the run should say the cluster trained it"
    finally:
        server.stop()
