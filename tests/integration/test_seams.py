"""The two seams of train/: a formulation and a forecaster defined here, in this module only,
registered, and used by the real commands end to end.

Real parts: synthetic candles (coinlstm.app.demo.synthetic_klines) in a real SQLite database,
real Keras training (JAX, 1-2 epochs), the real ``coinlstm train`` and ``coinlstm evaluate``
entry points run in this process (so they see this module's registrations); evaluate's worker
processes import this module again, as they import every registered formulation's module.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
import sqlalchemy as sa

from coinlstm import db
from coinlstm.app.cli import main
from coinlstm.app.demo import synthetic_klines
from coinlstm.core import config
from coinlstm.core.klines import parse_kline
from train import forecasters, formulations
from train.dataset import CLOSE_INDEX, Dataset
from train.forecasters import Forecast, Forecaster
from train.formulations import Formulation


@dataclass(frozen=True)
class CloseChange(Formulation):
    """Inputs: the raw features standardised on the training rows. Target: the close's change
    from the last close, in units of the training changes' spread (no logs, no calibration)."""

    name: ClassVar[str] = "change"

    mean: np.ndarray
    std: np.ndarray
    unit: float

    @classmethod
    def fit(cls, features: np.ndarray, train_targets: np.ndarray, window: int,
            horizon: int = 1, with_pairs: Sequence[str] = ()) -> CloseChange:
        rows = features[int(train_targets[0]) - window:int(train_targets[-1]) + horizon]
        std = rows.std(axis=0)
        closes = features[:, CLOSE_INDEX]
        unit = float(np.std(closes[train_targets] - closes[train_targets - 1]))
        return cls(rows.mean(axis=0), np.where(std > 0, std, 1.0), unit or 1.0)

    def transform(self, features: np.ndarray) -> np.ndarray:
        return (features - self.mean) / self.std

    def model_targets(self, features: np.ndarray, rows: np.ndarray) -> np.ndarray:
        closes = features[:, CLOSE_INDEX]
        return ((closes[rows] - closes[rows[:, :1] - 1]) / self.unit).astype(np.float32)

    def to_price(self, outputs: np.ndarray, bases: np.ndarray,
                 factor: float | None = None) -> np.ndarray:
        return np.asarray(bases, dtype=np.float64)[:, None] + np.asarray(outputs) * self.unit

    def to_dict(self) -> dict:
        return {"kind": self.name, "mean": self.mean.tolist(), "std": self.std.tolist(),
                "unit": self.unit}

    @classmethod
    def from_dict(cls, data: dict) -> CloseChange:
        return cls(np.asarray(data["mean"]), np.asarray(data["std"]), float(data["unit"]))


class Drift(Forecaster):
    """Last close plus the mean close change of the training samples, per step ahead."""

    def fit(self, dataset: Dataset, start=None) -> Drift:
        split, closes = dataset.split, dataset.closes
        self.step = float(np.mean(closes[split.train] - closes[split.train - 1]))
        return self

    def point_forecast(self, dataset: Dataset) -> Forecast:
        split, closes = dataset.split, dataset.closes
        steps = self.step * np.arange(1, dataset.horizon + 1)

        def path(targets: np.ndarray) -> np.ndarray:
            return dataset.last_closes(targets)[:, None] + steps[None, :]

        return Forecast(val_predictions=path(split.val), test_predictions=path(split.test),
                        next_closes=closes[-1] + steps)


# Registered on import: evaluate's worker processes import this module and get them too.
formulations.register(CloseChange)
forecasters.register(forecasters.Preset("drift", Drift))

HOUR_MS = 3_600_000


def _store_pairs(url: str, series: dict[str, list[str]]) -> dict[str, int]:
    """Each made-up ETH pair and its kline lines into the database; symbol -> coin id."""
    engine = db.open_database(url)
    ids = {}
    with db.transaction(engine) as conn:
        for symbol, lines in series.items():
            ids[symbol] = db.ensure_coin(conn, symbol, symbol[:-3], "ETH")
            db.insert_candles(conn, [parse_kline(ids[symbol], line.split(","))
                                     for line in lines])
    engine.dispose()
    return ids


