"""``coinlstm import``: kline files, packed the way data.binance.vision ships them.

Zips are built from slices of the SYNTHETIC candle set of tests/synthetic.py (one per month or
day, with .CHECKSUM files) and loaded into both real databases; what lands must be the text
the files hold, character for character, whichever form the candles came in.
"""

from __future__ import annotations

import zipfile
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from coinlstm import db
from coinlstm.core.errors import BadInput
from crawl import vision
from tests.helpers import (
    VISION_HEADER,
    as_tuples,
    fingerprint,
    import_into,
    read_csv_rows,
    text_rows,
    write_csv,
    write_dump,
    write_sample,
)
from tests.synthetic import FIVE_MINUTE, HOURLY, INTERVAL_SYMBOL

#: 2021-04-01 .. 2021-06-02: April and May as monthly dumps, June's days as daily ones.
ADA_ROWS = 1500
BNB_ROWS = 300


# --------------------------------------------------------------------------- helpers


def month_of(line: str) -> str:
    return datetime.fromtimestamp(int(line.split(",")[0]) / 1000, UTC).strftime("%Y-%m")


def day_of(line: str) -> str:
    return datetime.fromtimestamp(int(line.split(",")[0]) / 1000, UTC).strftime("%Y-%m-%d")


def write_vision_tree(root: Path, symbol: str, lines: list[str], daily_from: str = "2021-06"
                      ) -> list[Path]:
    """The candles as Binance's download scripts lay them out: monthly zips, then daily."""
    monthly: dict[str, list[str]] = defaultdict(list)
    daily: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        if month_of(line) < daily_from:
            monthly[month_of(line)].append(line)
        else:
            daily[day_of(line)].append(line)
    zips = []
    for kind, groups in (("monthly", monthly), ("daily", daily)):
        folder = root / "data" / "spot" / kind / "klines" / symbol / "1h"
        for period, chunk in sorted(groups.items()):
            zips.append(write_dump(folder, f"{symbol}-1h-{period}", chunk))
    return zips


def source_lines(synthetic_candles: Path, symbol: str, rows: int) -> list[str]:
    return [",".join(fields) for fields in read_csv_rows(synthetic_candles / f"{symbol}.csv", rows)]


def to_microseconds(line: str) -> str:
    """A line as Binance writes spot dumps since 2025: times in µs."""
    fields = line.split(",")
    fields[0] = str(int(fields[0]) * 1000)
    fields[6] = str(int(fields[6]) * 1000 + 999)
    return ",".join(fields)


# --------------------------------------------------------------------------- loading


def test_zips_load_the_same_candles_as_the_plain_csv(db_url, synthetic_candles, tmp_path):
    ada = source_lines(synthetic_candles, "SYNTH1ETH", ADA_ROWS)
    bnb = source_lines(synthetic_candles, "SYNTH2ETH", BNB_ROWS)
    zips = write_vision_tree(tmp_path / "vision", "SYNTH1ETH", ada)
    zips += write_vision_tree(tmp_path / "vision", "SYNTH2ETH", bnb)
    assert {z.parent.parent.parent.parent.name for z in zips} == {"monthly", "daily"}
    # An exchange-registered coin keeps its status: an import knows nothing about it.
    engine = db.open_database(db_url)
    with db.transaction(engine) as conn:
        db.ensure_coin(conn, "SYNTH2ETH", "SYNTH2", "ETH", status="TRADING")
    engine.dispose()

    summary = import_into(db_url, [tmp_path / "vision"])

    assert summary == vision.ImportSummary(files=len(zips), candles_seen=ADA_ROWS + BNB_ROWS,
                                           candles_added=ADA_ROWS + BNB_ROWS,
                                           symbols={"SYNTH1ETH": ADA_ROWS, "SYNTH2ETH": BNB_ROWS})
    assert text_rows(db_url, "SYNTH1ETH") == as_tuples(ada)
    assert text_rows(db_url, "SYNTH2ETH") == as_tuples(bnb)
    plain_url = f"sqlite:///{tmp_path / 'plain.sqlite'}"
    import_into(plain_url, [write_sample(synthetic_candles / "SYNTH1ETH.csv", tmp_path / "plain",
                                         ADA_ROWS)])
    assert text_rows(plain_url, "SYNTH1ETH") == text_rows(db_url, "SYNTH1ETH")

    engine = db.open_database(db_url)
    with engine.connect() as conn:
        ada_coin = db.coin_by_symbol(conn, "SYNTH1ETH")
        bnb_coin = db.coin_by_symbol(conn, "SYNTH2ETH")
    engine.dispose()
    assert (ada_coin.baseAsset, ada_coin.quoteAsset, ada_coin.status) == ("SYNTH1", "ETH", None)
    assert bnb_coin.status == "TRADING"


