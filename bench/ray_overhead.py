"""Ray: a pool of warm actors, or an actor per job? What each job pays on top of its own fit.

On a Ray head started here (tests/ray_head.py: 2 CPUs, token auth, stopped by its process ids):
  pool       one RayPool of warm actors (what CNN Lab does): the time from creating it until its
             actors are ready (each imports TensorFlow once), then K small jobs one after another,
             each job's wall time (submit -> its run home in the runs folder) minus its own
             train_seconds: dispatch, progress polling, test set, saving and bringing the run home.
  per job    the same K jobs, each on a fresh one-actor pool, created at submit and ended after:
             what an actor-per-job design would pay (the actor's start-up on every job).
The baseline for both is the same job in this process's own engine (training.JobManager), same data.

Usage: python bench/ray_overhead.py [--jobs 5] [--limit 1000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import _common

sys.path.insert(0, str(_common.ROOT / "tests"))


def timed(submit, config, runs_dir) -> tuple[float, float]:
    """(wall seconds from submit to the run being home, the job's own train_seconds)."""
    from cnn_core import runs, states

    started = time.monotonic()
    job = submit(config)
    snap = job.wait(1200)
    wall = time.monotonic() - started
    assert snap.state == states.FINISHED, snap.error
    return wall, runs.read_info(job.run_dir).train_seconds


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=5)
    p.add_argument("--limit", type=int, default=1000, help="training digits per job (1 epoch)")
    args = p.parse_args()
    from ray_head import RayHead  # before Ray is imported: the head's token

    head = RayHead(cpus=2).start()
    try:
        from cnn_core import config as config_mod
        from cnn_core import ray_executor, training

        config = config_mod.preset("quick").replace(limit=args.limit, epochs=1)
        work = Path(tempfile.mkdtemp(prefix="cnn-ray-overhead-"))
        print(f"# {_common.machine()}; {args.jobs} jobs of {args.limit} digits, 1 epoch, one at a time")

        local = training.JobManager(max_jobs=1, runs_dir=work / "local")
        in_process = [timed(lambda c: local.submit(c), config, work / "local") for _ in range(args.jobs + 1)][1:]

        t0 = time.monotonic()
        pool = ray_executor.RayPool(head.address, workers=1)
        while not pool.worker_pids():
            time.sleep(0.05)
        pool_ready = time.monotonic() - t0
        ex = ray_executor.RayExecutor(head.address, runs_dir=work / "pool", pool=pool)
        warm = [timed(lambda c: ex.submit(c), config, work / "pool") for _ in range(args.jobs)]
        pool.close()

        cold, made = [], []

        def on_a_new_actor(c):  # the actor is created when the job is submitted, as an actor per job would be
            made.append(ray_executor.RayPool(head.address, workers=1))
            return ray_executor.RayExecutor(head.address, runs_dir=work / "per-job", pool=made[-1]).submit(c)

        for _ in range(args.jobs):
            cold.append(timed(on_a_new_actor, config, work / "per-job"))
            made.pop().close()  # ends the actor: its CPU is free for the next job's

        def row(name, results):
            walls = [w for w, _ in results]
            over = [w - t for w, t in results]
            print(f"| {name} | {statistics.median(walls):.1f} s | {statistics.median([t for _, t in results]):.1f} s "
                  f"| {statistics.median(over):.1f} s ({min(over):.1f}-{max(over):.1f}) |")

        print(f"\nwarm pool: ready (one actor, TensorFlow imported) after {pool_ready:.1f} s, paid once\n")
        print("| where | job wall time (median) | its fit (train_seconds) | overhead per job (min-max) |")
        print("| --- | --- | --- | --- |")
        row("this process (JobManager)", in_process)
        row("Ray, warm pool (CNN Lab)", warm)
        row("Ray, an actor per job", cold)
        return 0
    finally:
        head.stop()


if __name__ == "__main__":
    sys.exit(main())
