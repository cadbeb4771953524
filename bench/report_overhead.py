"""What the live progress reporting costs: fit with cnn_core's ProgressCallback vs bare fit.

Same data pipeline, model and seed. Two measures, because a shared 2-core VM is noisy
(the same fit varies by +-20% from run to run):
  1. paired fits, alternating which goes first, median of the per-pair ratios;
  2. the time spent inside the callback itself (perf_counter around each call) as a share of
     the fit: a noise-free figure for the Python work the reporting adds.
Target < 5%. Usage: python bench/report_overhead.py [--limit N] [--epochs N] [--repeats N]
"""

import argparse
import statistics
import threading
import time

import _common  # noqa: F401


def timed_fit(config, ds, with_progress):
    """(fit seconds, seconds spent inside the progress callback)."""
    from cnn_core import training
    from cnn_core.model import build_model, compile_model

    train, val, _ = training.make_datasets(config, ds)
    model = build_model(config)
    compile_model(model, config)
    callbacks, inside = [], [0.0]
    if with_progress:
        progress = training.Progress("bench", config, None)
        callback = training._progress_callback(progress, threading.Event())
        for hook in ("on_train_batch_end", "on_epoch_end"):
            original = getattr(callback, hook)

            def timed(*args, _original=original, **kwargs):
                t = time.perf_counter()
                _original(*args, **kwargs)
                inside[0] += time.perf_counter() - t

            setattr(callback, hook, timed)
        callbacks = [callback]
    started = time.monotonic()
    model.fit(train, validation_data=val, epochs=config.epochs, verbose=0, shuffle=False, callbacks=callbacks)
    return time.monotonic() - started, inside[0]


def main():
    from cnn_core import data
    from cnn_core.config import preset

    p = argparse.ArgumentParser()
    p.add_argument("--limit", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args()
    ds = data.load("mnist")
    limit = min(args.limit, len(ds.x_train))
    config = preset("seed").replace(limit=limit, epochs=args.epochs)
    print(f"machine: {_common.machine()}")
    print(f"seed preset, {limit} digits, {args.epochs} epoch(s), {args.repeats} pairs")
    timed_fit(config.replace(limit=min(2000, limit), epochs=1), ds, True)  # warm-up: graph tracing, thread pools
    bare, live, inside = [], [], []
    for i in range(args.repeats):  # alternate which goes first: no side gets a warmer machine
        for with_progress in ((False, True) if i % 2 == 0 else (True, False)):
            seconds, spent = timed_fit(config, ds, with_progress)
            (live if with_progress else bare).append(seconds)
            if with_progress:
                inside.append(spent / seconds)
    ratios = [lv / b for b, lv in zip(bare, live)]
    for name, times in (("bare fit", bare), ("fit + live progress", live)):
        print(f"{name:24}: median {statistics.median(times):6.2f} s  (all: {', '.join(f'{t:.2f}' for t in times)})")
    print(f"paired overhead         : median {100 * (statistics.median(ratios) - 1):+.1f} %  "
          f"(pairs: {', '.join(f'{100 * (r - 1):+.0f}' for r in ratios)})")
    print(f"time inside the callback: {100 * statistics.median(inside):.2f} % of the fit  (target < 5 %)")


if __name__ == "__main__":
    main()
