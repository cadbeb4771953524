"""The Draw page's "look closer" panels: Why? (heatmaps), What if? (sweeps) and Fool it (FGSM).

Each panel is an st.expander that tracks its state (on_change="rerun"): its content is computed
only while it is open, so a learner who never opens one pays nothing per stroke. The maths is
cnn_core's (explain, stepthrough); the Explainer, whose compiled functions are traced on first use,
is built once per model and shared by every session (st.cache_resource, keyed by the model file).

Widget keys: draw_why, draw_whatif, draw_fool (the expanders), why_method, why_class, why_versus,
why_use_gradient, whatif_kind, fool_epsilon.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from cnn_core.explain import DEFAULT_METHOD, METHODS, ExplainError

from . import charts, pictures, widgets

METHOD_LABELS = {"gradcam": "Grad-CAM", "gradient": "Gradient", "smoothgrad": "SmoothGrad"}
SWEEP_LABELS = {"shift_x": "Shift left/right", "shift_y": "Shift up/down", "rotate": "Rotate", "scale": "Scale",
                "stroke": "Thicken/thin"}
EMPTY = "Draw a digit first: there is nothing to explain yet."


def explainer(predictor):
    """The model's Explainer, built once per model file and shared by all sessions."""
    return _explainer(pictures.model_key(predictor), predictor)


@st.cache_resource(show_spinner=False, max_entries=4)
def _explainer(key: str, _predictor):
    from cnn_core.explain import Explainer

    return Explainer(_predictor)


def _use_gradient() -> None:
    st.session_state["why_method"] = "gradient"


def why(predictor, prediction, names: list[str]) -> None:
    ex = explainer(predictor)
    image, answer = prediction.image, prediction.digit
    c1, c2, c3 = st.columns(3)
    st.session_state.setdefault("why_method", DEFAULT_METHOD)  # state alone sets it (the button below does too)
    method = c1.radio("Method", list(METHODS), key="why_method",
                      format_func=METHOD_LABELS.get,
                      help="\n\n".join(f"**{METHOD_LABELS[m]}**: {d}" for m, d in METHODS.items()))
    target = c2.selectbox("Explain the class", [None, *range(len(names))], key="why_class",
                          format_func=lambda k: "the model's answer" if k is None else names[k])
    versus = c3.selectbox("…and not", [None, *range(len(names))], key="why_versus",
                          format_func=lambda k: "(no comparison)" if k is None else names[k],
                          help="Why this class and not that one: red pixels push to the first, blue to the second.")
    target = answer if target is None else target
    try:
        ex.check_can(method)
        if versus is None:
            heat = ex.heatmap(image, target, method)
            picture = pictures.heat_overlay(image, heat.normalised())
        elif versus == target:
            st.warning(f"Pick two different classes to compare ({names[target]} and {names[versus]} are the same).")
            return
        else:
            contrast = ex.contrast(image, target, versus, method)
            picture = pictures.signed_overlay(image, pictures.symmetric_scale(contrast.values))
    except ExplainError as e:
        st.warning(str(e))
        if method == "gradcam" and not ex.has_conv:
            st.button("Use the gradient method", key="why_use_gradient", on_click=_use_gradient)
        return
    left, right = st.columns([1, 2])
    what = f"{names[target]} and not {names[versus]}" if versus is not None else names[target]
    left.image(picture, width=224, caption=f"{METHOD_LABELS[method]}: why {what}")
    with right:
        if versus is None:
            st.markdown(f"**How to read it:** the brighter a square (red, then yellow, then white), the more that "
                        f"pixel pushed the model towards **{names[target]}**. Black squares did not push it there; "
                        "your ink shows in grey underneath.")
            st.markdown(pictures.colour_legend(pictures.HEAT_CMAP, "no push", f"strongest push to {names[target]}"),
                        unsafe_allow_html=True)
            if not heat.values.any():
                st.info(f"No pixel pushes the model towards {names[target]}: this drawing has nothing of it.")
        else:
            st.markdown(f"**How to read it:** red squares pushed the model towards **{names[target]}**, blue squares "
                        f"towards **{names[versus]}**; the stronger the colour, the stronger the push.")
            st.markdown(pictures.colour_legend(pictures.SIGNED_CMAP, f"pushes to {names[versus]}",
                                               f"pushes to {names[target]}", signed=True), unsafe_allow_html=True)
        st.caption(f"{METHODS[method]}. The picture is the 28×28 image the model saw, enlarged 8×.")


