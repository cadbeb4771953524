"""Shared set-up for the benchmarks: repo on sys.path, full MNIST when ../shared/data has it."""

import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before cnn_core, which sets its own default

from cnn_core import data  # noqa: E402
from cnn_core.datasets import MNIST  # noqa: E402
from tests.paths import SHARED_DATA  # noqa: E402

if (SHARED_DATA / MNIST.npz_file).is_file():
    os.environ.setdefault(data.DATA_DIR_ENV, str(SHARED_DATA))
os.environ.setdefault(data.NO_DOWNLOAD_ENV, "1")


def cli_train(*args: str, runs_dir, timeout: float | None = None) -> tuple[dict, float]:
    """`python -m cnn_core train ARGS --runs-dir RUNS_DIR` in its own process, as a learner runs it:
    (its JSON line, whole-process wall seconds). RuntimeError with the end of its stderr if it fails."""
    import json
    import subprocess
    import time

    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "cnn_core", "train", *args, "--runs-dir", str(runs_dir)],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    wall = time.monotonic() - start
    if done.returncode != 0:
        raise RuntimeError(f"cnn_core train {' '.join(args)} failed ({done.returncode}): {done.stderr[-1500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), wall


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


# --- process memory and simple statistics (bench/live_load.py) ----------------------------

def rss_mb(pid: int) -> float | None:
    """Resident memory of one process (VmRSS in /proc/PID/status), in MiB; None once it has gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None  # a zombie has no VmRSS


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children...), from the parent pids in /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # after "(comm)": state, ppid, ...
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def tree_rss_mb(pid: int) -> tuple[float, float, int]:
    """(the process' RSS, the sum of its descendants' RSS, how many descendants) in MiB."""
    kids = [r for r in (rss_mb(c) for c in descendants(pid)) if r is not None]
    return rss_mb(pid) or 0.0, sum(kids), len(kids)


def percentile(values, q: float) -> float:
    """The q-th percentile (0..100), linear between the closest ranks."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def loadavg() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


def timed(fn, calls: int, warmup: int = 3):
    """Per-call wall times of fn() in ms, after `warmup` untimed calls."""
    import time

    import numpy as np

    for _ in range(warmup):
        fn()
    times = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - start
    return times * 1e3
