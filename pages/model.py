"""Model: the layers of a model, its learned filters and the feature maps it makes from one digit.

Widget keys: model_model (model selector), model_filter_input (deeper filters: mean over input
channels / input channel 0), model_filters_page_<layer> (page through a layer's filters),
model_fmap_source ("A test digit" / "My latest drawing"), model_digit_index (test digit
number), model_fmap_count (maps shown per layer), model_step_* (the step-by-step panel, see
cnn_lab_ui.step_panel: it works on the image the feature maps show).
"""

import math

import numpy as np
import pandas as pd
import streamlit as st

import cnn_lab_ui
from cnn_core import introspect
from cnn_core.data import DataError
from cnn_core.errors import UserError
from cnn_lab_ui import pictures, state, step_panel, widgets

cnn_lab_ui.use_app_navigation()

st.title("Inside a model")
choice = widgets.model_selector("model_model")
try:
    predictor = state.predictor(choice)
except UserError as e:
    st.error(f"Cannot load this model: {e}")
    st.stop()
model, key = predictor.model, pictures.model_key(predictor)
st.caption(f"Model file: {widgets.model_file(choice, predictor.path)}")

st.header("Layers")
summary = introspect.summary(model)
types = {r.name: r.type for r in summary.rows}
table = pd.DataFrame([(r.name, r.type, r.output_shape, r.params) for r in summary.rows],
                     columns=["Layer", "Type", "Output shape", "Param #"])
st.dataframe(table, hide_index=True, key="model_summary_table")
t1, t2, t3 = st.columns(3)
t1.metric("Total params", f"{summary.total:,}")
t2.metric("Trainable params", f"{summary.trainable:,}")
t3.metric("Non-trainable params", f"{summary.non_trainable:,}")
st.caption("The same rows and totals as Keras' own `model.summary()`. *None* in a shape is the batch: "
           "any number of digits at once. A Conv2D layer has (kernel height × width × input channels + 1) "
           "weights per filter; a Dense layer (inputs + 1) per unit; pooling and flatten learn nothing.")

st.header("Learned filters")
st.markdown("Each small square is one filter's weights: **red** = positive (a bright pixel there raises "
            "the filter's response), **blue** = negative (a bright pixel there lowers it), **white** ≈ 0. "
            "Colours are symmetric around 0 within each picture.")
mode = st.radio("Deeper layers have one kernel per input channel; show", ["mean", "channel 0"], horizontal=True,
                key="model_filter_input", format_func={"mean": "their mean over input channels",
                                                       "channel 0": "input channel 0 only"}.get)
for layer in introspect.conv_layers(model):
    kh, kw, n_in, n_out = introspect.conv_filters(model, layer).shape
    size = pictures.FIRST_LAYER_PAGE if n_in == 1 else pictures.DEEP_LAYER_PAGE
    st.subheader(f"{layer}: {n_out} filters of {kh}×{kw}, on {n_in} input channel{'s' if n_in > 1 else ''}")
    page = 1
    if n_out > size:
        pages = math.ceil(n_out / size)
        page = st.number_input(f"Page of {layer}'s filters (1–{pages})", 1, pages, 1, key=f"model_filters_page_{layer}")
    start, stop = (page - 1) * size, min(page * size, n_out)
    note = "" if n_in == 1 else (" (mean over input channels)" if mode == "mean" else " (input channel 0)")
    st.image(pictures.filters_png(key, model, layer, start, stop, mode if n_in > 1 else "mean"),
             caption=f"{layer}: filters {start}–{stop - 1} of {n_out}{note}")


@st.fragment
def feature_maps(choice: str, predictor, key: str, types: dict) -> None:
    """One image's feature maps: a fragment, so picking another image or count reruns only this part."""
    source = st.radio("Image", ["A test digit", "My latest drawing"], horizontal=True, key="model_fmap_source")
    if source == "A test digit":
        try:
            ds = state.dataset(state.model_dataset_name(choice, predictor))
        except DataError as e:
            st.error(str(e))
            return
        n = len(ds.x_test)
        index = st.number_input(f"Test digit number (0–{n - 1})", 0, n - 1, 0, key="model_digit_index")
        image = ds.x_test[index].astype(np.float32) / 255.0
        what = f"test digit #{index}, labelled {ds.class_names[ds.y_test[index]]}"
    else:
        image = state.LAST_DRAWING.get()
        if image is None:
            st.info("No drawing yet: draw a digit on the Draw page, then come back.")
            st.page_link("pages/draw.py", label="Draw a digit", icon=":material/draw:")
            return
        what = "your latest drawing, as the model saw it"
    count = st.slider("Maps shown per layer", 4, 64, 16, step=4, key="model_fmap_count")
    guess = predictor.predict_image(image)
    st.image(widgets.enlarge(image, 5), width=140,
             caption=f"Input: {what}. The model reads {guess.digit} ({guess.confidence:.1%}).")
    with st.spinner("Computing feature maps…"):
        maps = pictures.feature_maps_png(key, predictor.model, np.asarray(image, np.float32).reshape(28, 28), count)
    for layer, (png, (h, w, c)) in maps.items():
        st.image(png, caption=f"{layer} ({types[layer]}): output {h}×{w}×{c}, first {min(count, c)} of {c} maps")
    st.subheader("Step by step: one output pixel, with the numbers")
    step_panel.show(predictor, np.asarray(image, np.float32).reshape(28, 28))


st.header("Feature maps")
st.markdown("What each convolution and pooling layer outputs for one image: one small image per filter, "
            "**bright** where the filter found its pattern, dark where it did not.")
feature_maps(choice, predictor, key, types)
