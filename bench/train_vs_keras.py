"""The tutorial's exact Keras script vs cnn_core's `seed` preset, same data, same process.

Prints both training times, both test accuracies and the time ratio cnn_core / Keras
(target: <= 1.0 with >= 98.5% test accuracy). Usage: python bench/train_vs_keras.py [--epochs N]
"""

import argparse
import contextlib
import io
import time

import _common  # noqa: F401  (sets up paths and data)


def keras_tutorial(ds, epochs):
    """The classic first CNN, written as the tutorial writes it."""
    import keras
    import numpy as np
    from keras import layers

    x_train = np.expand_dims(ds.x_train.astype("float32") / 255, -1)
    x_test = np.expand_dims(ds.x_test.astype("float32") / 255, -1)
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    started = time.monotonic()
    with contextlib.redirect_stdout(io.StringIO()):  # the tutorial's progress bar, not shown here
        model.fit(x_train, ds.y_train, batch_size=64, epochs=epochs, validation_split=0.1)
    seconds = time.monotonic() - started
    loss, acc = model.evaluate(x_test, ds.y_test, verbose=0)
    return seconds, acc


def cnn_core_seed(epochs, runs_dir):
    from cnn_core import training
    from cnn_core.config import preset

    manager = training.JobManager(max_jobs=1, runs_dir=runs_dir)
    job = manager.submit(preset("seed").replace(epochs=epochs), preset="seed")
    snap = job.wait()
    assert snap.state == training.FINISHED, snap.error
    from cnn_core import runs

    info = runs.read_info(job.run_dir)
    return info.train_seconds, info.test_accuracy


def main():
    import tempfile

    from cnn_core import data

    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=5)
    args = p.parse_args()
    ds = data.load("mnist")
    print(f"machine: {_common.machine()}")
    print(f"data: {ds.source}")
    print(f"epochs: {args.epochs}, batch 64, validation split 0.1 (the tutorial's settings)")
    # Warm-up, untimed: the first fit in a process pays TensorFlow's one-off start-up costs
    # (thread pools, oneDNN kernels); without it whichever side runs first would be penalised.
    from cnn_core.data import Dataset

    keras_tutorial(Dataset("mnist", ds.x_train[:2048], ds.y_train[:2048], ds.x_test[:256], ds.y_test[:256], ""), 1)
    k_time, k_acc = keras_tutorial(ds, args.epochs)
    print(f"keras tutorial script : {k_time:7.1f} s   test accuracy {k_acc:.4f}")
    with tempfile.TemporaryDirectory() as tmp:
        c_time, c_acc = cnn_core_seed(args.epochs, tmp)
    print(f"cnn_core seed preset  : {c_time:7.1f} s   test accuracy {c_acc:.4f}")
    print(f"time ratio cnn_core / keras: {c_time / k_time:.3f}  (target <= 1.0; live reporting included)")


if __name__ == "__main__":
    main()
