"""Which ``Host`` headers the dashboard answers: a request naming any other host is
refused (400), so a DNS-rebinding page cannot read the dashboard through a victim's
browser, and no link or redirect is ever built from a name an attacker chose."""

from __future__ import annotations

import ipaddress
import re

from coinlstm.core.errors import BadInput

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_NAME = re.compile(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?")


def normalise(name: str) -> str:
    """A host name or address as compared: lower case, no brackets, no trailing dot;
    BadInput for anything that is neither a DNS name nor an IP address."""
    bare = name.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        if _NAME.fullmatch(bare):
            return bare
    raise BadInput(f"invalid host name {name[:60]!r}: expected a DNS name or an IP address")


class AllowedHosts:
    """The names accepted in ``Host`` (any port): the bind address, ``localhost`` and, for a
    loopback bind, 127.0.0.1 and ::1, and the names given (``--allowed-hosts``)."""

    def __init__(self, bind: str = "127.0.0.1", names: tuple[str, ...] = ()) -> None:
        allowed = {normalise(bind), "localhost", *(normalise(name) for name in names)}
        if _is_loopback(bind):
            allowed.update(LOOPBACK_NAMES)
        self.names = frozenset(allowed)

    def accepts(self, header: str | None) -> bool:
        host = host_of(header)
        return host is not None and host in self.names


def host_of(header: str | None) -> str | None:
    """The host a ``Host`` header names, normalised, or None for a malformed one."""
    if not header:
        return None
    host, port = header, ""
    if header.startswith("["):
        host, _, rest = header.partition("]")
        host, port = host + "]", rest.removeprefix(":") if rest.startswith(":") else rest
    elif header.count(":") == 1:
        host, port = header.split(":")
    if port and not (port.isdigit() and len(port) <= 5):
        return None
    try:
        return normalise(host)
    except BadInput:
        return None


def _is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
