"""``coinlstm serve``: the read-only dashboard and JSON API (coinlstm/app/web).

Loopback by default. Any other address refuses to start without a token (``--token``,
``--token-file`` or COINLSTM_SERVE_TOKEN), and with one every request must carry it. Only
the Host names of the bind address, localhost and ``--allowed-hosts`` are answered.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys

import sqlalchemy as sa
import uvicorn

from coinlstm.app.web.hosts import AllowedHosts
from coinlstm.app.web.server import create_app
from coinlstm.core import config
from coinlstm.core.errors import BadInput, CoinlstmError
from coinlstm.core.exchanges import EXCHANGES
from coinlstm.db import describe_url, forecast_scores

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="address to bind (default %(default)s, loopback only; any other "
                             "needs a token)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="port (default %(default)s; 0 picks a free one)")
    given = parser.add_mutually_exclusive_group()
    given.add_argument("--token", default=None, metavar="T",
                       help=f"access token every request must carry (shows in ps: prefer "
                            f"--token-file or env {config.ENV_SERVE_TOKEN})")
    given.add_argument("--token-file", default=None, metavar="PATH",
                       help="read the access token from this file (its first line)")
    parser.add_argument("--allowed-hosts", default=None, metavar="NAMES",
                        help=f"comma-separated Host names answered besides the bind address "
                             f"and localhost, e.g. a reverse proxy's (env "
                             f"{config.ENV_SERVE_ALLOWED_HOSTS})")
    parser.add_argument("--exchange", default=None, choices=tuple(EXCHANGES), type=str.lower,
                        help=f"the exchange the pages show and the API answers for when a "
                             f"request names none (?exchange=; env {config.ENV_EXCHANGE}; "
                             f"default {config.DEFAULT_EXCHANGE})")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_token(flag: str | None, env: dict | None = None,
                  file: str | None = None) -> str | None:
    """The token: --token > --token-file > environment; an empty one counts as none."""
    env = os.environ if env is None else env
    token = flag or (read_token_file(file) if file else None) \
        or env.get(config.ENV_SERVE_TOKEN) or None
    if token is not None and len(token) < 8:
        raise BadInput("the token must have at least 8 characters")
    return token


def read_token_file(path: str) -> str:
    """The first line of ``path``, stripped; BadInput when it cannot be read or is empty."""
    try:
        with open(path, encoding="utf-8") as file:
            token = file.readline(4096).strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read --token-file {path}: "
                       f"{getattr(exc, 'strerror', None) or exc}") from None
    if not token:
        raise BadInput(f"--token-file {path} holds no token")
    return token


def allowed_hosts(host: str, flag: str | None, env: dict | None = None):
    """The Host names answered: the bind address, localhost (and loopback's addresses for
    a loopback bind), and those of ``--allowed-hosts`` and the environment."""
    env = os.environ if env is None else env
    names = [name for given in (flag, env.get(config.ENV_SERVE_ALLOWED_HOSTS))
             for name in (given or "").split(",") if name.strip()]
    return AllowedHosts(host, tuple(names))


def check_bind(host: str, port: int, token: str | None) -> None:
    """BadInput for a bind the rules refuse: beyond loopback without a token, a bad port."""
    if not 0 <= port <= 65535:
        raise BadInput(f"--port must be 0..65535, got {port}")
    if not is_loopback(host) and token is None:
        raise BadInput(f"refusing to serve on {host}, beyond loopback, without a token: "
                       f"pass --token or set {config.ENV_SERVE_TOKEN}")


def run(args: argparse.Namespace) -> int:
    token = resolve_token(args.token, file=args.token_file)
    check_bind(args.host, args.port, token)
    hosts = allowed_hosts(args.host, args.allowed_hosts)
    serve(args.settings.db_url, args.host, args.port, token, args.settings.exchange, hosts)
    return 0


def database_problem(engine) -> str | None:
    """One line saying why the dashboard cannot read the database now, or None."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.select(forecast_scores.c.id).limit(1))
    except sa.exc.DBAPIError as exc:
        return str(exc.orig or exc).splitlines()[0]
    return None


def serve(db_url: str, host: str, port: int, token: str | None,
          exchange: str = config.DEFAULT_EXCHANGE, hosts=None) -> None:
    """Serve until interrupted; prints the URL once the socket is bound. ``exchange``: the
    one shown when a request names none; ``hosts``: the Host names answered (default: the
    bind address's and localhost, :func:`allowed_hosts`)."""
    app = create_app(db_url, token, exchange, hosts or allowed_hosts(host, None))
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CoinlstmError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)  # connections queue from now on, so the URL printed below answers
    problem = database_problem(app.state.engine)
    if problem is not None:  # served anyway: pages answer 503 until the database is there
        print(f"warning: database {describe_url(db_url)} not readable yet ({problem}); "
              "pages answer 503 until it is (`coinlstm score --db URL` creates missing tables)",
              file=sys.stderr, flush=True)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}/"
    print(f"dashboard on {url} (database {describe_url(db_url)}, exchange {exchange}"
          f"{', token required' if token else ''}); Ctrl-C stops it", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           server_header=False))
    server.run(sockets=[sock])
