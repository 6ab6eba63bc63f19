"""The replay server over real HTTP on 127.0.0.1: endpoints, clock, weight, faults, command.

It serves the SYNTHETIC candle set of tests/synthetic.py (it starts on 2021-04-01, where the
real shared files do, so the clocks below sit inside it).
"""

from __future__ import annotations

import io
import json
import signal
import time
import zipfile
from pathlib import Path

import pytest
import requests

from crawl.replay import Faults, ReplayServer
from tests.helpers import read_csv_rows, write_sample

HOUR_MS = 3_600_000
KLINES = "/api/v3/klines"


def _get(server: ReplayServer, path: str, **params) -> requests.Response:
    return requests.get(server.url + path, params=params, timeout=10)


def _as_text(kline: list) -> list[str]:
    return [str(value) for value in kline]


@pytest.fixture
def sample(synthetic_candles, tmp_path) -> Path:
    """300 synthetic SYNTH1ETH and 300 SYNTH3ETH candles."""
    folder = tmp_path / "serve"
    write_sample(synthetic_candles / "SYNTH1ETH.csv", folder, 300)
    write_sample(synthetic_candles / "SYNTH3ETH.csv", folder, 300)
    return folder


def test_klines_are_the_file_text_exactly_with_integer_times(sample, replay_market):
    source = read_csv_rows(sample / "SYNTH1ETH.csv")
    server = replay_market(sample)
    klines = _get(server, KLINES, symbol="SYNTH1ETH", interval="1h", startTime=0,
                  limit=1000).json()
    raw = _get(server, KLINES, symbol="SYNTH1ETH", interval="1h", startTime=0, limit=1).text
    assert [_as_text(k) for k in klines] == source
    first = json.loads(raw)[0]
    assert [type(v) for v in first] == [int, str, str, str, str, str, int, str, int, str,
                                        str, str]
    assert raw.startswith(f'[[{source[0][0]},"{source[0][1]}",')  # "0.00060000", as written


def test_klines_window_limit_and_order(sample, replay_market):
    opens = [int(row[0]) for row in read_csv_rows(sample / "SYNTH1ETH.csv")]
    server = replay_market(sample)
    def open_times(**params):
        reply = _get(server, KLINES, symbol="SYNTH1ETH", interval="1h", **params)
        assert reply.status_code == 200, reply.text
        return [k[0] for k in reply.json()]

    assert open_times(startTime=0) == opens[:500]  # default limit 500
    assert open_times(startTime=opens[10], limit=5) == opens[10:15]
    assert open_times(startTime=opens[10] - 1, endTime=opens[12]) == opens[10:13]
    assert open_times(limit=3) == opens[-3:]  # no startTime: the newest candles
    assert open_times(startTime=0, limit=5000) == opens[:300]  # capped at 1000
    assert open_times(startTime=opens[-1] + 1) == []


def test_unknown_symbol_interval_and_bad_parameters_are_binance_errors(sample, replay_market):
    server = replay_market(sample)
    unknown = _get(server, KLINES, symbol="NOPEETH", interval="1h")
    assert unknown.status_code == 400
    assert unknown.json() == {"code": -1121, "msg": "Invalid symbol."}
    wrong_interval = _get(server, KLINES, symbol="SYNTH1ETH", interval="5m")
    assert (wrong_interval.status_code, wrong_interval.json()["code"]) == (400, -1120)
    bad_limit = _get(server, KLINES, symbol="SYNTH1ETH", interval="1h", limit="x")
    assert (bad_limit.status_code, bad_limit.json()["code"]) == (400, -1100)
    assert _get(server, KLINES, interval="1h").json()["code"] == -1102


