"""The warm-start decision, the warm split and evaluate's schedules: pure rules, no Keras."""

from __future__ import annotations

import numpy as np
import pytest

from coinlstm.app.jobs.pair_job import TrainOptions
from coinlstm.core.errors import BadInput
from train import warmstart
from train.dataset import MIN_TRAIN_SAMPLES, build_dataset, exact_split, split_samples
from train.formulations.level import Level
from train.formulations.returns import Returns
from train.schedule import Schedule, parse_schedule, parse_schedules, steps
from train.warmstart import FULL, WARM, Saved, decide

HOUR = 3_600_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR
SETTINGS = {**TrainOptions().to_dict(), "backend": "jax"}
SPLIT = {"train": 2000, "val": 480, "test": 48, "calibration": 240}
SCALER = Returns(np.zeros(8), np.ones(8), 0.01).to_dict()


def _saved(newest: int = T0, full_fit: int = T0, settings: dict | None = None,
           **changes) -> Saved:
    meta = {"options": {**(settings or SETTINGS), "fit": FULL}, "openTime_last": newest,
            "full_fit_openTime": full_fit, "split": SPLIT, **changes}
    return Saved(meta=meta, scaler=SCALER)


def test_a_saved_model_of_the_same_settings_is_fine_tuned_until_the_refit_is_due():
    for hours in (0, 1, 23):
        plan = decide(_saved(), None, SETTINGS, 24, T0 + hours * HOUR)
        assert (plan.fit, plan.full_fit_open_time) == (WARM, T0), plan.reason
        assert (plan.val, plan.calibration) == (480, 240)
        assert plan.formulation.to_dict() == SCALER
    # After warm runs the newest candle moved on, the full fit's data time did not.
    assert decide(_saved(newest=T0 + 20 * HOUR), None, SETTINGS, 24, T0 + 23 * HOUR).warm
    due = decide(_saved(newest=T0 + 23 * HOUR), None, SETTINGS, 24, T0 + 24 * HOUR)
    assert (due.fit, due.reason) == (FULL, "refit due: 24 h of data since the last full fit "
                                           "(--refit-every 24)")
    assert decide(_saved(), None, SETTINGS, 6, T0 + 6 * HOUR).fit == FULL
    assert decide(_saved(), None, SETTINGS, 7, T0 + 6 * HOUR).fit == WARM


def test_every_reason_for_a_full_fit():
    cases = {
        "--refit-every 0": decide(_saved(), None, SETTINGS, 0, T0 + HOUR),
        "no saved model": decide(None, None, SETTINGS, 24, T0 + HOUR),
        "saved model unreadable: truncated file": decide(None, "truncated file", SETTINGS, 24,
                                                         T0 + HOUR),
        "no warm-start state": decide(_saved(full_fit_openTime=None), None, SETTINGS, 24,
                                      T0 + HOUR),
        "settings changed: epochs 50 -> 3": decide(
            _saved(), None, {**SETTINGS, "epochs": 3}, 24, T0 + HOUR),
        "settings changed: backend 'jax' -> 'torch'": decide(
            _saved(), None, {**SETTINGS, "backend": "torch"}, 24, T0 + HOUR),
        "settings changed: interval '1h' -> '4h'": decide(
            _saved(), None, {**SETTINGS, "interval": "4h"}, 24, T0 + HOUR),
        "newer than the database's newest": decide(_saved(newest=T0), None, SETTINGS, 24,
                                                   T0 - HOUR),
        "no candles": decide(_saved(), None, SETTINGS, 24, None),
        "unreadable: its scaler or split: KeyError": decide(
            Saved(_saved().meta, {"kind": "return"}), None, SETTINGS, 24, T0 + HOUR),
        "unreadable: its scaler is 'close'": decide(
            Saved(_saved().meta, Level(np.zeros(10), np.ones(10)).to_dict()), None, SETTINGS,
            24, T0 + HOUR),
    }
    for words, plan in cases.items():
        assert plan.fit == FULL and words in plan.reason, (words, plan.reason)
        assert plan.history(TrainOptions(history=5000)) == 5000  # a full fit reads as asked
        assert plan.dataset_arguments(TrainOptions()) == {}
    assert [words for words, plan in cases.items() if plan.note] == [
        "saved model unreadable: truncated file", "unreadable: its scaler or split: KeyError",
        "unreadable: its scaler is 'close'"]


