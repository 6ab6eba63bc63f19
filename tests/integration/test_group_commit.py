"""db.GroupCommit, the crawl's writer: works of many threads committed together, on both
databases. What the grouping must not change: each caller gets its own work's result, a work
is stored whole or not at all, a failed group stores nothing of any of its works and tells
every caller, and the writer goes on afterwards."""

from __future__ import annotations

import threading
import time

import pytest

from coinlstm import db


def _until(condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _symbols(engine) -> set[str]:
    with engine.connect() as conn:
        return {coin.symbol for coin in db.coins_of_market(conn, "ETH")}


def _register(symbol: str, fail: bool = False):
    """A work that registers ``symbol`` (two rows' worth of writes: insert, then update) and
    then, with ``fail``, raises."""
    def work(conn) -> int:
        coin_id = db.ensure_coin(conn, symbol, symbol[:-3], "ETH")
        db.ensure_coin(conn, symbol, symbol[:-3], "ETH", status="TRADING")
        if fail:
            raise ValueError(f"{symbol} refused")
        return coin_id
    return work


def _held(symbol: str, held: threading.Event, release: threading.Event):
    """A work that stays inside its transaction until ``release``: the writes of the threads
    that come meanwhile queue up for one group."""
    def work(conn) -> int:
        coin_id = _register(symbol)(conn)
        held.set()
        assert release.wait(30)
        return coin_id
    return work


def _start(writer: db.GroupCommit, work, outcomes: dict, key: str) -> threading.Thread:
    def call() -> None:
        try:
            outcomes[key] = writer.write(work)
        except Exception as exc:  # noqa: BLE001 - the test looks at which one came
            outcomes[key] = exc
    thread = threading.Thread(target=call)
    thread.start()
    return thread


def test_works_that_wait_are_committed_in_one_group_each_with_its_own_result(db_url):
    engine = db.open_database(db_url)
    writer = db.GroupCommit(engine)
    held, release, outcomes = threading.Event(), threading.Event(), {}
    threads = [_start(writer, _held("HOLDETH", held, release), outcomes, "HOLDETH")]
    assert held.wait(30)
    for number in range(5):
        symbol = f"SYN{number}ETH"
        threads.append(_start(writer, _register(symbol), outcomes, symbol))
    _until(lambda: writer.waiting == 5)
    release.set()
    for thread in threads:
        thread.join(30)
    assert (writer.commits, writer.works) == (2, 6)  # the held one, then the five together
    with engine.connect() as conn:
        for symbol, result in outcomes.items():
            assert result == db.coin_by_symbol(conn, symbol).id, symbol
            assert db.coin_by_symbol(conn, symbol).status == "TRADING"
    assert len(set(outcomes.values())) == 6
    engine.dispose()


def test_a_failed_group_stores_nothing_of_it_tells_every_caller_and_the_writer_goes_on(
        db_url):
    engine = db.open_database(db_url)
    writer = db.GroupCommit(engine)
    held, release, outcomes = threading.Event(), threading.Event(), {}
    threads = [_start(writer, _held("HOLDETH", held, release), outcomes, "HOLDETH")]
    assert held.wait(30)
    threads.append(_start(writer, _register("GOODETH"), outcomes, "GOODETH"))
    _until(lambda: writer.waiting == 1)
    threads.append(_start(writer, _register("BADETH", fail=True), outcomes, "BADETH"))
    _until(lambda: writer.waiting == 2)
    release.set()
    for thread in threads:
        thread.join(30)
    assert isinstance(outcomes["HOLDETH"], int)
    for symbol in ("GOODETH", "BADETH"):
        assert isinstance(outcomes[symbol], ValueError), symbol
        assert str(outcomes[symbol]) == "BADETH refused"
    # The held work's group committed; the failed group left no row, GOODETH's neither.
    assert _symbols(engine) == {"HOLDETH"}

    assert writer.write(_register("LATERETH")) > 0
    assert _symbols(engine) == {"HOLDETH", "LATERETH"}
    assert (writer.commits, writer.works) == (3, 4)
    engine.dispose()


def test_one_thread_alone_commits_each_work_by_itself(sqlite_url):
    engine = db.open_database(sqlite_url)
    writer = db.GroupCommit(engine)
    ids = [writer.write(_register(f"ONE{number}ETH")) for number in range(3)]
    assert len(set(ids)) == 3 and (writer.commits, writer.works) == (3, 3)
    with pytest.raises(ValueError, match="TWOETH refused"):
        writer.write(_register("TWOETH", fail=True))
    assert _symbols(engine) == {"ONE0ETH", "ONE1ETH", "ONE2ETH"}
    engine.dispose()


def test_mysql_writers_write_side_by_side_and_group_only_when_all_are_busy(mysql_url):
    engine = db.open_database(mysql_url)
    writer = db.GroupCommit(engine, writers=2)
    release, outcomes = threading.Event(), {}
    helds = [threading.Event(), threading.Event()]
    threads = [_start(writer, _held(f"HOLD{n}ETH", held, release), outcomes, f"HOLD{n}ETH")
               for n, held in enumerate(helds)]
    for held in helds:  # both inside their transactions at once: two writers
        assert held.wait(30)
    threads += [_start(writer, _register(f"SYN{n}ETH"), outcomes, f"SYN{n}ETH")
                for n in range(3)]
    _until(lambda: writer.waiting == 3)  # no writer free: they queue for one group
    release.set()
    for thread in threads:
        thread.join(30)
    assert (writer.commits, writer.works) == (3, 5)
    assert _symbols(engine) == set(outcomes) and len(set(outcomes.values())) == 5
    engine.dispose()
