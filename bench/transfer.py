"""Transfer learning vs training from scratch with little data (issue 15).

Two transfers, each with 500, 1,000 and 5,000 training images, the same network, optimizer, seed and
epochs for both columns; only the start differs (the parent's conv blocks, frozen, under a new dense
head; or everything freshly initialised):
  1. MNIST -> Fashion-MNIST: the shipped default model (full MNIST) onto clothes; tested on the
     10,000 Fashion-MNIST test images.
  2. digits 0-4 -> 5-9 (as TensorFlow.js' transfer example does): a model trained here on 5,000
     digits 0-4 (2 epochs), onto digits 5-9; tested on the MNIST test digits 5-9. The engine has no label-subset
     setting (a run's dataset is a whole registry entry), so this half builds its trainings from the
     engine's parts (build_model, grow.transfer_conv, the tf.data pipeline) on array slices.
Plus issue 15's target: frozen conv, Fashion-MNIST from 3,000 images, 2 epochs, >= 70% test accuracy.

Usage: python bench/transfer.py [--epochs 3] [--sizes 500,1000,5000]   (a few minutes on 2 cores)
"""

import argparse
import time

import _common  # noqa: F401

TARGET = (3000, 2, 0.70)  # images, epochs, minimum test accuracy


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--sizes", default="500,1000,5000")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    from cnn_core.cli import _import_tensorflow_quietly

    _import_tensorflow_quietly()
    from cnn_core import data, inference, runs
    from cnn_core.model import load_model

    print(f"machine: {_common.machine()}")
    mnist, fashion = data.load("mnist"), data.load("fashion_mnist")
    print(f"data: {mnist.source}; {fashion.source}")
    default = inference.Predictor.load().meta.config.replace(augment=False, validation_split=0.0)
    source = load_model(inference.DEFAULT_MODEL)

    rows = []
    for n in sizes:
        rows.append(("MNIST -> Fashion-MNIST", n, *compare(default.replace(epochs=args.epochs), source,
                                                           fashion.x_train[:n], fashion.y_train[:n],
                                                           fashion.x_test, fashion.y_test)))

    low, high = mnist.y_train < 5, mnist.y_train >= 5
    parent_config = default.replace(epochs=2)
    started = time.perf_counter()
    parent, parent_acc = train(parent_config, None, mnist.x_train[low][:5000], mnist.y_train[low][:5000],
                               mnist.x_test[mnist.y_test < 5], mnist.y_test[mnist.y_test < 5])[:2]
    print(f"parent for digits 5-9: trained on 5,000 digits 0-4 (2 epochs, {time.perf_counter() - started:.0f} s), "
          f"{parent_acc:.2%} on the test digits 0-4")
    test_high = mnist.y_test >= 5
    for n in sizes:
        rows.append(("digits 0-4 -> 5-9", n, *compare(default.replace(epochs=args.epochs), parent,
                                                      mnist.x_train[high][:n], mnist.y_train[high][:n],
                                                      mnist.x_test[test_high], mnist.y_test[test_high])))

    print(f"\n{'transfer':24} {'images':>6}  {'transfer (frozen conv)':>22}  {'scratch':>16}  {'gain':>6}")
    for what, n, (t_acc, t_s), (s_acc, s_s) in rows:
        print(f"{what:24} {n:6,}  {t_acc:13.2%} {t_s:6.1f} s  {s_acc:7.2%} {s_s:6.1f} s  {100 * (t_acc - s_acc):+5.1f}")
    print(f"(same network, adam, batch {default.batch_size}, {args.epochs} epochs, seed {default.seed}; "
          "seconds: the fit alone, its first-call tracing included)")

    n, epochs, minimum = TARGET
    acc, seconds = train(default.replace(epochs=epochs), source, fashion.x_train[:n], fashion.y_train[:n],
                         fashion.x_test, fashion.y_test, runs.FREEZE_CONV)[1:]
    verdict = "pass" if acc >= minimum else "FAIL"
    print(f"\ntarget: frozen conv, Fashion-MNIST from {n:,} images, {epochs} epochs: {acc:.2%} "
          f"(>= {minimum:.0%}: {verdict}), {seconds:.1f} s")


def compare(config, source, x, y, x_test, y_test):
    """((transfer accuracy, seconds), (scratch accuracy, seconds)) on the same data."""
    from cnn_core import runs

    transfer = train(config, source, x, y, x_test, y_test, runs.FREEZE_CONV)[1:]
    scratch = train(config, None, x, y, x_test, y_test)[1:]
    return transfer, scratch


def train(config, source, x, y, x_test, y_test, freeze=None):
    """Fit `config`'s network (its conv blocks from `source` when given) on (x, y) as a job would:
    the engine's tf.data pipeline and model. Returns (model, test accuracy, fit seconds)."""
    from cnn_core import data, evaluate, grow, training
    from cnn_core.model import build_model, compile_model

    ds = data.Dataset("bench", x, y, x_test, y_test, "bench")
    train_ds, _, steps = training.make_datasets(config, ds)
    model = build_model(config)
    if source is not None:
        grow.transfer_conv(source, model, freeze)
    compile_model(model, config, steps)
    started = time.perf_counter()
    model.fit(train_ds, epochs=config.epochs, verbose=0, shuffle=False)  # tf.data shuffles, seeded
    seconds = time.perf_counter() - started
    return model, evaluate.evaluate(model, x_test, y_test).test_accuracy, seconds


if __name__ == "__main__":
    main()
