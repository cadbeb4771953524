"""The Model page's "step by step" panel: one output pixel of a conv layer (or a max-pooling window)
worked out with the numbers, on the image the feature maps show.

The arithmetic is cnn_core.stepthrough's (the model's own weights; its value equals Keras' output).
The Stepper, one compiled forward pass that returns every layer's output, is built once per model
file and shared by every session (st.cache_resource).

A click on the output map picks the position: the chart's selection is copied into the row and
column boxes (on_select callback), which stay the one source of the position, also for keyboards.
Widget keys: model_step_layer, model_step_filter, model_step_channel (deeper layers: which input
channel's numbers to show), model_step_row, model_step_col, model_step_map (the clickable map).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from cnn_core.explain import BLOCK_TAIL_TYPES, ExplainError

from . import charts, pictures

ROW, COL, FILTER, CHANNEL, MAP = ("model_step_row", "model_step_col", "model_step_filter", "model_step_channel",
                                  "model_step_map")


_SOURCE = {"input": "the 28×28 image"}


def stepper(predictor):
    """The model's Stepper, built once per model file and shared by all sessions."""
    return _stepper(pictures.model_key(predictor), predictor)


@st.cache_resource(show_spinner=False, max_entries=4)
def _stepper(key: str, _predictor):
    from cnn_core.stepthrough import Stepper

    return Stepper(_predictor)


def _clamp(key: str, size: int, default: int) -> None:
    """Keep a box's value inside a map that may have shrunk (another layer was picked)."""
    value = st.session_state.get(key, default)
    st.session_state[key] = value if isinstance(value, int) and 0 <= value < size else default


def _picked() -> None:
    """on_select of the output map: the clicked pixel becomes the row and column."""
    points = st.session_state[MAP].selection.get(charts.PIXEL, [])
    if points:
        st.session_state[ROW], st.session_state[COL] = int(points[0]["row"]), int(points[0]["col"])


def _block_end(layers, name: str) -> str:
    """The last layer of a conv block (its BatchNormalization and Activation follow it), or name itself."""
    names = [layer.name for layer in layers]
    i = names.index(name)
    while i + 1 < len(layers) and type(layers[i + 1]).__name__ in BLOCK_TAIL_TYPES:
        i += 1
    return names[i]


def _matrix(values: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(np.asarray(values, np.float64))
    frame.index.name = "row"
    return frame


def show(predictor, image) -> None:
    s = stepper(predictor)
    convs, pools = s.conv_layers(), s.pool_layers()
    layers = [layer.name for layer in s.layers if layer.name in convs or layer.name in pools]
    if not layers:
        st.info("This model has no convolution or pooling layer to step through.")
        return
    layer = st.selectbox("Layer", layers, key="model_step_layer",
                         format_func=lambda n: f"{n} ({'convolution' if n in convs else 'max pooling'})")
    acts = s.activations(image)
    out = acts[_block_end(s.layers, layer) if layer in convs else layer]  # the value the step ends with
    h, w, c = out.shape
    _clamp(FILTER, c, 0)
    _clamp(ROW, h, h // 2)
    _clamp(COL, w, w // 2)
    c1, c2, c3 = st.columns(3)
    what = "Filter" if layer in convs else "Channel"
    channel = c1.number_input(f"{what} (0–{c - 1})", 0, c - 1, key=FILTER)
    row = c2.number_input(f"Row (0–{h - 1})", 0, h - 1, key=ROW)
    col = c3.number_input(f"Column (0–{w - 1})", 0, w - 1, key=COL)
    try:
        step = (s.conv_step if layer in convs else s.pool_step)(image, layer, channel, row, col)
    except ExplainError as e:
        st.warning(str(e))
        return
    source_name = s.source_of(layer)
    source = acts[source_name]
    k = 0
    if layer in convs and source.shape[2] > 1:
        _clamp(CHANNEL, source.shape[2], 0)
        k = st.number_input(f"Show the numbers of input channel (0–{source.shape[2] - 1})", 0,
                            source.shape[2] - 1, key=CHANNEL)
    elif layer in pools:
        k = channel
    left, right = st.columns(2)
    source_title = f"input: {_SOURCE.get(source_name, source_name)}{'' if source.shape[2] == 1 else f', channel {k}'}"
    left.altair_chart(charts.map_picker(source[..., k], step.rows, step.cols, source_title), width="content")
    right.altair_chart(charts.map_picker(out[..., channel], (row, row + 1), (col, col + 1),
                                         f"output: {layer}, {what.lower()} {channel} (click a pixel)", pick=True),
                       key=MAP, on_select=_picked, selection_mode=charts.PIXEL, width="content")
    if layer in convs:
        _conv_numbers(step, k)
    else:
        _pool_numbers(step)


def _conv_numbers(step, k: int) -> None:
    n_in = step.patch.shape[2]
    st.markdown(f"**{step.layer}, filter {step.filter}, at row {step.row}, column {step.col}**: the "
                f"{step.kernel.shape[0]}×{step.kernel.shape[1]} kernel lies on the input patch (the red box, left); "
                "each input value is multiplied by the weight on top of it, and everything is added up.")
    c1, c2, c3 = st.columns(3)
    suffix = "" if n_in == 1 else f" (input channel {k})"
    for box, title, values in ((c1, "Input patch", step.patch), (c2, "Kernel (weights)", step.kernel),
                               (c3, "Products (patch × kernel)", step.products)):
        box.markdown(f"{title}{suffix}")
        box.table(_matrix(values[..., k]).style.format("{:.3f}"))
    if n_in > 1:
        sums = pd.DataFrame({"input channel": np.arange(n_in), "sum of its products": step.channel_sums})
        st.markdown(f"This layer reads **{n_in} input channels**: each has its own kernel, and their "
                    f"products are summed channel by channel, then over all {n_in}:")
        st.dataframe(sums, hide_index=True, height=180, key="model_step_sums",
                     column_config={"sum of its products": st.column_config.NumberColumn(format="%.4f")})
    rows = [("sum of all the products" + (f" ({n_in} channels)" if n_in > 1 else ""), step.total),
            ("add the bias", step.bias), ("the convolution's output (sum and bias)", step.pre_activation)]
    bn = step.batch_norm
    if bn is not None:
        rows.append((f"batch norm: (x − {bn.mean:.3f}) / √({bn.variance:.3f} + {bn.epsilon:g}) × {bn.gamma:.3f} "
                     f"+ {bn.beta:.3f}", bn.value))
    rows.append((f"{step.activation} (the activation)", step.value))
    st.table(pd.DataFrame(rows, columns=["step", "value"]).style.format({"value": "{:.5f}"}))
    _agrees(step)


def _pool_numbers(step) -> None:
    r, c = step.argmax
    st.markdown(f"**{step.layer}, channel {step.channel}, at row {step.row}, column {step.col}**: the "
                f"{step.window.shape[0]}×{step.window.shape[1]} window (the red box, left) keeps only its largest "
                f"value, **{step.value:.5f}**, from row {r}, column {c} of its input.")
    st.table(_matrix(step.window).style.format("{:.3f}").highlight_max(axis=None, color="#ffb3b3"))
    _agrees(step)


def _agrees(step) -> None:
    diff = abs(step.value - step.keras_value)
    st.metric("Output pixel", f"{step.value:.5f}")
    text = (f"Keras' own output at this position: {step.keras_value:.5f} (difference {diff:.1e}): "
            "the same arithmetic as the model's.")
    if diff <= 1e-5:
        st.success(text)
    else:  # never seen (tests/test_explain.py checks every layer), but said plainly if it happens
        st.error(text)
