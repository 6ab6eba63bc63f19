"""bench/soak.py in small: a few replayed hours of 2 real pairs under forced faults (the
driver SIGKILLed mid-run, a pair's process SIGKILLed), its checks all pass; and its checks
are not blind: a planted duplicate forecast fails them."""

from __future__ import annotations

import sys

import pytest
import sqlalchemy as sa

from tests.helpers import REPO, TEST_HOME

BENCH = REPO / "bench"
if str(BENCH) not in sys.path:
    sys.path.append(str(BENCH))  # last: bench/crawl.py must not shadow the crawl package

import soak  # noqa: E402
import soak_checks  # noqa: E402


@pytest.mark.slow
def test_soak_survives_killed_driver_and_pair_and_catches_a_planted_duplicate(
        shared_data, tmp_path, capsys):
    args = soak.parse_args(["--db", "sqlite", "--hours", "4", "--pairs", "2", "--seed", "5",
                            "--history", "300", "--faults", "driver_kill,pair_kill",
                            "--poll", "0.5", "--kill-within", "0.2",  # before the pairs end
                            # the run's compile caches, not a soak's own (tests/conftest.py)
                            "--cache", str(TEST_HOME / ".cache")])
    result = soak.run_soak(args, tmp_path)
    soak.print_result(args, result)
    printed = capsys.readouterr().out
    assert result.passed, printed
    assert sorted(fault.kind for fault in result.faults) == ["driver_kill", "pair_kill"]
    assert all(line.startswith("PASS") for line in printed.splitlines()
               if line.startswith(("PASS", "FAIL"))), printed
    [pair_kill] = [f for f in result.faults if f.kind == "pair_kill"]
    assert "SIGKILLed" in pair_kill.happened and "failed: killed by signal SIGKILL" in \
        pair_kill.happened, printed
    engine = sa.create_engine(result.db_url)
    try:
        with engine.begin() as conn:
            runs = sa.Table("job_runs", sa.MetaData(), autoload_with=conn)
            statuses = sorted(conn.execute(sa.select(runs.c.status)).scalars())
            assert statuses == ["abandoned", "ok", "ok", "partial"], statuses
            forecasts = sa.Table("historical_price_predictions", sa.MetaData(),
                                 autoload_with=conn)
            newest = conn.execute(sa.select(forecasts).order_by(forecasts.c.id.desc())
                                  .limit(1)).one()._asdict()
            del newest["id"]
            newest["run_id"] = "planted"  # (run_id, id_coin) is unique: another run's copy
            conn.execute(forecasts.insert().values(**newest))
        planted = soak_checks.database_checks(engine, result.hours, result.symbols)
    finally:
        engine.dispose()
    failed = {check.name for check in planted if not check.passed}
    assert failed == {"every hour x pair has one forecast or a recorded failure",
                      "no duplicated candle, forecast, training or score"}, failed
    [duplicates] = [c for c in planted if c.name.startswith("no duplicated")]
    assert [p for p in duplicates.problems if p.startswith("forecasts: ")], duplicates.problems
