"""Does memory come back after each training? 20 small trainings one after the other.

Two ways side by side, each in a fresh process so one cannot inherit the other's memory:
- `thread`: the old way, fits in the server's own process (training.JobManager), which grew
  ~17 MB per training and never returned it;
- `workers`: the app's way now, fits in worker processes (executor.LocalExecutor); the server
  process only keeps each job's progress, and the workers are cleared after each job.
Prints the server process' RSS (and the workers', summed) after the 1st, 10th and 20th job.
Usage: python bench/memory_trainings.py [--jobs 20] [--limit 2000]
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import _common


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(mode: str, jobs: int, limit: int) -> None:
    """Runs in its own process: `jobs` trainings through `mode`, prints one JSON line of figures."""
    import gc
    import os

    from cnn_core import config, executor, training

    cfg = config.PRESETS["quick"].replace(limit=limit, epochs=1)
    with tempfile.TemporaryDirectory() as tmp:
        if mode == "thread":
            manager = training.JobManager(max_jobs=1, runs_dir=tmp)
        else:
            manager = executor.LocalExecutor(runs_dir=tmp, pool=executor.WorkerPool(workers=1))
        figures = {"before": rss_mb(os.getpid())}
        for i in range(1, jobs + 1):
            snap = manager.submit(cfg.replace(seed=i)).wait()
            assert snap.state == training.FINISHED, snap.error
            gc.collect()
            if i in (1, jobs // 2, jobs):
                workers = sum(rss_mb(p) for p in manager.pool.worker_pids()) if mode == "workers" else 0.0
                figures[f"after {i}"] = (rss_mb(os.getpid()), workers)
        if mode == "workers":
            manager.pool.close()
    print(json.dumps(figures))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--jobs", type=int, default=20)
    p.add_argument("--limit", type=int, default=2000)
    p.add_argument("--child", choices=["thread", "workers"])
    args = p.parse_args()
    if args.child:
        return child(args.child, args.jobs, args.limit)
    print(f"machine: {_common.machine()}")
    print(f"{args.jobs} sequential quick-preset trainings of {args.limit} digits, 1 epoch each")
    for mode in ("thread", "workers"):
        out = subprocess.run([sys.executable, __file__, "--child", mode, "--jobs", str(args.jobs),
                              "--limit", str(args.limit)], capture_output=True, text=True, check=True)
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        first, last = figures["after 1"], figures[f"after {args.jobs}"]
        print(f"{mode:8s} server process: before {figures['before']:6.0f} MB, after 1 job {first[0]:6.0f} MB, "
              f"after {args.jobs} {last[0]:6.0f} MB ({last[0] / first[0]:.2f}x)", end="")
        if mode == "workers":
            print(f"; worker process: after 1 {first[1]:5.0f} MB, after {args.jobs} {last[1]:5.0f} MB "
                  f"({last[1] / first[1]:.2f}x)")
        else:
            print(f"; growth {(last[0] - first[0]) / (args.jobs - 1):.1f} MB per training")


if __name__ == "__main__":
    main()
