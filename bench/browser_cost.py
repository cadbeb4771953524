"""Where the CPU goes while a learner watches a job on the Train page: the browser, the server, the worker.

    python bench/browser_cost.py [--limit 30000] [--seconds 15]

Starts the app on 127.0.0.1 (bench/live_load.py's server and pages), starts a `quick` job from the
Train page in Chromium, lets it train for a few seconds, then measures for --seconds: each side's CPU
(cores, from /proc), the page's own main-thread time from Chrome's Performance metrics, and a 10 s
JavaScript profile summed by script. Stops the job and the server. Prints figures only.

Why: on one 2-core machine the browser drawing the page competes with the training it shows
(bench/live_load.py's "watched vs engine" ratio); this says how much of that is the page's work.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

import _common  # repo on sys.path, full MNIST when present, no downloads
import live_load as L

METRICS = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")


def cpu_seconds(pids) -> float:
    """User + system CPU seconds of the processes (those gone count 0)."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            pass
    return total


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=30000, help="training digits of the watched job")
    p.add_argument("--seconds", type=float, default=15.0)
    args = p.parse_args()
    L.BUDGET = L.Budget(600)
    work = Path(tempfile.mkdtemp(prefix="cnn-lab-browser-cost-"))
    print(f"machine: {_common.machine()}; load average {_common.loadavg()}")
    with sync_playwright() as pw:
        browser = L.h.launch_browser(pw)
        try:
            with L.app_server(work, "browser-cost") as server:
                page = L.open_app(browser, server, "Train")
                L.set_job_size(page, args.limit, 3)
                cdp = page.context.new_cdp_session(page)
                cdp.send("Performance.enable")
                L.press_start(page)
                time.sleep(8)  # past the job's start-up: training, the page polling once a second
                sides = {"browser (Chromium)": [q for q in _common.descendants(os.getpid()) if "chrom" in _name(q)],
                         "server": [server.proc.pid], "worker(s)": _common.descendants(server.proc.pid)}
                before = {k: cpu_seconds(v) for k, v in sides.items()}
                m0 = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
                t0 = time.monotonic()
                time.sleep(args.seconds)
                dt = time.monotonic() - t0
                m1 = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
                print(f"\nCPU while the page watches the job ({dt:.0f} s), in cores:")
                for side, pids in sides.items():
                    print(f"  {side:20} {(cpu_seconds(pids) - before[side]) / dt:6.2f}")
                print("the page's main thread, seconds per second:")
                for name in METRICS:
                    print(f"  {name:20} {(m1.get(name, 0) - m0.get(name, 0)) / dt:6.3f}")
                profile_by_script(cdp)
                if L.h.button(page, "Stop").count():  # a fast VM may have finished the job already
                    L.h.button(page, "Stop").click(timeout=L.BUDGET.ms(30))
                    time.sleep(2)
                else:
                    print("(the job ended before the profile did: the figures above include its end)")
        finally:
            browser.close()
            shutil.rmtree(work, ignore_errors=True)


def profile_by_script(cdp, seconds: float = 10.0) -> None:
    """A JavaScript CPU profile of the page, its samples summed by script file (ms per second)."""
    cdp.send("Profiler.enable")
    cdp.send("Profiler.setSamplingInterval", {"interval": 500})
    cdp.send("Profiler.start")
    time.sleep(seconds)
    profile = cdp.send("Profiler.stop")["profile"]
    frames = {n["id"]: n["callFrame"] for n in profile["nodes"]}
    by_script = collections.Counter()
    for node, us in zip(profile["samples"], profile["timeDeltas"]):
        frame = frames[node]
        by_script[frame["url"].rsplit("/", 1)[-1] or frame["functionName"] or "(native)"] += us
    by_script.pop("(idle)", None)
    print(f"the page's JavaScript profile ({seconds:.0f} s), ms per second, busiest first:")
    for script, us in by_script.most_common(10):
        print(f"  {script[:48]:48} {us / 1000 / seconds:7.1f}")


if __name__ == "__main__":
    main()
