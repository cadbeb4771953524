"""Draw: write a digit with the mouse (or a finger) and see what the model reads, stroke by stroke.

Widget keys: canvas (st_canvas: freedraw, white on black, 280x280, return_image_data=True),
draw_brush (brush width), draw_clear ("Clear"), draw_model (model selector).
Session state: last_drawing (the preprocessed 28x28 image, for the Model page), draw_clears.
The prediction is shown as st.metric "Prediction" (the digit) and st.metric "Confidence".
"""

import streamlit as st
from streamlit_drawable_canvas import st_canvas

import cnn_lab_ui
from cnn_core.data import CLASS_NAMES
from cnn_core.model import ModelFileError
from cnn_core.preprocess import EmptyCanvasError, ImageFormatError
from cnn_core.runs import RunError
from cnn_lab_ui import charts, drawing, state, widgets

cnn_lab_ui.use_app_navigation()

HINT = ("Draw one digit (0–9) on the black square, as large as you like. "
        "The prediction appears as soon as you lift the pen.")

st.title("Draw a digit")
choice = widgets.model_selector("draw_model")
left, right = st.columns([1, 1], gap="large")
with left:
    brush = st.slider("Brush width", 6, 40, 20, key="draw_brush", persist_state="session")
    result = st_canvas(
        stroke_width=brush, stroke_color=drawing.STROKE, background_color=drawing.background(),
        height=drawing.SIZE, width=drawing.SIZE, drawing_mode="freedraw", return_image_data=True,
        key=drawing.CANVAS_KEY,
    )
    st.button("Clear", key="draw_clear", on_click=drawing.clear, help="Empty the canvas.")
    st.caption("The canvas toolbar has undo ↶, redo ↷ and reset (bin). Edit (✎) lets you move or delete strokes.")

with right:
    try:
        predictor = state.predictor(choice)
    except (ModelFileError, RunError) as e:
        st.error(f"Cannot load this model: {e}")
        st.stop()
    try:
        rgba = drawing.canvas_rgba(result)  # raises ImageFormatError for a hostile canvas value
        if rgba is None:
            st.info(HINT)
            st.stop()
        prediction = predictor.predict(rgba)
    except EmptyCanvasError:
        st.info(HINT)
        st.stop()
    except ImageFormatError as e:
        st.error(f"Cannot read the canvas image: {e}")
        st.stop()
    st.session_state["last_drawing"] = prediction.image
    names = CLASS_NAMES[state.model_dataset_name(choice, predictor)]
    if names != CLASS_NAMES["mnist"]:
        st.warning("This model was trained on Fashion-MNIST: it reads clothes, not digits. "
                   "Pick an MNIST model above to read digits.")
    m1, m2 = st.columns(2)
    m1.metric("Prediction", names[prediction.digit])
    m2.metric("Confidence", f"{prediction.confidence:.1%}")
    st.altair_chart(charts.probabilities_chart(prediction.probabilities, names), width="stretch")
    st.image(widgets.enlarge(prediction.image, 8), width=224, caption=(
        "What the model saw: your drawing cropped, scaled to 20×20 px and centred by its centre of mass in "
        "a 28×28 image, like every MNIST digit (enlarged 8×, one square = one pixel)."))
    st.page_link("pages/model.py", label="See the feature maps of this drawing", icon=":material/search_insights:")