def test_importing_twice_adds_nothing(db_url, synthetic_candles, tmp_path, cli):
    plain = write_sample(synthetic_candles / "SYNTH1ETH.csv", tmp_path / "plain", 400)
    zips = write_vision_tree(tmp_path / "vision", "SYNTH1ETH",
                             source_lines(synthetic_candles, "SYNTH1ETH", 400))

    first = cli("import", str(plain), "--db", db_url)
    assert first.returncode == 0, first.stderr
    assert "400 candles read, 400 new (SYNTH1ETH +400)" in first.stdout
    before = fingerprint(db_url)

    again = cli("import", str(plain), str(tmp_path / "vision"), "--db", db_url)

    assert again.returncode == 0, again.stderr
    assert f"imported {1 + len(zips)} files: 800 candles read, 0 new (SYNTH1ETH +0)" \
        in again.stdout
    assert fingerprint(db_url) == before
    assert text_rows(db_url, "SYNTH1ETH") == as_tuples(
        source_lines(synthetic_candles, "SYNTH1ETH", 400))


def test_a_newer_slice_adds_only_the_new_candles(db_url, synthetic_candles, tmp_path):
    lines = source_lines(synthetic_candles, "SYNTH1ETH", 300)
    import_into(db_url, [write_dump(tmp_path / "a", "SYNTH1ETH-1h-2021-04", lines[:200])])

    summary = import_into(db_url, [write_dump(tmp_path / "b", "SYNTH1ETH-1h-2021-04",
                                              lines[150:])], progress=True)

    assert (summary.candles_seen, summary.candles_added) == (150, 100)
    assert text_rows(db_url, "SYNTH1ETH") == as_tuples(lines)


def test_microsecond_times_load_to_the_same_rows(db_url, synthetic_candles, tmp_path):
    lines = source_lines(synthetic_candles, "SYNTH1ETH", 200)
    micro = [to_microseconds(line) for line in lines]
    assert micro[0].split(",")[0] == lines[0].split(",")[0] + "000"

    import_into(db_url, [write_dump(tmp_path, "SYNTH1ETH-1h-2021-04", micro, header=True)])

    assert text_rows(db_url, "SYNTH1ETH") == as_tuples(lines)


def test_header_rows_are_skipped_in_zips_and_csvs(db_url, synthetic_candles, tmp_path):
    ada = source_lines(synthetic_candles, "SYNTH1ETH", 100)
    bnb = source_lines(synthetic_candles, "SYNTH2ETH", 100)
    (tmp_path / "SYNTH2ETH-1h-2021-04.csv").write_text("\r\n".join([VISION_HEADER, *bnb]) + "\r\n")

    summary = import_into(db_url, [write_dump(tmp_path, "SYNTH1ETH-1h-2021-04", ada, header=True),
                                   tmp_path / "SYNTH2ETH-1h-2021-04.csv"])

    assert summary.candles_added == 200
    assert text_rows(db_url, "SYNTH1ETH") == as_tuples(ada)
    assert text_rows(db_url, "SYNTH2ETH") == as_tuples(bnb)


def test_an_unknown_quote_needs_quote(db_url, synthetic_candles, tmp_path, cli):
    lines = source_lines(synthetic_candles, "SYNTH1ETH", 50)
    odd = tmp_path / "ADAQQQ.csv"
    odd.write_text("\n".join(lines) + "\n")
    before = fingerprint(db_url)

    refused = cli("import", str(odd), "--db", db_url)
    wrong = cli("import", str(odd), "--quote", "ETH", "--db", db_url)

    for result in (refused, wrong):
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "ADAQQQ" in result.stderr
    assert "--quote" in refused.stderr
    assert fingerprint(db_url) == before

    accepted = cli("import", str(odd), "--quote", "qqq", "--db", db_url)

    assert accepted.returncode == 0, accepted.stderr
    engine = db.open_database(db_url)
    with engine.connect() as conn:
        coin = db.coin_by_symbol(conn, "ADAQQQ")
    engine.dispose()
    assert (coin.baseAsset, coin.quoteAsset) == ("ADA", "QQQ")
    assert text_rows(db_url, "ADAQQQ") == as_tuples(lines)
    # Once registered, the coin's own quote asset is used, and a contradicting one refused.
    assert import_into(db_url, [odd]).candles_seen == 50
    with pytest.raises(BadInput, match="ADAQQQ is registered with quote asset QQQ, not ETH"):
        import_into(db_url, [odd], quote="ETH")