def test_ping_time_exchange_info_and_used_weight(sample, replay_market):
    now = 1_617_235_200_000 + 299 * HOUR_MS + 1000  # first second of a minute: no rollover
    server = replay_market(sample, now=now, weight_limit=1234)
    ping = _get(server, "/api/v3/ping")
    clock = _get(server, "/api/v3/time")
    info = _get(server, "/api/v3/exchangeInfo")
    klines = _get(server, KLINES, symbol="SYNTH3ETH", interval="1h", limit=1)
    assert ping.json() == {}
    assert now <= clock.json()["serverTime"] < now + 5000
    body = info.json()
    assert body["timezone"] == "UTC"
    assert {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
            "limit": 1234} in body["rateLimits"]
    symbols = {s["symbol"]: s for s in body["symbols"]}
    assert set(symbols) == {"SYNTH1ETH", "SYNTH3ETH"}
    assert (symbols["SYNTH3ETH"]["baseAsset"], symbols["SYNTH3ETH"]["quoteAsset"],
            symbols["SYNTH3ETH"]["status"]) == ("SYNTH3", "ETH", "TRADING")
    used = [int(r.headers["X-MBX-USED-WEIGHT-1M"]) for r in (ping, clock, info, klines)]
    assert used == [1, 2, 22, 24]
    assert [entry.used_weight for entry in server.request_log] == used


def test_clock_serves_the_open_candle_and_nothing_later(sample, replay_market):
    opens = [int(row[0]) for row in read_csv_rows(sample / "SYNTH1ETH.csv")]
    now = opens[100] + 25 * 60_000  # 25 minutes into candle 100
    server = replay_market(sample, now=now)
    klines = _get(server, KLINES, symbol="SYNTH1ETH", interval="1h", startTime=0,
                  limit=1000).json()
    assert [k[0] for k in klines] == opens[:101]
    assert klines[-1][6] >= now  # the current candle, still open
    assert klines[-2][6] < now


def test_speed_runs_the_clock_faster(sample, replay_market):
    start = 1_617_235_200_000
    server = replay_market(sample, now=start, speed=3600)
    # The server reads its clock within each request: between its two readings passed at
    # least the real time from the first reply to the second request, at most that from the
    # first request to the second reply, however slow a loaded machine makes the replies.
    before_first = time.monotonic()
    first = _get(server, "/api/v3/time").json()["serverTime"]
    after_first = time.monotonic()
    time.sleep(0.5)
    before_second = time.monotonic()
    second = _get(server, "/api/v3/time").json()["serverTime"]
    after_second = time.monotonic()
    server_ms_per_real_second = 3600 * 1000
    assert second - first >= (before_second - after_first) * server_ms_per_real_second - 2
    assert second - first <= (after_second - before_first) * server_ms_per_real_second + 2


def test_going_over_the_weight_limit_answers_429_with_retry_after(sample, replay_market):
    now = 1_617_235_200_000 + 60 * HOUR_MS + 1000
    server = replay_market(sample, now=now, weight_limit=25)
    assert _get(server, "/api/v3/exchangeInfo").status_code == 200  # 20
    assert _get(server, KLINES, symbol="SYNTH1ETH", interval="1h").status_code == 200  # 22
    assert _get(server, KLINES, symbol="SYNTH1ETH", interval="1h").status_code == 200  # 24
    over = _get(server, KLINES, symbol="SYNTH1ETH", interval="1h")
    assert _get(server, "/api/v3/ping").status_code == 200  # 25: still fits
    assert over.status_code == 429
    assert over.json()["code"] == -1003
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    assert over.headers["X-MBX-USED-WEIGHT-1M"] == "24"


