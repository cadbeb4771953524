"""Helpers for CNN Lab's Streamlit pages: shared cached resources, widget helpers and charts.

Pages stay short scripts; anything reused by two pages, or fiddly (caching, session state
that must survive page changes, chart building), lives here. No TensorFlow at import time,
and no Streamlit either: training workers are spawned from the server, whose main module
(cnn_lab_ui.serve) each worker imports again, and they need neither.
"""


def use_app_navigation() -> None:
    """Make sure the page runs inside app.py's st.navigation; call it first in every page.

    Streamlit treats a folder named pages/ next to the main script as an old-style (v1)
    multipage app until st.navigation has been called once in the process. So on a freshly
    started server, a first visit straight to e.g. /train runs pages/train.py on its own,
    without app.py: no page config, and a sidebar listing raw file names. Here the page
    switches Streamlit to app.py's navigation for good and reruns (same URL, same page).
    """
    import streamlit as st
    from streamlit import config
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        # AppTest resets the flag before every run; a rerun there would drop button clicks.
        if not config.get_option("global.appTest"):
            st.rerun()
