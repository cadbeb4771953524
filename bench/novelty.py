"""How often "that does not look like a digit" fires: on real digits (rarely) and on scribbles (mostly).

    python bench/novelty.py [--model PATH] [--scribbles 200] [--drawn 1000]

Real digits: all 10,000 MNIST test digits (already in MNIST's 28x28 form) and MNIST test digits
redrawn as canvas drawings (tests/drawings.py, through the app's preprocessing). Non-digits:
cnn_core.novelty.make_scribbles, `--scribbles` of each kind, drawn on a 280x280 canvas like the
app's and preprocessed the same way. Also the time of one check. Prints figures only.
"""

from __future__ import annotations

import argparse
import time

import _common  # noqa: F401  (repo on sys.path, full MNIST when present, no downloads)

# isort: split
import numpy as np  # noqa: E402

from cnn_core import data, novelty  # noqa: E402
from cnn_core.inference import Predictor  # noqa: E402
from cnn_core.preprocess import canvas_to_mnist  # noqa: E402
from tests import drawings  # noqa: E402


def flagged(images: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    return np.array([not novelty.looks_like_digit(x, p).is_digit for x, p in zip(images, probabilities)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a .keras file or a run folder (default: models/default.keras)")
    parser.add_argument("--scribbles", type=int, default=200, help="scribbles of each kind")
    parser.add_argument("--drawn", type=int, default=1000, help="redrawn MNIST test digits")
    args = parser.parse_args()

    predictor = Predictor.load(args.model)
    ds = data.load("mnist")
    print(f"model: {predictor.path}; data: {ds.source}; {_common.machine()}\n")
    print(f"{'set':34}{'images':>8}{'flagged':>9}")

    x = ds.x_test.astype(np.float32) / 255.0
    rate = flagged(x, predictor.predict_batch(x)).mean()
    print(f"{'MNIST test digits':34}{len(x):8}{rate:9.2%}")

    redrawn = drawings.make_drawings(ds.x_test, ds.y_test, args.drawn, seed=1)
    x = np.stack([canvas_to_mnist(d.rgba) for d in redrawn])
    rate = flagged(x, predictor.predict_batch(x)).mean()
    print(f"{'MNIST test digits, redrawn':34}{len(x):8}{rate:9.2%}")

    scribbles = novelty.make_scribbles(args.scribbles * len(novelty.KINDS), seed=0)
    kinds = np.array([kind for kind, _ in scribbles])
    x = np.stack([canvas_to_mnist(rgba) for _, rgba in scribbles])
    hits = flagged(x, predictor.predict_batch(x))
    for kind in novelty.KINDS:
        print(f"{'scribbles: ' + kind:34}{(kinds == kind).sum():8}{hits[kinds == kind].mean():9.2%}")
    print(f"{'scribbles: all kinds':34}{len(hits):8}{hits.mean():9.2%}")

    p = predictor.predict_batch(x[:1])[0]
    start = time.perf_counter()
    for _ in range(200):
        novelty.looks_like_digit(x[0], p)
    print(f"\none check: {(time.perf_counter() - start) / 200 * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
