"""The database layer: one module per job, re-exported here so callers write ``db.name``.

One SQLAlchemy Core schema serves MySQL/MariaDB (production, what the dashboards read) and
the embedded SQLite default. All SQL is built by SQLAlchemy with bound parameters; nothing
here formats values into SQL text.

- :mod:`coinlstm.db.types`: the exact-decimal column type;
- :mod:`coinlstm.db.schema`: the tables and their DDL;
- :mod:`coinlstm.db.engine`: engines and the schema check on open;
- :mod:`coinlstm.db.locking`: the schema lock;
- :mod:`coinlstm.db.retry`: transient errors (restart, lost connection, deadlock) waited out;
- :mod:`coinlstm.db.transactions`: one transaction, and transactions retried as a unit;
- :mod:`coinlstm.db.bulk`: reads of many rows as the driver's tuples;
- :mod:`coinlstm.db.coins`, :mod:`coinlstm.db.candles`, :mod:`coinlstm.db.results`,
  :mod:`coinlstm.db.scores` (forward scores, track records), :mod:`coinlstm.db.dashboard`
  (the read-only queries of ``coinlstm serve``), :mod:`coinlstm.db.movers` (the movers and
  costs evidence), :mod:`coinlstm.db.record_sums` (each series' running sums of its
  scores): queries.
"""

from coinlstm.core.columns import CANDLE_COLUMNS, DECIMAL_COLUMNS, FEATURE_COLUMNS
from coinlstm.core.decimals import PRICE_SCALE, to_exact_decimal
from coinlstm.db.bulk import *  # noqa: F403
from coinlstm.db.candles import *  # noqa: F403
from coinlstm.db.coins import *  # noqa: F403
from coinlstm.db.dashboard import *  # noqa: F403
from coinlstm.db.engine import *  # noqa: F403
from coinlstm.db.locking import schema_lock
from coinlstm.db.movers import *  # noqa: F403
from coinlstm.db.record_sums import *  # noqa: F403
from coinlstm.db.results import *  # noqa: F403
from coinlstm.db.retry import error_reason, is_transient, retry
from coinlstm.db.schema import *  # noqa: F403
from coinlstm.db.scores import *  # noqa: F403
from coinlstm.db.transactions import *  # noqa: F403
from coinlstm.db.types import ExactDecimal

__all__ = ["CANDLE_COLUMNS", "DECIMAL_COLUMNS", "FEATURE_COLUMNS", "PRICE_SCALE", "ExactDecimal",
           "error_reason", "is_transient", "retry", "schema_lock", "to_exact_decimal"]
