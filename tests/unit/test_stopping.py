"""The early-stopping rule (train/stopping.py) on hand-worked loss sequences: when it stops,
which epoch it keeps; ties, NaN and the min_delta boundary included."""

from __future__ import annotations

import math

import pytest

from train.stopping import MIN_DELTA, EarlyStopping, beats_start

NAN, INF = math.nan, math.inf


def _run(rule: EarlyStopping, losses: list[float], epochs: int | None = None):
    """Epochs run, the kept (1-based) epoch, and the epochs that improved."""
    watch, improved = rule.watch(), []
    run = 0
    for loss in losses[:epochs]:
        run += 1
        verdict = watch.after_epoch(loss)
        if verdict.improved:
            improved.append(run)
        if verdict.stop:
            break
    return run, watch.kept_epoch(run), improved


@pytest.mark.parametrize(("patience", "min_delta", "losses", "expected"), [
    # Always better: never stops, keeps the last.
    (1, MIN_DELTA, [4.0, 2.0, 1.0], (3, 3, [1, 2, 3])),
    # A tie is no improvement: the first of equal losses is kept.
    (2, MIN_DELTA, [1.0, 1.0, 1.0, 0.5], (3, 1, [1])),
    (2, MIN_DELTA, [2.0, 1.0, 1.0, 0.5, 0.5, 0.5], (6, 4, [1, 2, 4])),
    # Patience 0: the first epoch that does not improve stops, never the first epoch.
    (0, MIN_DELTA, [1.0, 2.0, 0.5], (2, 1, [1])),
    (0, MIN_DELTA, [1.0], (1, 1, [1])),
    # The wait counts epochs in a row since the last improvement.
    (2, MIN_DELTA, [3.0, 4.0, 2.0, 5.0, 5.0, 1.0], (5, 3, [1, 3])),
    # A first NaN is the best (there is none yet) and nothing beats it.
    (1, MIN_DELTA, [NAN, 1.0, 0.5], (2, 1, [1])),
    # A later NaN never improves; numbers after it still compare with the best number.
    (2, MIN_DELTA, [1.0, NAN, 0.5, NAN, NAN, 0.25], (5, 3, [1, 3])),
    (3, MIN_DELTA, [INF, 1.0, INF, 0.5], (4, 4, [1, 2, 4])),
    # min_delta: a loss exactly min_delta below the best is no improvement, one below it is.
    (1, 0.25, [1.0, 0.75, 0.625], (2, 1, [1])),
    (2, 0.25, [1.0, 0.75, 0.625, 0.5], (4, 3, [1, 3])),
    (5, 0.0, [1.0, 1.0, 0.9999999], (3, 3, [1, 3])),
    # The default min_delta: any float32 step counts.
    (1, MIN_DELTA, [1.0, 1.0 - 2.0 ** -24, 1.0 - 2.0 ** -24], (3, 2, [1, 2])),
])
def test_the_rule_stops_and_keeps_as_worked_out(patience, min_delta, losses, expected):
    assert _run(EarlyStopping(patience=patience, min_delta=min_delta), losses) == expected


def test_a_rule_that_does_not_restore_keeps_the_last_epoch():
    rule = EarlyStopping(patience=1, restore_best=False)
    assert _run(rule, [1.0, 2.0, 3.0]) == (2, 2, [1])


def test_the_epochs_cap_comes_first_and_nothing_watched_keeps_the_last():
    assert _run(EarlyStopping(patience=30), [3.0, 2.0, 2.5], epochs=2) == (2, 2, [1, 2])
    assert EarlyStopping(patience=30).watch().kept_epoch(4) == 4


@pytest.mark.parametrize(("patience", "min_delta"), [(-1, 0.0), (1, -0.1), (1, NAN)])
def test_a_rule_refuses_negative_settings(patience, min_delta):
    with pytest.raises(ValueError, match="early stopping needs"):
        EarlyStopping(patience=patience, min_delta=min_delta)


def test_a_fine_tune_keeps_its_start_unless_the_kept_epoch_beats_it():
    assert beats_start(1.0, [1.5, 0.75], kept_epoch=2)
    assert not beats_start(1.0, [1.0, 1.5], kept_epoch=1)  # a tie keeps the start
    assert not beats_start(1.0, [], kept_epoch=0)
    assert not beats_start(1.0, [0.5], kept_epoch=2)  # nothing watched: no kept epoch
    # A first NaN is the epoch the rule keeps: it beats nothing, the start is put back.
    rule = EarlyStopping(patience=1)
    run, kept, _ = _run(rule, [NAN, 0.5])
    assert (run, kept) == (2, 1) and not beats_start(1.0, [NAN, 0.5], kept)
    assert not beats_start(NAN, [0.5], kept_epoch=1)
