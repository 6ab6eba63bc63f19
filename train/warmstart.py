"""Warm start: whether an hourly run fine-tunes its pair's saved model or fits from scratch.

Why: every hour a pair used to be refitted from scratch on two years of candles of which all
but one were the ones it trained on an hour before. A warm run instead starts from the saved
model and fine-tunes it for a few epochs (train/finetune.py), at a small share of the cost.

The decision (:func:`decide`) is pure: it reads the saved model's metadata
(predict/artifacts.py ``saved_fit``), the run's settings and the data time of the newest
candle, never the wall clock, so a replayed history behaves as a live one. A run is **full**
(a new network, a new scaler) when

- ``--refit-every 0`` (``--cold``) asks for it;
- there is no saved model, or it cannot be read (a one-line note, not a failure), or it was
  saved before warm starts existed;
- any stored setting differs from this run's (formulation, network, every training flag,
  interval, backend), except the schedule's own (:data:`SCHEDULE_KEYS`);
- the database's newest candle is older than the saved model's (it has seen the "future");
- its refit is due: with a refit slot (the market job's pairs: the coin id), when the
  pair's own hour of the ``--refit-every``-hour cycle has come since the last full fit
  (:func:`refit_due`); without one, when ``--refit-every`` hours of data time have passed.

Otherwise it is **warm**. What a warm run does (and why):

- It reuses the saved formulation state (the scaler): refitted only at full fits, so the
  model's inputs keep the meaning its weights learned.
- It reads only the candles it needs (:func:`warm_history`): the newest ``--warm-samples``
  training samples, the validation, calibration and test slices, the window, and a margin
  for maintenance gaps.
- It cuts them with :func:`train.dataset.exact_split`: the validation and calibration slices
  have the sizes of the full fit it continues; training keeps the newest ``--warm-samples``
  samples (the ones every run since the full fit moved in from validation, plus the recent
  history they continue).
- It fine-tunes for at most ``--warm-epochs`` epochs (never more than ``--epochs``) with
  early stopping on that validation slice; the saved weights are themselves a candidate
  ("epoch 0"): if no epoch beats their validation loss they are kept.
- The cheap calibrations (the shrinkage factor, the prediction bands) are redone every run on
  the current calibration slice, exactly as at a full fit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from coinlstm.core.errors import BadInput, one_line
from coinlstm.core.klines import INTERVAL_MS
from train import formulations
from train.config import stored_defaults
from train.dataset import Split, exact_split, lead
from train.formulations import Formulation

if TYPE_CHECKING:
    from train.config import TrainConfig

FULL = "full"
WARM = "warm"
#: Candles a warm run reads beyond what its slices need, for maintenance gaps in them.
GAP_MARGIN = 48
#: Settings that say how a model is scheduled, not what it is: a change refits nothing.
SCHEDULE_KEYS = frozenset({"fit", "refit_every", "warm_epochs", "warm_samples"})
#: Metadata a saved model needs for a warm start (written since warm starts exist).
STATE_KEYS = ("options", "openTime_last", "full_fit_openTime", "split")
HOUR_MS = INTERVAL_MS["1h"]
#: What a pair's run does with a refit that is due (its ``refit``): INLINE, the run is the full
#: fit and forecasts from it; DEFER, the run fine-tunes and forecasts (``refit_deferred``) and
#: its caller runs ONLY after: the full fit alone, its model saved, no forecast written.
INLINE, DEFER, ONLY = "inline", "defer", "only"
REFIT_RUNS = (INLINE, DEFER, ONLY)
#: The market job's rule for the due refits (``--refits``): AFTER, every pair forecasts first
#: (the due ones fine-tuned), then the due pairs are refitted ("publish first"); or INLINE.
AFTER = "after"
JOB_REFITS = (AFTER, INLINE)
DEFAULT_JOB_REFITS = AFTER


def pair_refit(job_refits: str) -> str:
    """A pair run's ``refit`` under the job's rule: DEFER under AFTER, else INLINE."""
    return DEFER if job_refits == AFTER else INLINE


@dataclass(frozen=True)
class Saved:
    """What the warm-start decision reads of a saved model: its metadata and its fitted
    formulation state (the scaler JSON)."""

    meta: dict
    scaler: dict


@dataclass(frozen=True)
class FitPlan:
    """What a run will do: ``fit`` is FULL or WARM, ``reason`` says why in a few words."""

    fit: str
    reason: str
    #: The newest open time of the last full fit (None for a full plan: this run's own).
    full_fit_open_time: int | None = None
    #: Validation and calibration sizes of that full fit (a warm run keeps them).
    val: int = 0
    calibration: int = 0
    #: The saved formulation (the scaler) a warm run reuses.
    formulation: Formulation | None = None
    #: The reason is a fault the user should see (an unreadable saved model).
    note: bool = False
    #: The pair's refit is due, and this warm run forecasts in its place (``defer_refit``):
    #: the caller runs the full fit after (:func:`refit_after`).
    refit_deferred: bool = False

    @property
    def warm(self) -> bool:
        return self.fit == WARM

    def describe(self) -> str:
        """One line for the run's report, e.g. ``fit: warm (5 h of data since ...)``."""
        return f"fit: {self.fit} ({self.reason})"

    def history(self, options: TrainConfig) -> int | None:
        """Newest candles the run reads (None: all): a warm run's few, else --history."""
        if not self.warm:
            return options.history
        return warm_history(options, self.val, self.calibration)

    def dataset_arguments(self, options: TrainConfig, test_size: int | None = None) -> dict:
        """build_dataset's keywords: a warm run's saved formulation and its split rule."""
        if not self.warm:
            return {}
        return {"fitted": self.formulation,
                "splitter": warm_splitter(options, self.val, self.calibration, test_size)}

    def start(self, weights: Path) -> Path | None:
        """What the forecaster continues from: the saved weights (warm), nothing (full)."""
        return weights if self.warm else None


