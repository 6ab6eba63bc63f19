"""Training options round-trip from the market job to its pair processes' command lines."""

from __future__ import annotations

import argparse

from coinlstm.app.pair_job import TrainOptions
from coinlstm.app.train_command import add_training_arguments, options_from_args, training_argv


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
