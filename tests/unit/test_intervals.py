"""Prediction intervals (train/prediction_bands.py): coverage, widening, calibration only on
validation, and the band's shape rules.

Real parts: synthetic return series, labelled so (GARCH(1,1) and i.i.d. Student t, generated
here with fixed seeds), through the very functions the forecaster calls. Every figure a test
asserts is one a wrong method misses: static quantiles fail the shock test, a band fitted on
test rows fails the leak test, an uncorrected quantile on a small slice fails the coverage.
"""

from __future__ import annotations

import numpy as np
import pytest

from coinlstm.core.columns import band_columns, band_score_columns, level_label
from coinlstm.core.errors import BadInput
from train.prediction_bands import (
    Band,
    calibrate,
    ewma,
    interval_skill,
    naive_bands,
    parse_levels,
    riskmetrics_scales,
    score_band,
    volatility_scales,
)

LEVELS = (0.8, 0.95)
VALIDATION = 480


def garch_returns(n: int, seed: int, omega: float = 2e-6, alpha: float = 0.08,
                  beta: float = 0.9, shock_at: int | None = None, shock: float = 1.0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic GARCH(1,1) log returns with Student-t(5) shocks, and their true sigmas; at
    ``shock_at`` the conditional variance is multiplied by ``shock`` (then decays)."""
    rng = np.random.default_rng(seed)
    shocks = rng.standard_t(5, n) / np.sqrt(5 / 3)
    variance = omega / (1 - alpha - beta)
    returns, sigmas = np.empty(n), np.empty(n)
    for i in range(n):
        if i == shock_at:
            variance *= shock
        sigmas[i] = np.sqrt(variance)
        returns[i] = sigmas[i] * shocks[i]
        variance = omega + alpha * returns[i] ** 2 + beta * variance
    return returns, sigmas


def test_the_ewma_is_the_recursion_it_states():
    """The blocked sums are the one-value-at-a-time recursion of the docstring, at every
    length around a block's edges and for each decay the bands use and an extreme one."""
    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 127, 128, 129, 130, 257, 2_400, 8_761):
        values = np.abs(rng.standard_normal(n)) * 0.01
        for decay in (0.5, 0.9, 0.97, 0.99, 0.999):
            expected = np.full(n, np.nan)
            total = weight = 0.0
            for i in range(1, n):
                total = decay * total + values[i]
                weight = decay * weight + 1.0
                expected[i] = total / weight
            assert np.allclose(ewma(values, decay), expected, rtol=1e-12, atol=0,
                               equal_nan=True), (n, decay)


def closes_from(returns: np.ndarray, start: float = 0.002) -> np.ndarray:
    return start * np.exp(np.concatenate([[0.0], np.cumsum(returns)]))


def naive_calibration(closes: np.ndarray, base_rows: np.ndarray, levels=LEVELS):
    """Calibrate around the naive forecast (the last close) on ``base_rows`` only."""
    scales = volatility_scales(closes)
    return calibrate(closes[base_rows + 1], closes[base_rows], closes[base_rows],
                     scales[base_rows], levels), scales


def test_garch_bands_cover_and_widen_after_a_shock():
    """On GARCH(1,1) returns the 80 % and 95 % bands of the 4500 hours after the validation
    slice cover within 3 and 2 points. After a volatility shock (conditional variance x 25
    at hour 3500, then GARCH decay) the 80 % band is more than twice as wide as in the calm
    hours before and still covers over half of the 48 shocked hours, where the static band
    (quantiles of the last 480 returns) covers under a third."""
    returns, _ = garch_returns(6000, seed=11, shock_at=3500, shock=25.0)
    closes = closes_from(returns)
    validation = np.arange(1000, 1000 + VALIDATION)
    calibration, scales = naive_calibration(closes, validation)
    test = np.arange(1000 + VALIDATION, len(closes) - 1)
    bands = calibration.bands(closes[test], closes[test], scales[test])
    for band, tolerance in zip(bands, (0.03, 0.02), strict=True):
        score = score_band(closes[test + 1], band, closes[test])
        assert abs(score.coverage - band.level) < tolerance, score

    def rows_of(rows: np.ndarray) -> np.ndarray:
        return rows - test[0]

    calm, shocked = np.arange(3450, 3500), np.arange(3500, 3548)
    width = (bands[0].upper - bands[0].lower) / closes[test]
    assert np.median(width[rows_of(shocked[5:])]) > 2 * np.median(width[rows_of(calm)])
    ours = Band(0.8, bands[0].lower[rows_of(shocked)], bands[0].upper[rows_of(shocked)])
    assert score_band(closes[shocked + 1], ours, closes[shocked]).coverage > 0.55
    static = naive_bands(closes, shocked, (0.8,))[0]
    assert score_band(closes[shocked + 1], static, closes[shocked]).coverage < 0.33


