"""Datasets without a database: windows and splits never span a gap, scalers read training
rows only (and equal sklearn's), window-relative inputs.

The candles are the SYNTHETIC set of tests/synthetic.py (its gaps sit where the real ADAETH
file has them), written by the ``synthetic_candles`` fixture.
"""

from __future__ import annotations

import numpy as np

from coinlstm.app.demo import synthetic_klines
from tests.helpers import HOUR_MS, kline_features, read_csv_rows, valid_samples
from tests.synthetic import PAIRS
from train.dataset import CLOSE_INDEX, build_dataset, sample_targets

SYMBOL = PAIRS[0]
TEST_SIZE = 48


def _candles(folder, limit: int | None = None) -> tuple[list[int], np.ndarray]:
    return kline_features(read_csv_rows(folder / f"{SYMBOL}.csv", limit=limit))


def test_scaler_equals_sklearns_minmax_scaler(synthetic_candles):
    """The numpy fit gives sklearn's MinMaxScaler numbers, constant columns included."""
    from sklearn.preprocessing import MinMaxScaler

    from train.formulations.level import Level

    _, features = _candles(synthetic_candles, limit=3000)
    targets = np.arange(1, 2000)
    ours = Level.fit(features, targets, window=1)
    theirs = MinMaxScaler(feature_range=(0, 1)).fit(features[0:2000])
    assert np.array_equal(ours.data_min, theirs.data_min_)
    assert np.array_equal(ours.data_max, theirs.data_max_)
    np.testing.assert_allclose(ours.scale, theirs.scale_, rtol=1e-12)
    np.testing.assert_allclose(ours.min, theirs.min_, rtol=1e-12, atol=1e-300)
    sample = features[2000:2100]
    np.testing.assert_allclose(ours.transform(sample), theirs.transform(sample), rtol=1e-9)
    assert ours.scale[-1] == theirs.scale_[-1] == 1.0  # "ignore" is constant 0: scale 1


def test_windows_never_span_a_gap(synthetic_candles):
    """Every sample of the series is window + 1 consecutive hours; none is lost besides."""
    open_times = np.array(_candles(synthetic_candles)[0])
    for window in (1, 24):
        targets = sample_targets(open_times, window, HOUR_MS)
        spans = open_times[targets] - open_times[targets - window]
        assert np.all(spans == window * HOUR_MS)
        all_windows = np.arange(window, len(open_times))
        spanning = all_windows[open_times[all_windows] - open_times[all_windows - window]
                               != window * HOUR_MS]
        assert len(targets) + len(spanning) == len(open_times) - window
        # 5 gaps: each spoils exactly `window` windows (the gaps are far apart).
        assert len(spanning) == 5 * window
    # A synthetic gap: hours 0-9, then 12-19; window 3.
    times = np.array([*range(10), *range(12, 20)]) * HOUR_MS
    assert sample_targets(times, 3, HOUR_MS).tolist() == [3, 4, 5, 6, 7, 8, 9, 13, 14, 15, 16, 17]


def test_a_sample_never_spans_a_gap_in_its_targets(synthetic_candles):
    """Gaps spoil every sample whose window, lead or K targets straddle them, no more;
    purged samples keep every slice's targets out of the next slice."""
    rows = 1200
    open_times, values = _candles(synthetic_candles, limit=rows)
    times = np.array(open_times)
    k, window = 16, 3
    dataset = build_dataset(open_times, values.tolist(), window, TEST_SIZE, 240, HOUR_MS,
                            "return", horizon=k)
    reach = window + 1
    split = dataset.split
    samples = np.concatenate([split.train, split.val, split.test])
    assert np.all(times[samples + k - 1] - times[samples - reach] == (reach + k - 1) * HOUR_MS)
    candidates = np.arange(reach, rows - k + 1)
    valid = sample_targets(times, reach, HOUR_MS, k)
    assert valid.tolist() == valid_samples(times, reach, k).tolist()
    # Two gaps, far apart: each spoils exactly reach + K - 1 samples.
    assert len(candidates) - len(valid) == 2 * (reach + k - 1)
    assert len(split.test) == TEST_SIZE
    assert split.train[-1] + k - 1 < split.val[0] and split.val[-1] + k - 1 < split.test[0]
    assert len(samples) == len(valid) - 2 * (k - 1)
    # A synthetic gap: hours 0-9, then 12-29; window 2, 3 targets.
    synthetic = np.array([*range(10), *range(12, 30)]) * HOUR_MS
    assert sample_targets(synthetic, 2, HOUR_MS, 3).tolist() == [*range(2, 8), *range(12, 26)]


