"""The one renderer of the plain-text tables the commands print (cron's log keeps them).

Columns are two spaces apart; the first ``left`` columns are left-aligned (names), the rest
right-aligned (figures); ``rule`` puts a line of dashes under the header.
"""

from __future__ import annotations

from collections.abc import Sequence


def format_table(rows: Sequence[Sequence[str]], left: int = 1, rule: bool = True) -> str:
    """``rows[0]`` is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(value.ljust(width) if i < left else value.rjust(width)
                       for i, (value, width) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    if rule:
        lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def figure(value: float | int | None, spec: str) -> str:
    """``value`` formatted with ``spec``; "-" when there is none."""
    return "-" if value is None else format(value, spec)
