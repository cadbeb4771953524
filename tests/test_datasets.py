"""The dataset registry is the one home of the datasets: everything that offers a choice reads it."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from cnn_core import cli, config, data, datasets

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def choices(parser, command: str, flag: str):
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return tuple(next(a for a in sub._actions if flag in a.option_strings).choices)


def test_every_registered_dataset_is_a_choice_in_the_config_and_the_cli():
    parser = cli.build_parser()
    assert config.DATASETS == datasets.NAMES
    assert choices(parser, "train", "--dataset") == datasets.NAMES
    assert choices(parser, "evaluate", "--dataset") == datasets.NAMES
    for d in datasets.REGISTRY.values():
        assert len(d.class_names) == config.NUM_CLASSES and data.CLASS_NAMES[d.name] == list(d.class_names)
        config.TrainConfig(dataset=d.name).validate()


def test_every_registered_dataset_is_offered_by_the_train_form():
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    assert tuple(at.selectbox(key="train_dataset").options) == tuple(d.label for d in datasets.REGISTRY.values())
