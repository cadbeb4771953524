"""Does memory come back after each training? 20 small trainings one after the other.

Two ways side by side, each in a fresh process so one cannot inherit the other's memory:
- `thread`: the old way, fits in the server's own process (training.JobManager), which grew
  ~17-25 MB per training and never returned it;
- `workers`: the app's way now, fits in a worker process (executor.LocalExecutor); the server
  process only keeps each job's progress. A worker clears Keras' session after each job but
  TensorFlow still keeps some memory per fit, so the pool replaces it after
  executor.JOBS_PER_WORKER jobs.
Prints the server process' RSS before and after the 1st, 10th and 20th job; and the RSS of the
worker that ran a job, after its first and its last job before it is replaced (after its
JOBS_PER_WORKER-th it is already exiting, so its 9th of 10 is the last figure read alone).
Usage: python bench/memory_trainings.py [--jobs 20] [--limit 1000]   (~9 minutes on 2 busy cores)
"""

import argparse
import json
import subprocess
import sys
import tempfile

import _common
from _common import rss_mb


def child(mode: str, jobs: int, limit: int) -> None:
    """Runs in its own process: `jobs` trainings through `mode`, prints one JSON line of figures."""
    import gc
    import os

    from cnn_core import config, executor, training

    cfg = config.PRESETS["quick"].replace(limit=limit, epochs=1)
    per_worker = executor.JOBS_PER_WORKER
    # The worker's figures: after its 1st job and after its last before it is replaced, for two workers.
    worker_at = {1, per_worker - 1, per_worker + 1, 2 * per_worker - 1} if mode == "workers" else set()
    with tempfile.TemporaryDirectory() as tmp:
        if mode == "thread":
            manager = training.JobManager(max_jobs=1, runs_dir=tmp)
        else:
            manager = executor.LocalExecutor(runs_dir=tmp, pool=executor.WorkerPool(workers=1))
        figures = {"before": rss_mb(os.getpid()), "server": {}, "worker": {}}
        for i in range(1, jobs + 1):
            job = manager.submit(cfg.replace(seed=i))
            snap = job.wait()
            assert snap.state == training.FINISHED, snap.error
            if i in worker_at:
                figures["worker"][i] = rss_mb(job.worker_pid)  # read first: the worker is not leaving yet
            gc.collect()
            if i in (1, jobs // 2, jobs):
                figures["server"][i] = rss_mb(os.getpid())
        if mode == "workers":
            manager.pool.close()
    print(json.dumps(figures))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--jobs", type=int, default=20)
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--child", choices=["thread", "workers"])
    args = p.parse_args()
    if args.child:
        return child(args.child, args.jobs, args.limit)
    from cnn_core.executor import JOBS_PER_WORKER

    print(f"machine: {_common.machine()}")
    print(f"{args.jobs} sequential quick-preset trainings of {args.limit} digits, 1 epoch each; "
          f"a worker is replaced after {JOBS_PER_WORKER} jobs")
    for mode in ("thread", "workers"):
        out = subprocess.run([sys.executable, __file__, "--child", mode, "--jobs", str(args.jobs),
                              "--limit", str(args.limit)], capture_output=True, text=True, check=True)
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        server = {int(k): v for k, v in figures["server"].items()}
        first, last = server[1], server[args.jobs]
        after = ", ".join(f"after {i} {mb:,.0f} MB" for i, mb in sorted(server.items()))
        print(f"{mode:8s} server process: before {figures['before']:,.0f} MB, {after}", end="")
        if mode == "workers":
            worker = {int(k): v for k, v in figures["worker"].items()}
            print("; the worker that ran job " + ", ".join(
                f"{i}: {'gone' if mb is None else f'{mb:,.0f} MB'}" for i, mb in sorted(worker.items())))
        else:
            print(f"; growth {(last - first) / (args.jobs - 1):.1f} MB per training")


if __name__ == "__main__":
    main()