def _closes(lines: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(open times, closes) of kline lines, from their text."""
    fields = [line.split(",") for line in lines]
    return (np.array([int(row[0]) for row in fields]),
            np.array([float(row[4]) for row in fields]))


def _features(lines: list[str]) -> np.ndarray:
    """The 10 feature columns of kline lines (db.FEATURE_COLUMNS order), from their text."""
    return np.array([[float(line.split(",")[i]) for i in (1, 2, 3, 4, 5, 7, 8, 9, 10, 11)]
                     for line in lines])


def _cases(out) -> list[dict]:
    with (out / "cases.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_a_formulation_of_this_module_trains_forecasts_and_evaluates(tmp_path, sqlite_url,
                                                                      capsys):
    from predict.forecast import forecast_next

    symbol, window = "ALPHAETH", 3
    lines = synthetic_klines(400, seed=21, ar=0.2, start_price=1.0)
    coin_id = _store_pairs(sqlite_url, {symbol: lines})[symbol]
    art, result_json = tmp_path / "art", tmp_path / "result.json"
    common = ["--target", "change", "--window", str(window), "--val-size", "40",
              "--backend", "jax", "--db", sqlite_url, "--artifacts", str(art)]

    code = main(["train", "-id", str(coin_id), "-symbol", symbol, "--epochs", "2",
                 "--test-size", "24", "--result-json", str(result_json), *common])

    assert code == 0, capsys.readouterr().err
    result = json.loads(result_json.read_text())
    assert (result["target"], result["shrinkage"], result["edge"]) == ("change", None, None)
    engine = db.open_database(sqlite_url)
    with engine.connect() as conn:
        train = conn.execute(sa.select(db.historical_train)).one()
        prediction = conn.execute(sa.select(db.historical_price_predictions)).one()
    engine.dispose()
    assert train.target == prediction.target == "change" and train.shrinkage is None
    assert len(json.loads(train.price_predict)) == train.n_test == 24
    saved = json.loads((art / "weights" / f"scaler_{symbol}.json").read_text())
    assert saved["kind"] == "change" and len(saved["mean"]) == 10
    # The saved model alone (CloseChange.from_dict) forecasts what training forecast: the
    # next close, and the newest candle's one-step forecast (a test prediction of training).
    settings = config.load(db_url=sqlite_url, artifacts=art, env={"COINLSTM_HOME": str(tmp_path)})
    features = _features(lines)
    assert forecast_next(settings, symbol, features[-window:]) == pytest.approx(
        result["predicted_close"], rel=1e-6)
    assert forecast_next(settings, symbol, features[-window - 1:-1]) == pytest.approx(
        prediction.price_predict_previous, rel=1e-6)
    assert result["predicted_close"] != result["last_close"]

    out = tmp_path / "eval"
    code = main(["evaluate", "--market", "ETH", "--models", "naive,lstm", "--folds", "2",
                 "--fold-size", "24", "--epochs", "1", "--workers", "1", "--out", str(out),
                 *common])

    assert code == 0, capsys.readouterr().out
    cases = _cases(out)
    assert sorted((c["model"], c["fold"]) for c in cases) == [
        ("lstm", "0"), ("lstm", "1"), ("naive", "0"), ("naive", "1")]
    naive = {c["fold"]: c for c in cases if c["model"] == "naive"}
    for case in (c for c in cases if c["model"] == "lstm"):
        assert (case["target"], case["network"], case["shrinkage"]) == ("change", "lstm", "")
        assert int(case["epochs_run"]) == 1
        assert float(case["naive_rmse"]) == float(naive[case["fold"]]["rmse"])
        assert float(case["skill"]) == pytest.approx(
            1 - float(case["rmse"]) / float(case["naive_rmse"]), rel=1e-9)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["options"]["lstm"]["target"] == "change" and summary["failures"] == []


def test_a_forecaster_of_this_module_is_scored_beside_naive(tmp_path, sqlite_url, capsys):
    series = {symbol: synthetic_klines(300, seed=seed, ar=0.0, start_price=1.0)
              for symbol, seed in (("ALPHAETH", 31), ("BETAETH", 32))}
    _store_pairs(sqlite_url, series)
    out = tmp_path / "eval"

    code = main(["evaluate", "--market", "ETH", "--models", "naive,drift", "--target",
                 "close", "--folds", "2", "--fold-size", "24", "--val-size", "16",
                 "--repeats", "2", "--out", str(out), "--db", sqlite_url,
                 "--artifacts", str(tmp_path / "art")])

    printed = capsys.readouterr().out
    assert code == 0, printed
    cases = _cases(out)
    # Neither fits anything seeded: one case per (pair, fold) each, whatever --repeats says.
    assert sorted((c["pair"], c["model"], c["fold"], c["repeat"]) for c in cases) == [
        (pair, model, fold, "0") for pair in series for model in ("drift", "naive")
        for fold in "01"]
    for case in (c for c in cases if c["model"] == "drift"):
        assert (case["network"], case["seed"], case["epochs_run"]) == ("drift", "", "")
        # The drift forecast recomputed from the candles' text: window 1, no gap, so the
        # fold's training samples are rows 1..n_train and its test rows the block's hours.
        times, closes = _closes(series[case["pair"]])
        n_train = int(case["n_train"])
        step = (closes[n_train] - closes[0]) / n_train
        rows = np.flatnonzero((times >= int(case["test_start_ms"]))
                              & (times <= int(case["test_end_ms"])))
        expected = np.sqrt(np.mean((closes[rows - 1] + step - closes[rows]) ** 2))
        assert float(case["rmse"]) == pytest.approx(expected, rel=1e-9)
        naive = np.sqrt(np.mean((closes[rows - 1] - closes[rows]) ** 2))
        assert float(case["naive_rmse"]) == pytest.approx(naive, rel=1e-9)
        assert float(case["skill"]) == pytest.approx(1 - expected / naive, rel=1e-9)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["per_model"]["drift"]["cases"] == 4
    assert summary["per_model"]["naive"]["median_skill"] == 0.0
    assert summary["options"]["drift"] == summary["options"]["naive"]
    assert any(line.startswith("drift ") for line in printed.splitlines())
