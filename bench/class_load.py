"""A class at once: N learners (real Chromium sessions) each start a small job, on each executor.

For each executor, a fresh `streamlit run app.py` on 127.0.0.1:
  local  the default: warm worker processes on this machine (CNN_MAX_JOBS, default 2)
  ray    CNN_RAY_ADDRESS pointing at a Ray head started here (2 CPUs: 2 warm actors), as
         tests/ray_head.py starts it; stopped by its own process ids at the end.
Every learner opens the Train page, sets the same small job and presses Start, one after the
other; the script then reads each page's queue position once, and waits until every page shows
its result. It prints: every job finished, no page error, the queue positions seen (queued jobs
must hold distinct, consecutive positions), the total time from the first Start to the last result, each
job's wall time minus its own train_seconds (queueing + dispatch + worker start-up + bringing the
run home: the per-job overhead of each executor), and the server's memory before and after.

Usage: python bench/class_load.py [--learners 10] [--limit 1000] [--only local,ray] [--deadline 1800]
Exit status 0 when every job finished on every executor, 1 otherwise.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
from pathlib import Path

import _common
import live_load as L
from live_load import h

sys.path.insert(0, str(_common.ROOT / "tests"))
from playwright.sync_api import sync_playwright  # noqa: E402

EXECUTORS = ("local", "ray")
QUEUED = re.compile(r"Queued: position (\d+)")


def queue_positions(pages) -> list[int | None]:
    """Each page's queue position as it shows it now (None: running or done)."""
    out = []
    for page in pages:
        text = " ".join(page.get_by_test_id("stProgress").all_inner_texts())
        m = QUEUED.search(text)
        out.append(int(m.group(1)) if m else None)
    return out


def one_class(browser, work: Path, name: str, env: dict, learners: int, limit: int, table: L.Table) -> bool:
    from cnn_core import runs

    with L.app_server(work, name, env=env) as server:
        before = L.memory(server)
        pages = [L.open_app(browser, server, "Train") for _ in range(learners)]
        try:
            for page in pages:
                L.set_job_size(page, limit, 1)
            starts = [L.press_start(page) for page in pages]
            positions = queue_positions(pages)
            marks = L.wait_done(pages, 600)
            ends = [m["t"] / 1000 for m in marks]
            errors = [m.get("text") for m in marks if not m["ok"]]
            overheads, accs = [], []
            for page, t0, mark in zip(pages, starts, marks):
                run_name, acc, train_s = L.finished_run(page, server)
                accs.append(acc)
                overheads.append(L.seconds(mark, t0) - train_s)
            infos = runs.list_runs(server.runs_dir)
            after = L.settled_memory(server)
        finally:
            for page in pages:
                L.close(page)
    queued = sorted(p for p in positions if p is not None)
    ok = not errors and len(infos) == learners
    table.add(f"{name}: jobs finished", f"{len(infos)} of {learners}, page errors: {len(errors)}", "all, none", ok)
    # Read one page after the other once all have pressed Start: the first jobs may have left the
    # queue by then, so the positions seen are distinct and consecutive, not necessarily from 1.
    table.add(f"{name}: queue positions seen", f"{queued or 'none queued'}", "distinct, consecutive",
              queued == list(range(queued[0], queued[0] + len(queued))) if queued else True)
    table.add(f"{name}: first Start to last result", f"{max(ends) - min(starts):.1f} s")
    table.add(f"{name}: per-job overhead (wall - train)",
              f"median {statistics.median(overheads):.1f} s, min {min(overheads):.1f} s, max {max(overheads):.1f} s")
    table.add(f"{name}: test accuracy", f"median {statistics.median(accs):.2%}")
    table.add(f"{name}: server memory", f"before {L.fmt_mem(before)}; after {L.fmt_mem(after)}")
    return ok


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--learners", type=int, default=10)
    p.add_argument("--limit", type=int, default=1000, help="training digits of each learner's job (1 epoch)")
    p.add_argument("--only", default=",".join(EXECUTORS))
    p.add_argument("--deadline", type=float, default=1800)
    args = p.parse_args()
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    if any(s not in EXECUTORS for s in only):
        p.error(f"--only: choose from {', '.join(EXECUTORS)}")
    L.BUDGET = L.Budget(args.deadline)
    print(f"machine: {_common.machine()}; load average at start {_common.loadavg()}")
    print(f"{args.learners} learners, each a `quick` job of {args.limit} digits, 1 epoch")
    table, ok = L.Table(), True
    work = Path(tempfile.mkdtemp(prefix="cnn-lab-class-"))
    with sync_playwright() as pw:
        browser = h.launch_browser(pw)
        try:
            for name in only:
                head = None
                env = {}
                if name == "ray":
                    from ray_head import RayHead

                    head = RayHead(cpus=2).start()
                    env = {"CNN_RAY_ADDRESS": head.address}  # the auth token's path is in os.environ
                try:
                    ok &= one_class(browser, work, name, env, args.learners, args.limit, table)
                except Exception as e:  # one broken executor must not hide the other's figures
                    table.add(f"{name}: error", f"{type(e).__name__}: {str(e).splitlines()[0][:120]}", "", False)
                    ok = False
                finally:
                    if head is not None:
                        head.stop()
        finally:
            browser.close()
    print(f"\nmachine: {_common.machine()}; load average at end {_common.loadavg()}")
    table.print()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