def test_windows_are_divided_by_their_first_row(synthetic_candles):
    times, values = _candles(synthetic_candles, limit=800)
    dataset = build_dataset(times, values, 4, 48, 100, HOUR_MS, "window")
    targets = dataset.split.test[:5]
    inputs = dataset.inputs(targets)
    raw = values[targets[:, None] + np.arange(-4, 0)[None, :]]
    first = raw[:, :1, :]
    expected = np.where(first != 0, raw / np.where(first != 0, first, 1) - 1, 0)
    np.testing.assert_allclose(inputs, expected, rtol=1e-6, atol=1e-7)
    assert np.all(inputs[:, 0, :] == 0)  # every window starts at 0
    # Targets are the close over the window's first close, and turn back into the close.
    closes = values[:, CLOSE_INDEX]
    model_targets = dataset.scaled_targets(targets)[:, 0]  # K = 1
    np.testing.assert_allclose(model_targets, closes[targets] / closes[targets - 4] - 1,
                               rtol=1e-5)
    back = dataset.formulation.to_price(model_targets[:, None], dataset.price_bases(targets))[:, 0]
    np.testing.assert_allclose(back, closes[targets], rtol=1e-6)
    # A later (test) candle changes nothing about earlier samples: nothing is fitted.
    spiked = values.copy()
    spiked[-1, :5] *= 10
    again = build_dataset(times, spiked, 4, 48, 100, HOUR_MS, "window")
    np.testing.assert_array_equal(again.inputs(dataset.split.train),
                                  dataset.inputs(dataset.split.train))


def test_return_scaler_reads_training_rows_only():
    times, values = kline_features(
        [line.split(",") for line in synthetic_klines(1200, seed=2, ar=0.0, start_price=1.0)])
    base = build_dataset(times, values, 1, 48, 200, HOUR_MS, target="return")
    spiked = values.copy()
    spiked[-10, 3] *= 5.0  # a test candle
    spiked[-100, 3] *= 5.0  # a validation candle
    again = build_dataset(times, spiked, 1, 48, 200, HOUR_MS, target="return")
    assert again.formulation.to_dict() == base.formulation.to_dict()
    spiked[100, 3] *= 5.0  # a training candle
    changed = build_dataset(times, spiked, 1, 48, 200, HOUR_MS, target="return")
    assert changed.formulation.to_dict() != base.formulation.to_dict()


def test_calibration_slice_sits_between_validation_and_test():
    """The calibration slice is the newest samples before the test slice, purged from both
    neighbours at K > 1; early stopping's validation slice lies before it. A series too short
    for one keeps the old split and calibrates on the validation slice."""
    from train.dataset import MIN_TRAIN_SAMPLES, MIN_VAL_SAMPLES, split_samples

    targets = np.arange(10, 3010)
    for horizon in (1, 4):
        split = split_samples(targets, 48, 200, horizon, calibration_size=240)
        assert split.separate_calibration and len(split.calibration) == 240
        assert len(split.val) == 200 and len(split.test) == 48
        purge = horizon - 1
        assert split.train[-1] + purge < split.val[0]
        assert split.val[-1] + purge < split.calibration[0]
        assert split.calibration[-1] + purge < split.test[0]
        assert split.val[-1] == split.calibration[0] - 1 - purge  # only the purged between
        assert split.calibration[-1] == split.test[0] - 1 - purge
        assert np.array_equal(split.train, targets[:len(split.train)])
    old = split_samples(targets, 48, 200)
    assert not old.separate_calibration and old.calibration is old.val
    shared = split_samples(targets[:48 + 240 + MIN_TRAIN_SAMPLES + MIN_VAL_SAMPLES - 1], 48,
                           200, calibration_size=240)
    assert not shared.separate_calibration  # one sample short of a slice of its own
    own = split_samples(targets[:48 + 240 + MIN_TRAIN_SAMPLES + MIN_VAL_SAMPLES], 48, 200,
                        calibration_size=240)
    assert own.separate_calibration and len(own.val) == MIN_VAL_SAMPLES
    assert len(own.train) == MIN_TRAIN_SAMPLES
