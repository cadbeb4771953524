"""Latency of reading one drawing: Predictor.predict against Keras' model.predict.

    python bench/predict_latency.py [--model PATH] [--calls 500]

Times, after warm-up, on one 280x280 RGBA canvas drawing: the preprocessing alone, the
whole Predictor.predict (preprocessing + compiled forward pass), and model.predict on the
same preprocessed image, the per-call baseline a naive app would pay. Prints figures only.
"""

from __future__ import annotations

import argparse
import os
import time

import _common  # noqa: E402,F401  (repo on sys.path, full MNIST when present, no downloads)

ROOT = _common.ROOT

import numpy as np  # noqa: E402

from cnn_core import data  # noqa: E402
from cnn_core.inference import Predictor  # noqa: E402
from cnn_core.preprocess import canvas_to_mnist  # noqa: E402
from tests import drawings  # noqa: E402


def timed(fn, calls: int):
    return _common.timed(fn, calls, warmup=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a .keras file or a run folder (default: models/default.keras)")
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()

    t = time.perf_counter()
    predictor = Predictor.load(args.model)
    load_s = time.perf_counter() - t
    ds = data.load("mnist")
    # A large, off-centre drawing on a transparent canvas: the usual case in the app.
    rgba = next(d.rgba for d in drawings.make_drawings(ds.x_test, ds.y_test, 50, seed=0)
                if d.variation["size"] == "large" and d.variation["style"] == "transparent")
    image = canvas_to_mnist(rgba)[np.newaxis]

    rows = [
        ("preprocessing alone", timed(lambda: canvas_to_mnist(rgba), args.calls)),
        ("Predictor.predict (all in)", timed(lambda: predictor.predict(rgba), args.calls)),
        ("model.predict (forward only)",
         timed(lambda: predictor.model.predict(image, verbose=0), max(20, args.calls // 10))),
    ]
    print(f"model: {predictor.path} (loaded and warmed up in {load_s:.2f} s)")
    print(f"input: 280x280 RGBA drawing; {os.cpu_count()} CPU cores visible\n")
    print(f"{'':30}{'calls':>7}{'median ms':>11}{'p90 ms':>9}")
    for name, times in rows:
        print(f"{name:30}{len(times):7}{np.median(times):11.2f}{np.percentile(times, 90):9.2f}")
    ratio = np.median(rows[2][1]) / np.median(rows[1][1])
    print(f"\nmodel.predict alone is {ratio:.0f}x slower than the whole Predictor.predict (medians)")
    chart_per_stroke(args.calls)
    stroke_pieces(predictor, rgba, args.calls)


def stroke_pieces(predictor, rgba, calls: int) -> None:
    """The Draw page's server work for one stroke, piece by piece, as pages/draw.py does it: the canvas'
    PNG decoded, the drawing read (preprocessing, forward pass, the not-a-digit check), the ten bars,
    the 28x28 picture. (Besides these, a stroke waits 200 ms in the canvas component's own frontend.)"""
    import base64
    import logging

    import streamlit as st

    from cnn_lab_ui import charts, drawing, widgets
    from cnn_lab_ui.drawing import canvas_value

    logging.disable(logging.WARNING)
    png = canvas_value(rgba)["drawing"]["data"].split(",", 1)[1]

    class Result:  # what st_canvas returns, for drawing.canvas_rgba
        image_bytes = base64.b64decode(png)

    names = [str(d) for d in range(10)]
    reading = drawing.read(predictor, rgba)
    pieces = [
        ("decode the canvas PNG", lambda: drawing.canvas_rgba(Result)),
        ("read (preprocess, forward, not-a-digit)", lambda: drawing.read(predictor, rgba)),
        ("the ten bars", lambda: st.vega_lite_chart(
            spec=charts.probabilities_spec(reading.prediction.probabilities, names), width="stretch")),
        ("the 28x28 picture", lambda: st.image(widgets.enlarge(reading.prediction.image, 8), width=224)),
    ]
    print("\none stroke on the Draw page, the server's work:")
    total = 0.0
    for name, fn in pieces:
        t = timed(fn, max(50, calls // 5))
        total += float(np.median(t))
        print(f"{name:38}{len(t):5}{np.median(t):11.2f}{np.percentile(t, 90):9.2f}")
    print(f"{'in all (sum of medians)':38}{'':5}{total:11.2f}")


def chart_per_stroke(calls: int) -> None:
    """The Draw page's ten probability bars, which every stroke redraws: the server's work for them, as
    the page did it before (an Altair chart of a DataFrame) and as it does now (a spec built once, the ten
    values inline), each through Streamlit's own st.altair_chart / st.vega_lite_chart, alternating."""
    import logging

    import altair as alt
    import pandas as pd
    import streamlit as st

    from cnn_lab_ui import charts

    logging.disable(logging.WARNING)  # "missing ScriptRunContext", per call: the elements are still built
    names = [str(d) for d in range(10)]

    def altair_chart(p):
        df = pd.DataFrame({"class": names, "probability": p, "predicted": p == p.max()})
        st.altair_chart(alt.Chart(df).mark_bar().encode(
            x=alt.X("class:N", title="digit", sort=names, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("probability:Q", title="probability", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("predicted:N", legend=None,
                            scale=alt.Scale(domain=[False, True], range=["#9ecae1", "#d62728"])),
            tooltip=["class:N", alt.Tooltip("probability:Q", format=".3f")],
        ).properties(height=240), width="stretch")

    def cached_spec(p):
        st.vega_lite_chart(spec=charts.probabilities_spec(p, names), width="stretch")

    rng = np.random.default_rng(0)
    times = {altair_chart: [], cached_spec: []}
    for i in range(max(40, calls // 5) + 10):
        p = rng.dirichlet(np.ones(10))
        for fn in (altair_chart, cached_spec) if i % 2 else (cached_spec, altair_chart):
            t = time.perf_counter()
            fn(p)
            times[fn].append((time.perf_counter() - t) * 1000)
    print("\nthe probability chart, per stroke (server side):")
    for name, fn in (("Altair chart of a DataFrame (before)", altair_chart), ("spec built once (now)", cached_spec)):
        t = times[fn][10:]  # the first calls warm up
        print(f"{name:38}{len(t):5}{np.median(t):11.2f}{np.percentile(t, 90):9.2f}")


if __name__ == "__main__":
    main()
