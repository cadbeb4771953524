"""Train presets on full MNIST and check them against their targets (the README's Presets table).

Targets (issue 10): quick >= 99% (its time: bench/train_vs_keras.py --only quick); seed (the tutorial)
>= 98.5%; strong >= 99.5% in at most 5 minutes on 2 cores. Each preset's epoch time is printed too, so
runs on a faster or slower VM can be compared (the seed preset's, in the same run, is the yardstick).
Usage: python bench/presets.py [--presets quick,seed,strong]   (strong takes ~5 min on 2 cores)
"""

import argparse
import tempfile

import _common  # noqa: F401

TARGETS = {  # preset -> (minimum test accuracy, maximum training seconds or None)
    "quick": (0.99, None),  # its time target is a ratio: bench/train_vs_keras.py --only quick
    "seed": (0.985, None),
    "strong": (0.995, 300.0),
}


def main():
    from cnn_core import data, runs, training
    from cnn_core.config import preset

    p = argparse.ArgumentParser()
    p.add_argument("--presets", default="quick,seed")
    args = p.parse_args()
    ds = data.load("mnist")
    print(f"machine: {_common.machine()}")
    print(f"data: {ds.source}")
    if ds.is_sample:
        print("warning: only the 5,000-digit sample is here; the targets are for full MNIST")
    print(f"{'preset':8} {'epochs':>6} {'test acc':>9} {'train s':>8} {'s/epoch':>8}  target")
    with tempfile.TemporaryDirectory() as tmp:
        manager = training.JobManager(max_jobs=1, runs_dir=tmp)
        for name in args.presets.split(","):
            config = preset(name)
            snap = manager.submit(config, preset=name).wait()
            if snap.state != training.FINISHED:
                print(f"{name:8} failed: {snap.error}")
                continue
            info = runs.read_info(runs.run_path(snap.run_name, tmp))
            min_acc, max_s = TARGETS.get(name, (0.0, None))
            ok = info.test_accuracy >= min_acc and (max_s is None or info.train_seconds <= max_s)
            target = f">= {min_acc:.1%}" + (f" in <= {max_s:.0f} s" if max_s else "")
            print(f"{name:8} {config.epochs:6d} {info.test_accuracy:9.2%} {info.train_seconds:8.1f} "
                  f"{info.train_seconds / config.epochs:8.1f}  "
                  f"{target}: {'met' if ok else 'MISSED'}", flush=True)


if __name__ == "__main__":
    main()