# --------------------------------------------------------------------------- bad input


def _corrupt(zip_path: Path) -> None:
    data = bytearray(zip_path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 16] = bytes(16)
    zip_path.write_bytes(bytes(data))
    zip_path.with_name(zip_path.name + ".CHECKSUM").unlink()


def _replace_line(path: Path, number: int, change) -> None:
    lines = path.read_text().splitlines()
    lines[number - 1] = change(lines[number - 1])
    path.write_text("\n".join(lines) + "\n")


def _set_field(index: int, value: str):
    def change(line: str) -> str:
        fields = line.split(",")
        fields[index] = value
        return ",".join(fields)
    return change


def _csv_with(folder: Path, lines: list[str], number: int, change) -> Path:
    """SYNTH2ETH.csv of ``lines`` with line ``number`` changed by ``change``."""
    path = folder / "SYNTH2ETH.csv"
    path.write_text("\n".join(lines) + "\n")
    _replace_line(path, number, change)
    return path


def _bad_checksum(folder: Path, lines: list[str]) -> tuple[Path, str]:
    path = write_dump(folder, "SYNTH2ETH-1h-2021-04", lines)
    checksum = path.with_name(path.name + ".CHECKSUM")
    checksum.write_text("0" * 64 + f"  {path.name}\n")
    return path, "does not match"


def _corrupt_zip(folder: Path, lines: list[str]) -> tuple[Path, str]:
    path = write_dump(folder, "SYNTH2ETH-1h-2021-04", lines)
    _corrupt(path)
    return path, "corrupt zip"


def _zip_without_csv(folder: Path, lines: list[str]) -> tuple[Path, str]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "SYNTH2ETH-1h-2021-04.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("README.txt", "no klines here\n")
    return path, "found none"


def _wrong_column_count(folder: Path, lines: list[str]) -> tuple[Path, str]:
    path = _csv_with(folder, lines, 17, lambda line: line.rsplit(",", 1)[0])
    return path, "line 17: expected 12 fields, got 11"


def _non_numeric_price(folder: Path, lines: list[str]) -> tuple[Path, str]:
    path = _csv_with(folder, lines, 30, _set_field(4, "0.0x12"))
    return path, "line 30: close"


def _nan_price(folder: Path, lines: list[str]) -> tuple[Path, str]:
    path = _csv_with(folder, lines, 40, _set_field(2, "NaN"))
    return path, "line 40: high"


def _name_without_symbol(folder: Path, lines: list[str]) -> tuple[Path, str]:
    path = folder / "klines-export.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, "cannot tell the symbol"


def _missing_path(folder: Path, lines: list[str]) -> tuple[Path, str]:
    return folder / "SYNTH2ETH-1h-2021-04.zip", "no such file or folder"


def _out_of_order(folder: Path, lines: list[str]) -> tuple[Path, str]:
    path = folder / "SYNTH2ETH.csv"
    path.write_text("\n".join([*lines[:10], lines[5], *lines[10:]]) + "\n")
    return path, "line 11: open time"


def _negative_close(folder: Path, lines: list[str]) -> tuple[Path, str]:
    path = _csv_with(folder, lines, 12, _set_field(4, "-0.00010000"))
    return path, "line 12: close -0.00010000 is not positive (rule: prices are positive)"


def _close_above_high(folder: Path, lines: list[str]) -> tuple[Path, tuple[str, str]]:
    lines = list(lines)
    fields = lines[20].split(",")
    fields[4] = format(Decimal(fields[2]) + Decimal("0.00000001"), "f")
    lines[20] = ",".join(fields)
    path = write_dump(folder, "SYNTH2ETH-1h-2021-04", lines)
    return path, ("line 21: high", "(rule: high >= max(open, close))")


