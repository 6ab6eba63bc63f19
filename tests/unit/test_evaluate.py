"""Walk-forward fold planning without data: a series too short for the folds is refused."""

from __future__ import annotations

import pytest

from coinlstm.core.errors import BadInput
from train import walkforward

HOUR_MS = 3_600_000


def test_too_short_a_series_for_the_folds_is_refused():
    times = [1_600_000_000_000 + i * HOUR_MS for i in range(200)]
    with pytest.raises(BadInput, match=r"199 usable samples, 3 folds of 48 need at least 216"):
        walkforward.plan_folds(times, 3, 48, window=1, target="close")
