"""``coinlstm backfill``: the hourly job's runs replayed over stored candles.

Real parts only: the SYNTHETIC candles of tests/synthetic.py in SQLite and MariaDB, real
Keras training on JAX with tiny epochs. The live job is ``train_pair`` (what every pair's
process of ``coinlstm run`` calls), run hour by hour as new candles arrive; the backfill is
the command's own per-pair code (in this process where a test compares it with the live
job, through the CLI's processes elsewhere).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from coinlstm import db
from coinlstm.app.backfill_pair import PairBackfill, scratch_settings
from coinlstm.app.lock import JobLock
from coinlstm.app.pair_job import train_pair
from coinlstm.core import config
from coinlstm.core.klines import parse_kline
from predict.scoring import score
from tests.helpers import TEST_HOME, cli_env, fingerprint, read_csv_rows, run_cli
from tests.trainkit import FAST, load_pair
from train import config as train_config

SYMBOL = "SYNTH1ETH"
ROWS = 1500
HOUR_MS = 3_600_000
#: Tiny training, and a refit every 4 hours: a short backfill holds full fits and warm
#: fine-tunes both.
FLAGS = [*FAST, "--warm-samples", "256", "--warm-epochs", "2", "--refit-every", "4",
         "--backend", "jax"]
#: Live hours compared with the backfill's first hours.
LIVE_HOURS = 6
BAND_COLUMNS = ("lower_80", "upper_80", "lower_95", "upper_95")


def _options(*flags: str):
    parser = argparse.ArgumentParser()
    train_config.add_arguments(parser)
    return train_config.from_args(parser.parse_args([*FLAGS, *flags]))


def _settings(url: str, art: Path) -> config.Settings:
    return config.load(db_url=url, artifacts=art, env={"COINLSTM_HOME": str(TEST_HOME)})


def _insert(url: str, coin_id: int, rows: list[list[str]]) -> None:
    engine = db.open_database(url)
    with db.transaction(engine) as conn:
        db.insert_candles(conn, [parse_kline(coin_id, row) for row in rows])
    engine.dispose()


def _forecasts(url: str, source: str) -> dict[int, tuple[float, ...]]:
    """openTime_next -> (forecast, bands...) of the stored forecasts of ``source``."""
    p = db.historical_price_predictions
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(p.c.openTime_next, p.c.price_preidct_last,
                                      *(p.c[name] for name in BAND_COLUMNS))
                            .where(p.c.source == source)).all()
    engine.dispose()
    return {int(row[0]): tuple(float(v) for v in row[1:]) for row in rows}


def _prediction_rows(url: str) -> list[tuple]:
    """Every forecast row's content but its id (equal after a kill and a rerun)."""
    p = db.historical_price_predictions
    columns = [c for c in p.c if c.name != "id"]
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*columns).order_by(p.c.openTime_next)).all()
    engine.dispose()
    return [tuple(row) for row in rows]


def test_backfilled_forecasts_equal_the_live_jobs(db_url, synthetic_candles, tmp_path):
    """The live job hour by hour (a full fit, warm hours, its slot's refit) against one
    backfill over the same hours: the same forecasts and bands to float32 round-off; the
    live rows and model untouched; the backfill's models in its scratch folder."""
    csv = synthetic_candles / f"{SYMBOL}.csv"
    coin_id, _ = load_pair(db_url, csv, ROWS)
    later = read_csv_rows(csv, limit=ROWS + 24)[ROWS:]
    art = tmp_path / "art"
    settings, options = _settings(db_url, art), _options()
    fits = []
    for hour in range(LIVE_HOURS):
        _insert(db_url, coin_id, later[hour:hour + 1])
        fits.append(train_pair(settings, coin_id, SYMBOL, options, run_id=f"live-{hour}").fit)
    assert "warm" in fits and fits.count("full") >= 2, fits
    _insert(db_url, coin_id, later[LIVE_HOURS:])
    live = _forecasts(db_url, "live")
    live_model = (art / "weights" / f"weight_{SYMBOL}.weights.h5").read_bytes()
    result = PairBackfill(settings, coin_id, SYMBOL, options, days=1).run()
    assert (result["status"], result["hours"], result["stored"]) == ("ok", 24, 24)
    backfilled = _forecasts(db_url, "backfill")
    assert len(backfilled) == 24 and set(live) <= set(backfilled)
    for open_time, values in live.items():
        np.testing.assert_allclose(backfilled[open_time], values, rtol=2e-6)
    assert _forecasts(db_url, "live") == live
    assert (art / "weights" / f"weight_{SYMBOL}.weights.h5").read_bytes() == live_model
    assert (scratch_settings(settings, "1h").weights_dir / f"weight_{SYMBOL}.weights.h5"
            ).is_file()
    assert not result["model_handed_over"]
