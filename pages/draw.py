"""Draw: write a digit with the mouse (or a finger) and see what the model reads, stroke by stroke.

Widget keys: canvas (st_canvas: freedraw, white on black, 280x280, return_image_data=True),
draw_brush (brush width), draw_clear ("Clear"), draw_model (model selector).
Session state: last_drawing (the preprocessed 28x28 image, for the Model page), and the
canvas' own keys (see cnn_lab_ui.drawing): the drawing is kept when the page is left.
The prediction is shown as st.metric "Prediction" (the digit) and st.metric "Confidence".
The canvas and the prediction are one fragment: a stroke reruns only them. Under them, the "look
closer" panels (cnn_lab_ui.why: Why?, What if?, Fool it) compute only while opened. Under the canvas,
"It is really a" + "Keep this drawing", and below everything the "Teach it" panel (cnn_lab_ui.teach_panel).
"""

import streamlit as st

import cnn_lab_ui
from cnn_core import datasets
from cnn_core.model import ModelFileError
from cnn_core.preprocess import EmptyCanvasError, ImageFormatError
from cnn_core.runs import RunError
from cnn_lab_ui import charts, drawing, state, teach_panel, why, widgets

cnn_lab_ui.use_app_navigation()

HINT = ("Draw one digit (0–9) on the black square, as large as you like. "
        "The prediction appears as soon as you lift the pen.")


def show_prediction(choice: str, result):
    """The prediction of the drawing; returns (predictor, prediction or None, class names), or None when
    the model cannot be loaded or the canvas image read."""
    try:
        predictor = state.predictor(choice)
    except RunError as e:
        if choice not in state.model_choices()[0]:
            st.rerun()  # deleted while this page was open: the whole page (its model selector) says so
        st.error(f"Cannot load this model: {e}")
        return
    except ModelFileError as e:
        st.error(f"Cannot load this model: {e}")
        return
    try:
        rgba = drawing.canvas_rgba(result)  # ImageFormatError for a hostile canvas value, checked before decoding
        trained_on = datasets.REGISTRY[state.model_dataset_name(choice, predictor)]
        names = list(trained_on.class_names)
        if rgba is None:
            st.info(HINT)
            return predictor, None, names
        reading = drawing.read(predictor, rgba)
    except EmptyCanvasError:
        st.info(HINT)
        return predictor, None, names
    except ImageFormatError as e:
        st.error(f"Cannot read the canvas image: {e}")
        return
    prediction = reading.prediction
    state.LAST_DRAWING.set(prediction.image)
    if not trained_on.reads_digits:
        st.warning(f"This model was trained on {trained_on.label}, not digits. "
                   f"Pick an {datasets.MNIST.title} model above to read digits.")
    elif not reading.verdict.is_digit:
        st.warning(f"**That does not look like a digit** ({reading.verdict.reason}). The model still picks "
                   f"the closest of its ten classes, so read {names[prediction.digit]} as a guess, not an answer.",
                   icon=":material/help:")
    m1, m2 = st.columns(2)
    m1.metric("Prediction", names[prediction.digit])
    m2.metric("Confidence", f"{prediction.confidence:.1%}")
    st.vega_lite_chart(spec=charts.probabilities_spec(prediction.probabilities, names), width="stretch")
    st.caption(drawing.softmax_note(prediction.probabilities))
    st.image(widgets.enlarge(prediction.image, 8), width=224, caption=(
        "What the model saw: your drawing cropped, scaled to 20×20 px and centred by its centre of mass in "
        "a 28×28 image, like every MNIST digit (enlarged 8×, one square = one pixel)."))
    st.page_link("pages/model.py", label="See the feature maps of this drawing", icon=":material/search_insights:")
    return predictor, prediction, names


@st.fragment
def canvas_and_prediction(choice: str) -> None:
    left, right = st.columns([1, 1], gap="large")
    with left:
        brush = st.slider("Brush width", 6, 40, 20, key="draw_brush", persist_state="session")
        canvas_box = st.container()
        st.button("Clear", key="draw_clear", on_click=drawing.clear, help="Empty the canvas.")
        st.caption("Under the canvas: undo ↶, redo ↷, edit ✎ (move or delete strokes) and reset (bin).")
        teach_panel.keep_control()  # before the canvas is drawn: keeping a drawing empties it for the next
        with canvas_box:
            result = drawing.canvas(brush)
    with right:
        shown = show_prediction(choice, result)
    if shown is not None:
        why.explore(*shown)  # in the fragment: a stroke updates an open panel too


st.title("Draw a digit")
choice = widgets.model_selector("draw_model")
canvas_and_prediction(choice)
teach_panel.show(choice)  # my drawings, teach the model, before and after
