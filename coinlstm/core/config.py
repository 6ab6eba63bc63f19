"""Every setting of coinlstm, its environment variable and its default, in one place.

Precedence is always: command-line flag > environment variable > default. Modules never
read ``os.environ`` themselves; they receive a :class:`Settings` (or call :func:`load`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from coinlstm.core.errors import BadInput
from coinlstm.core.exchanges import DEFAULT_EXCHANGE
from coinlstm.core.exchanges import exchange as exchange_named

ENV_HOME = "COINLSTM_HOME"
ENV_DB_URL = "COINLSTM_DB_URL"
ENV_BINANCE_URL = "COINLSTM_BINANCE_URL"
ENV_EXCHANGE = "COINLSTM_EXCHANGE"
ENV_EXCHANGE_URL = "COINLSTM_EXCHANGE_URL"
ENV_ARTIFACTS = "COINLSTM_ARTIFACTS"
ENV_BACKEND = "KERAS_BACKEND"
#: The dashboard's access token (coinlstm serve --token): required to bind beyond loopback.
ENV_SERVE_TOKEN = "COINLSTM_SERVE_TOKEN"
#: Host names the dashboard answers to besides its bind address and localhost (comma list).
ENV_SERVE_ALLOWED_HOSTS = "COINLSTM_SERVE_ALLOWED_HOSTS"
#: Set by the market job in each pair's process: the driver's pid (coinlstm.app.runtime.lifeline).
ENV_PARENT_PID = "COINLSTM_PARENT_PID"
ENV_DB_RETRY_SECONDS = "COINLSTM_DB_RETRY_SECONDS"
#: Set by a driver (market job, evaluate) in its children: the schema is ensured, do not
#: check or upgrade it again in every task.
ENV_SCHEMA_READY = "COINLSTM_SCHEMA_READY"
#: "0": the subprocess executor starts every task as a fresh process instead of forking it
#: from its pre-imported fork server (also --fresh-processes; coinlstm/app/runtime/executors).
ENV_FORK_SERVER = "COINLSTM_FORK_SERVER"

#: The real exchange. Only ever contacted when the user did not point us elsewhere.
BINANCE_URL = "https://api.binance.com"
#: The fastest backend for the reference model on CPU (bench/train_one.py; docs/benchmarks.md).
DEFAULT_BACKEND = "jax"
SUPPORTED_BACKENDS = ("jax", "tensorflow", "torch")
DEFAULT_MARKET = "ETH"
#: Pairs a crawl fetches at once (crawl --crawl-workers, run --crawl-workers). Every thread
#: shares the exchange's one weight budget and Retry-After pause (crawl/gate.py). 16: the
#: fewest workers that fetch a 400-pair market as fast as any more when each reply waits a
#: round trip to the exchange (bench/crawl.py; docs/benchmarks.md). At most
#: MAX_CRAWL_WORKERS: the HTTP connection pool keeps that many connections per exchange.
DEFAULT_CRAWL_WORKERS = 16
MAX_CRAWL_WORKERS = 32
#: How long a transient database error (server restarting, lost connection, deadlock) is
#: waited out before it counts as a failure (coinlstm.db.retry), in the market job's driver
#: and the pairs it starts: cron runs them unattended, and a restart must not cost the hour.
#: A command a user runs by hand (train, crawl, import) answers at once unless given
#: --db-retry-seconds: a wrong port should not look like a hang.
DEFAULT_DB_RETRY_SECONDS = 60.0


def _default_home() -> Path:
    """The checkout root when running from one (models/, weights/ live there), else the cwd."""
    repo_root = Path(__file__).resolve().parents[2]
    if (repo_root / "pyproject.toml").is_file():
        return repo_root
    return Path.cwd()


def _folder(root: str, name: str) -> property:
    """A folder of the settings: ``name`` below their ``root`` (``home`` or ``artifacts``)."""
    return property(lambda settings: getattr(settings, root) / name)


@dataclass(frozen=True)
class Settings:
    """Resolved configuration of one process."""

    home: Path
    db_url: str
    #: The base URL of the chosen exchange's API (the name is Binance's, which it was first;
    #: ``exchange_url`` says what it is).
    binance_url: str
    artifacts: Path
    backend: str = DEFAULT_BACKEND
    #: None: not chosen (flag or env); see DEFAULT_DB_RETRY_SECONDS.
    db_retry_seconds: float | None = None
    extra: dict = field(default_factory=dict)
    #: The driver that started this process already ensured the schema (ENV_SCHEMA_READY):
    #: open the database without checking or upgrading it. False for a hand-run command.
    schema_ready: bool = False
    #: The candle source (coinlstm.core.exchanges): binance unless --exchange says otherwise.
    exchange: str = DEFAULT_EXCHANGE
    #: The subprocess executor forks tasks from a server that imported Keras once (False:
    #: --fresh-processes or COINLSTM_FORK_SERVER=0, a fresh interpreter per task).
    fork_server: bool = True

    @property
    def exchange_url(self) -> str:
        return self.binance_url

    data_dir = _folder("home", "data")
    logs_dir = _folder("home", "logs")
    models_dir = _folder("artifacts", "models")
    weights_dir = _folder("artifacts", "weights")
    plots_dir = _folder("artifacts", "plots")
    #: JAX's persistent compilation cache: shared by every pair's process.
    cache_dir = _folder("home", ".cache")

    def with_(self, **changes) -> Settings:
        return replace(self, **changes)


def default_sqlite_url(home: Path) -> str:
    return f"sqlite:///{home / 'data' / 'coinlstm.sqlite'}"


def load(
    db_url: str | None = None,
    binance_url: str | None = None,
    artifacts: str | os.PathLike | None = None,
    backend: str | None = None,
    env: os._Environ | dict | None = None,
    db_retry_seconds: float | None = None,
    exchange: str | None = None,
    fork_server: bool | None = None,
) -> Settings:
    """Resolve the settings from flags (arguments here), then the environment, then defaults.

    ``binance_url`` is --exchange-url (alias --binance-url): the chosen exchange's base URL;
    without it, COINLSTM_EXCHANGE_URL, then (for Binance) COINLSTM_BINANCE_URL, then the
    exchange's real API. ``fork_server``: False for --fresh-processes (None: not given).
    """
    env = os.environ if env is None else env
    home = Path(env.get(ENV_HOME) or _default_home()).resolve()
    db = db_url or env.get(ENV_DB_URL) or default_sqlite_url(home)
    source = exchange_named(exchange or env.get(ENV_EXCHANGE) or DEFAULT_EXCHANGE)
    binance_env = env.get(ENV_BINANCE_URL) if source.name == DEFAULT_EXCHANGE else None
    url = (binance_url or env.get(ENV_EXCHANGE_URL) or binance_env or source.default_url
           ).rstrip("/")
    art = Path(artifacts or env.get(ENV_ARTIFACTS) or home).resolve()
    chosen_backend = backend or env.get(ENV_BACKEND) or DEFAULT_BACKEND
    if chosen_backend not in SUPPORTED_BACKENDS:
        raise BadInput(
            f"unknown Keras backend {chosen_backend!r}; "
            f"choose one of {', '.join(SUPPORTED_BACKENDS)}"
        )
    retry = _retry_seconds(db_retry_seconds, env.get(ENV_DB_RETRY_SECONDS))
    if fork_server is None:
        fork_server = env.get(ENV_FORK_SERVER, "1").strip() != "0"
    return Settings(home=home, db_url=db, binance_url=url, artifacts=art,
                    backend=chosen_backend, db_retry_seconds=retry,
                    schema_ready=env.get(ENV_SCHEMA_READY) == "1", exchange=source.name,
                    fork_server=fork_server)


def _retry_seconds(flag: float | None, env_value: str | None) -> float | None:
    """--db-retry-seconds, else its environment variable, else None (the command's
    default); 0 or more."""
    value = flag if flag is not None else env_value
    if value is None or value == "":
        return None
    try:
        seconds = float(value)
    except ValueError:
        raise BadInput(f"--db-retry-seconds must be a number, got {value!r}") from None
    if not 0 <= seconds < float("inf"):
        raise BadInput(f"--db-retry-seconds must be 0 or more, got {value}")
    return seconds
