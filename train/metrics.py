"""Error figures of a forecast on the test slice, always beside the naive forecast.

The naive forecast says "the next close equals the last close". A model of price levels
mostly learns exactly that, so a figure without the naive one beside it says nothing;
``skill = 1 - RMSE_model / RMSE_naive`` says it in one number: above 0 the model beats the
naive forecast, below 0 it is worse than it.

Direction. A forecast's direction is the sign of (forecast - last close), the actual one the
sign of (actual close - last close), each -1, 0 or +1; a forecast is right when the two signs
are equal. An hour whose close did not change (about 7 % of hours, more on illiquid pairs)
therefore counts as right only for a forecast of exactly no change. Consequence, stated on
purpose: the naive forecast (always "no change") scores exactly the share of unchanged hours,
and a model that always moves never scores those hours.

Horizon. With ``--horizon K`` every figure runs over all K steps of all test samples, the
naive forecast being the last close for every step (and the direction read against it);
:class:`StepRmse` adds each step's RMSE, model and naive, since a K-step model's error grows
with the step and one number hides where it stops being useful.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from coinlstm.core.tables import format_table


@dataclass(frozen=True)
class ForecastErrors:
    """Errors of one forecast in price units (MAPE in percent, direction as a fraction)."""

    rmse: float
    max_error: float
    mae: float
    mape: float | None
    direction_accuracy: float

    def to_dict(self) -> dict:
        return asdict(self)


def forecast_errors(actual: np.ndarray, predicted: np.ndarray,
                    last_close: np.ndarray) -> ForecastErrors:
    """Errors of ``predicted`` against ``actual`` given the close before each target."""
    actual = np.asarray(actual, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    last_close = np.asarray(last_close, dtype=np.float64)
    if not (actual.shape == predicted.shape == last_close.shape) or actual.size == 0:
        raise ValueError("actual, predicted and last_close must be equal, non-empty shapes")
    errors = predicted - actual
    nonzero = actual != 0
    mape = (float(np.mean(np.abs(errors[nonzero]) / np.abs(actual[nonzero])) * 100.0)
            if nonzero.any() else None)
    same_direction = np.sign(predicted - last_close) == np.sign(actual - last_close)
    return ForecastErrors(
        rmse=float(np.sqrt(np.mean(errors ** 2))),
        max_error=float(np.max(np.abs(errors))),
        mae=float(np.mean(np.abs(errors))),
        mape=mape,
        direction_accuracy=float(np.mean(same_direction)),
    )


def skill(model_rmse: float, naive_rmse: float) -> float | None:
    """1 - RMSE_model / RMSE_naive; None when the naive forecast is perfect (no price moved)."""
    if naive_rmse == 0:
        return None
    return 1.0 - model_rmse / naive_rmse


@dataclass(frozen=True)
class StepRmse:
    """RMSE of each forecast step (1..K) over the test samples, model and naive."""

    model: tuple[float, ...]
    naive: tuple[float, ...]

    def table(self) -> str:
        rows = [("step", "RMSE", "naive RMSE", "skill")]
        for step, (ours, naive) in enumerate(zip(self.model, self.naive, strict=True), 1):
            step_skill = skill(ours, naive)
            rows.append((str(step), f"{ours:.6g}", f"{naive:.6g}",
                         "-" if step_skill is None else f"{step_skill:+.3f}"))
        return format_table(rows, left=0, rule=False)


def step_rmse(actual: np.ndarray, predicted: np.ndarray) -> tuple[float, ...]:
    """RMSE of each column (step) of (samples, K) forecasts."""
    return tuple(float(v) for v in np.sqrt(np.mean((predicted - actual) ** 2, axis=0)))


@dataclass(frozen=True)
class SliceMetrics:
    """The model's and the naive forecast's errors on the same test slice, and the skill."""

    model: ForecastErrors
    naive: ForecastErrors
    skill: float | None
    #: Per-step RMSE of a multi-step forecast (None for one step).
    steps: StepRmse | None = None

    def verdict(self) -> str:
        if self.skill is None:
            return "skill undefined (no close changed in the test slice)"
        word = ("beats naive" if self.skill > 0 else "worse than naive" if self.skill < 0
                else "same as naive")
        return (f"skill {self.skill:+.3f} (1 - RMSE/naive RMSE): {word}")

    def table(self) -> str:
        """A small aligned table: model row, naive row, skill line."""
        header = ("", "RMSE", "max error", "MAE", "MAPE %", "direction")
        rows = [header]
        for name, errors in (("model", self.model), ("naive", self.naive)):
            rows.append((name, f"{errors.rmse:.6g}", f"{errors.max_error:.6g}",
                         f"{errors.mae:.6g}",
                         "-" if errors.mape is None else f"{errors.mape:.4f}",
                         f"{errors.direction_accuracy:.3f}"))
        lines = [format_table(rows, rule=False)]
        steps = [] if self.steps is None else [f"over all {len(self.steps.model)} steps; "
                                               "per step:", self.steps.table()]
        return "\n".join([*lines, self.verdict(), *steps])


def slice_metrics(actual: np.ndarray, predicted: np.ndarray, last_close: np.ndarray
                  ) -> SliceMetrics:
    """Model and naive errors on the test slice, side by side.

    ``actual`` and ``predicted`` are (samples, K): the figures run over all steps, the naive
    forecast repeats each sample's last close, and K > 1 adds the per-step RMSE.
    """
    actual = np.asarray(actual, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    naive_steps = np.broadcast_to(np.asarray(last_close, dtype=np.float64)[:, None],
                                  actual.shape)
    steps = None
    if actual.shape[1] > 1:
        steps = StepRmse(model=step_rmse(actual, predicted),
                         naive=step_rmse(actual, naive_steps))
    actual, predicted, naive_flat = (actual.reshape(-1), predicted.reshape(-1),
                                     naive_steps.reshape(-1))
    model = forecast_errors(actual, predicted, naive_flat)
    naive = forecast_errors(actual, naive_flat, naive_flat)
    return SliceMetrics(model=model, naive=naive, skill=skill(model.rmse, naive.rmse),
                        steps=steps)
