"""Screenshots of every page for the README: docs/screenshots/<page>.png (`make screenshots`).

Starts the app exactly like the browser tests do (tests/e2e/harness.py: headless, a free port,
its own temporary runs folder, Debian's Chromium), then, as one visitor:
  home   the Home page with its four pictures
  draw   a 7 drawn with the mouse, read by the shipped default model
  model  the default model's layers, filters and feature maps
  train  a finished small run (6,000 digits, 3 epochs) with its charts and accuracy
  runs   that run in the runs table, its curves and confusion matrix

The app's data and runs folders are neutral ones under the temporary folder, and a page whose text
shows a path of this machine (the checkout, the home folder, the real data's folder) is refused
with MachinePathShown: the README's pictures never show where they were taken.

Usage, from the repository's root (a module, so that the harness imports as tests.e2e.harness):
  .venv/bin/python -m tools.screenshots [--out docs/screenshots] [--pages home,draw,...]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from cnn_core import data, datasets
from tests.e2e import harness as h
from tests.paths import SHARED_DATA

ROOT = Path(__file__).resolve().parent.parent

ORDER = ("home", "draw", "model", "train", "runs")  # Draw and Model before Train: the default model
RUN = dict(filters="16, 32", limit=6000, epochs=3, batch_size=64)
MARKER = ".cnn-lab-screenshots"  # a folder this script made, and may empty


class MachinePathShown(RuntimeError):
    """A page shows a path of the machine the screenshots are taken on: the picture is not taken."""


def machine_paths(data_file: Path | None = None) -> list[str]:
    """What no screenshot may show: the checkout's folder, the home folder, the real data's folder."""
    paths = [ROOT, Path.home()] + ([data_file.resolve().parent] if data_file is not None else [])
    return [str(p) for p in dict.fromkeys(paths) if p != Path(p.anchor)]  # never "/" alone


def refuse_machine_paths(text: str, name: str, paths: list[str]) -> None:
    """Raise MachinePathShown, naming the path and the line, when `text` (a page's) shows one of `paths`."""
    for path in paths:
        found = re.search(re.escape(path) + r"(?![\w.-])", text)  # /root, not /rooted
        if found:
            line = text[text.rfind("\n", 0, found.start()) + 1:].split("\n", 1)[0].strip()
            raise MachinePathShown(
                f"the {name} page shows {path}, a path of this machine, in {line!r}: no screenshot taken. "
                "Show it relative to the app's folder (cnn_lab_ui.widgets.shown_path), or use neutral folders.")


def shoot(page, out: Path, name: str, forbidden: list[str]) -> Path:
    h.wait_for_script_idle(page)
    h.wait_for_pictures(page)
    refuse_machine_paths(page.inner_text("body"), name, forbidden)
    page.mouse.move(0, 0)  # no hover effects
    path = out / f"{name}.png"
    h.screenshot_full(page, path)
    print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}", flush=True)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--pages", default=",".join(ORDER), help="comma-separated subset of " + ",".join(ORDER))
    args = parser.parse_args(argv)
    wanted = [p for p in ORDER if p in {x.strip().lower() for x in args.pages.split(",")}]
    if not wanted:
        parser.error(f"--pages: choose from {','.join(ORDER)}")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)

    # Neutral folders, so the pictures show no path of the machine they were taken on: the data
    # folder holds a link to the real file (full MNIST when the shared copy is there).
    demo = Path(tempfile.gettempdir()) / "cnn-lab"
    if (demo / MARKER).is_file():
        shutil.rmtree(demo)
    (demo / "data").mkdir(parents=True)
    (demo / MARKER).touch()
    mnist = Path(os.environ.get(data.DATA_DIR_ENV) or SHARED_DATA) / datasets.MNIST.npz_file
    if mnist.is_file():
        (demo / "data" / datasets.MNIST.npz_file).symlink_to(mnist.resolve())
        os.environ[data.DATA_DIR_ENV] = str(demo / "data")
    forbidden = machine_paths(mnist if mnist.is_file() else None)
    os.environ.setdefault(data.NO_DOWNLOAD_ENV, "1")

    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    server = h.AppServer(runs_dir=demo / "runs", log_path=demo / "server.log")
    print(f"starting the app on {server.url} (runs in {server.runs_dir})", flush=True)
    try:
        server.start(timeout=120)
        with sync_playwright() as pw:
            browser = h.launch_browser(pw)
            try:
                page = h.new_page(browser, server.url)
                h.expect_no_exception(page)
                if "home" in wanted:
                    h.expect(page.get_by_test_id("stImage").locator("img")).to_have_count(4, timeout=h.APP_TIMEOUT)
                    shoot(page, out, "home", forbidden)
                if "draw" in wanted:
                    h.goto_page(page, "Draw")
                    h.draw_strokes(page, h.DIGITS[7])
                    h.expect(h.metric(page, "Prediction")).to_have_text("7")
                    shoot(page, out, "draw", forbidden)
                if "model" in wanted:
                    h.goto_page(page, "Model")
                    h.expect(h.image_with_caption(page, "(Conv2D): output").first).to_be_visible()
                    shoot(page, out, "model", forbidden)
                if "train" in wanted or "runs" in wanted:
                    h.configure_training(page, **RUN)
                    h.button(page, "Start training").click()
                    name, accuracy = h.wait_training_finished(page)
                    print(f"  trained {name}: {accuracy}", flush=True)
                    if "train" in wanted:
                        shoot(page, out, "train", forbidden)
                if "runs" in wanted:
                    h.goto_page(page, "Runs")
                    h.expect(page.locator(".st-key-runs_confusion .vega-embed svg.marks").first).to_be_visible()
                    shoot(page, out, "runs", forbidden)
            except Exception:
                try:
                    page.screenshot(path=str(out / "_failed.png"), full_page=True)
                    print(f"failed; the page as it was: {out / '_failed.png'}", file=sys.stderr)
                except Exception:
                    pass
                raise
            finally:
                browser.close()
    except Exception:
        print("--- server log ---\n" + server.log_tail(8000), file=sys.stderr)
        raise
    finally:
        server.stop()
    print(f"done in {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
