"""The hourly market job, as cron runs it: ``python run_all.py --market ETH``.

Thin wrapper of ``coinlstm run`` (coinlstm/app/commands/run.py holds the logic).
"""

import sys

from coinlstm.app.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