def test_the_schedule_settings_and_the_fit_field_change_nothing():
    stored = {**SETTINGS, "refit_every": 6, "warm_epochs": 2, "warm_samples": 100}
    assert warmstart.settings_change(stored, SETTINGS) is None
    # Tuples (as TrainOptions holds them) and lists (as the JSON gives them back) are equal.
    assert warmstart.settings_change({**SETTINGS, "levels": [0.8, 0.95]},
                                     {**SETTINGS, "levels": (0.8, 0.95)}) is None
    assert warmstart.settings_change({**SETTINGS, "levels": [0.8, 0.95]},
                                     {**SETTINGS, "levels": (0.9,)}) == \
        "levels [0.8, 0.95] -> [0.9]"
    assert decide(_saved(settings=stored), None, SETTINGS, 24, T0 + HOUR).warm


def test_a_warm_run_reads_only_the_candles_its_slices_need():
    options = TrainOptions(warm_samples=720, test_size=48, window=1)
    plan = decide(_saved(), None, SETTINGS, 24, T0 + HOUR)
    # 720 + 480 + 240 + 48 samples, the window and the return target's previous close, and
    # the margin for gaps.
    expected = 720 + 480 + 240 + 48 + 1 + 1 + warmstart.GAP_MARGIN
    assert plan.history(options) == expected
    assert plan.history(TrainOptions(history=1000)) == 1000  # --history still caps it
    arguments = plan.dataset_arguments(options)
    assert set(arguments) == {"fitted", "splitter"}


def _series(n: int) -> tuple[list[int], list[tuple[float, ...]]]:
    """``n`` hourly candles of a random walk (the same walk for every ``n``: a prefix)."""
    closes = 100 * np.exp(np.cumsum(np.random.default_rng(3).normal(0, 0.01, 5000)))[:n]
    times = [T0 + i * HOUR for i in range(n)]
    values = [(c, c * 1.01, c * 0.99, c, 10.0, 10.0 * c, 6.0, 5.0, 5.0 * c, 0.0)
              for c in closes]
    return times, values


def test_the_warm_split_keeps_the_full_fits_slices_and_the_newest_training_samples():
    targets = np.arange(2, 3000)
    full = split_samples(targets, 48, 480, calibration_size=240)
    warm = exact_split(targets[-1500:], 48, len(full.val), len(full.calibration), 700)
    # The same test, calibration and validation slices as a full fit at the same hour...
    for name in ("test", "calibration", "val"):
        assert np.array_equal(getattr(warm, name), getattr(full, name)), name
    # ... and the newest 700 of its training samples.
    assert np.array_equal(warm.train, full.train[-700:])
    # Too few candles for the slices: BadInput (a warm run then fits in full).
    with pytest.raises(BadInput):
        exact_split(targets[-(48 + 240 + 480 + MIN_TRAIN_SAMPLES - 1):], 48, 480, 240, 700)
    # Without a calibration slice the validation slice calibrates, as split_samples does.
    assert not exact_split(targets, 48, 480, 0, 700).separate_calibration


def test_the_warm_split_purges_across_slices_at_a_horizon():
    targets = np.arange(2, 3000)
    split = exact_split(targets, 48, 100, 50, 300, horizon=4)
    assert split.train[-1] + 3 < split.val[0] and split.val[-1] + 3 < split.calibration[0]
    assert split.calibration[-1] + 3 < split.test[0]
    assert (len(split.train), len(split.val), len(split.calibration)) == (300, 100, 50)


def test_a_warm_dataset_reuses_the_full_fits_formulation():
    times, values = _series(3000)
    options = TrainOptions(val_size=240)
    full = build_dataset(times, values, 1, 48, 240, HOUR, "return", calibration_size=240)
    meta = _saved(newest=times[-1], full_fit=times[-1]).meta
    saved = Saved({**meta, "split": warmstart.split_sizes(full.split)},
                  full.formulation.to_dict())
    # Two hours later: two more candles, the warm run reads only the newest it needs.
    later_times, later_values = _series(3002)
    plan = decide(saved, None, SETTINGS, 24, later_times[-1])
    assert plan.warm, plan.reason
    history = plan.history(options)
    warm = build_dataset(later_times[-history:], later_values[-history:], 1, 48, 240, HOUR,
                         "return", calibration_size=240, **plan.dataset_arguments(options))
    assert warm.formulation.to_dict() == full.formulation.to_dict()
    assert len(warm.split.val) == len(full.split.val) == 240
    assert len(warm.split.train) == options.warm_samples
    # Its newest samples are the two new hours'.
    assert warm.open_times[warm.split.test[-1]] == later_times[-1]


