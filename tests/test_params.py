"""Every TrainConfig field reaches the CLI and the Train form from its one Param (cnn_core/config.py),
with the same choices, the same help and the same bounds: a field or a range added in config.py can
not be forgotten by either."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnn_core import cli, config
from cnn_core.config import PARAMS, TYPES, ConfigError
from cnn_lab_ui import train_form

APP = str(Path(__file__).resolve().parent.parent / "app.py")
KINDS = ("text_input", "number_input", "selectbox", "checkbox", "slider")


def train_flags() -> dict:
    parser = cli.build_parser()
    train = next(a for a in parser._actions if a.dest == "command").choices["train"]
    return {a.dest: a for a in train._actions}


def outside(name: str) -> list:
    """Values just outside a field's range, at both ends."""
    p = PARAMS[name]
    lo, hi = p.range
    if TYPES[name] is float:
        return [lo if p.lo_open else lo - 0.25, hi if p.hi_open else hi + 0.25]
    return [lo - 1, hi + 1]


def cli_refuses(name: str, value) -> str:
    """The parameter the CLI's error names for --flag value."""
    with pytest.raises(ConfigError) as e:
        cli.config_from_args(cli.build_parser().parse_args(["train", cli.flag_of(name), str(value)]))
    return e.value.parameter


@pytest.fixture(scope="module")
def form():
    at = AppTest.from_file(APP, default_timeout=180)
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    return at


def widgets(at) -> dict:
    return {w.key: w for kind in KINDS for w in getattr(at, kind) if w.key and w.key.startswith("train_")}


def test_every_field_has_a_flag_and_a_widget_with_its_help_and_choices(form):
    flags, shown = train_flags(), widgets(form)
    assert set(train_form.LABELS) == set(PARAMS) == {f for group in train_form.GROUPS.values() for f in group}
    for name, p in PARAMS.items():
        flag, widget = flags[name], shown[f"train_{name}"]
        assert flag.option_strings[0] == cli.flag_of(name), name
        assert flag.help.replace("%%", "%") == config.help_text(name), name
        assert widget.help.startswith(config.help_text(name)), name
        if p.choices:
            assert tuple(flag.choices) == p.choices, name
            assert widget.options == [train_form.CHOICE_LABELS.get(name, str)(c) for c in p.choices], name
        if TYPES[name] is bool:
            assert widget.label == train_form.LABELS[name] and isinstance(widget.value, bool), name


@pytest.mark.parametrize("name", [n for n, p in PARAMS.items() if p.range and n not in train_form.SLIDERS])
def test_a_number_just_outside_the_range_is_refused_by_both_naming_the_flag_or_the_box(form, name):
    label = train_form.LABELS[name]
    for value in outside(name):
        assert cli_refuses(name, value) == name, (name, value)
        form.session_state[f"train_{name}"] = str(value) if name == "filters" else value
        form.run()
        errors = [e.value for e in form.error]
        assert any(label + ":" in e and ("out of range" in e or "allowed" in e) for e in errors), (name, value, errors)
    form.session_state[f"train_{name}"] = train_form.widget_values(config.PRESETS[train_form.DEFAULT_PRESET])[
        f"train_{name}"]
    form.run()
    assert not form.error, [e.value for e in form.error]


@pytest.mark.parametrize("name", train_form.SLIDERS)
def test_a_slider_reaches_exactly_the_values_the_cli_accepts(form, name):
    slider, p = widgets(form)[f"train_{name}"], PARAMS[name]
    for end in (slider.min, slider.max):
        config.check_field(name, end)  # the slider's ends are allowed...
        assert cli.config_from_args(cli.build_parser().parse_args(["train", cli.flag_of(name), str(end)]))
    for value in outside(name):  # ...and what lies beyond them is refused by the CLI too
        assert not slider.min <= value <= slider.max
        assert cli_refuses(name, value) == name
    assert slider.max == pytest.approx(p.range[1] - (slider.step if p.hi_open else 0))


def test_the_optimizer_tables_and_preset_help_cover_exactly_the_configs_choices():
    """cost.py's state sizes and model.py's Keras classes are per optimizer; the form's words per preset."""
    from cnn_core import config, cost, model
    from cnn_lab_ui import train_form

    assert set(cost.OPTIMIZER_SLOTS) == set(model.KERAS_OPTIMIZERS) == set(config.OPTIMIZERS)
    assert set(train_form.PRESET_PURPOSE) == set(config.PRESETS)
    for name, preset in config.PRESETS.items():  # the network part is read from the preset itself
        assert f"{preset.epochs} epoch" in train_form.preset_help(name)
        assert f"({', '.join(map(str, preset.filters))} filters)" in train_form.preset_help(name)
