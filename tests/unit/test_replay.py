"""The replay server's candle files, before it binds anything: an empty folder or a bad
line is refused with the file and line named."""

from __future__ import annotations

import pytest

from crawl.replay import ReplayServer
from tests.helpers import write_sample


def test_empty_folder_or_bad_line_is_bad_input(tmp_path, synthetic_candles):
    from coinlstm.core.errors import BadInput

    with pytest.raises(BadInput, match="no kline files"):
        ReplayServer(tmp_path)
    folder = write_sample(synthetic_candles / "SYNTH1ETH.csv", tmp_path / "bad", 5).parent
    with open(folder / "SYNTH1ETH.csv", "a") as handle:
        handle.write("1617253200000,0.1,0.2,x,0.1,1,1617256799999,1,1,1,1,0\n")
    with pytest.raises(BadInput,
                       match=r"SYNTH1ETH.csv, line 6: low: .*\(rule: prices and volumes"):
        ReplayServer(folder)