def test_schedules_parse_and_label():
    assert parse_schedule("full") == Schedule()
    assert parse_schedule("warm") == Schedule(1)
    assert parse_schedule(" warm:4 ") == Schedule(4)
    assert [s.name for s in parse_schedules("full,warm,warm:1,warm:3")] == [
        "full", "warm", "warm:3"]
    assert [Schedule().label("default"), Schedule(1).label("default"),
            Schedule(6).label("gru")] == ["default", "default@warm", "gru@warm:6"]
    for bad in ("", "cold", "warm:0", "warm:x", "full:2", "warm:-1"):
        with pytest.raises(BadInput):
            parse_schedules(bad)


def test_warm_steps_cover_the_block_once():
    assert steps(12, 1) == [(i, i + 1) for i in range(12)]
    assert steps(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert steps(3, 5) == [(0, 3)]


def test_warm_start_flags_are_checked():
    for bad, words in (({"refit_every": -1}, "--refit-every"),
                       ({"warm_epochs": 0}, "--warm-epochs"),
                       ({"warm_samples": MIN_TRAIN_SAMPLES - 1}, "--warm-samples")):
        with pytest.raises(BadInput, match=words):
            TrainOptions(**bad).check()
    TrainOptions(refit_every=0, warm_epochs=1, warm_samples=MIN_TRAIN_SAMPLES).check()


def test_warm_cases_are_paired_with_the_full_cases_of_the_same_hours():
    from train.backtest_scores import schedule_differences

    def case(model, pair, fold, skill):
        return {"model": model, "pair": pair, "fold": fold, "repeat": 0, "skill": skill}

    cases = [case("default", "A", 0, 0.0), case("default", "A", 1, -0.03),
             case("default", "B", 0, 0.01), case("default@warm", "A", 0, 0.002),
             case("default@warm", "A", 1, -0.01), case("default@warm", "B", 0, -0.025),
             case("default@warm", "C", 0, 0.5),  # no full twin: not paired
             case("naive", "A", 0, 0.0)]
    differences = schedule_differences(cases, ["naive", "default", "default@warm"])
    assert list(differences) == ["default@warm"]
    figures = differences["default@warm"]
    assert (figures["versus"], figures["cases"]) == ("default", 3)
    assert figures["median_difference"] == pytest.approx(0.002)
    assert figures["share_warm_better"] == pytest.approx(2 / 3)
    assert (figures["full_below_-0.02"], figures["warm_below_-0.02"]) == (1, 1)
    assert schedule_differences(cases, ["default@warm"]) == {}  # no full schedule asked


def _replay(pairs: list[int], hours: int, refit_every: int, slots: bool,
            new_at: dict[int, int] | None = None) -> dict[int, list[tuple[int, str]]]:
    """Replay the hourly decisions of a market whose pairs (coin ids) all had their full
    fit at T0 (the old schedule's state: one hour refitted every pair); pairs in ``new_at``
    (coin id -> hour) appear only then, without a saved model. Returns hour -> [(coin id,
    reason)] of the full fits."""
    new_at = new_at or {}
    saved = {coin: _saved() for coin in pairs if coin not in new_at}
    fulls: dict[int, list[tuple[int, str]]] = {}
    for hour in range(1, hours + 1):
        newest = T0 + hour * HOUR
        for coin in pairs:
            if new_at.get(coin, 0) > hour:
                continue
            plan = decide(saved.get(coin), None, SETTINGS, refit_every, newest,
                          slot=coin if slots else None)
            full_fit = newest if plan.fit == FULL else plan.full_fit_open_time
            saved[coin] = _saved(newest=newest, full_fit=full_fit)
            if plan.fit == FULL:
                fulls.setdefault(hour, []).append((coin, plan.reason))
    return fulls


def test_refits_spread_over_the_cycle_by_coin_id():
    """48 pairs all fitted in one hour, --refit-every 24, replayed hour by hour: with slots
    no hour refits more than ceil(48 / 24) = 2 pairs besides the new ones, each pair moves
    onto its own hour and then refits exactly every 24 h; without, every pair refits in the
    same hour of each cycle."""
    pairs = list(range(1, 49))

    def due(fulls: dict) -> dict[int, list[int]]:
        return {hour: [coin for coin, reason in found if reason.startswith("refit due")]
                for hour, found in fulls.items()}

    assert max(len(coins) for coins in due(_replay(pairs, 26, 24, slots=True)).values()) == 2
    assert max(len(coins) for coins in due(_replay(pairs, 60, 24, slots=True)).values()) == 2
    new_at = {49: 30, 50: 30}  # two pairs listed later: fitted when they come, then spread
    fulls = _replay([*pairs, 49, 50], 60, 24, slots=True, new_at=new_at)
    assert sorted(coin for coin, reason in fulls[30] if reason == "no saved model") == [49, 50]
    assert max(len(coins) for coins in due(fulls).values()) == 3  # ceil(50 / 24)
    for coin in range(1, 51):
        hours = [hour for hour, found in fulls.items() if coin in dict(found)]
        on_slot = [h for h in hours if (T0 // HOUR + h - coin) % 24 == 0]
        assert on_slot, (coin, hours)
        # A move onto the slot comes at least half a cycle after the last full fit and at
        # most 1.5 cycles; on the slot, the gap is the cycle.
        starts = [0, *hours] if coin < 49 else hours  # the new ones: their first fit
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        assert all(12 <= gap <= 36 for gap in gaps[:1]) and all(g == 24 for g in gaps[1:]), \
            (coin, hours)
    old = _replay(pairs, 60, 24, slots=False)
    assert {hour: len(found) for hour, found in old.items()} == {24: 48, 48: 48}


def test_a_missed_slot_hour_refits_at_the_next_run_and_the_reasons_say_when():
    slot = (T0 // HOUR) % 24  # T0's own hour: the full fit was on the slot
    warm = decide(_saved(), None, SETTINGS, 24, T0 + 5 * HOUR, slot=slot)
    assert (warm.fit, warm.reason) == (WARM, f"5 h of data since the last full fit, refit "
                                             f"in 19 h (hour {slot} of its 24-h cycle)")
    due = decide(_saved(), None, SETTINGS, 24, T0 + 24 * HOUR, slot=slot)
    assert (due.fit, due.reason) == (FULL, f"refit due: hour {slot} of its 24-h cycle, "
                                           "24 h of data since the last full fit")
    # The run of the slot hour did not happen (an outage): the next run refits.
    assert decide(_saved(), None, SETTINGS, 24, T0 + 26 * HOUR, slot=slot).fit == FULL
    assert decide(_saved(), None, SETTINGS, 24, T0 + 23 * HOUR, slot=slot).fit == WARM
    # Off the slot by one hour: the slot an hour later is too soon (half a cycle), the
    # one after it is the refit.
    off = slot + 1
    assert decide(_saved(), None, SETTINGS, 24, T0 + HOUR, slot=off).fit == WARM
    assert decide(_saved(), None, SETTINGS, 24, T0 + 24 * HOUR, slot=off).fit == WARM
    assert decide(_saved(), None, SETTINGS, 24, T0 + 25 * HOUR, slot=off).fit == FULL
    assert warmstart.refit_due(off, 24, T0, T0 + 25 * HOUR) == T0 + 25 * HOUR


def test_a_due_refit_deferred_is_a_warm_run_that_says_so_and_nothing_else_is_deferred():
    """--refits after: a refit due by the schedule alone becomes a warm run flagged
    refit_deferred (the job refits after the market's forecasts); a model that cannot be
    fine-tuned is fitted now whatever the rule; a run with nothing due defers nothing."""
    due_slot = 24  # coin id 24's slot hours: (h - 24) % 24 == 0
    newest = (T0 // HOUR + 30 - (T0 // HOUR + 30 - due_slot) % 24) * HOUR  # a slot hour
    saved = _saved(newest=newest - HOUR, full_fit=newest - 24 * HOUR)
    inline = decide(saved, None, SETTINGS, 24, newest, slot=due_slot)
    deferred = decide(saved, None, SETTINGS, 24, newest, slot=due_slot, defer_refit=True)
    assert (inline.fit, inline.refit_deferred) == (FULL, False)
    assert (deferred.fit, deferred.refit_deferred) == (WARM, True)
    assert deferred.reason == (f"{inline.reason}; fine-tuned first, refitted after the "
                               "market's forecasts")
    assert (deferred.full_fit_open_time, deferred.val, deferred.calibration) == (
        newest - 24 * HOUR, 480, 240)
    # The refit run itself, then the next hour: fine-tuned from it, nothing due.
    assert warmstart.refit_after().fit == FULL
    after = _saved(newest=newest, full_fit=newest)
    nxt = decide(after, None, SETTINGS, 24, newest + HOUR, slot=due_slot, defer_refit=True)
    assert (nxt.fit, nxt.refit_deferred) == (WARM, False)
    # What a fine-tune cannot continue is fitted now, deferral or not.
    for saved_now, problem, settings in ((None, None, SETTINGS),
                                         (None, "truncated file", SETTINGS),
                                         (saved, None, {**SETTINGS, "epochs": 3})):
        plan = decide(saved_now, problem, settings, 24, newest, slot=due_slot,
                      defer_refit=True)
        assert (plan.fit, plan.refit_deferred) == (FULL, False), plan.reason
    # The age rule (no slot) defers the same way.
    aged = decide(_saved(), None, SETTINGS, 24, T0 + 24 * HOUR, defer_refit=True)
    assert (aged.fit, aged.refit_deferred) == (WARM, True)
