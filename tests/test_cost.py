"""The cost of a network on paper (cnn_core.cost) against what Keras really builds, and the memory budget."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnn_core import cost
from cnn_core.config import LIMITS, PRESETS, ConfigError, TrainConfig, preset

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = TrainConfig(filters=(512,), pooling=False, kernel_size=1, dense_units=4096, limit=100, epochs=1)

CONFIGS = [
    preset("seed"),
    preset("strong"),  # two convs per block, dropout
    preset("strong").replace(batch_norm=True),
    TrainConfig(filters=(8,), dense_units=0),
    TrainConfig(filters=(4, 8, 8), kernel_size=2, batch_norm=True, dropout=0.2, activation="elu"),
    TrainConfig(filters=(4, 4, 8, 8), kernel_size=3, pooling=False, dense_units=32),
    TrainConfig(filters=(6, 12), convs_per_block=3, kernel_size=2, pooling=False, batch_norm=True, dense_units=0,
                dropout=0.5),
    TrainConfig(filters=(16,), kernel_size=9, dense_units=100, optimizer="sgd"),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.filters}-k{c.kernel_size}-bn{int(c.batch_norm)}"
                                                           f"-pool{int(c.pooling)}-x{c.convs_per_block}")
def test_layers_and_parameters_match_what_keras_builds(config):
    from cnn_core.model import build_model

    model = build_model(config)
    net = cost.layers(config)
    built = [(layer.name, tuple(layer.output.shape[1:]), layer.count_params()) for layer in model.layers]
    assert [(layer.name, layer.shape, layer.params) for layer in net[1:]] == built  # net[0] is the input
    assert cost.estimate(config).params == model.count_params()


def test_the_layer_table_shows_where_a_network_shrinks_below_1x1():
    config = TrainConfig(filters=(8, 8, 8), kernel_size=5)  # 28 -> 24 -> 12 -> 8 -> 4 -> 0
    net = cost.layers(config)
    assert [layer.shape[0] for layer in net] == [28, 24, 12, 8, 4, 0]
    assert net[-1].too_small and net[-1].name == "conv3" and not cost.estimate(config).fits
    assert "stride 1, valid padding" in net[1].does and "stride 2" in net[2].does


def test_presets_fit_the_default_budget_with_room(monkeypatch):
    monkeypatch.delenv(cost.MEMORY_ENV, raising=False)
    for name, config in PRESETS.items():
        assert cost.estimate(config).total_bytes < cost.memory_budget() / 4, name
        config.validate()


def test_a_network_that_would_exhaust_memory_is_refused_on_paper(monkeypatch):
    monkeypatch.delenv(cost.MEMORY_ENV, raising=False)
    started = time.perf_counter()
    with pytest.raises(ConfigError) as err:
        HOSTILE.validate(60_000)
    assert time.perf_counter() - started < 0.5
    message = str(err.value)
    assert err.value.parameter == "dense_units"
    needed = cost.estimate(HOSTILE).total_bytes / cost.MB
    assert needed > 20_000  # 1.64 G parameters: over 6 GB for the weights alone, 4 copies with Adam
    assert "1,644,213,258 parameters" in message and f"{needed:,.0f} MB" in message and "1,536 MB" in message
    assert "fewer dense units" in message and cost.MEMORY_ENV in message


def test_a_huge_batch_is_refused_with_the_batch_size_that_fits(monkeypatch):
    monkeypatch.delenv(cost.MEMORY_ENV, raising=False)
    config = preset("seed").replace(batch_size=LIMITS["batch_size"][1])
    with pytest.raises(ConfigError) as err:
        config.validate()
    assert err.value.parameter == "batch_size"
    fits = int(str(err.value).split("batch size of at most ")[1].split(",")[0])
    config.replace(batch_size=fits).validate()  # the advice given works
    with pytest.raises(ConfigError):
        config.replace(batch_size=fits + 1).validate()


def test_a_teacher_sets_the_budget(monkeypatch):
    monkeypatch.setenv(cost.MEMORY_ENV, "10")
    with pytest.raises(ConfigError, match="a job may use 10 MB"):
        preset("seed").validate()
    monkeypatch.setenv(cost.MEMORY_ENV, "4096")
    preset("seed").replace(batch_size=8192).validate()
    monkeypatch.setenv(cost.MEMORY_ENV, "lots")
    with pytest.raises(ConfigError, match="'lots' must be a number of megabytes"):
        preset("seed").validate()


def test_dropout_and_seed_have_their_limits():
    assert LIMITS["dropout"] == (0.0, 1.0) and LIMITS["seed"] == (0, 2**31 - 1)
    with pytest.raises(ConfigError, match="seed"):
        TrainConfig(seed=2**31).validate()


def test_the_cost_is_worked_out_without_tensorflow():
    code = ("import sys\nfrom cnn_core import cost\nfrom cnn_core.config import preset\n"
            "cost.estimate(preset('strong')); preset('seed').validate(60000)\n"
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_training_time_estimate_counts_steps_and_memory_not_only_flops():
    # The reference machine's figures (cost.TIME_*, bench/train_time.py): the presets' full runs were
    # measured there at seed 55.9 s, quick 18.5 s, strong 244.7 s; the estimate is within 15% of each.
    for name, measured in (("seed", 55.9), ("quick", 18.5), ("strong", 244.7)):
        assert cost.train_seconds(preset(name), 60_000) == pytest.approx(measured, rel=0.15), name
    # Fewer digits, less time; bigger batches, fewer steps and less time for the same digits.
    seed = preset("seed")
    assert cost.train_seconds(seed.replace(limit=6000), 60_000) < cost.train_seconds(seed, 60_000) / 5
    assert cost.train_seconds(seed.replace(batch_size=256), 60_000) < cost.train_seconds(seed, 60_000)
    # The machine's speed scales it.
    assert cost.train_seconds(seed, 60_000, speed=2.0) == pytest.approx(2 * cost.train_seconds(seed, 60_000))


def test_training_time_is_calibrated_from_saved_runs(train_runs):
    folder, names = train_runs(TrainConfig(filters=(4,), dense_units=8, limit=300, epochs=1))
    speed, n = cost.speed_factor(folder)
    assert n == 1 and speed > 0 and speed != 1.0
    from cnn_core import runs

    info = runs.read_info(folder / names[0])
    # Re-estimating that very run at the measured speed gives back its measured time.
    assert cost.train_seconds(info.config, 300, speed) == pytest.approx(info.train_seconds, rel=0.1)
    assert cost.speed_factor(folder / "none") == (1.0, 0)


def test_the_space_a_run_needs_covers_what_a_saved_run_takes(train_runs):
    """Weights, the optimizer's state (Adam: two numbers per weight, for continuing), predictions, history."""
    config = TrainConfig(filters=(4,), dense_units=512, limit=300, epochs=1)  # 350k parameters: the weights dominate
    folder, (name,) = train_runs(config)
    on_disk = sum(p.stat().st_size for p in (folder / name).rglob("*") if p.is_file())
    assert on_disk <= cost.run_bytes(config, 300) <= 2 * on_disk


def test_free_space_check_names_the_folder_and_the_space_needed(tmp_path):
    from cnn_core.runs import RunError

    config = preset("seed")
    needed = cost.check_free_space(tmp_path / "runs" / "not-yet", config)  # a folder not made yet: its parent's disk
    assert needed == cost.run_bytes(config) and needed > cost.estimate(config).params * 4
    _, free = cost.free_bytes(tmp_path)
    with pytest.raises(RunError) as err:  # the real disk's free space against more than it has
        cost.require_space(tmp_path, free + 2**30, "this run")
    message = str(err.value)
    assert message.startswith(f"not enough disk space in {tmp_path}: ") and "this run needs about" in message
    assert cost.size_text(free + 2**30) in message
