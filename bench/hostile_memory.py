"""Peak memory of the hostile settings and files of issue 11 (items 1, 2, 3 and 8): each must stay under 1 GB.

    python bench/hostile_memory.py     # ~5 minutes on 2 busy cores: the Draw page cases are ~1 minute each

Builds each hostile file in a temporary folder (tests/hostile.py), then runs each case in a
fresh Python process and reads that process's peak resident memory (VmHWM), so one case
cannot inherit another's memory. The baselines are the same code paths on good input: the
difference between a case and its baseline is what the hostile file cost.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (repo on sys.path, full MNIST when present, no downloads)

ROOT = _common.ROOT
sys.path.insert(0, str(ROOT / "tests"))

import hostile  # noqa: E402

LIMIT_MB = 1024
# The process's peak RSS in bytes. Not ru_maxrss: Linux carries it over from the parent across
# fork and exec, so a child of a big parent would report the parent's peak.
PEAK = "[int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]"

# Each case's code runs in a fresh interpreter (cwd = repo root); its last stdout line is the outcome.
PRELUDE = "import sys; sys.path.insert(0, 'tests'); import hostile\n"
CLI = "from cnn_core.cli import main; main(['predict', {file!r}])\n"
PAGE = """
from streamlit.testing.v1 import AppTest
at = AppTest.from_file('app.py', default_timeout=600)
at.session_state['canvas'] = {value}
at.switch_page('pages/draw.py').run()
print('exception' if at.exception else ('error: ' + at.error[0].value[:90] if at.error else
      'prediction ' + str([m.value for m in at.metric if m.label == 'Prediction'])))
"""
# The 1.64 G-parameter network: refused on paper, before TensorFlow is imported.
TRAIN = """
import contextlib, io, time
from cnn_core.cli import main
said, start = io.StringIO(), time.perf_counter()
try:
    with contextlib.redirect_stderr(said):
        code = main({args!r})
except SystemExit as e:
    code = e.code
print(f'exit {{code}} after {{time.perf_counter() - start:.2f}} s: ' + said.getvalue().strip()[:100])
"""
MODEL = """
from cnn_core.model import ModelFileError, load_model
try:
    load_model({file!r})
    print('loaded without error')
except ModelFileError as e:
    print('ModelFileError: ' + str(e)[:90])
"""
RUNS = """
from cnn_core import runs
try:
    {call}
    print('read without error')
except runs.RunError as e:
    print('RunError: ' + str(e)[:90])