def test_injected_faults_and_request_log(sample, replay_market):
    faults = Faults(too_many_every=2, banned_every=3, error_every=5, truncate_every=7,
                    retry_after=4, delay_ms=1000, delay_every=11)
    server = replay_market(sample, faults=faults)
    replies = []
    for _ in range(11):
        started = time.monotonic()
        reply = _get(server, KLINES, symbol="SYNTH1ETH", interval="1h", startTime=0, limit=3)
        replies.append((reply, time.monotonic() - started))
    log = server.request_log
    statuses = [reply.status_code for reply, _ in replies]
    # 2, 4, 6, 8, 10: 429; 3, 9: 418; 5: 500; 7: truncated; 11: slow
    assert statuses == [200, 429, 418, 429, 500, 429, 200, 429, 418, 429, 200]
    assert replies[1][0].headers["Retry-After"] == "4"
    assert replies[2][0].headers["Retry-After"] == "4"
    with pytest.raises(ValueError):
        json.loads(replies[6][0].text)
    assert len(json.loads(replies[0][0].text)) == 3
    # Only the 11th reply is slowed down: as the client saw it, and as the server handled
    # them (the others, measured there, do not wait for the client's side of a loaded machine).
    assert replies[10][1] >= 1.0
    assert all(entry.replied - entry.time < 1.0 for entry in log[:10])
    assert [entry.status for entry in log] == statuses
    assert all(entry.path.startswith(KLINES + "?symbol=SYNTH1ETH") for entry in log)
    assert [entry.time for entry in log] == sorted(entry.time for entry in log)


def _zip(path: Path, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(",".join(row) + "\n" for row in rows)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(path.with_suffix(".csv").name, text)


def test_binance_vision_tree_of_zips_and_microsecond_times(synthetic_candles, tmp_path,
                                                           replay_market):
    rows = read_csv_rows(synthetic_candles / "SYNTH1ETH.csv", limit=1000)
    april = [row for row in rows if row[0] < "1619827200000"]  # before 2021-05-01
    may = [row for row in rows if row[0] >= "1619827200000"]
    tree = tmp_path / "vision" / "data" / "spot" / "monthly" / "klines" / "SYNTH1ETH" / "1h"
    _zip(tree / "SYNTH1ETH-1h-2021-04.zip", april)
    # Dumps since 2025 write microseconds: the server must still serve milliseconds.
    may_micro = [[row[0] + "000", *row[1:6], row[6] + "000", *row[7:]] for row in may]
    _zip(tree / "SYNTH1ETH-1h-2021-05.zip", may_micro)
    (tmp_path / "vision" / "README.md").write_text("not klines\n")
    server = replay_market(tmp_path / "vision")
    served = _get(server, KLINES, symbol="SYNTH1ETH", interval="1h", startTime=0,
                  limit=1000).json()
    assert [_as_text(k) for k in served] == rows


def test_binds_loopback_only(sample, replay_market):
    server = replay_market(sample)
    assert server.url.startswith("http://127.0.0.1:")
    assert server._httpd.server_address[0] == "127.0.0.1"


def test_command_serves_until_sigterm(sample, cli):
    process = cli.start("replay-server", str(sample), "--now", "2021-04-05T10:30",
                        "--fail-500-every", "3")
    line = process.stdout.readline()
    assert line.startswith("replay server listening on http://127.0.0.1:")
    assert "(2 symbols, 600 candles)" in line
    url = line.split()[4]
    clock = requests.get(url + "/api/v3/time", timeout=10).json()["serverTime"]
    assert abs(clock - 1_617_618_600_000) < 60_000
    assert requests.get(url + "/api/v3/ping", timeout=10).status_code == 200
    assert requests.get(url + "/api/v3/ping", timeout=10).status_code == 500
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0


def test_command_bad_folder_is_one_line_exit_2(tmp_path, cli):
    done = cli("replay-server", str(tmp_path / "missing"), timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"coinlstm replay-server: error: not a folder: {tmp_path / 'missing'}"]


def test_stop_closes_kept_alive_connections(sample):
    session = requests.Session()
    server = ReplayServer(sample).start()
    assert session.get(server.url + "/api/v3/ping", timeout=5).status_code == 200
    server.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(server.url + "/api/v3/ping", timeout=5)


def test_truncated_reply_keeps_an_honest_content_length(sample, replay_market):
    server = replay_market(sample, faults=Faults(truncate_every=1))
    reply = _get(server, KLINES, symbol="SYNTH1ETH", interval="1h", limit=10)
    assert int(reply.headers["Content-Length"]) == len(reply.content)
    with pytest.raises(ValueError):
        json.loads(reply.content)
    assert io.BytesIO(reply.content).read(2) == b"[["
