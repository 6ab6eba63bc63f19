"""The hourly job's summary table (market_job.format_summary): what cron's log keeps."""

from coinlstm.app.commands.run import edge_count, format_summary


def _report(**result) -> dict:
    base = {"last_close": 100.0, "predicted_close": 101.0, "change_pct": 1.0, "rmse": 1.0,
            "naive_rmse": 1.0, "skill": 0.0, "shrinkage": 0.0, "fit": "warm",
            "verdict": "no evidence", "bands": {"80": {"lower": 99.0, "upper": 102.5}}}
    return {"pairs": [{"symbol": "ADAETH", "status": "ok", "seconds": 1.5,
                       "result": {**base, **result}}],
            "totals": {"ok": 1, "failed": 0, "pairs": 1}, "wall_seconds": 3.0, "run_id": 7,
            "status": "ok"}


def _row(text: str) -> list[str]:
    header, _, row = text.split("\n")[:3]
    return [cell for cell in row.split("  ") if cell.strip()]


def test_forward_band_coverage_with_its_count():
    text = format_summary(_report(forward_skill=-0.004, forward_scored=312,
                                  forward_dm_pvalue=0.41, forward_coverage_80=0.8125,
                                  forward_banded_80=240))
    assert "30d cov 80" in text.split("\n")[0]
    row = [cell.strip() for cell in _row(text)]
    assert "0.81 (240)" in row and "-0.004 (312)" in row and "-1.00/+2.50" in row


def test_no_forward_coverage_is_a_dash_not_zero():
    text = format_summary(_report(forward_skill=None, forward_coverage_80=None))
    row = [cell.strip() for cell in _row(text)]
    assert "0.00 (0)" not in text and row.count("-") >= 3


def test_edges_at_the_fdr_level_with_raw_and_adjusted_p():
    report = _report(forward_skill=0.05, forward_scored=700, forward_dm_pvalue=0.0004,
                     forward_dm_pvalue_adjusted=0.031, verdict="edge")
    report["pairs"].append({"symbol": "XRPETH", "status": "ok", "seconds": 1.0,
                            "result": {"verdict": "no evidence"}})
    report["pairs"].append({"symbol": "BADETH", "status": "failed", "seconds": 1.0,
                            "reason": "boom", "result": {}})
    report["edges"] = edge_count(report["pairs"])
    assert report["edges"] == {"edge": 1, "pairs": 2, "fdr": 0.10}
    text = format_summary(report)
    assert "adj p" in text.split("\n")[0]
    row = [cell.strip() for cell in _row(text)]
    assert "0.000" in row and "0.031" in row and "edge" in row
    assert "1 of 2 pairs show an edge at FDR 10 %" in text.split("\n")
