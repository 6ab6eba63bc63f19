"""The pair's PNG: the test slice (actual, model, naive) and the training loss curves.

A prediction that "leads by one step" is usually one lagging by one: drawing the naive
forecast beside the model's makes that visible at a glance. The prediction bands
(train/prediction_bands.py) are shaded around the model's line, the widest level palest, so a close
outside them stands out.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from train.prediction_bands import Band

#: The figure's fixed margins (fractions of its 10 x 7 in), wide enough for the longest tick
#: labels of a price axis ("0.00012345") and the rotated dates: matplotlib's tight_layout
#: sizes every label for the same result, at half of the plot's time.
MARGINS = {"left": 0.1, "right": 0.98, "top": 0.95, "bottom": 0.1, "hspace": 0.33}

#: When a pair's run draws its PNG (``--plot``): at a full fit, every run, never.
PLOT_FULL, PLOT_EVERY, PLOT_NEVER = "full", "every", "never"
PLOT_WHEN = (PLOT_FULL, PLOT_EVERY, PLOT_NEVER)
#: The PNG is the portrait of a fitted model (its test slice, its loss curves), so it is
#: redrawn when the model is new. A warm hour's fine-tune moves the slice by an hour and
#: leaves the picture nearly as it was; redrawing it cost about a third of a warm pair's CPU,
#: on the path from the candle's close to the market's last forecast. The dashboard draws the
#: live record from the database every hour.
DEFAULT_PLOT = PLOT_FULL


def due(when: str, full_fit: bool, path: Path) -> bool:
    """Whether a run draws the pair's PNG at ``path``: ``every`` run; for ``full``, a full fit
    or a pair that has no PNG yet (a model handed over by the backfill, a deleted file);
    ``never``."""
    if when not in PLOT_WHEN:
        raise ValueError(f"unknown plot rule {when!r}; choose one of {', '.join(PLOT_WHEN)}")
    return when == PLOT_EVERY or (when == PLOT_FULL and (full_fit or not path.exists()))


def draw(path: Path | io.BytesIO, symbol: str, test_open_times: Sequence[int],
         actual: Sequence[float], predicted: Sequence[float], naive: Sequence[float],
         loss: Sequence[float], val_loss: Sequence[float], verdict: str,
         bands: Sequence[Band] = ()) -> None:
    """Write the PNG to ``path``; ``bands`` hold the test slice's one-step bounds per level.

    A bare ``Figure`` on the Agg canvas, not pyplot: no display, no global figure registry,
    and pyplot's import (0.3-0.6 s of every pair's process) is skipped.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import LogFormatter, MaxNLocator

    times = [datetime.fromtimestamp(ms / 1000, UTC) for ms in test_open_times]
    figure = Figure(figsize=(10, 7))
    FigureCanvasAgg(figure)
    prices, losses = figure.subplots(2, 1, gridspec_kw={"height_ratios": [2, 1]})
    for band in sorted(bands, key=lambda band: -band.level):
        prices.fill_between(times, band.lower, band.upper, color="tab:blue",
                            alpha=min(0.5, 0.12 + 0.9 * (1 - band.level)), linewidth=0,
                            label=f"{band.level:.0%} band")
    prices.plot(times, actual, label="actual close", color="black", linewidth=1.5)
    prices.plot(times, predicted, label="model", color="tab:blue")
    prices.plot(times, naive, label="naive (last close)", color="tab:orange", linestyle="--")
    prices.set_title(f"{symbol}: test slice; {verdict}")
    prices.set_ylabel("close")
    prices.legend()
    prices.tick_params(axis="x", labelrotation=30)
    epochs = range(1, len(loss) + 1)
    losses.plot(epochs, loss, label="training loss")
    losses.plot(epochs, val_loss, label="validation loss")
    losses.set_xlabel("epoch")
    losses.set_ylabel("mse (scaled)")
    losses.set_yscale("log")
    # Plain labels ("0.001"), not the log axis' default mathtext ("$10^{-3}$"), whose parse
    # was a third of the plot's time.
    losses.yaxis.set_major_formatter(LogFormatter())
    losses.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))
    losses.legend()
    losses.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.subplots_adjust(**MARGINS)
    figure.savefig(path, format="png", dpi=80)


def warm_up() -> None:
    """Draw a throwaway plot into memory, so that a process forked after this draws its own
    faster: the first draw of a process loads the fonts, builds the mathtext parser (the loss
    axis' log-scale labels are mathtext), imports PIL's image plugins and fills matplotlib's
    caches, and all of that is inherited by a fork.

    The fork server calls it (coinlstm/app/runtime/executors/forkserver.py): a child's plot then
    costs about half the CPU, and its PNG is byte for byte the same (docs/performance.md).
    Pure Python and C, no thread started (the server checks before every fork).
    """
    steps = np.array([1.0, 2.0, 3.0])
    draw(io.BytesIO(), "WARMUP", [0, 3_600_000, 7_200_000], steps, steps, steps, [1.0, 0.5],
         [1.0, 0.6], "warm-up", bands=[Band(0.8, steps - 1, steps + 1)])
