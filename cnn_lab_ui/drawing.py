"""The Draw page's canvas: its value in session state, clearing it, and reading the RGBA image.

streamlit-drawable-canvas 0.13 (a components-v2 component) keeps its value in
st.session_state["canvas"] as {"drawing": {"raw": <Fabric.js JSON>, "data": <PNG data URL>
or None}, "backgroundFit": None}; st_canvas(...).image_data decodes "data". Tests (and the
Clear button) put such a value there themselves: `canvas_value(rgba)` builds one.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import streamlit as st

CANVAS_KEY = "canvas"
SIZE = 280
STROKE = "#FFFFFF"
# Two spellings of black: switching between them changes the canvas' initial drawing, which
# makes the component reload it, i.e. empty the canvas (see Clear), without changing its key.
BACKGROUNDS = ("#000000", "#000")


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
    return BACKGROUNDS[st.session_state.get("draw_clears", 0) % 2]


def clear() -> None:
    """on_click of the Clear button: empty the canvas now (the component reloads its empty drawing)."""
    st.session_state["draw_clears"] = st.session_state.get("draw_clears", 0) + 1
    st.session_state[CANVAS_KEY] = canvas_value(None)


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
