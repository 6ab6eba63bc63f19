"""``python -m coinlstm`` is the ``coinlstm`` command (what run_all's children run)."""

import sys

from coinlstm.app.cli import main

sys.exit(main())
