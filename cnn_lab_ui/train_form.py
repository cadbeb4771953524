"""The Train page's hyperparameter controls: one widget per TrainConfig field, in three groups.

Widget keys are "train_" + the TrainConfig field name, plus train_preset. Values persist for
the whole session (persist_state="session"), so the form is as the person left it when they
come back from another page. Choosing a preset writes all of its values into the widgets.

Each widget is generated from its field's Param in cnn_core/config.py (choices, range, help), the
same Param the CLI's flags come from; the labels are this module's. Number boxes have no min/max:
what a box shows is what trains, and an out-of-range value is refused by TrainConfig.validate,
whose message `problem()` words with the box's own label.
"""

from __future__ import annotations

import dataclasses

import streamlit as st

from cnn_core import config, datasets
from cnn_core.config import PRESETS, ConfigError, TrainConfig, parse_filters
from cnn_core.limits import ClassLimits

from . import state

# Each field's visible label: the widgets use it, and so do the messages about a bad value.
LABELS = {
    "filters": "Filters per conv block (comma-separated)",
    "convs_per_block": "Convolutions per block",
    "kernel_size": "Kernel size (n × n)",
    "activation": "Activation",
    "pooling": "2×2 max-pooling",  # short: its help (after each block) needs room in the column
    "batch_norm": "Batch normalisation",
    "dense_units": "Dense units (0 = none)",
    "dropout": "Dropout",
    "optimizer": "Optimizer",
    "learning_rate": "Learning rate",
    "lr_schedule": "Learning-rate schedule",
    "batch_size": "Batch size",
    "epochs": "Epochs",
    "dataset": "Dataset",
    "limit": "Training digits (0 = all)",
    "validation_split": "Validation split",
    "augment": "Augmentation",
    "seed": "Random seed",
}
ALIASES = {"blocks": "filters"}  # ConfigError parameters that are not fields, and the box they concern

GROUPS = {
    "architecture": ("filters", "convs_per_block", "kernel_size", "activation", "pooling", "batch_norm",
                     "dense_units", "dropout"),
    "optimisation": ("optimizer", "learning_rate", "lr_schedule", "batch_size", "epochs"),
    "data": ("dataset", "limit", "validation_split", "augment", "seed"),
}
# What each preset is for and what it measured (README's Presets table, bench/presets.py); its network is
# described from its configuration (preset_help), so the two cannot drift.
# Accuracies are full MNIST's (README's Presets table); the time each takes here is the cost panel's
# estimate, and data_note says when the loaded data is smaller (issue 10 saw quick give 88.6%, not the
# 98.4% it gave then on full MNIST, on the offline 5,000-digit sample).
PRESET_PURPOSE = {
    "seed": ("the tutorial network", "about 98.7% on full MNIST"),
    "quick": ("fast: half the filters, a high learning rate eased off by cosine decay", "about 99.1% on full MNIST"),
    "strong": ("the strongest: two convs per block see more, augmentation and dropout keep it general",
               "about 99.6% on full MNIST"),
}
DEFAULT_PRESET = "quick"
KEEP = "session"  # persist_state: the form survives page changes


def label_of(parameter: str) -> str:
    return LABELS.get(ALIASES.get(parameter, parameter), "Settings")


def problem(error: ConfigError) -> str:
    """The engine's message, naming the box by its label: "Epochs: 0 is out of range; allowed 1 to 200"."""
    text = str(error)
    prefix = f"{error.parameter}: "
    return f"{label_of(error.parameter)}: {text[len(prefix):] if text.startswith(prefix) else text}"


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


def load(config: TrainConfig, preset: str | None = None) -> None:
    """Fill the form with a job's configuration (call before the widgets are drawn, e.g. in a callback)."""
    if preset in PRESETS:
        st.session_state["train_preset"] = preset
    for key, value in widget_values(config).items():
        st.session_state[key] = value


def summary(config: TrainConfig) -> str:
    """One line that says what a configuration trains, in the form's words."""
    c = config
    parts = [f"filters {', '.join(map(str, c.filters))}",
             f"{c.convs_per_block} conv(s) {c.kernel_size}×{c.kernel_size} {c.activation}",
             "pooling" if c.pooling else "no pooling", *(["batch norm"] if c.batch_norm else []),
             f"dense {c.dense_units}", f"dropout {c.dropout:g}",
             f"{c.optimizer} lr {c.learning_rate:g} ({c.lr_schedule})",
             f"batch {c.batch_size}", f"{c.epochs} epoch{'s' if c.epochs != 1 else ''}",
             f"{'all' if c.limit is None else f'{c.limit:,}'} digits of {c.dataset}",
             f"validation {c.validation_split:.0%}", "augmentation" if c.augment else "no augmentation",
             f"seed {c.seed}"]
    return " · ".join(parts)


def preset_help(name: str) -> str:
    """'the tutorial network: 2 conv blocks (32, 64 filters), batch 64, 5 epochs: about 98.8% in a minute'."""
    c = PRESETS[name]
    net = [f"{len(c.filters)} conv blocks ({', '.join(map(str, c.filters))} filters)",
           *([f"{c.convs_per_block} convs each"] if c.convs_per_block > 1 else []),
           *(["batch norm"] if c.batch_norm else []), *([f"dropout {c.dropout:g}"] if c.dropout else []),
           *(["augmentation"] if c.augment else []),
           f"batch {c.batch_size}", f"{c.epochs} epoch{'s' if c.epochs != 1 else ''}"]
    purpose, measured = PRESET_PURPOSE.get(name, (name, ""))
    return ": ".join(part for part in (purpose, ", ".join(net), measured) if part)


