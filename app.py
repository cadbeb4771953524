"""CNN Lab: learn how convolutional neural networks read handwritten digits.

Start with `streamlit run app.py`. This entry point only sets up the page and the navigation;
each page in pages/ is a short script on top of the cnn_core engine. Nothing here imports
TensorFlow, so the Home page appears quickly; models load only where a page needs one.
"""

import os

import numpy as np
import streamlit as st

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def icon():
    """The favicon, drawn here: a 3x3 filter heat map (an emoji or Material icon favicon
    would be fetched from a font server, and the app must make no network calls)."""
    weights = np.array([[0.2, 0.9, 0.4], [0.7, 0.1, -0.6], [-0.2, -0.7, -1.0]])
    red, blue = np.array([214, 39, 40]), np.array([31, 119, 180])
    w = weights[..., None]
    cells = np.where(w > 0, 255 - w * (255 - red), 255 + w * (255 - blue))
    image = np.full((32, 32, 3), 40, np.uint8)
    for (r, c), _ in np.ndenumerate(weights):
        image[1 + r * 10:10 + r * 10, 1 + c * 10:10 + c * 10] = cells[r, c]
    from PIL import Image

    return Image.fromarray(image)  # (Streamlit compares page_icon to a string: no bare arrays)


st.set_page_config(page_title="CNN Lab", page_icon=icon(), layout="wide")

# When the server goes away, Streamlit's own dialog asks "Are you connected to the internet?"
# (or tells learners to run `streamlit run yourscript.py`): say what happened in plain words.
SERVER_LOST = ("CNN Lab's server has stopped or cannot be reached. Your saved runs are safe, and a training "
               "that was running was saved as a stopped run. Ask whoever started CNN Lab to start it again "
               "(make run), then reload this page.")
st.html(rf"""<script>
if (!window.cnnLabServerLost) {{
  window.cnnLabServerLost = true;
  const words = /Are you connected to the internet\?|Is Streamlit still running\?/;
  new MutationObserver(() => {{
    for (const dialog of document.querySelectorAll('[role="dialog"]')) {{
      if (!words.test(dialog.innerText) || dialog.dataset.cnnLab) continue;
      dialog.dataset.cnnLab = "server-lost";
      const body = dialog.querySelector('[data-testid="stMarkdownContainer"]') || dialog;
      body.innerText = {SERVER_LOST!r};
      dialog.querySelectorAll("pre, code").forEach(e => e.remove());
    }}
  }}).observe(document.body, {{childList: true, subtree: true}});
}}
</script>""", unsafe_allow_javascript=True)

import cnn_lab_ui  # noqa: E402  (after set_page_config, which must come first)
from cnn_lab_ui import classroom, state  # noqa: E402

cnn_lab_ui.keep_keras_state()  # no keras.backend.clear_session() after every rerun: see there

state.remember_owner()
classroom.name_box()  # the learner's display name, on every page

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/model.py", title="Model", icon=":material/search_insights:"),
    st.Page("pages/draw.py", title="Draw", icon=":material/draw:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/monitoring:"),
]

st.navigation(PAGES).run()
