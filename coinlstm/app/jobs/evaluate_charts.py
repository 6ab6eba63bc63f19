"""evaluate's charts: panels of box plots around a reference line, saved as PNG.

One drawing routine for the skill, coverage, per-step and sweep charts (matplotlib's Agg
backend: no display needed). pyplot is imported when a chart is drawn, never with this module
(coinlstm.core.lazy_imports: a command that stops at its checks does not pay for it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: The y label of every skill chart.
SKILL_LABEL = "skill = 1 - RMSE / naive RMSE"
#: The reference line of every skill chart.
NAIVE_LABEL = "naive (last close)"


@dataclass(frozen=True)
class BoxPanel:
    """One panel: a box per (tick label, values), drawn in order, and a dashed line."""

    boxes: list[tuple[str, list[float]]]
    line: float
    line_label: str
    ylabel: str
    title: str
    legend_at: str = "lower right"
    xlabel: str | None = None


def save_box_panels(path: Path, panels: Sequence[BoxPanel], size: tuple[float, float],
                    stacked: bool = False, metadata: dict | None = None) -> None:
    """The panels side by side (``stacked``: one above the other) in one PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, columns = (len(panels), 1) if stacked else (1, len(panels))
    figure, axes = plt.subplots(rows, columns, squeeze=False, figsize=size)
    for axis, panel in zip(axes.flat, panels, strict=True):
        if panel.boxes:
            axis.boxplot([values for _, values in panel.boxes],
                         tick_labels=[label for label, _ in panel.boxes])
        axis.axhline(panel.line, color="tab:orange", linestyle="--", label=panel.line_label)
        if panel.xlabel is not None:
            axis.set_xlabel(panel.xlabel)
        axis.set_ylabel(panel.ylabel)
        axis.set_title(panel.title)
        axis.legend(loc=panel.legend_at)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=80, **({"metadata": metadata} if metadata else {}))
    plt.close(figure)