def full(reason: str, note: bool = False) -> FitPlan:
    return FitPlan(FULL, reason, note=note)


def refit_after() -> FitPlan:
    """The full fit of a deferred refit, run after the market's forecasts: its model serves
    from the next hour, it writes no forecast."""
    return full("refit due, run after the market's forecasts (--refits after)")


def comparable(settings: dict) -> dict:
    """The settings that must match for a warm start, as stored (JSON: tuples are lists). An
    option a model was saved without (it predates the option) had its default."""
    plain = json.loads(json.dumps({**stored_defaults(), **settings}, sort_keys=True))
    return {key: value for key, value in plain.items() if key not in SCHEDULE_KEYS}


def settings_change(saved: dict, current: dict) -> str | None:
    """``"epochs 2 -> 3, units 64 -> 32"`` for the settings that differ, else None."""
    old, new = comparable(saved), comparable(current)
    changed = [f"{key} {old.get(key)!r} -> {new.get(key)!r}"
               for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
    return ", ".join(changed) or None


def refit_due(slot: int, refit_every: int, full_fit_open_time: int,
              newest_open_time: int) -> int | None:
    """With a refit slot: the open time (ms) of the slot hour that makes a refit due now,
    else None.

    Why slots: a pair's cycle used to start at its first fit, so a market crawled and fitted
    together refitted every pair in the same hour once a cycle (an hour several times slower
    than the others). A pair's slot hours are the hours h (the hour index of a candle's
    open time, open_ms // 1 h) with (h - slot) mod refit_every == 0; with the coin ids of a
    job's pairs consecutive, no hour holds more than ceil(N / refit_every) of N pairs' slots.

    Due when a slot hour S with full fit + ceil(refit_every / 2) h <= S <= newest has come:
    a pair on its slot refits exactly every ``refit_every`` hours; a run that missed the
    slot hour (an outage) refits at the next run; a pair fitted off its slot (new, settings
    changed, unreadable model) moves onto its slot at its first slot hour at least half a
    cycle later (so never twice within a few hours; once, its gap is up to 1.5 cycles).
    Data time only (never the wall clock), as the rest of the decision.
    """
    newest_hour = newest_open_time // HOUR_MS
    slot_hour = newest_hour - (newest_hour - slot) % refit_every
    slot_ms = slot_hour * HOUR_MS
    if slot_ms - full_fit_open_time >= -(-refit_every // 2) * HOUR_MS:
        return slot_ms
    return None


def _next_slot_hours(slot: int, refit_every: int, full_fit_open_time: int,
                     newest_open_time: int) -> int:
    """Hours of data time until the refit :func:`refit_due` will find due."""
    hour = newest_open_time // HOUR_MS
    while refit_due(slot, refit_every, full_fit_open_time, hour * HOUR_MS) is None:
        hour += 1
    return hour - newest_open_time // HOUR_MS


def _due_reason(slot: int | None, refit_every: int, full_fit: int,
                newest_open_time: int) -> tuple[bool, str]:
    """(due?, why) of the schedule: the slot rule with a slot, else the age rule."""
    hours = (newest_open_time - full_fit) / HOUR_MS
    if slot is None:
        if hours >= refit_every:
            return True, (f"refit due: {hours:g} h of data since the last full fit "
                          f"(--refit-every {refit_every})")
        return False, f"{hours:g} h of data since the last full fit, refit at {refit_every} h"
    cycle = f"hour {slot % refit_every} of its {refit_every}-h cycle"
    if refit_due(slot, refit_every, full_fit, newest_open_time) is not None:
        return True, f"refit due: {cycle}, {hours:g} h of data since the last full fit"
    wait = _next_slot_hours(slot, refit_every, full_fit, newest_open_time)
    return False, (f"{hours:g} h of data since the last full fit, refit in {wait} h "
                   f"({cycle})")


def decide(saved: Saved | None, problem: str | None, settings: dict, refit_every: int,
           newest_open_time: int | None, slot: int | None = None,
           defer_refit: bool = False) -> FitPlan:
    """Warm or full for a run with ``settings`` (its stored settings JSON) whose newest candle
    opened at ``newest_open_time`` (ms; None: no candle), given the saved model (None: there
    is none, or ``problem`` says why it could not be read). ``slot``: the pair's refit slot
    (:func:`refit_due`; None: refit every ``refit_every`` hours of data since the last full
    fit). ``defer_refit``: a refit due by the schedule alone is planned warm with
    ``refit_deferred`` (the market job publishes every forecast first, then refits); a model
    that cannot be fine-tuned (missing, unreadable, other settings) is still fitted now."""
    if refit_every == 0:
        return full("--refit-every 0: every run is a full fit")
    if problem is not None:
        return full(f"saved model unreadable: {problem}", note=True)
    if saved is None:
        return full("no saved model")
    meta = saved.meta
    if any(meta.get(key) is None for key in STATE_KEYS):
        return full("the saved model has no warm-start state (saved before warm starts)")
    change = settings_change(meta["options"], settings)
    if change is not None:
        return full(f"settings changed: {change}")
    if newest_open_time is None:
        return full("no candles")
    saved_newest, full_fit = int(meta["openTime_last"]), int(meta["full_fit_openTime"])
    if newest_open_time < saved_newest:
        return full("the saved model has seen candles newer than the database's newest")
    due, why = _due_reason(slot, refit_every, full_fit, newest_open_time)
    if due and not defer_refit:
        return full(why)
    try:
        formulation = formulations.from_dict(saved.scaler)
        split = meta["split"]
        val, calibration = int(split["val"]), int(split["calibration"])
    except (KeyError, TypeError, ValueError, BadInput) as exc:
        return full(f"saved model unreadable: its scaler or split: {one_line(exc)}", note=True)
    if formulation.name != settings.get("target"):
        return full(f"saved model unreadable: its scaler is {formulation.name!r}, its "
                    f"settings {settings.get('target')!r}", note=True)
    if due:
        why = f"{why}; fine-tuned first, refitted after the market's forecasts"
    return FitPlan(WARM, why, full_fit_open_time=full_fit, val=val,
                   calibration=calibration, formulation=formulation, refit_deferred=due)


def warm_history(options: TrainConfig, val: int, calibration: int,
                 test_size: int | None = None) -> int:
    """Candles a warm run reads: its slices' samples, the window with the formulation's lead,
    the horizon's extra candles and purged samples, and :data:`GAP_MARGIN` for gaps.
    ``test_size`` overrides the options' test slice's size."""
    test = options.test_size if test_size is None else test_size
    samples = options.warm_samples + val + calibration + test
    candles = samples + options.window + lead(options.target) + 3 * (options.horizon - 1)
    wanted = candles + GAP_MARGIN
    return wanted if options.history is None else min(options.history, wanted)


def warm_splitter(options: TrainConfig, val: int, calibration: int, test_size: int | None = None
                  ) -> Callable[[np.ndarray], Split]:
    """The warm run's split rule for build_dataset (train.dataset.exact_split)."""
    test = options.test_size if test_size is None else test_size
    return partial(exact_split, test_size=test, val_size=val, calibration_size=calibration,
                   train_size=options.warm_samples, horizon=options.horizon)


def split_sizes(split: Split) -> dict:
    """The slice sizes a saved model's metadata keeps for the warm runs after it."""
    return {"train": len(split.train), "val": len(split.val), "test": len(split.test),
            "calibration": len(split.calibration) if split.separate_calibration else 0}