"""


def cases(tmp: Path) -> list[tuple[str, str, str]]:
    """(name, file and its size, code) for each case."""
    import numpy as np
    from PIL import Image

    from cnn_core import evaluate, runs, states
    from cnn_core.config import TrainConfig
    from cnn_core.data import load
    from cnn_core.model import build_model, save_for_inference
    from cnn_core.preprocess import MAX_PIXELS
    from tests.drawings import make_drawings

    ds = load("mnist")
    drawing = make_drawings(ds.x_test[:1], ds.y_test[:1], 1, seed=3)[0].rgba
    Image.fromarray(drawing).save(tmp / "good.png")
    (tmp / "huge.png").write_bytes(hostile.huge_png(13000, 13000))
    # The largest image still decoded: a digit drawn across MAX_PIXELS, the worst legitimate case.
    side = math.isqrt(MAX_PIXELS)
    big = np.asarray(Image.fromarray(drawing).resize((side, side), Image.NEAREST))
    Image.fromarray(big).save(tmp / "largest.png")
    good_canvas = hostile.canvas_value_with((tmp / "good.png").read_bytes())

    cfg = TrainConfig(filters=(4,), dense_units=0, epochs=1)
    model = build_model(cfg)
    result = evaluate.evaluate(model, ds.x_test, ds.y_test)
    base = tmp / "runs"
    good = runs.save_run(base, "good", config=cfg, model_writer=lambda p: save_for_inference(model, cfg, p),
                         history={"batch": {"loss": [2.3]}}, evaluation=result, state=states.FINISHED,
                         epochs_completed=1, train_seconds=1, data_source=ds.source, params=model.count_params())
    for name in ("rows-300m", "deep-json", "sparse-model"):
        shutil.copytree(good, base / name)
    hostile.npz_declaring(base / "rows-300m" / runs.PREDICTIONS_FILE, 300_000_000)
    (base / "deep-json" / runs.RUN_JSON).write_text(hostile.deep_json(100_000))
    real = (good / runs.MODEL_FILE).read_bytes()
    hostile.sparse_keras(base / "sparse-model" / runs.MODEL_FILE, real, 5 * 2**30)
    shipped = runs.SHIPPED_MODEL
    wide = hostile.dense_declaring(shipped, tmp / "dense-2m.keras", 2_000_000)

    def size(path: Path) -> str:
        st = path.stat()
        return f"{path.name} {_mb(st.st_size)} ({_mb(st.st_blocks * 512)} on disk)"

    info = (f"runs.RunInfo(**{{**runs.read_info(runs.run_path('good', {str(base)!r})).__dict__, "
            f"'name': 'sparse-model', 'path': runs.run_path('sparse-model', {str(base)!r})}})")
    huge_net = ["train", "--filters", "512", "--no-pooling", "--kernel-size", "1", "--dense", "4096",
                "--limit", "100", "--epochs", "1"]
    return [
        ("CLI train, the issue's 1.64 G-parameter network", " ".join(huge_net[1:]), TRAIN.format(args=huge_net)),
        ("load_model, shipped default.keras (baseline)", size(shipped), MODEL.format(file=str(shipped))),
        ("load_model, model declaring Dense(2,000,000)", size(wide), MODEL.format(file=str(wide))),
        ("CLI predict, good 280x280 PNG (baseline)", size(tmp / "good.png"), CLI.format(file=str(tmp / "good.png"))),
        (f"CLI predict, {side}x{side} PNG (largest accepted)", size(tmp / "largest.png"),
         CLI.format(file=str(tmp / "largest.png"))),
        ("CLI predict, 13000x13000 PNG", size(tmp / "huge.png"), CLI.format(file=str(tmp / "huge.png"))),
        ("Draw page, good canvas (baseline)", size(tmp / "good.png"), PAGE.format(value=good_canvas)),
        ("Draw page, 13000x13000 canvas PNG", size(tmp / "huge.png"),
         PAGE.format(value="hostile.canvas_value_with(hostile.huge_png(13000, 13000))")),
        ("Draw page, 20000x20000 canvas PNG", "built in the process (~50 KB)",
         PAGE.format(value="hostile.canvas_value_with(hostile.huge_png(20000, 20000))")),
        ("load_run, good run (baseline)", size(good / runs.PREDICTIONS_FILE),
         RUNS.format(call=f"runs.load_run('good', {str(base)!r})")),
        ("load_run, predictions.npz of 300 M rows", size(base / "rows-300m" / runs.PREDICTIONS_FILE),
         RUNS.format(call=f"runs.load_run('rows-300m', {str(base)!r})")),
        ("scan_runs, run.json of 100,000 brackets", size(base / "deep-json" / runs.RUN_JSON),
         RUNS.format(call=f"runs.scan_runs({str(base)!r}); runs.read_info(runs.run_path('deep-json', {str(base)!r}))")),
        ("Download, 5 GB sparse model.keras", size(base / "sparse-model" / runs.MODEL_FILE),
         RUNS.format(call=f"runs.model_bytes({info})")),
    ]


def _mb(n: int) -> str:
    return f"{n / 2**20:,.1f} MB" if n >= 2**20 else f"{n / 2**10:,.0f} KB"


def measure(code: str) -> tuple[float, str, float]:
    """Peak RSS (MB) of a fresh interpreter running `code`, its last output line, and its wall time."""
    from cnn_core import runs

    wrapped = PRELUDE + code + "\nprint('MAXRSS', " + PEAK + ")\n"
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", wrapped], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, runs.RUNS_DIR_ENV: tempfile.mkdtemp()}, timeout=900)
    wall = time.perf_counter() - start
    lines = r.stdout.strip().splitlines()
    if r.returncode or not lines or not lines[-1].startswith("MAXRSS"):
        return float("nan"), f"failed (exit {r.returncode}): {r.stderr.strip().splitlines()[-1:]}", wall
    outcome = lines[-2] if len(lines) > 1 else ""
    return int(lines[-1].split()[1]) / 2**20, outcome, wall


def main() -> int:
    print(f"machine: {_common.machine()}")
    print(f"limit: {LIMIT_MB} MB peak RSS per case (each case in a fresh process)\n")
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for name, file, code in cases(Path(tmp)):
            peak, outcome, wall = measure(code)
            ok = peak < LIMIT_MB
            failed += not ok
            rows.append((name, file, f"{peak:,.0f}", "ok" if ok else "OVER", outcome, f"{wall:.0f} s"))
            print(json.dumps(dict(zip(("case", "file", "peak_rss_mb", "check", "outcome", "wall"), rows[-1]))),
                  file=sys.stderr, flush=True)
    header = ("case", "file", "peak RSS (MB)", "< 1 GB", "outcome", "time")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths)] + rows:
        print(" | ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
