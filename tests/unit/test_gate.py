"""crawl/gate.py: the limits every crawl thread shares (no server, no database)."""

from __future__ import annotations

import threading
import time

from crawl.gate import RequestGate, WeightBudget


def _never(weight: int) -> None:  # a wait_for_minute that must not be called
    raise AssertionError("asked the exchange for its used weight")


def test_a_lone_request_reports_the_truth_and_a_new_minute_lowers_the_count():
    budget = WeightBudget()
    budget.ceiling = 32
    for used in (10, 12, 2):  # 2: the server's next minute
        budget.settle(budget.reserve(2, _never), used)
    assert budget.used == 2 and budget.pending == 0


def test_a_stale_figure_from_an_overtaken_request_never_lowers_the_count():
    budget = WeightBudget()
    budget.ceiling = 32
    first = budget.reserve(2, _never)
    second = budget.reserve(2, _never)
    assert budget.pending == 4
    budget.settle(second, 14)  # arrived later at the server, answered first
    budget.settle(first, 12)  # its figure does not count the second
    assert budget.used == 14 and budget.pending == 0


def test_requests_in_flight_count_against_the_ceiling_and_one_thread_asks_once_idle():
    budget = WeightBudget()
    budget.ceiling = 10
    budget.settle(budget.reserve(2, _never), 4)
    in_flight = [budget.reserve(2, _never) for _ in range(3)]  # 4 + 6 = 10: full
    asked = []

    def wait_for_minute(weight: int) -> None:
        asked.append((budget.pending, threading.current_thread().name))
        ticket = budget.reserve(1, None)  # the probe itself passes the ceiling
        budget.settle(ticket, 0)  # the exchange's new minute

    waiting = [threading.Thread(target=lambda: budget.settle(budget.reserve(2, wait_for_minute),
                                                             None), name=f"w{n}")
               for n in range(3)]
    for thread in waiting:
        thread.start()
    time.sleep(0.2)
    assert asked == []  # nothing fits, but requests are still in flight: no probe yet
    for ticket in in_flight:
        budget.settle(ticket, 10)
    for thread in waiting:
        thread.join(timeout=5)
    assert not any(thread.is_alive() for thread in waiting)
    assert len(asked) == 1 and asked[0][0] == 0  # one probe, with nothing in flight
    assert budget.pending == 0


def test_a_retry_after_pauses_every_thread():
    gate = RequestGate()
    started = time.monotonic()
    gate.pause_all(0.3)
    passed = []

    def send() -> None:
        gate.wait_unblocked()
        passed.append(time.monotonic())

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert len(passed) == 4 and min(passed) - started >= 0.3
    assert (gate.requests, gate.rate_limit_waits) == (4, 1)


def test_spacing_holds_across_threads():
    gate = RequestGate()
    starts = []

    def send() -> None:
        starts.append(gate.space(0.05))  # the start the gate marked

    threads = [threading.Thread(target=send) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    starts.sort()
    assert all(later - earlier >= 0.05 for earlier, later in zip(starts, starts[1:],
                                                                   strict=False))
