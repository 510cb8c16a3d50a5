"""Serving the app on several worker processes that share one listening socket.

One Python process runs one request's Python at a time, so a server with
cores to spare runs several workers. Each worker opens the installation
itself (:func:`app_from_environment`, a uvicorn factory); the SQLite writer
lock and the group commit keep their writes in order across processes, and
the parent alone signs ledger checkpoints.

The listening socket is made here, not by uvicorn: uvicorn's says protocol 0,
the workers' accepted connections inherit that, and asyncio then leaves Nagle's
algorithm on, so every response waits out the client's 40 ms delayed ACK. A
socket that says TCP gets ``TCP_NODELAY`` like a single-process server's.
"""

from __future__ import annotations

import socket
from typing import Any

APP_FACTORY = "greenlight.cli._serving:app_from_environment"


def app_from_environment() -> Any:
    """The API and web pages for the installation the environment names (one per worker)."""
    from greenlight.api import create_app
    from greenlight.core.settings import Settings
    from greenlight.engine.platform import Platform
    from greenlight.web import pages

    platform = Platform.open(Settings.from_env(), create_identity=False)
    return create_app(platform, pages=pages(platform))


def tcp_listener(host: str, port: int) -> socket.socket:
    """A bound TCP socket that workers can inherit and that keeps ``TCP_NODELAY`` on."""
    family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.set_inheritable(True)
    return sock


def run_workers(
    factory: str, host: str, port: int, workers: int, *, log_level: str = "warning"
) -> None:
    """Serve ``factory`` (``module:function``) on ``workers`` processes until stopped."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        factory, factory=True, host=host, port=port, workers=workers, log_level=log_level
    )
    Multiprocess(config, sockets=[tcp_listener(host, port)]).run()
