"""Training options round-trip from the market job to its pair processes' command lines."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import pytest

from coinlstm.app.commands.train import add_training_arguments, options_from_args, training_argv
from coinlstm.app.jobs.pair_job import TrainOptions
from coinlstm.core.errors import BadInput
from train.config import TrainConfig, add_arguments, at_least, from_args, option, to_argv


def test_horizon_and_with_round_trip_to_the_market_jobs_children():
    options = TrainOptions(horizon=16, with_pairs=("ETHBTC", "BTCUSDT"), target="close")
    parser = argparse.ArgumentParser()
    add_training_arguments(parser)
    argv = training_argv(options)
    assert argv[argv.index("--with") + 1] == "ETHBTC,BTCUSDT"
    assert options_from_args(parser.parse_args(argv)) == options
    # K - 1 more candles for the newest sample's targets, 2 (K - 1) purged samples.
    assert options.required_candles() == TrainOptions(target="close").required_candles() + 45


def test_training_flags_round_trip_to_the_market_jobs_children():
    options = TrainOptions(model="lstm-leaky", dropout=0.3, l1=1e-10, l2=1.5e-4, window=3)
    parser = argparse.ArgumentParser()
    add_training_arguments(parser)
    argv = training_argv(options)
    assert "--dropout" in argv and "--l1" in argv
    assert options_from_args(parser.parse_args(argv)) == options
    assert training_argv(TrainOptions()) == []


def test_warm_start_flags_round_trip_and_cold_is_refit_every_0():
    parser = argparse.ArgumentParser()
    add_training_arguments(parser)
    options = TrainOptions(refit_every=6, warm_epochs=3, warm_samples=100)
    assert options_from_args(parser.parse_args(training_argv(options))) == options
    cold = options_from_args(parser.parse_args(["--cold"]))
    assert cold.refit_every == 0 and training_argv(cold) == ["--refit-every", "0"]
    assert options_from_args(parser.parse_args([])).refit_every == 24


# ------------------------------------------------------------ one place for a training option


@dataclass(frozen=True)
class _WithAnOption(TrainConfig):
    """A training option added in one place: one field, its flag and check in its metadata."""

    test_depth: int = option(3, "a test-only option (default %(default)s)", parse=int,
                             metavar="N", checks=(at_least(1),))


def test_an_option_added_in_one_place_is_a_flag_a_stored_setting_and_in_the_pairs_argv(
        tmp_path):
    from coinlstm.app.commands.train import PairTrainTask

    parser = argparse.ArgumentParser()
    add_arguments(parser, _WithAnOption)
    assert "--test-depth N" in parser.format_help()
    parsed = from_args(parser.parse_args(["--test-depth", "7", "--units", "8"]), _WithAnOption)
    assert parsed == _WithAnOption(test_depth=7, units=8)
    assert parsed.stored("jax")["test_depth"] == 7 and parsed.stored("jax")["backend"] == "jax"
    argv = PairTrainTask(1, "ADAETH", parsed, "run-1").argv(tmp_path / "result.json")
    assert argv[argv.index("--test-depth") + 1] == "7"
    assert from_args(parser.parse_args(to_argv(parsed)), _WithAnOption) == parsed
    assert to_argv(_WithAnOption()) == []  # its default, like every default, is left out
    with pytest.raises(BadInput, match="^--test-depth must be at least 1, got 0$"):
        _WithAnOption(test_depth=0).check()
    assert _WithAnOption.from_dict(parsed.to_dict()) == parsed


def test_layers_and_regularisers_round_trip_and_are_checked():
    options = TrainOptions(layers=3, bias_l1=0.01, bias_l2=0.001, recurrent_l2=1e-4,
                           activity_l1=1e-5)
    parser = argparse.ArgumentParser()
    add_training_arguments(parser)
    argv = training_argv(options)
    assert argv[argv.index("--layers") + 1] == "3" and "--bias-l1" in argv
    assert options_from_args(parser.parse_args(argv)) == options
    stored = options.stored("jax")
    assert (stored["layers"], stored["bias_l1"], stored["recurrent_l2"]) == (3, 0.01, 1e-4)
    # The compiled steps' cache key hashes every option the graph depends on.
    network = options.network_settings()
    assert {"layers", "units", "l1", "bias_l1", "recurrent_l2", "activity_l1"} <= set(network)
    assert "epochs" not in network and "seed" not in network
    for bad, words in (({"layers": 0}, "--layers must be between 1 and 4, got 0"),
                       ({"layers": 5}, "--layers must be between 1 and 4, got 5"),
                       ({"bias_l1": -0.1}, "--bias-l1 must be a finite number, 0 or more"),
                       ({"activity_l2": float("nan")}, "--activity-l2 must be a finite")):
        with pytest.raises(BadInput, match=words):
            TrainOptions(**bad).check()


def test_a_warm_fine_tune_is_capped_by_epochs():
    assert TrainOptions().fine_tune_epochs == 5
    assert TrainOptions(epochs=2).fine_tune_epochs == 2
    assert TrainOptions(epochs=2, warm_epochs=1).fine_tune_epochs == 1


@pytest.mark.parametrize("value", ["0", "5"])
def test_bad_layers_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, value):
    from coinlstm.app.cli import main

    database = tmp_path / "coinlstm.sqlite"
    code = main(["train", "-id", "1", "-symbol", "ADAETH", "--db", f"sqlite:///{database}",
                 "--artifacts", str(tmp_path / "art"), "--layers", value])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.strip().splitlines() == [
        f"coinlstm train: error: --layers must be between 1 and 4, got {value}"]
    assert not database.exists() and not (tmp_path / "art").exists()


def test_a_model_saved_before_an_option_existed_compares_as_its_default():
    from train.warmstart import settings_change

    current = TrainOptions().stored("jax")
    saved = {key: value for key, value in current.items()
             if key not in ("layers", "bias_l1", "activity_l2")}
    assert settings_change(saved, current) is None
    assert settings_change(saved, TrainOptions(layers=3).stored("jax")) == "layers 2 -> 3"
