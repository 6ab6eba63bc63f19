"""The CLI's texts and logging: what ``--help`` says agrees with what the commands do, and
libraries' INFO lines stay out of a run without -v."""

from __future__ import annotations

import subprocess
import sys

import pytest

from coinlstm.app import cli
from coinlstm.core.exchanges import EXCHANGES

#: Commands that read or serve one exchange's candles (they take --exchange).
EXCHANGE_COMMANDS = ("crawl", "import", "replay-server", "train", "run", "evaluate", "pairs",
                     "serve")


@pytest.mark.parametrize("command", EXCHANGE_COMMANDS)
def test_every_exchange_command_help_names_every_exchange(command):
    text = cli.build_parser(command).format_help()
    assert all(name in text for name in EXCHANGES), text


def test_top_help_does_not_say_binance_only():
    text = cli._top_parser().format_help()
    for claim in ("from Binance", "Binance-compatible", "for a Binance quote market"):
        assert claim not in text
    assert "crawl" in text and all(name in text for name in EXCHANGES)


def _logged(verbose: bool) -> str:
    code = ("import logging; from coinlstm.app import cli; "
            f"cli._configure_logging({verbose}); "
            "logging.getLogger('jax._src.compilation_cache').info('Resetting cache'); "
            "logging.getLogger('jax._src.compilation_cache').warning('a jax warning'); "
            "logging.getLogger('crawl.crawler').info('our progress')")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stderr


def test_library_info_lines_only_with_verbose():
    quiet = _logged(False)
    assert "Resetting cache" not in quiet
    assert "a jax warning" in quiet and "our progress" in quiet
    assert "Resetting cache" in _logged(True)
