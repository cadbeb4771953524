"""Shared test set-up: real data (full MNIST when ../shared/data has it), no downloads, temp runs."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED_DATA = ROOT.parent / "shared" / "data"

# Tests must pass on a user's machine without the shared data, and never hang on a download.
if (SHARED_DATA / "mnist.npz").is_file():
    os.environ.setdefault("CNN_DATA_DIR", str(SHARED_DATA))
os.environ["CNN_NO_DOWNLOAD"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def mnist():
    from cnn_core import data

    return data.load("mnist")


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    path = tmp_path / "runs"
    monkeypatch.setenv("CNN_RUNS_DIR", str(path))
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
