"""Two people train at once: is it faster to fit both together or one after the other?

Submits the same two jobs to a JobManager capped at 1 (the second waits in the queue) and
to one capped at 2 (both fit at once), and prints the wall time until both are done.
This is what the default cap (CNN_MAX_JOBS) is chosen from. Usage: python bench/concurrent_jobs.py
"""

import argparse
import tempfile
import time

import _common  # noqa: F401


def both_done(max_jobs, config, runs_dir):
    from cnn_core import training

    manager = training.JobManager(max_jobs=max_jobs, runs_dir=runs_dir)
    started = time.monotonic()
    jobs = [manager.submit(config.replace(seed=s)) for s in (1, 2)]
    snaps = [j.wait() for j in jobs]
    assert all(s.state == training.FINISHED for s in snaps), [s.error for s in snaps]
    done = sorted(j.progress.ended - started for j in jobs)  # from submission: queue time included
    return time.monotonic() - started, done


def main():
    from cnn_core import data
    from cnn_core.config import preset

    p = argparse.ArgumentParser()
    p.add_argument("--limit", type=int, default=12000)
    p.add_argument("--epochs", type=int, default=1)
    args = p.parse_args()
    ds = data.load("mnist")
    config = preset("seed").replace(limit=min(args.limit, len(ds.x_train)), epochs=args.epochs)
    print(f"machine: {_common.machine()}")
    print(f"two seed-preset jobs, {config.limit} digits, {config.epochs} epoch(s) each")
    with tempfile.TemporaryDirectory() as tmp:
        both_done(1, config.replace(limit=1000), tmp)  # warm-up: imports, data, first graph tracing
        one_wall, one_each = both_done(1, config, tmp)
        two_wall, two_each = both_done(2, config, tmp)
    print(f"cap 1 (one after the other): first done after {one_each[0]:6.1f} s, both after {one_each[1]:6.1f} s")
    print(f"cap 2 (both at once)       : first done after {two_each[0]:6.1f} s, both after {two_each[1]:6.1f} s")
    print(f"ratio cap 2 / cap 1 (wall until both done): {two_wall / one_wall:.2f}")


if __name__ == "__main__":
    main()