def _taker_above_volume(folder: Path, lines: list[str]) -> tuple[Path, tuple[str, str]]:
    path = _csv_with(folder, lines, 33, _set_field(9, "9" * 12))
    return path, ("line 33: taker buy base volume 999999999999 is above the volume",
                  "(rule: taker buy volume <= volume)")


def _late_close(folder: Path, lines: list[str]) -> tuple[Path, tuple[str, str]]:
    path = _csv_with(folder, lines, 7, lambda line: _set_field(
        6, str(int(line.split(",")[6]) + 61_000))(line))
    return path, ("line 7: close time", "(rule: the close time is after the open time")


BAD_FILES = {
    "bad checksum": _bad_checksum,
    "corrupt zip": _corrupt_zip,
    "zip without csv": _zip_without_csv,
    "wrong column count": _wrong_column_count,
    "non-numeric price": _non_numeric_price,
    "NaN price": _nan_price,
    "no symbol in name": _name_without_symbol,
    "missing path": _missing_path,
    "out of order": _out_of_order,
    "negative close": _negative_close,
    "close above high": _close_above_high,
    "taker above volume": _taker_above_volume,
    "late close": _late_close,
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(case, db_url, synthetic_candles,
                                                          tmp_path, cli):
    """The bad file comes after a good one: nothing at all may be written, not even that."""
    good = write_vision_tree(tmp_path / "good", "SYNTH1ETH",
                             source_lines(synthetic_candles, "SYNTH1ETH", 60))
    import_into(db_url, [write_sample(synthetic_candles / "SYNTH4ETH.csv", tmp_path / "seed", 30)])
    before = fingerprint(db_url)
    (tmp_path / "bad").mkdir()
    bad_path, expected = BAD_FILES[case](tmp_path / "bad",
                                         source_lines(synthetic_candles, "SYNTH2ETH", 48))

    result = cli("import", str(good[0]), str(bad_path), "--db", db_url)

    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    expected = (expected,) if isinstance(expected, str) else expected
    assert str(bad_path) in lines[0] and all(text in lines[0] for text in expected), lines[0]
    assert result.stdout == ""
    assert fingerprint(db_url) == before


def test_interval_must_fit_the_files(sqlite_url, synthetic_candles, tmp_path):
    lines = source_lines(synthetic_candles, "SYNTH1ETH", 48)
    dump = write_dump(tmp_path / "dump", "SYNTH1ETH-1h-2021-04", lines)
    plain = write_sample(synthetic_candles / "SYNTH1ETH.csv", tmp_path / "plain", 48)

    with pytest.raises(BadInput, match="the name says interval 1h, --interval says 4h"):
        import_into(sqlite_url, [dump], interval="4h")
    with pytest.raises(BadInput, match=r"line 2: .* not on the 4h grid"):
        import_into(sqlite_url, [plain], interval="4h")
    with pytest.raises(BadInput, match="unknown interval"):
        import_into(sqlite_url, [plain], interval="7h")
    # (One symbol at two intervals in one import is allowed now, each to its own table:
    # test_import_routes_each_dump_to_its_interval_table.)
    assert sum(fingerprint(sqlite_url).values()) == 0


# --------------------------------------------------------------------------- fast path


def test_import_routes_each_dump_to_its_interval_table(db_url, tmp_path, cli):
    """One import of a 5m and a 1h dump of the same pair (the interval read from each name),
    then the plain CSV with --interval 5m: each lands in its own table, once."""
    five = write_dump(tmp_path / "5m", f"{INTERVAL_SYMBOL}-5m-2024-12", FIVE_MINUTE)
    hourly = write_dump(tmp_path / "1h", f"{INTERVAL_SYMBOL}-1h-2024-12", HOURLY)

    done = cli("import", str(five), str(hourly), "--db", db_url, "--no-progress")

    assert done.returncode == 0, done.stderr
    assert (f"{len(HOURLY) + len(FIVE_MINUTE)} new ({INTERVAL_SYMBOL} +{len(HOURLY)}, "
            f"{INTERVAL_SYMBOL} 5m +{len(FIVE_MINUTE)})") in done.stdout
    assert text_rows(db_url, INTERVAL_SYMBOL, "5m") == as_tuples(FIVE_MINUTE)
    assert text_rows(db_url, INTERVAL_SYMBOL, "1h") == as_tuples(HOURLY)
    before = fingerprint(db_url)
    plain = import_into(db_url, [write_csv(tmp_path / "plain", INTERVAL_SYMBOL, FIVE_MINUTE)],
                        interval="5m")
    assert (plain.candles_seen, plain.candles_added) == (len(FIVE_MINUTE), 0)
    assert fingerprint(db_url) == before


# --------------------------------------------------------------------------- --exchange

#: A file of another exchange's candles is named by that exchange's symbol.
OTHER_EXCHANGES = {"poloniex": ("SYNTH1_ETH", "SYNTH1"), "bithumb": ("ETH-SYNTH1", "SYNTH1"),
                   "coingecko": ("synth1-eth", "SYNTH1")}


@pytest.mark.parametrize("exchange", OTHER_EXCHANGES)
def test_another_exchanges_candles_import_on_that_exchange(exchange, db_url, synthetic_candles,
                                                           tmp_path, cli):
    """``import --exchange NAME``: a plain file and a dump named by that exchange's symbol
    land exactly, on a pair registered on that exchange with the assets its symbol names;
    a second import adds nothing."""
    symbol, base = OTHER_EXCHANGES[exchange]
    lines = source_lines(synthetic_candles, "SYNTH1ETH", 300)
    plain = write_csv(tmp_path / "plain", symbol, lines[:200])
    dump = write_dump(tmp_path / "dump", f"{symbol}-1h-2021-04", lines[150:])

    done = cli("import", "--exchange", exchange, str(plain), str(dump), "--db", db_url,
               "--no-progress")

    assert done.returncode == 0, done.stderr
    assert f"imported 2 files: 350 candles read, 300 new ({symbol} +300)" in done.stdout
    assert text_rows(db_url, symbol) == as_tuples(lines)
    engine = db.open_database(db_url)
    with engine.connect() as conn:
        coin = db.coin_by_symbol(conn, symbol, exchange)
        assert [c.symbol for c in db.coins_of_market(conn, "ETH", exchange=exchange)] == [symbol]
        assert db.coins_of_market(conn, "ETH") == []  # nothing on binance
    engine.dispose()
    assert (coin.exchange, coin.baseAsset, coin.quoteAsset) == (exchange, base, "ETH")
    before = fingerprint(db_url)
    again = cli("import", "--exchange", exchange, str(plain), "--db", db_url, "--no-progress")
    assert again.returncode == 0 and f"0 new ({symbol} +0)" in again.stdout
    assert fingerprint(db_url) == before


IMPORT_REFUSALS = [
    # (exchange flags, file name, interval flags, what the one line says)
    (["--exchange", "poloniex"], "SYNTH1ETH.csv", [],
     "invalid poloniex symbol 'SYNTH1ETH': expected BASE_QUOTE such as BTC_USDT"),
    ([], "SYNTH1_ETH.csv", [], "invalid symbol 'SYNTH1_ETH'"),
    (["--exchange", "bithumb"], "synth1-eth.csv", [], "invalid bithumb symbol 'synth1-eth'"),
    (["--exchange", "coingecko"], "synth1-eth.csv", ["--interval", "5m"],
     "coingecko has no '5m' candles"),
    (["--exchange", "bithumb"], "ETH-SYNTH1-2h-2021-04.csv", [], "bithumb has no '2h' candles"),
    (["--exchange", "poloniex", "--quote", "USDT"], "SYNTH1_ETH.csv", [],
     "SYNTH1_ETH is quoted in ETH, not USDT"),
    (["--exchange", "kraken"], "SYNTH1ETH.csv", [], "invalid choice: 'kraken'"),
]


@pytest.mark.parametrize("flags, name, interval, message", IMPORT_REFUSALS)
def test_a_symbol_or_interval_the_exchange_lacks_is_one_line_exit_2(
        flags, name, interval, message, db_url, synthetic_candles, tmp_path, cli):
    import_into(db_url, [write_sample(synthetic_candles / "SYNTH4ETH.csv", tmp_path / "seed", 30)])
    before = fingerprint(db_url)
    path = tmp_path / "files" / name
    path.parent.mkdir()
    path.write_text("\n".join(source_lines(synthetic_candles, "SYNTH1ETH", 48)) + "\n")

    result = cli("import", *flags, *interval, str(path), "--db", db_url, "--no-progress")

    assert result.returncode == 2, (result.stdout, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr, \
        result.stderr
    assert result.stdout == ""
    assert fingerprint(db_url) == before
