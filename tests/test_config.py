import pytest

from cnn_core.config import PRESETS, ConfigError, TrainConfig, parse_filters, preset


def test_presets_are_valid():
    for name, cfg in PRESETS.items():
        assert cfg.validate(60_000) is cfg, name


def test_seed_preset_is_the_tutorial_network():
    cfg = preset("seed")
    network = (cfg.filters, cfg.kernel_size, cfg.activation, cfg.pooling, cfg.dense_units)
    assert network == ((32, 64), 3, "relu", True, 64)
    assert (cfg.optimizer, cfg.batch_size, cfg.epochs, cfg.validation_split) == ("adam", 64, 5, 0.1)
    assert not cfg.batch_norm and not cfg.augment and cfg.dropout == 0


@pytest.mark.parametrize("changes, parameter, words", [
    ({"filters": (32, 64, 128, 256)}, "filters", "below 1x1"),
    ({"kernel_size": 9, "filters": (8, 8, 8)}, "filters", "below 1x1"),
    ({"filters": ()}, "filters", "at least one"),
    ({"filters": (0, 64)}, "filters", "allowed 1 to 512"),
    ({"filters": (-3,)}, "filters", "allowed 1 to 512"),
    ({"kernel_size": 0}, "kernel_size", "allowed 1 to 9"),
    ({"dense_units": -1}, "dense_units", "allowed 0 to 4096"),
    ({"dropout": 1.0}, "dropout", "[0, 1)"),
    ({"dropout": -0.1}, "dropout", "[0, 1)"),
    ({"learning_rate": 0.0}, "learning_rate", "(0, 1]"),
    ({"learning_rate": -1e-3}, "learning_rate", "(0, 1]"),
    ({"learning_rate": float("nan")}, "learning_rate", "must be a number"),
    ({"batch_size": 0}, "batch_size", "allowed 1 to 8192"),
    ({"epochs": 0}, "epochs", "allowed 1 to 200"),
    ({"validation_split": 0.9}, "validation_split", "[0, 0.5)"),
    ({"optimizer": "adamw2"}, "optimizer", "adam, sgd, rmsprop"),
    ({"lr_schedule": "step"}, "lr_schedule", "constant, cosine"),
    ({"activation": "swishy"}, "activation", "relu"),
    ({"dataset": "cifar"}, "dataset", "mnist, fashion_mnist"),
    ({"limit": 5}, "limit", "allowed 10"),
    ({"epochs": 2.5}, "epochs", "whole number"),
    ({"augment": "yes"}, "augment", "true or false"),
])
def test_invalid_values_name_the_parameter_and_range(changes, parameter, words):
    with pytest.raises(ConfigError) as err:
        TrainConfig(**changes).validate()
    assert err.value.parameter == parameter
    assert str(err.value).startswith(parameter + ":")
    assert words in str(err.value)
    assert isinstance(err.value, ValueError)


def test_limit_larger_than_dataset_is_refused():
    with pytest.raises(ConfigError, match="limit: 70000 digits asked, the dataset has 60000"):
        TrainConfig(limit=70_000).validate(60_000)


def test_validation_split_that_leaves_no_validation_digit():
    with pytest.raises(ConfigError, match="validation_split"):
        TrainConfig(limit=10, validation_split=0.05).validate(60_000)


def test_feature_size_follows_convs_and_pools():
    assert TrainConfig().feature_size() == 5  # 28 -> 26 -> 13 -> 11 -> 5
    assert TrainConfig(pooling=False).feature_size() == 24
    assert PRESETS["strong"].feature_size() == 4


def test_round_trip_and_unknown_keys():
    cfg = PRESETS["strong"]
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="lerning_rate: unknown parameter"):
        TrainConfig.from_dict({"lerning_rate": 0.1})


def test_parse_filters():
    assert parse_filters("32, 64") == (32, 64)
    assert parse_filters([16]) == (16,)
    with pytest.raises(ConfigError, match="filters"):
        parse_filters("32,abc")


def test_unknown_preset():
    with pytest.raises(ConfigError, match="preset: 'huge' is not one of seed, quick, strong"):
        preset("huge")
