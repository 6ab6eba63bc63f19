"""The replay server's fault flags come from the Faults fields: each field is one flag of
``coinlstm replay-server``, parsed back into the same Faults, and a negative count is refused
naming its flag."""

from __future__ import annotations

import argparse
from dataclasses import fields

import pytest

from coinlstm.core.errors import BadInput
from crawl.replay import Faults, add_arguments


def _parse(*flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(["folder", *flags])


def test_every_fault_is_a_flag_with_its_default():
    assert Faults.from_args(_parse()) == Faults()
    assert Faults.from_args(_parse(
        "--fail-429-every", "2", "--fail-418-every", "3", "--fail-500-every", "5",
        "--truncate-every", "7", "--retry-after", "11", "--delay-ms", "13",
        "--delay-every", "17")) == Faults(
        too_many_every=2, banned_every=3, error_every=5, truncate_every=7, retry_after=11,
        delay_ms=13, delay_every=17)
    assert len(fields(Faults)) == 7


@pytest.mark.parametrize("flag", [item.metadata["flag"] for item in fields(Faults)])
def test_a_negative_count_is_refused_naming_its_flag(flag):
    with pytest.raises(BadInput, match=f"^{flag} must not be negative$"):
        Faults.from_args(_parse(flag, "-1"))
