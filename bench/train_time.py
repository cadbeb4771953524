"""How well the Train page's time estimate (cnn_core.cost.train_seconds) predicts real training times.

    python bench/train_time.py [--limit 12000] [--epochs 2]

Trains 18 networks in this process, one after another (the presets and one-at-a-time changes of the
seed network: filters, blocks, kernel, dense units, batch size, augmentation, batch norm, optimizer),
each on --limit digits of full MNIST for --epochs epochs, and compares each one's measured fit time
(train_seconds) with two models, each scaled to this machine by the median of its measured/predicted
ratios (as the app does with the runs saved on a machine):
  - FLOPs alone (what cost.py used before): training FLOPs x digits;
  - cost.reference_seconds: a fixed cost + a cost per step + per FLOP + per layer output value.
It also refits the four coefficients of the second model to this run (least squares on relative
error) and prints them beside cost.py's, to update cost.TIME_* on a new reference machine.
Prints figures only; about 3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import numpy as np

import _common  # noqa: F401  (repo on sys.path, full MNIST when present, no downloads)

VARIANTS = {  # name -> (preset, changes)
    "seed": ("seed", {}),
    "quick": ("quick", {}),
    "strong": ("strong", {}),
    "strong, no augmentation": ("strong", {"augment": False}),
    "filters 8,16": ("seed", {"filters": (8, 16)}),
    "filters 16,32": ("seed", {"filters": (16, 32)}),
    "filters 64,128": ("seed", {"filters": (64, 128)}),
    "2 convs per block": ("seed", {"convs_per_block": 2}),
    "kernel 5": ("seed", {"kernel_size": 5}),
    "no dense layer": ("seed", {"dense_units": 0}),
    "dense 512": ("seed", {"dense_units": 512}),
    "batch 32": ("seed", {"batch_size": 32}),
    "batch 256": ("seed", {"batch_size": 256}),
    "augmentation": ("seed", {"augment": True}),
    "batch norm": ("seed", {"batch_norm": True}),
    "sgd": ("seed", {"optimizer": "sgd"}),
    "filters 16,32, batch 256": ("seed", {"filters": (16, 32), "batch_size": 256}),
    "filters 64,128, batch 32": ("seed", {"filters": (64, 128), "batch_size": 32}),
}


def worst(predicted, measured) -> tuple[float, float, float]:
    """(lowest ratio, highest ratio, worst factor either way) of predicted / measured."""
    r = np.asarray(predicted) / np.asarray(measured)
    return float(r.min()), float(r.max()), float(max(r.max(), 1 / r.min()))


def main() -> None:
    from cnn_core import cost, data, training
    from cnn_core.config import preset

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=12000)
    p.add_argument("--epochs", type=int, default=2)
    args = p.parse_args()
    print(f"machine: {_common.machine()}; data: {data.load('mnist').source}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        manager = training.JobManager(max_jobs=1, runs_dir=tmp)
        for name, (base, changes) in VARIANTS.items():
            config = preset(base).replace(limit=args.limit, epochs=args.epochs, validation_split=0.1, **changes)
            snap = manager.submit(config).wait()
            if snap.state != training.FINISHED:
                raise SystemExit(f"{name}: {snap.state} {snap.error}")
            n_fit = args.limit - int(args.limit * config.validation_split)
            samples, steps = n_fit * args.epochs, args.epochs * -(-n_fit // config.batch_size)
            rows.append((name, config, samples, steps, snap.train_seconds))
            print(f"  {name}: {snap.train_seconds:.2f} s", flush=True)

    measured = np.array([r[4] for r in rows])
    flops = np.array([r[2] * cost.estimate(r[1]).train_flops for r in rows], dtype=float)
    reference = np.array([cost.reference_seconds(r[1], r[2], r[3]) for r in rows])
    # Each model scaled to this machine the way the app does it: the median measured/predicted ratio.
    flops_only = flops * statistics.median(measured / flops)
    model = reference * statistics.median(measured / reference)
    X = np.array([cost.time_terms(r[1], r[2], r[3]) for r in rows])
    w = 1 / measured
    coef, *_ = np.linalg.lstsq(X * w[:, None], measured * w, rcond=None)
    refit = X @ coef

    print(f"\n{'network':28}{'measured s':>11}{'FLOPs alone':>12}{'cost.py':>9}{'refit':>8}")
    for (name, *_), m, a, b, c in zip(rows, measured, flops_only, model, refit):
        print(f"{name:28}{m:11.2f}{a:12.2f}{b:9.2f}{c:8.2f}")
    for label, pred in (("FLOPs alone", flops_only), ("cost.py's model", model), ("refit to this run", refit)):
        lo, hi, bad = worst(pred, measured)
        print(f"{label:18}: predicted / measured from {lo:.2f} to {hi:.2f}; worst {bad:.2f}x")
    print(f"machine speed vs cost.py's reference: {statistics.median(measured / reference):.2f}")
    names = ("TIME_FIXED_S", "TIME_PER_STEP_S", "TIME_PER_GFLOP_S", "TIME_PER_MVALUE_S")  # TIME_COEFFICIENTS
    print("refit coefficients (cost.py's now): "
          + ", ".join(f"{n} = {c:.3g} ({v:.3g})" for n, c, v in zip(names, coef, cost.TIME_COEFFICIENTS)))


if __name__ == "__main__":
    main()
