"""What the live progress reporting costs: fit with cnn_core's ProgressCallback vs bare fit.

Same data pipeline, same model, same seed; alternating runs, best of N each. Target < 5%.
Usage: python bench/report_overhead.py [--limit N] [--epochs N] [--repeats N]
"""

import argparse
import threading
import time

import _common  # noqa: F401


def timed_fit(config, ds, with_progress):
    from cnn_core import training
    from cnn_core.model import build_model, compile_model

    train, val, _ = training.make_datasets(config, ds)
    model = build_model(config)
    compile_model(model, config)
    callbacks = []
    if with_progress:
        progress = training.Progress("bench", config, None)
        callbacks = [training._progress_callback(progress, threading.Event())]
    started = time.monotonic()
    model.fit(train, validation_data=val, epochs=config.epochs, verbose=0, shuffle=False, callbacks=callbacks)
    return time.monotonic() - started


def main():
    from cnn_core import data
    from cnn_core.config import preset

    p = argparse.ArgumentParser()
    p.add_argument("--limit", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    ds = data.load("mnist")
    limit = min(args.limit, len(ds.x_train))
    config = preset("seed").replace(limit=limit, epochs=args.epochs)
    print(f"machine: {_common.machine()}")
    print(f"seed preset, {limit} digits, {args.epochs} epochs, best of {args.repeats}")
    timed_fit(config.replace(limit=min(2000, limit), epochs=1), ds, True)  # warm-up: graph tracing, thread pools
    bare, live = [], []
    for _ in range(args.repeats):
        bare.append(timed_fit(config, ds, False))
        live.append(timed_fit(config, ds, True))
    b, l = min(bare), min(live)
    print(f"bare fit                : {b:6.2f} s")
    print(f"fit + live progress     : {l:6.2f} s")
    print(f"reporting overhead      : {100 * (l - b) / b:+.1f} %  (target < 5 %)")


if __name__ == "__main__":
    main()
