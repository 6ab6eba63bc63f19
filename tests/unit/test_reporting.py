"""The commands' JSON reports: written whole or not at all, and without holding the encoded
report in memory (a market job's peak memory must not grow with its pairs' report)."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from coinlstm.app.jobs.reporting import write_json_atomically


def _report(pairs: int) -> dict:
    result = {f"figure_{index}": index / 7 for index in range(40)}
    return {"run_id": "ETH-x", "pairs": [{"symbol": f"SYN{n:04d}ETH", "status": "ok",
                                          "result": {**result, "bands": {"80": result}}}
                                         for n in range(pairs)]}


def test_the_report_is_the_indented_json_and_is_not_held_encoded(tmp_path):
    report, path = _report(1000), tmp_path / "report.json"
    expected = json.dumps(report, indent=2, default=str)
    tracemalloc.start()
    try:
        write_json_atomically(path, report)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert path.read_text() == expected
    # json.dumps held its pieces at once: several times the text.
    assert peak < len(expected) / 10, (peak, len(expected))


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "report.json"
    write_json_atomically(path, {"old": 1})

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("cannot be written")

    with pytest.raises(RuntimeError):
        write_json_atomically(path, {"new": Unprintable()})
    assert json.loads(path.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