def what_if(predictor, prediction, names: list[str]) -> None:
    from cnn_core import stepthrough

    kind = st.radio("Change the drawing", list(stepthrough.SWEEPS), key="whatif_kind", horizontal=True,
                    format_func=SWEEP_LABELS.get)
    sweep = stepthrough.sweeps(predictor, prediction.image, [kind])[kind]
    st.altair_chart(charts.sweep_chart(sweep, names), width="stretch")
    st.image(pictures.strip(sweep.images), caption="Your drawing at each step, left to right (the middle one is "
                                                    "unchanged).")
    reads = sweep.probabilities.argmax(axis=1)
    changed = [f"{v:+g} → {names[r]}" for v, r in zip(sweep.values, reads) if r != prediction.digit]
    if changed:
        st.markdown(f"It stops reading **{names[prediction.digit]}** at: " + ", ".join(changed) + ".")
    else:
        st.markdown(f"It reads **{names[prediction.digit]}** at every step.")
    st.caption("Each line is one class' probability as the change grows; the dashed line is your drawing as it is. "
               "Models trained with augmentation usually hold their answer over more of the range.")


def fool_it(predictor, prediction, names: list[str]) -> None:
    epsilon = st.slider("How hard to push (ε: the most any pixel may change, 0 = black to 1 = white)",
                        0.0, 0.5, 0.1, 0.01, key="fool_epsilon")
    attack = explainer(predictor).fgsm(prediction.image, epsilon)
    before, after = attack.original, attack.prediction
    c1, c2, c3 = st.columns(3)
    c1.image(widgets.enlarge(prediction.image, 6), width=168,
             caption=f"Your drawing: {names[before.digit]} ({before.confidence:.0%})")
    scaled = attack.perturbation / epsilon if epsilon else attack.perturbation
    nudge = pictures.signed_overlay(np.zeros((28, 28)), scaled, 6)
    c2.image(nudge, width=168, caption=f"The nudge: red pixels brightened, blue darkened, each by at most {epsilon:g}")
    c3.image(widgets.enlarge(attack.image, 6), width=168,
             caption=f"Nudged: {names[after.digit]} ({after.confidence:.0%})")
    st.metric("Nudged, it reads", names[after.digit])
    if after.digit != before.digit:
        st.markdown(f"**Fooled!** A nudge you can barely see turned {names[before.digit]} into {names[after.digit]}. "
                    "The fast gradient sign method moves every pixel a little in the direction that hurts the "
                    "model's answer most.")
    else:
        st.markdown(f"Still **{names[before.digit]}**: push harder (a larger ε).")


PANELS = [  # (expander key, label, icon, panel)
    ("draw_why", "Why? Which pixels made it say that", ":material/local_fire_department:", why),
    ("draw_whatif", "What if? Shift, rotate, scale or thicken your drawing", ":material/tune:", what_if),
    ("draw_fool", "Fool it: a tiny nudge that changes its mind", ":material/theater_comedy:", fool_it),
]


def explore(predictor, prediction, names: list[str]) -> None:
    """The panels under the prediction (prediction None: an empty canvas). Only an open one computes."""
    for key, label, icon, panel in PANELS:
        with st.expander(label, key=key, on_change="rerun", icon=icon) as box:
            if not box.open:
                continue
            if prediction is None:
                st.info(EMPTY)
            else:
                panel(predictor, prediction, names)
