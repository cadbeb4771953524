"""Display names and the class leaderboard, on real runs trained by two learners."""

import json

import pytest

from cnn_core import config, learners, runs, training

TINY = config.PRESETS["quick"].replace(limit=300, batch_size=32, epochs=1)


@pytest.fixture(scope="module")
def class_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("class-runs")
    manager = training.JobManager(max_jobs=1, runs_dir=root)
    jobs = [manager.submit(TINY, owner="ann0001"), manager.submit(TINY.replace(limit=600, seed=3), owner="bob00002"),
            manager.submit(TINY.replace(seed=5))]  # the CLI's: no owner
    for job in jobs:
        assert job.wait(300).state == "finished", job.snapshot().error
    return root


def test_names_are_cleaned_and_bad_ones_say_why(tmp_path):
    assert learners.clean_name("  Ada   Lovelace ") == "Ada Lovelace"
    for bad, why in (("   ", "at least one letter"), ("x" * 31, "at most 30"), ("a\x00b", "letters, digits")):
        with pytest.raises(learners.LearnerNameError, match=why):
            learners.clean_name(bad)
    assert learners.names(tmp_path) == {}
    (tmp_path / learners.FILE).write_text("[1, 2")  # damaged: no names, no crash
    assert learners.names(tmp_path) == {}


def test_two_learners_runs_carry_their_names_and_the_board_orders_by_accuracy(class_runs):
    learners.set_name(class_runs, "ann0001", "Ann")
    learners.set_name(class_runs, "bob00002", " Bob  B ")
    assert json.loads((class_runs / learners.FILE).read_text()) == {"ann0001": "Ann", "bob00002": "Bob B"}
    infos = runs.list_runs(class_runs)
    board = learners.leaderboard(infos, class_runs, me="ann0001")
    assert [e.rank for e in board] == [1, 2, 3]
    assert [e.test_accuracy for e in board] == sorted((i.test_accuracy for i in infos), reverse=True)
    by_run = {i.name: i for i in infos}
    for e in board:
        owner = by_run[e.run].owner
        assert e.learner == {"ann0001": "Ann", "bob00002": "Bob B", None: ""}[owner]
        assert e.mine == (owner == "ann0001") and e.params == by_run[e.run].params
        assert e.architecture.startswith(f"conv {'-'.join(map(str, TINY.filters))} (3x3, pool)")
    learners.set_name(class_runs, "ann0001", "Ann K")  # a new name shows on her old runs too
    assert {e.learner for e in learners.leaderboard(infos, class_runs)} == {"Ann K", "Bob B", ""}
    assert learners.leaderboard(infos, class_runs, dataset="fashion") == []
