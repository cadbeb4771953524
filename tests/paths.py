"""Where the project's shared full MNIST lives (../shared/data beside the repository), for the tests'
conftest, the benchmarks and tools/screenshots.py. The Makefile spells it for its own targets."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
