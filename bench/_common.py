"""Shared set-up for the benchmarks: repo on sys.path, full MNIST when ../shared/data has it."""

import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
if (SHARED / "mnist.npz").is_file():
    os.environ.setdefault("CNN_DATA_DIR", str(SHARED))
os.environ.setdefault("CNN_NO_DOWNLOAD", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"
