"""Home: what a CNN is, the four core ideas shown with the real default model, the active dataset.

No widgets with state. The text renders first; the pictures need TensorFlow and the default
model, so they are filled in afterwards (computed once, then cached for everyone).
"""

import streamlit as st

import cnn_lab_ui
from cnn_core import datasets
from cnn_core.data import DataError
from cnn_core.errors import UserError
from cnn_lab_ui import explain, state

cnn_lab_ui.use_app_navigation()

st.title("CNN Lab")
st.markdown(
    "Teach a computer to read handwritten digits — and look inside while it learns. "
    "A **convolutional neural network (CNN)** is a stack of small pattern detectors. "
    "The first ones find strokes and edges, later ones combine them into loops and corners, "
    "and the last layers decide which digit the combination looks like. Nobody programs the "
    "detectors: training adjusts them, digit after digit, until the answers are right."
)

try:
    ds = state.dataset(datasets.MNIST.name)
    if ds.is_sample:
        st.warning(f"**Dataset: offline sample.** {ds.source}")
    else:
        st.success(f"**Dataset:** {ds.source}")
except DataError as e:
    st.error(f"No digits available: {e}")

c1, c2, c3, c4 = st.columns(4)
c1.page_link("pages/train.py", label="Train your own CNN", icon=":material/model_training:")
c2.page_link("pages/model.py", label="Look inside a model", icon=":material/search_insights:")
c3.page_link("pages/draw.py", label="Draw a digit", icon=":material/draw:")
c4.page_link("pages/runs.py", label="Compare your runs", icon=":material/monitoring:")

st.header("The four ideas, on a real digit")
st.markdown("The pictures below come from the model shipped with CNN Lab, reading the first digit of the test set.")
slots = {}

st.subheader("1 · Convolution: one small filter, slid over the whole image")
st.markdown(
    "A convolution filter is a small grid of learned weights (here 3×3). At each position it multiplies the "
    "pixels under it by its weights and adds them up: one number, large where the patch looks like the "
    "filter. Sliding it over every position gives a **feature map** — an image of *where* that pattern is."
)
slots["convolution"] = st.empty()

st.subheader("2 · Activation: keep what was found, drop the rest")
st.markdown(
    "After each convolution an **activation function** bends the numbers. The usual one, **ReLU**, sets every "
    "negative value to 0 and keeps the positive ones: “this pattern is here” survives, “the opposite is "
    "here” is dropped. Without this step, stacking layers would be no better than a single layer."
)
slots["activation"] = st.empty()

st.subheader("3 · Pooling: smaller maps, same findings")
st.markdown(
    "**Max-pooling** keeps the strongest response of each 2×2 block. The map shrinks to a quarter, "
    "the network gets faster, and a stroke that moves by a pixel still gives the same answer. "
    "The next convolution then sees a wider part of the digit through the same small filter."
)
slots["pooling"] = st.empty()

st.subheader("4 · Fully connected layers: from features to a decision")
st.markdown(
    "At the end, all feature maps are flattened into one long list of numbers. **Fully connected (dense)** "
    "layers connect every one of them to every output; the last layer has 10 outputs, turned into "
    "probabilities (softmax) — one per digit. The largest one is the model's answer."
)
slots["dense"] = st.empty()

st.header("Why CNNs suit images")
st.markdown(
    "- **Local connectivity.** Each output of a convolution looks at a small patch only (the cyan square "
    "above). Strokes are local, so that is where the information is.\n"
    "- **Weight sharing.** The same few weights are used at every position: a filter that detects a "
    "stroke at the top also detects it at the bottom, and the layer needs very few weights.\n"
    "- **A hierarchy.** Pooling and stacked layers let later filters combine earlier findings: "
    "edges → strokes → loops → digits."
)
numbers = st.empty()

for slot in slots.values():
    slot.caption("⏳ Loading the default model to draw this picture…")
try:
    with st.spinner("Loading TensorFlow and the default model (first time only)…"):
        pics = explain.home_pictures()
except UserError as e:
    for slot in slots.values():
        slot.info(f"This picture needs the default model and the digits: {e}")
    st.stop()

kh, kw = pics.kernel
slots["convolution"].image(pics.convolution, caption=(
    f"Layer {pics.conv_layer}: one of its {pics.n_filters} learned {kh}×{kw} filters (red: positive weight, "
    f"blue: negative) and the feature map it makes from a handwritten {pics.digit_label}. Bright = strong response."))
slots["activation"].image(pics.activation, caption=(
    f"The same feature map before and after {pics.conv_layer}'s activation: negative values (blue) become 0."))
if pics.pooling:
    slots["pooling"].image(pics.pooling,
                           caption=f"The feature map after {pics.pool_layer}: each 2×2 block → its maximum.")
else:
    slots["pooling"].info("The default model has no pooling layer.")
slots["dense"].image(pics.dense, caption=(
    f"The model's answer for this {pics.digit_label}: {pics.predicted}, with probability {pics.confidence:.1%}."))
numbers.info(
    f"In numbers: layer {pics.conv_layer} has {pics.conv_params:,} weights ({pics.n_filters} filters of {kh}×{kw} "
    f"plus one bias each). A fully connected layer producing the same outputs from a 28×28 image would need "
    f"{pics.dense_equivalent:,} weights."
)
