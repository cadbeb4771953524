"""Guards for where things live: facts and modules that could drift as the house grows."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_no_module_of_ours_shadows_the_standard_library():
    """`cnn_core/inspect.py` once did: inside the package, `import inspect` meant ours, not Python's."""
    ours = {p.stem for folder in ("cnn_core", "cnn_lab_ui") for p in (ROOT / folder).glob("*.py")}
    assert not ours & set(sys.stdlib_module_names), sorted(ours & set(sys.stdlib_module_names))
