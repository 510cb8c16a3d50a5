"""The socket `greenlight serve --workers N` shares keeps Nagle off in every worker."""

from __future__ import annotations

import asyncio
import pickle
import socket
from multiprocessing.reduction import ForkingPickler

from greenlight.cli._serving import tcp_listener


def _nodelay_of_accepted(listener: socket.socket) -> int:
    """Serve one connection on ``listener`` with asyncio; TCP_NODELAY of the accepted socket."""

    async def run() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=listener)
        port = listener.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        result = await asyncio.wait_for(seen, 5)
        writer.close()
        server.close()
        return result

    return asyncio.run(run())


def test_the_listener_says_tcp_so_accepted_connections_get_nodelay() -> None:
    listener = tcp_listener("127.0.0.1", 0)
    assert listener.proto == socket.IPPROTO_TCP
    assert _nodelay_of_accepted(listener) != 0


def test_a_worker_inherits_a_listener_that_still_says_tcp() -> None:
    # Workers get the socket the way multiprocessing hands it over: pickled with
    # its family, type and protocol as the parent's object states them.
    listener = tcp_listener("127.0.0.1", 0)
    handed = pickle.loads(bytes(ForkingPickler.dumps(listener)))
    assert handed.proto == socket.IPPROTO_TCP
    assert _nodelay_of_accepted(handed) != 0


def test_a_protocol_zero_listener_is_what_leaves_nagle_on() -> None:
    # The failure this module exists for: a socket made without a protocol
    # (as uvicorn makes its own) hands its workers connections with Nagle on.
    plain = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    plain.bind(("127.0.0.1", 0))
    handed = pickle.loads(bytes(ForkingPickler.dumps(plain)))
    assert handed.proto == 0
    assert _nodelay_of_accepted(handed) == 0
