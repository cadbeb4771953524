"""How well does a model read canvas drawings, compared with the plain MNIST test set?

    python bench/robustness.py [--model PATH] [--n 2000] [--seed 0]

Redraws MNIST test digits as 280x280 canvas drawings (tests/drawings.py: three canvas styles,
sizes, positions, stroke widths), reads them through Predictor.predict (preprocessing
included) and prints accuracy overall and per variation. The "naive" column is the same
model fed the whole canvas simply resized to 28x28 (ink polarity already fixed), to show
what the MNIST-style cropping, scaling and centring buys. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import _common  # noqa: E402,F401  (repo on sys.path, full MNIST when present, no downloads)

ROOT = _common.ROOT

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from cnn_core import data  # noqa: E402
from cnn_core.inference import Predictor  # noqa: E402
from cnn_core.preprocess import EmptyCanvasError, extract_ink  # noqa: E402
from tests import drawings  # noqa: E402


def naive(rgba: np.ndarray) -> np.ndarray:
    """The whole canvas shrunk to 28x28: what an app without MNIST's recipe would feed the model."""
    ink = extract_ink(rgba)
    small = np.asarray(Image.fromarray(ink).resize((28, 28), Image.BOX))
    return small / max(float(small.max()), 1e-6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a .keras file or a run folder (default: models/default.keras)")
    parser.add_argument("--n", type=int, default=2000, help="number of drawings (default 2000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    predictor = Predictor.load(args.model)
    ds = data.load("mnist")
    print(f"model: {predictor.path}")
    print(f"data:  {ds.source}")

    probs = predictor.predict_batch(ds.x_test)
    plain = float((probs.argmax(1) == ds.y_test).mean())
    print(f"\nplain MNIST test accuracy ({len(ds.y_test):,} digits, same Predictor): {plain:.2%}")

    t = time.perf_counter()
    items = drawings.make_drawings(ds.x_test, ds.y_test, args.n, seed=args.seed)
    made_s = time.perf_counter() - t

    t = time.perf_counter()
    right, right_naive, empty = [], [], 0
    for d in items:
        try:
            right.append(predictor.predict(d.rgba).digit == d.label)
        except EmptyCanvasError:  # would be a bug in the generator or the preprocessing
            right.append(False)
            empty += 1
    predict_s = time.perf_counter() - t
    naive_probs = predictor.predict_batch(np.stack([naive(d.rgba) for d in items]))
    right_naive = list(naive_probs.argmax(1) == np.array([d.label for d in items]))

    print(f"drawings: {len(items):,} made in {made_s:.1f} s; predicted in {predict_s / len(items) * 1e3:.2f} ms each"
          + (f"; {empty} wrongly found empty" if empty else ""))
    print(f"\n{'':24}{'n':>6}{'accuracy':>10}{'naive':>9}")
    print(f"{'all drawings':24}{len(items):6}{np.mean(right):10.2%}{np.mean(right_naive):9.2%}")
    for key, levels in drawings.VARIATIONS.items():
        groups = defaultdict(list)
        for d, ok, ok_naive in zip(items, right, right_naive):
            groups[d.variation[key]].append((ok, ok_naive))
        print(f"by {key}:")
        for level in levels:
            g = np.array(groups[level], float).reshape(-1, 2)
            print(f"  {level:22}{len(g):6}{g[:, 0].mean():10.2%}{g[:, 1].mean():9.2%}")


if __name__ == "__main__":
    main()
