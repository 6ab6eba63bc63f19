"""``make demo`` builds a real forward track record: a backfilled day (``coinlstm backfill``),
then the hourly job replayed over consecutive hours through the replay server's clock, each
run scoring the previous one's forecasts against the candle that came (tiny epochs: a demo,
not a tuned model)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import sqlalchemy as sa

from coinlstm import db
from coinlstm.app.demo import SYMBOLS
from tests.helpers import REPO, cli_env, share_caches


@pytest.mark.slow
def test_demo_replays_hours_and_scores_each_previous_forecast(tmp_path):
    # A home of its own (the demo's database and report under data/demo), with the run's
    # compile caches (what it tests is the track record, not the caches).
    env = cli_env({"COINLSTM_HOME": str(share_caches(tmp_path))})
    done = subprocess.run([sys.executable, "-m", "coinlstm.app.demo", "--hours", "2",
                           "--epochs", "1", "--backfill-days", "1", "--no-serve"],
                          capture_output=True, text=True, env=env, timeout=900, cwd=REPO)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "hour 2/2" in done.stdout
    # The backfill's day: 24 hours per pair, 23 of them scored at once (the 24th's candle
    # comes with the first live hour).
    assert f"scored {23 * len(SYMBOLS)} new 1h forecasts" in done.stdout
    assert f"scored {len(SYMBOLS)} new 1h forecasts" in done.stdout
    engine = db.open_database(f"sqlite:///{tmp_path / 'data' / 'demo' / 'demo.sqlite'}")
    with engine.connect() as conn:
        scores = conn.execute(sa.select(db.forecast_scores)).all()
        every = conn.execute(sa.select(db.historical_price_predictions)).all()
        records = db.stored_track_records(conn, "1h", windows=["all"])
    engine.dispose()
    forecasts = [f for f in every if f.source == "live"]
    assert len(every) - len(forecasts) == 24 * len(SYMBOLS)
    live_scores = [s for s in scores if s.source == "live"]
    assert len(forecasts) == 2 * len(SYMBOLS) and len(live_scores) == len(SYMBOLS)
    first_hour = {f.id for f in forecasts if f.openTime_next == min(
        x.openTime_next for x in forecasts)}
    assert {s.id_prediction for s in live_scores} == first_hour  # the second hour's: not yet
    assert [(r.scored, r.scored_live, r.scored_backfill) for r in records] == [
        (25, 1, 24)] * len(SYMBOLS)
    assert all(r.verdict == "no evidence" for r in records)
    assert "no evidence (live 1 h + backfill 24 h)" in done.stdout
    # Trained forecasts carry bands: each score checked its close against them.
    by_id = {f.id: f for f in forecasts}
    for score in live_scores:
        forecast = by_id[score.id_prediction]
        for level in ("80", "95"):
            lower, upper = getattr(forecast, f"lower_{level}"), getattr(forecast, f"upper_{level}")
            assert lower is not None and upper is not None
            assert bool(getattr(score, f"inside_{level}")) == (lower <= score.actual <= upper)
    assert [r.banded_80 for r in records] == [25] * len(SYMBOLS)
    assert all(0.0 <= r.coverage_80 <= 1.0 for r in records)
    # The second hour's summary and report carry that forward coverage per pair.
    report = json.loads((tmp_path / "data" / "demo" / "report.json").read_text())
    coverage = {p["symbol"]: p["result"]["forward_coverage_80"] for p in report["pairs"]}
    assert sorted(coverage) == sorted(SYMBOLS)
    assert all(0.0 <= value <= 1.0 for value in coverage.values())
    assert all(p["result"]["forward_banded_80"] == 25 for p in report["pairs"])
    assert all(p["result"]["forward_scored_backfill"] == 24 for p in report["pairs"])
    assert "30d cov 80" in done.stdout
