"""Listening ports, checked before anything starts: a port that is taken stops the command
with one line that names it and the flag (and variable) that changes it, instead of a
traceback from deep inside uvicorn or gRPC once half the service is up.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class Port:
    """A port a command listens on, and how the user changes it."""

    what: str  # "OTLP/HTTP and API"
    host: str
    port: int
    flag: str  # "--http-port"
    env: str | None = None  # "SPENDSCOPE_HTTP_PORT"

    def busy_message(self, error: OSError) -> str:
        how = f"{self.flag} or {self.env}" if self.env else self.flag
        reason = error.strerror or str(error)
        return (
            f"cannot listen on {self.host}:{self.port} ({self.what}): {reason.lower()}; "
            f"is another spendscope running? Choose another port with {how}"
        )


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) as servers bind it (SO_REUSEADDR, so a port only
    in TIME_WAIT counts as free); OSError when the port is taken. Not yet listening."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def busy(ports: list[Port]) -> list[str]:
    """One message per port that cannot be bound now (none: all free)."""
    messages = []
    for port in ports:
        if not port.port:
            continue
        try:
            bind(port.host, port.port).close()
        except OSError as exc:
            messages.append(port.busy_message(exc))
    return messages
