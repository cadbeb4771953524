"""A class opens the run their teacher shared: what each learner's first look at it costs the server.

    python bench/shared_model.py [--learners 5] [--limit 3000]

Trains one small run of the `seed` network through the CLI (the default model's size), starts the
app on 127.0.0.1 with it, and opens --learners sessions on the Draw page (the default model). Then,
one learner after the other, each picks the run in the model selector and draws one digit; then
each picks the default model again and draws. For each model it prints the server's CPU seconds
and the wall time of the learners' picks and drawings: the shipped default model, loaded once for
the server before, is the baseline measured in the same run. Stops the server it started.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import _common  # first: repo on sys.path, full MNIST when present, no downloads

# isort: split
from browser_cost import cpu_seconds
from playwright.sync_api import sync_playwright

import live_load as L


def train_run(runs_dir: Path, limit: int) -> str:
    """One `seed` run of `limit` digits, 1 epoch, through the CLI; its name."""
    out, _ = _common.cli_train("--limit", str(limit), "--epochs", "1", runs_dir=runs_dir, timeout=600)
    return Path(out["run_dir"]).name


def pick_and_draw(pages, server, option: str) -> tuple[float, float]:
    """Each page in turn picks `option` and draws a digit: (server CPU seconds, wall seconds)."""
    cpu0, t0 = cpu_seconds([server.proc.pid]), time.monotonic()
    for page in pages:
        L.h.select_option(page, "Model", option)
        L.draw_round([page], L.SHAPES[1], cap=120)
    return cpu_seconds([server.proc.pid]) - cpu0, time.monotonic() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--learners", type=int, default=5)
    p.add_argument("--limit", type=int, default=3000, help="training digits of the shared run")
    args = p.parse_args()
    L.BUDGET = L.Budget(900)
    work = Path(tempfile.mkdtemp(prefix="cnn-lab-shared-model-"))
    print(f"machine: {_common.machine()}; load average {_common.loadavg()}")
    try:
        run = train_run(work / "class" / "runs", args.limit)
        print(f"the shared run: {run} (`seed` network, {args.limit:,} digits, 1 epoch)", flush=True)
        with sync_playwright() as pw:
            browser = L.h.launch_browser(pw)
            try:
                with L.app_server(work, "class") as server:
                    pages = [L.open_app(browser, server, "Draw") for _ in range(args.learners)]
                    L.draw_round(pages[:1], L.SHAPES[0], cap=120)  # the default model loads for the server
                    rows = [("the shared run", *pick_and_draw(pages, server, run)),
                            ("the default model", *pick_and_draw(pages, server, "Default model"))]
            finally:
                browser.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.learners} learners, one after the other, each picks the model and draws one digit:")
    print(f"  {'model':20} {'server CPU':>11} {'wall':>8}")
    for name, cpu, wall in rows:
        print(f"  {name:20} {cpu:9.1f} s {wall:6.1f} s")
    (_, cpu_run, wall_run), (_, cpu_default, wall_default) = rows
    print(f"  the run / the default model: server CPU {cpu_run / cpu_default:.2f}x, "
          f"wall {wall_run / wall_default:.2f}x")


if __name__ == "__main__":
    main()
