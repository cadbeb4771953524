"""Keras' steps_per_execution on this machine: one epoch of a small CNN, 1 step per call vs N.

Issue 10 suggested it (per-step overhead is much of a small network's epoch on a CPU). Each
setting fits its own freshly seeded copy of the network for one epoch of full MNIST, batch 128,
after an untimed warm-up fit, the settings alternating over --rounds; prints the median fit time
and the test accuracy of each. cnn_core does not use it: see the README's figures.

    python bench/steps_per_execution.py [--steps 32] [--rounds 2] [--filters 16,32]
"""

import argparse
import statistics
import time

import _common  # noqa: F401  (repo on sys.path, full MNIST when present, no downloads)


def fit_once(ds, filters, steps: int, warm_up: bool):
    import keras
    from keras import layers

    keras.utils.set_random_seed(1)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(filters[0], 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(filters[1], 3, activation="relu"), layers.MaxPooling2D(),
        layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"], steps_per_execution=steps)
    x = ds.x_train[..., None].astype("float32") / 255
    if warm_up:  # the first fit of each compiled function pays its tracing
        model.fit(x[:2048], ds.y_train[:2048], batch_size=128, epochs=1, verbose=0)
    t = time.perf_counter()
    model.fit(x, ds.y_train, batch_size=128, epochs=1, verbose=0)
    seconds = time.perf_counter() - t
    accuracy = model.evaluate(ds.x_test[..., None].astype("float32") / 255, ds.y_test, verbose=0)[1]
    return seconds, accuracy


def main() -> None:
    from cnn_core import data

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=32)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--filters", default="16,32")
    args = p.parse_args()
    filters = [int(f) for f in args.filters.split(",")]
    ds = data.load("mnist")
    print(f"machine: {_common.machine()}\ndata: {ds.source}\nnetwork: Conv {filters[0]}, pool, Conv {filters[1]}, "
          "pool, Dense 64, Dense 10; one epoch, batch 128")
    results = {1: [], args.steps: []}
    for r in range(args.rounds):
        for steps in (1, args.steps) if r % 2 == 0 else (args.steps, 1):
            results[steps].append(fit_once(ds, filters, steps, warm_up=True))
    for steps, runs in results.items():
        print(f"steps_per_execution {steps:3}: fit {statistics.median(s for s, _ in runs):6.1f} s (median of "
              f"{len(runs)}), test accuracy {runs[-1][1]:.4f}")
    ratio = statistics.median(s for s, _ in results[args.steps]) / statistics.median(s for s, _ in results[1])
    print(f"ratio {args.steps} / 1: {ratio:.2f}")


if __name__ == "__main__":
    main()
