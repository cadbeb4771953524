"""The Draw page's canvas: its value in session state, clearing it, keeping it, and reading the RGBA image.

streamlit-drawable-canvas 0.13 (a components-v2 component) keeps its value in
st.session_state["canvas"] as {"drawing": {"raw": <Fabric.js JSON>, "data": <PNG data URL>
or None}, "backgroundFit": None}; st_canvas(...).image_data decodes "data". Tests (and the
Clear button) put such a value there themselves: `canvas_value(rgba)` builds one.

Its non-widget session keys (how often Clear was pressed, the drawing kept across page changes,
the drawing the canvas was opened with) are state.DRAW_CLEARS, DRAW_KEPT and DRAW_INITIAL.
"""

from __future__ import annotations

import base64
import io
from typing import NamedTuple

import numpy as np
import streamlit as st

from . import state

CANVAS_KEY = "canvas"  # the canvas widget's key
SIZE = 280
STROKE = "#FFFFFF"
# Two spellings of black: switching between them changes the canvas' initial drawing, which
# makes the component reload it, i.e. empty the canvas (see Clear), without changing its key.
BACKGROUNDS = ("#000000", "#000")

# Two things streamlit-drawable-canvas 0.13 has no option for, mended by one tiny component
# (Streamlit's own way to run JavaScript in the page) inside the canvas' shadow root, which the
# page's CSS and scripts cannot otherwise reach:
# - Its toolbar (undo, redo, edit, reset) lies over the top right corner of the drawing square,
#   invisible until the mouse has hovered the canvas for 0.1 s: a press there right after entering,
#   or any touch, lands on the toolbar and draws nothing. One style rule puts it below the canvas,
#   always visible.
# - It sends a drawing to the app 200 ms after the last change (a fixed debounce in its frontend),
#   two thirds of the time from lifting the pen to the prediction on screen. On each pen-up the
#   drawing is sent at once instead, through the component's own "Update the app with this drawing"
#   control (its send button for update_streamlit=False), which cancels the pending debounced send.
TOOLBAR_CSS = (".dc-root > .dc-toolbar { position: static !important; opacity: 1 !important; "
               "top: auto !important; padding: 0.4rem 0 0 !important; transition: none !important; }")
SEND_LABEL = "Update the app with this drawing"  # the component's send control, by its aria-label
_CANVAS_JS = """
export default function ({ data }) {
  const hooked = [];
  // Every isolated component's shadow root is looked at; only the canvas' root has a .dc-root.
  const patch = () => {
    for (const host of document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')) {
      const root = host.shadowRoot;
      if (!root || !root.querySelector('.dc-root')) continue;
      if (!root.querySelector('style[data-toolbar-below]')) {
        const style = document.createElement('style');
        style.setAttribute('data-toolbar-below', '');
        style.textContent = data.css;
        root.appendChild(style);
      }
      if (!root.__sendOnRelease) {
        root.__sendOnRelease = true;
        let drawing = false;
        const down = (e) => { if (e.target && e.target.tagName === 'CANVAS') drawing = true; };
        // The pen may be lifted outside the canvas: the release is heard on the window. The send
        // waits for a task (setTimeout), after the component's own mouse:up work (a microtask).
        const up = () => {
          if (!drawing) return;
          drawing = false;
          setTimeout(() => {
            const send = root.querySelector(`button[aria-label="${data.send}"]`);
            if (send) send.click();
          }, 0);
        };
        root.addEventListener('pointerdown', down, true);
        window.addEventListener('pointerup', up, true);
        window.addEventListener('pointercancel', up, true);
        host.setAttribute('data-send-on-release', '');
        hooked.push(() => {
          root.removeEventListener('pointerdown', down, true);
          window.removeEventListener('pointerup', up, true);
          window.removeEventListener('pointercancel', up, true);
          root.__sendOnRelease = false;
        });
      }
    }
  };
  patch();
  // The canvas may mount after this component, and a shadow root is attached after its host
  // enters the page (which a MutationObserver on the page cannot see): check every 50 ms.
  const timer = setInterval(patch, 50);
  return () => { clearInterval(timer); hooked.forEach((unhook) => unhook()); };
}
"""
_canvas_patch = st.components.v2.component("cnn_lab.canvas_patch", js=_CANVAS_JS)


