"""The Train page's hyperparameter controls: one widget per TrainConfig field, in three groups.

Widget keys are "train_" + the TrainConfig field name, plus train_preset. Values persist for
the whole session (persist_state="session"), so the form is as the person left it when they
come back from another page. Choosing a preset writes all of its values into the widgets.
"""

from __future__ import annotations

import dataclasses

import streamlit as st

from cnn_core import config as config_mod
from cnn_core.config import ACTIVATIONS, DATASETS, LIMITS, OPTIMIZERS, PRESETS, TrainConfig, parse_filters

LR_SCHEDULES = getattr(config_mod, "LR_SCHEDULES", ("constant",))

GROUPS = {
    "architecture": ("filters", "convs_per_block", "kernel_size", "activation", "pooling", "batch_norm",
                     "dense_units", "dropout"),
    "optimisation": ("optimizer", "learning_rate", "lr_schedule", "batch_size", "epochs"),
    "data": ("dataset", "limit", "validation_split", "augment", "seed"),
}
PRESET_HELP = {
    "seed": "the classic first Keras CNN: 2 conv blocks (32, 64 filters), 5 epochs: about 98.8% in a minute",
    "quick": "the same net, 1 epoch with larger batches: about 98.4% in 15 seconds",
    "strong": "2 convs per block, batch norm, dropout and augmentation, 15 epochs: 99.5% in about 10 minutes",
}
DEFAULT_PRESET = "quick"
KEEP = "session"  # persist_state: the form survives page changes


def group_of(parameter: str) -> str:
    for group, fields in GROUPS.items():
        if parameter in fields:
            return group
    return "architecture" if parameter in ("blocks", "config") else "data"


def widget_values(config: TrainConfig) -> dict:
    values = {f"train_{k}": v for k, v in config.to_dict().items()}
    values["train_filters"] = ", ".join(str(f) for f in config.filters)
    values["train_limit"] = config.limit or 0
    return values


def _apply_preset() -> None:
    for key, value in widget_values(PRESETS[st.session_state["train_preset"]]).items():
        st.session_state[key] = value


def init() -> None:
    """First visit of the session: fill the form from the default preset."""
    if "train_preset" not in st.session_state:
        st.session_state["train_preset"] = DEFAULT_PRESET
    if "train_filters" not in st.session_state:
        _apply_preset()


def preset_control() -> str:
    return st.selectbox(
        "Preset (a starting point)", list(PRESETS), key="train_preset", on_change=_apply_preset,
        format_func=lambda p: f"{p} — {PRESET_HELP.get(p, '')}", persist_state=KEEP,
        help="Choosing a preset sets every control below; change any of them afterwards.",
    )


def architecture_controls() -> None:
    lo, hi = LIMITS["filters"]
    st.text_input("Filters per conv block (comma-separated)", key="train_filters", persist_state=KEEP,
                  help=f"One number per block, {lo} to {hi} filters each, 1 to {LIMITS['blocks'][1]} blocks, e.g. 32, 64")
    st.number_input("Convolutions per block", *LIMITS["convs_per_block"], step=1, key="train_convs_per_block",
                    persist_state=KEEP)
    st.number_input("Kernel size (n × n)", *LIMITS["kernel_size"], step=1, key="train_kernel_size", persist_state=KEEP,
                    help="Each filter looks at an n×n patch of its input.")
    st.selectbox("Activation", ACTIVATIONS, key="train_activation", persist_state=KEEP)
    st.checkbox("2×2 max-pooling after each block", key="train_pooling", persist_state=KEEP)
    st.checkbox("Batch normalisation", key="train_batch_norm", persist_state=KEEP)
    st.number_input("Dense units (0 = none)", *LIMITS["dense_units"], step=16, key="train_dense_units",
                    persist_state=KEEP, help="The hidden fully connected layer before the 10 outputs.")
    st.slider("Dropout", 0.0, 0.95, step=0.05, key="train_dropout", persist_state=KEEP,
              help="Fraction of units switched off at random while training, against over-fitting; allowed [0, 1).")


def optimisation_controls() -> None:
    st.selectbox("Optimizer", OPTIMIZERS, key="train_optimizer", persist_state=KEEP)
    st.number_input("Learning rate", 0.0, 1.0, step=0.0005, format="%.4f", key="train_learning_rate",
                    persist_state=KEEP, help="Allowed (0, 1]; 0.001 to 0.003 suits Adam.")
    st.selectbox("Learning-rate schedule", LR_SCHEDULES, key="train_lr_schedule", persist_state=KEEP,
                 format_func={"constant": "constant", "cosine": "cosine: decays to 0 by the end"}.get,
                 help="Cosine lowers the learning rate smoothly over the whole run, for the last few 0.1%.")
    st.number_input("Batch size", *LIMITS["batch_size"], step=16, key="train_batch_size", persist_state=KEEP)
    st.number_input("Epochs", *LIMITS["epochs"], step=1, key="train_epochs", persist_state=KEEP,
                    help="Passes over the training digits.")


def data_controls() -> None:
    st.selectbox("Dataset", DATASETS, key="train_dataset", persist_state=KEEP,
                 format_func={"mnist": "MNIST digits", "fashion_mnist": "Fashion-MNIST clothes"}.get)
    st.number_input("Training digits (0 = all)", 0, LIMITS["limit"][1], step=500, key="train_limit",
                    persist_state=KEEP, help=f"Train on the first N digits only (at least {LIMITS['limit'][0]}): faster, less accurate.")
    st.slider("Validation split", 0.0, 0.5, step=0.05, key="train_validation_split", persist_state=KEEP,
              help="Fraction of the training digits held back to check for over-fitting after each epoch; allowed [0, 0.5).")
    st.checkbox("Augmentation (small random shifts, rotations, zoom)", key="train_augment", persist_state=KEEP)
    st.number_input("Random seed", 0, 2**31 - 1, step=1, key="train_seed", persist_state=KEEP,
                    help="Same seed and settings: the same starting weights and digit order.")


def config_from_widgets() -> TrainConfig:
    """The TrainConfig the controls describe (not yet validated); ConfigError for unreadable filters.

    Starts from the chosen preset, so a field without a control here keeps the preset's value.
    """
    ss = st.session_state
    base = PRESETS.get(ss.get("train_preset"), TrainConfig())
    casts = {"filters": parse_filters, "limit": lambda v: int(v) or None}
    changes = {}
    for field in dataclasses.fields(TrainConfig):
        key = f"train_{field.name}"
        if key not in ss:
            continue
        value = ss[key]  # widgets return the right types already: int, float, bool, str
        changes[field.name] = casts[field.name](value) if field.name in casts else value
    return base.replace(**changes)


def preset_tag(config: TrainConfig) -> str | None:
    """The preset's name when the config is exactly that preset (used in the run's name)."""
    name = st.session_state.get("train_preset")
    return name if name in PRESETS and PRESETS[name] == config else None


__all__ = ["GROUPS", "group_of", "init", "preset_control", "architecture_controls", "optimisation_controls",
           "data_controls", "config_from_widgets", "preset_tag"]
