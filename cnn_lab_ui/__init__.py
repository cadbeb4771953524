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


def keep_keras_state() -> None:
    """Stop Streamlit from calling keras.backend.clear_session() after every script run.

    Streamlit (1.67, script_runner._clean_problem_modules) clears Keras' session after each run,
    fragment runs included, whenever Keras is imported: a full gc.collect() of a heap that holds
    TensorFlow, TensorFlow's kernel caches dropped, Keras' global state reset. With ten learners
    whose Train pages poll twice a second that is twenty full collections a second, enough to
    starve the server: their pages stopped updating (bench/class_load.py). The app needs none
    of it: models are trained in worker processes, the server's models are cached and shared
    between sessions, and resetting Keras' global state while another session loads a model is
    a race. matplotlib's figures are still closed, as Streamlit does.
    """
    from streamlit.runtime.scriptrunner import script_runner

    if getattr(script_runner._clean_problem_modules, "cnn_lab", False):
        return

    def close_figures_only() -> None:
        import sys

        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")

    close_figures_only.cnn_lab = True
    script_runner._clean_problem_modules = close_figures_only