def test_iid_returns_cover_nominally():
    """On i.i.d. Student-t returns each level covers within 2 points over 20 calibrations
    of 480 hours, each scored on the 480 hours after it."""
    rng = np.random.default_rng(5)
    coverage = {level: [] for level in LEVELS}
    for _ in range(20):
        closes = closes_from(0.01 * rng.standard_t(4, 2000))
        validation = np.arange(800, 800 + VALIDATION)
        calibration, scales = naive_calibration(closes, validation)
        test = np.arange(1280, 1760)
        for band in calibration.bands(closes[test], closes[test], scales[test]):
            coverage[band.level].append(score_band(closes[test + 1], band,
                                                   closes[test]).coverage)
    for level, values in coverage.items():
        assert abs(np.mean(values) - level) < 0.02, (level, np.mean(values))


def test_each_step_of_a_k_step_forecast_has_its_own_wider_band():
    """With --horizon 3 the naive forecast's bands widen with the step (about sqrt(h) on a
    random walk) and each step covers within 3 points on the hours after calibration."""
    returns, _ = garch_returns(5000, seed=7)
    closes = closes_from(returns)
    scales = volatility_scales(closes)
    horizon = 3

    def k_step(bases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        actual = closes[bases[:, None] + np.arange(1, horizon + 1)[None, :]]
        return actual, np.repeat(closes[bases][:, None], horizon, axis=1)

    validation = np.arange(1000, 1000 + VALIDATION)
    calibration = calibrate(*k_step(validation), closes[validation], scales[validation], LEVELS)
    assert np.all(np.diff(calibration.upper, axis=1) > 0)
    assert np.all(np.diff(calibration.lower, axis=1) < 0)
    ratio = calibration.upper[:, 2] / calibration.upper[:, 0]
    assert np.all((1.3 < ratio) & (ratio < 2.2)), ratio  # sqrt(3) = 1.73
    test = np.arange(1000 + VALIDATION + horizon, len(closes) - horizon)
    actual, points = k_step(test)
    for band in calibration.bands(points, closes[test], scales[test]):
        assert band.lower.shape == (len(test), horizon)
        inside = (band.lower <= actual) & (actual <= band.upper)
        assert np.all(np.abs(inside.mean(axis=0) - band.level) < 0.03), inside.mean(axis=0)


def test_test_rows_never_change_the_calibration_validation_rows_do():
    """Rewriting every candle after the validation slice leaves the volatility scales of the
    validation rows and the calibration identical; changing one validation close does not."""
    returns, _ = garch_returns(2000, seed=3)
    closes = closes_from(returns)
    validation = np.arange(1000, 1000 + VALIDATION)
    last = validation[-1] + 1  # the newest candle calibration reads (the last actual)
    calibration, scales = naive_calibration(closes, validation)

    rewritten = closes.copy()
    rewritten[last + 1:] *= np.exp(np.random.default_rng(9).normal(0, 0.2, len(closes) - last - 1))
    again, rescaled = naive_calibration(rewritten, validation)
    np.testing.assert_array_equal(rescaled[:last + 1], scales[:last + 1])
    np.testing.assert_array_equal(again.lower, calibration.lower)
    np.testing.assert_array_equal(again.upper, calibration.upper)

    moved = closes.copy()
    moved[validation[len(validation) // 2]:] *= 1.05  # one hour jumps 5 %: a validation residual
    changed, _ = naive_calibration(moved, validation)
    assert not np.array_equal(changed.upper, calibration.upper) \
        or not np.array_equal(changed.lower, calibration.lower)


@pytest.mark.parametrize("horizon", [1, 4])
def test_band_contains_the_forecast_is_ordered_and_positive(horizon):
    """Whatever the forecasts (biased, tiny, even <= 0 from a level model) and however
    one-sided the residuals, lower < forecast < upper (a forecast floored at a positive
    share of its base close when it is not positive) and lower > 0."""
    rng = np.random.default_rng(1)
    n = 300
    bases = 0.002 * np.exp(rng.normal(0, 0.5, n))
    actual = bases[:, None] * np.exp(np.cumsum(rng.normal(0, 0.01, (n, horizon)), axis=1))
    biased = actual * 1.5  # every forecast too high: all residuals negative
    calibration = calibrate(actual, biased, bases, np.full(n, 0.01), LEVELS)
    assert np.all(calibration.lower < 0) and np.all(calibration.upper > 0)
    forecasts = bases[:, None] * np.exp(rng.normal(0, 0.05, (n, horizon)))
    forecasts[:5] = 1e-300
    forecasts[5:10] = -3.0
    scales = np.concatenate([np.full(50, 1e-12), rng.uniform(1e-4, 0.2, n - 50)])
    scales = np.maximum(scales, volatility_scales(np.ones(3)).min())  # the module's floor
    points = np.maximum(forecasts, bases[:, None] * 1e-6)
    for band in calibration.bands(forecasts, bases, scales):
        assert band.lower.shape == forecasts.shape
        assert np.all(band.lower > 0)
        assert np.all(band.lower < points) and np.all(points < band.upper)
    flat = np.full(600, 0.0005)  # a pair whose price never moved
    for band in naive_bands(flat, np.arange(500, 599), LEVELS, horizon=horizon) \
            + naive_bands(flat, np.arange(500, 599), LEVELS, riskmetrics_scales(flat), horizon):
        assert np.all(0 < band.lower) and np.all(band.lower < 0.0005)
        assert np.all(0.0005 < band.upper)


def test_naive_bands_read_only_earlier_returns():
    """A static band at row r is the quantiles of the 480 returns up to r: changing a later
    close changes nothing, changing one inside the window does."""
    returns, _ = garch_returns(1200, seed=4)
    closes = closes_from(returns)
    rows = np.array([700, 900])
    band = naive_bands(closes, rows, (0.8,))[0]
    expected = np.quantile(np.diff(np.log(closes[900 - 480:901])), [0.1, 0.9])
    np.testing.assert_allclose(np.log(band.upper[1, 0] / closes[900]), expected[1])
    np.testing.assert_allclose(np.log(band.lower[1, 0] / closes[900]), expected[0])
    later = closes.copy()
    later[901:] *= 3.0
    np.testing.assert_array_equal(naive_bands(later, rows, (0.8,))[0].upper, band.upper)
    inside = closes.copy()
    inside[850:] *= 1.2
    assert naive_bands(inside, rows, (0.8,))[0].upper[1, 0] != band.upper[1, 0]


def test_score_band_by_hand():
    """Coverage, width and Winkler of three bands worked out by hand."""
    actual = np.array([100.0, 95.0, 112.0])
    band = Band(0.8, np.array([98.0, 98.0, 98.0]), np.array([102.0, 102.0, 102.0]))
    score = score_band(actual, band, np.full(3, 100.0))
    assert score.coverage == pytest.approx(1 / 3)
    assert score.width == pytest.approx(4.0)
    # Winkler: 4, 4 + (2 / 0.2) * 3 = 34, 4 + 10 * 10 = 104 -> mean 47.33 (% of 100)
    assert score.winkler == pytest.approx((4 + 34 + 104) / 3)
    assert interval_skill(score.winkler, 2 * score.winkler) == pytest.approx(0.5)
    assert interval_skill(1.0, 0.0) is None


def test_levels_parse_and_label():
    assert parse_levels("0.95,0.8,0.8") == (0.8, 0.95)
    assert [level_label(v) for v in (0.8, 0.95, 0.975, 0.5)] == ["80", "95", "97_5", "50"]
    assert band_columns(0.8) == ("lower_80", "upper_80")
    assert band_score_columns(0.95) == ("coverage_95", "width_95", "winkler_95")
    for bad in ("0.8,1", "80", "x", "", "0.8,-0.1", "nan"):
        with pytest.raises(BadInput, match="--levels"):
            parse_levels(bad)


def test_plot_shades_the_bands(tmp_path):
    """The pair's PNG with bands differs from the one without in the band's area only: the
    shading is drawn (real matplotlib, Agg)."""
    from matplotlib.image import imread

    from predict import plots

    times = [1_700_000_000_000 + i * 3_600_000 for i in range(48)]
    actual = list(0.002 + 0.00002 * np.sin(np.arange(48)))
    bands = [Band(level, np.array(actual) * (1 - width), np.array(actual) * (1 + width))
             for level, width in ((0.8, 0.004), (0.95, 0.008))]
    for name, shaded in (("plain.png", ()), ("bands.png", bands)):
        plots.draw(tmp_path / name, "ADAETH", times, actual, actual, actual, [1.0, 0.5],
                   [1.1, 0.6], "skill +0.000", bands=shaded)
    plain, banded = imread(tmp_path / "plain.png"), imread(tmp_path / "bands.png")
    assert plain.shape == banded.shape
    changed = np.any(np.abs(plain - banded) > 0.05, axis=2)
    assert 0.01 < changed.mean() < 0.5



def _dataset(times: list[int], values: np.ndarray, horizon: int = 1):
    from train.dataset import build_dataset

    return build_dataset(times, values.tolist(), 1, 48, 480, 3_600_000, "return",
                         horizon=horizon, calibration_size=240)


def _synthetic(candles: int = 2000) -> tuple[list[int], np.ndarray]:
    """Synthetic AR(1) candles (coinlstm.app.demo), as open times and feature rows."""
    from coinlstm.app.demo import synthetic_klines
    from tests.helpers import kline_features

    return kline_features([line.split(",") for line in synthetic_klines(candles, seed=21)])


@pytest.mark.parametrize("horizon", [1, 3])
def test_every_forecaster_carries_bands_around_its_forecast(horizon):
    """naive (conformal bands on its calibration slice), static and ewma (naive bands): per
    level a band around every test forecast and the next K closes, lower < forecast < upper,
    positive; the 95 % band contains the 80 % one."""
    from types import SimpleNamespace

    from train import forecasters

    dataset = _dataset(*_synthetic(), horizon=horizon)
    options = SimpleNamespace(levels=LEVELS)
    for name in ("naive", "static", "ewma"):
        forecast = forecasters.get(name).forecast(dataset, options)
        bands = forecast.bands
        assert bands.method == ("conformal" if name == "naive" else name)
        assert bands.levels == LEVELS
        for band, point in [*((b, forecast.test_predictions) for b in bands.test),
                            *((b, forecast.next_closes[None, :]) for b in bands.next)]:
            assert band.lower.shape == point.shape == band.upper.shape
            assert np.all(0 < band.lower) and np.all(band.lower < point)
            assert np.all(point < band.upper)
        assert np.all(bands.test[1].lower <= bands.test[0].lower)
        assert np.all(bands.test[0].upper <= bands.test[1].upper)
    naive = forecasters.get("naive").forecast(dataset, options).bands
    assert naive.calibration.samples == 240 == len(dataset.split.calibration)


def test_a_forecaster_is_built_with_its_options_fitted_then_asked(tmp_path):
    """The registry builds a forecaster with its options and its own parameters; fit returns
    it, predict is what the registry's one-call forecast gives; a stateless one saves
    nothing (one line)."""
    from types import SimpleNamespace

    from coinlstm.core.errors import CoinlstmError
    from train import forecasters

    dataset = _dataset(*_synthetic())
    options = SimpleNamespace(levels=LEVELS)
    ewma = forecasters.get("ewma").build(options)
    assert (ewma.name, ewma.config, ewma.filtered) == ("ewma", options, True)
    assert ewma.fit(dataset) is ewma
    forecast, same = ewma.predict(dataset), forecasters.get("ewma").forecast(dataset, options)
    np.testing.assert_array_equal(forecast.test_predictions, same.test_predictions)
    for band, other in zip(forecast.bands.test, same.bands.test, strict=True):
        np.testing.assert_array_equal(band.lower, other.lower)
        np.testing.assert_array_equal(band.upper, other.upper)
    with pytest.raises(CoinlstmError, match="^the ewma forecaster keeps no state to save$"):
        ewma.save(tmp_path / "ewma.weights.h5")
    assert list(tmp_path.iterdir()) == []


def test_forecast_bands_never_read_test_candles():
    """The naive forecaster's conformal bounds are the same whatever the test candles hold,
    and move when one calibration candle moves: calibration reads its own slice only."""
    from types import SimpleNamespace

    from train import forecasters

    times, values = _synthetic()
    options = SimpleNamespace(levels=LEVELS)
    naive = forecasters.get("naive")

    def bounds(edited: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        calibration = naive.forecast(_dataset(times, edited), options).bands.calibration
        return calibration.lower, calibration.upper

    base = bounds(values)
    dataset = _dataset(times, values)
    test_rows = np.arange(dataset.split.test[0], len(values))
    wild = values.copy()
    wild[test_rows, :4] *= np.exp(np.random.default_rng(2).normal(0, 0.3, len(test_rows)))[:, None]
    for got, expected in zip(bounds(wild), base, strict=True):
        np.testing.assert_array_equal(got, expected)
    moved = values.copy()
    row = int(dataset.split.calibration[120])
    moved[row:, :4] *= 1.08  # one calibration hour jumps 8 %
    assert any(not np.array_equal(got, expected)
               for got, expected in zip(bounds(moved), base, strict=True))


def test_interval_skill_and_band_summary_by_hand():
    """Interval skill per case against static on the same (pair, fold); the medians, the
    share beating static and the worst pair's median coverage."""
    from train.backtest_scores import add_interval_skill, summarise_bands

    def case(pair, model, fold, coverage, winkler):
        return {"pair": pair, "model": model, "fold": fold, "coverage_80": coverage,
                "width_80": 1.0, "winkler_80": winkler}

    cases = [case("A", "static", 0, 0.70, 2.0), case("A", "static", 1, 0.75, 4.0),
             case("B", "static", 0, 0.80, 2.0),
             case("A", "default", 0, 0.80, 1.0), case("A", "default", 1, 0.78, 5.0),
             case("B", "default", 0, 0.90, 1.5)]
    add_interval_skill(cases, (0.8,))
    assert [c["interval_skill_80"] for c in cases] == pytest.approx(
        [0.0, 0.0, 0.0, 0.5, -0.25, 0.25])
    summary = summarise_bands(cases, ["static", "default"], (0.8,))
    ours = summary["default"]["80"]
    assert ours["median_coverage"] == pytest.approx(0.80)
    assert ours["median_interval_skill"] == pytest.approx(0.25)
    assert ours["share_beats_static"] == pytest.approx(2 / 3)
    assert (ours["worst_pair"], ours["worst_pair_median_coverage"]) == ("B", 0.90)
    assert summary["static"]["80"]["worst_pair"] == "A"  # median 0.725
    alone = [case("A", "default", 0, 0.8, 1.0)]
    add_interval_skill(alone, (0.8,))
    assert alone[0]["interval_skill_80"] is None  # no static evaluated: no interval skill