def canvas_value(rgba: np.ndarray | None, objects: list | None = None) -> dict:
    """The component's session-state value for an RGBA image (None: an empty canvas)."""
    url = None
    if rgba is not None:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(np.asarray(rgba, np.uint8)).save(buf, format="PNG")
        url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    raw = {"objects": objects if objects is not None else ([{"type": "path"}] if rgba is not None else [])}
    return {"drawing": {"raw": raw, "data": url}, "backgroundFit": None}


def background() -> str:
    return BACKGROUNDS[state.DRAW_CLEARS.get() % 2]


def clear() -> None:
    """on_click of the Clear button: empty the canvas now (the component reloads its empty drawing)."""
    state.DRAW_CLEARS.set(state.DRAW_CLEARS.get() + 1)
    st.session_state[CANVAS_KEY] = canvas_value(None)
    state.DRAW_KEPT.pop()
    state.DRAW_INITIAL.pop()


def canvas(brush: int):
    """The drawing canvas (white on black, SIZE x SIZE, freehand), its toolbar below it; the st_canvas result.

    Coming back to the page, the drawing made before leaving is put back: on the canvas (as its
    initial drawing) and in the widget's value (so it is read at once, before any new stroke).
    """
    from streamlit_drawable_canvas import st_canvas

    kept = state.DRAW_KEPT.get()
    if CANVAS_KEY not in st.session_state and kept is not None:
        st.session_state[CANVAS_KEY] = kept
        state.DRAW_INITIAL.set(kept["drawing"]["raw"])
    result = st_canvas(
        stroke_width=brush, stroke_color=STROKE, background_color=background(), height=SIZE, width=SIZE,
        drawing_mode="freedraw", return_image_data=True, initial_drawing=state.DRAW_INITIAL.get(),
        key=CANVAS_KEY,
    )
    _canvas_patch(data={"css": TOOLBAR_CSS, "send": SEND_LABEL}, key="canvas_patch")
    value = st.session_state.get(CANVAS_KEY)
    if value is not None and value.get("drawing"):
        state.DRAW_KEPT.set({"drawing": dict(value["drawing"]), "backgroundFit": None})
    return result


def canvas_rgba(result) -> np.ndarray | None:
    """The drawing as an (H, W, 4) uint8 RGBA array, or None when the canvas has sent nothing yet.

    The value comes from the browser, so a modified client can put any PNG there: it is decoded
    by cnn_core's decode_image, which checks its size before decoding (never result.image_data,
    which decodes whatever it gets). Raises ImageFormatError, with a message, for anything that
    is not a drawing-sized image.
    """
    from cnn_core.preprocess import ImageFormatError, decode_image

    try:
        data = result.image_bytes  # the data URL's base64 part, decoded
    except (ValueError, TypeError, AttributeError):  # no ";base64," part, bad base64, not a string
        raise ImageFormatError("the canvas sent a damaged image (not a base64 data URL)") from None
    if data is None:
        return None
    return decode_image(data)


class Reading(NamedTuple):
    prediction: object  # cnn_core.inference.Prediction
    verdict: object  # cnn_core.novelty.Verdict


def read(predictor, rgba: np.ndarray) -> Reading:
    """The model's prediction for the drawing, and whether the drawing looks like a digit at all.

    Raises EmptyCanvasError (nothing drawn) and ImageFormatError like Predictor.predict.
    """
    from cnn_core import novelty

    prediction = predictor.predict(rgba)
    return Reading(prediction, novelty.looks_like_digit(prediction.image, prediction.probabilities))


def softmax_note(probabilities: np.ndarray) -> str:
    """The line under the probability bars: they always add up to 100%, whatever was drawn."""
    return (f"The ten bars add up to {float(np.sum(probabilities)):.0%}, always: the last layer (softmax) shares "
            "all of the model's belief among the ten classes, even for a drawing that is none of them. "
            "So a high confidence means \"more like this class than the others\", not \"surely a digit\".")