def data_note(ds, full: int) -> str | None:
    """A line for the Data box when the loaded training set is smaller than the full dataset (`full` images):
    the presets' accuracies are not what these digits will give."""
    if len(ds.x_train) >= full:
        return None
    return (f"These are {len(ds.x_train):,} training digits, not the full {full:,}: the presets' accuracies are "
            "for the full set, so expect less (fewer digits to learn from).")


def init() -> None:
    """First visit of the session: fill the form from the default preset."""
    if "train_preset" not in st.session_state:
        st.session_state["train_preset"] = DEFAULT_PRESET
    if "train_filters" not in st.session_state:
        _apply_preset()


def preset_control() -> str:
    return st.selectbox(
        "Preset (a starting point)", list(PRESETS), key="train_preset", on_change=_apply_preset,
        format_func=lambda p: f"{p} — {preset_help(p)}", persist_state=KEEP,
        help="Choosing a preset sets every control below; change any of them afterwards.",
    )


# How each field is shown; its range, choices and help come from TrainConfig's Param (cnn_core/config.py).
SLIDERS = ("dropout", "validation_split")
STEPS = {"dense_units": 16, "dropout": 0.05, "learning_rate": 0.0005, "batch_size": 16, "validation_split": 0.05,
         "limit": 500}
FORMATS = {"learning_rate": "%.4f"}
CHOICE_LABELS = {
    "dataset": lambda name: datasets.REGISTRY[name].label,
    "lr_schedule": {"constant": "constant", "cosine": "cosine: decays to 0 by the end"}.get,
}
NOTES = {"limit": "0 trains on all of them."}  # what only the form means (the CLI leaves the flag out)


def control(field: str) -> None:
    """The widget of one TrainConfig field, with the label, the choices, the range and the help of its Param.

    Number boxes have no min/max: the browser sends whatever is typed, and TrainConfig.validate says
    what is wrong (a bounded st.number_input keeps an out-of-range entry red in the browser and never
    sends it, so the old value would train while the box shows the new one). Sliders cannot leave
    their range: an open end stops one step short of it.
    """
    param, kind = config.PARAMS[field], config.TYPES[field]
    label, key = LABELS[field], f"train_{field}"
    help = " ".join(t for t in (config.help_text(field), NOTES.get(field)) if t)
    if field == "filters":
        st.text_input(label, key=key, persist_state=KEEP, help=help)
    elif param.choices:
        st.selectbox(label, param.choices, key=key, persist_state=KEEP, help=help,
                     format_func=CHOICE_LABELS.get(field, str))
    elif kind is bool:
        st.checkbox(label, key=key, persist_state=KEEP, help=help)
    elif field in SLIDERS:
        step = STEPS[field]
        lo, hi = param.range
        st.slider(label, round(lo + step if param.lo_open else lo, 6), round(hi - step if param.hi_open else hi, 6),
                  step=step, key=key, persist_state=KEEP, help=help)
    else:
        st.number_input(label, step=STEPS.get(field, 1), key=key, persist_state=KEEP, help=help,
                        **({"format": FORMATS[field]} if field in FORMATS else {}))


def architecture_controls() -> None:
    for field in GROUPS["architecture"]:
        control(field)


def optimisation_controls() -> None:
    for field in GROUPS["optimisation"]:
        control(field)


def data_controls() -> None:
    for field in GROUPS["data"]:
        control(field)


def config_from_widgets() -> TrainConfig:
    """The TrainConfig the controls describe (not yet validated); ConfigError for unreadable filters.

    Starts from the chosen preset, so a field without a control here keeps the preset's value.
    """
    ss = st.session_state
    base = PRESETS.get(ss.get("train_preset"), TrainConfig())
    casts = {"filters": parse_filters, "limit": lambda v: v or None}  # 0 = all digits; negatives fail validation
    changes = {}
    for field in dataclasses.fields(TrainConfig):
        key = f"train_{field.name}"
        if key not in ss:
            continue
        value = ss[key]  # widgets return the right types already: int, float, bool, str
        if value is None:  # an emptied number box
            raise ConfigError(field.name, "is empty; type a number")
        changes[field.name] = casts[field.name](value) if field.name in casts else value
    return base.replace(**changes)


def check(config: TrainConfig):
    """The dataset `config` trains on, after every check Start makes: the settings' ranges and the
    memory budget (TrainConfig.validate) and the teacher's limits. ConfigError or DataError otherwise."""
    ds = state.dataset(config.dataset)
    config.validate(len(ds.x_train))
    ClassLimits.from_env().check_config(config, len(ds.x_train))  # the teacher's caps, before Start
    return ds


def preset_tag(config: TrainConfig) -> str | None:
    """The preset's name when the config is exactly that preset (used in the run's name)."""
    name = st.session_state.get("train_preset")
    return name if name in PRESETS and PRESETS[name] == config else None


__all__ = ["LABELS", "GROUPS", "control", "label_of", "problem", "group_of", "load", "summary", "init",
           "preset_control", "architecture_controls", "optimisation_controls", "data_controls", "config_from_widgets",
           "preset_tag"]
