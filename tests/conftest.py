"""Shared test set-up: real data (full MNIST when ../shared/data has it), no downloads, temp runs."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before cnn_core, which sets its own default

from cnn_core import data  # noqa: E402
from cnn_core.datasets import MNIST  # noqa: E402
from cnn_core.runs import RUNS_DIR_ENV  # noqa: E402
from tests.paths import SHARED_DATA  # noqa: E402

# Tests must pass on a user's machine without the shared data, and never hang on a download.
if (SHARED_DATA / MNIST.npz_file).is_file():
    os.environ.setdefault(data.DATA_DIR_ENV, str(SHARED_DATA))
os.environ[data.NO_DOWNLOAD_ENV] = "1"


@pytest.fixture(scope="session")
def mnist():
    from cnn_core import data

    return data.load("mnist")


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    path = tmp_path / "runs"
    monkeypatch.setenv(RUNS_DIR_ENV, str(path))
    return path


@pytest.fixture(scope="session")
def train_runs(tmp_path_factory):
    """train_runs(*configs) -> (folder, run names): real tiny trainings, each set made once per session.

    Copy the folder into `runs_dir` before a test changes it (tests must not see each other's edits).
    """
    made = {}

    def train(*configs):
        if configs not in made:
            from cnn_core import training

            folder = tmp_path_factory.mktemp("runs-made")
            manager = training.JobManager(max_jobs=1, runs_dir=folder)
            jobs = [manager.submit(c) for c in configs]
            for job in jobs:
                snap = job.wait(300)
                assert snap.state == "finished", snap.error
            made[configs] = folder, [job.run_dir.name for job in jobs]
        return made[configs]

    return train


@pytest.fixture(scope="session")
def ray_head():
    """A real one-machine Ray cluster (2 CPUs, token auth): its address. Started on first use."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:  # not importorskip: Ray read now would miss the head's token
        pytest.skip("Ray is not installed")
    from ray_head import RayHead

    head = RayHead(cpus=2).start()
    yield head.address
    head.stop()
