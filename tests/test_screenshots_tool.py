"""tools/screenshots.py refuses to take a picture of a page that shows a path of the machine."""

import re
from pathlib import Path

import pytest

pytest.importorskip("playwright")  # the tool drives Chromium through the browser tests' harness

from tools import screenshots  # noqa: E402


def test_a_page_showing_a_path_of_the_machine_is_refused(tmp_path):
    root = str(screenshots.ROOT)
    paths = screenshots.machine_paths(tmp_path / "data" / "mnist.npz")
    assert root in paths and str(tmp_path / "data") in paths
    assert str(Path.home()) in paths or Path.home() == Path("/")
    # What the Model page showed before issue 12's fix: refused, naming the page, the path and the line.
    page = f"Inside a model\nModel file: {root}/models/default.keras (shipped)\nLayers"
    with pytest.raises(screenshots.MachinePathShown,
                       match=rf"the model page shows {re.escape(root)}, .* in 'Model file: {re.escape(root)}/models"):
        screenshots.refuse_machine_paths(page, "model", paths)
    with pytest.raises(screenshots.MachinePathShown, match="the train page shows"):
        screenshots.refuse_machine_paths(f"Source: full MNIST from {tmp_path}/data/mnist.npz", "train", paths)
    if Path.home() != Path("/"):
        with pytest.raises(screenshots.MachinePathShown):
            screenshots.refuse_machine_paths(f"Runs folder: {Path.home()}/runs", "runs", paths)
    # Neutral folders, relative paths and a mere neighbour of the checkout's name pass.
    screenshots.refuse_machine_paths(f"Model file: models/default.keras\nRuns folder: /tmp/cnn-lab/runs\n"
                                     f"Source: full MNIST from /tmp/cnn-lab/data/mnist.npz\n{root}-other/x", "runs",
                                     paths)
