"""A class's limits: read from the environment, told before anything starts, per learner."""

import pytest
from streamlit.testing.v1 import AppTest

from cnn_core import config, executor, limits
from cnn_core.config import ConfigError
from cnn_core.errors import UserError

from test_app_train import APP, TINY, start_button

BIG = config.PRESETS["quick"].replace(limit=6000, epochs=20, batch_size=32)


def test_limits_come_from_the_environment_and_bad_values_say_which():
    got = limits.ClassLimits.from_env({"CNN_MAX_JOBS_PER_LEARNER": "1", "CNN_MAX_EPOCHS": " 5 "})
    assert got == limits.ClassLimits(jobs_per_learner=1, epochs=5, train_digits=None)
    assert limits.ClassLimits.from_env({}) == limits.ClassLimits()
    for bad in ("0", "-3", "two", "1.5"):
        with pytest.raises(UserError, match=f"CNN_MAX_EPOCHS={bad!r}"):
            limits.ClassLimits.from_env({"CNN_MAX_EPOCHS": bad})


def test_a_job_over_a_cap_names_the_setting():
    caps = limits.ClassLimits(epochs=5, train_digits=10_000)
    caps.check_config(BIG.replace(epochs=5, limit=10_000))  # at the limits: fine
    with pytest.raises(ConfigError) as e:
        caps.check_config(BIG.replace(epochs=6))
    assert e.value.parameter == "epochs" and "at most 5" in str(e.value)
    with pytest.raises(ConfigError) as e:
        caps.check_config(BIG.replace(epochs=5, limit=None), n_train=60_000)  # "all" digits is over the cap
    assert e.value.parameter == "limit" and "10,000" in str(e.value)


def test_one_learner_over_the_job_cap_is_refused_and_others_are_not(runs_dir, monkeypatch):
    monkeypatch.setenv("CNN_MAX_JOBS_PER_LEARNER", "1")
    pool = executor.WorkerPool(workers=1)
    try:
        ex = executor.LocalExecutor(runs_dir=runs_dir, pool=pool)
        first = ex.submit(BIG, owner="ann")
        with pytest.raises(limits.LimitError, match="1 per learner"):
            ex.submit(BIG, owner="ann")
        other = ex.submit(BIG, owner="bob")  # another learner has their own allowance
        assert [j.owner for j in ex.active()] == ["ann", "bob"]
        for job in (first, other):
            job.request_stop()
        assert first.wait(300).state == "stopped" and other.wait(300).state == "stopped"
        again = ex.submit(TINY_CONFIG, owner="ann")  # her job ended: she may start again
        assert again.wait(300).state == "finished", again.snapshot().error
    finally:
        pool.close()


TINY_CONFIG = config.PRESETS["quick"].replace(limit=300, batch_size=32, epochs=1)


def test_the_train_page_marks_the_box_over_the_limit_and_keeps_start_off(runs_dir, monkeypatch):
    monkeypatch.setenv("CNN_MAX_EPOCHS", "2")
    at = AppTest.from_file(APP, default_timeout=180)
    at.switch_page("pages/train.py").run()
    for key, value in {**TINY, "train_epochs": 3}.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert "Epochs" in errors and "at most 2 in this class" in errors
    assert start_button(at).disabled
    at.session_state["train_epochs"] = 2
    at.run()
    assert not start_button(at).disabled
