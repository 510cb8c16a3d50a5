"""How `greenlight serve --workers N` listens: Nagle off, connections spread, the heap settled."""

from __future__ import annotations

import asyncio
import pickle
import socket
import subprocess
import sys
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


def test_a_protocol_zero_listener_is_what_leaves_nagle_on() -> None:
    # The failure tcp_listener exists for: a socket made without a protocol
    # (as uvicorn makes its own) hands its workers connections with Nagle on.
    plain = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    plain.bind(("127.0.0.1", 0))
    handed = pickle.loads(bytes(ForkingPickler.dumps(plain)))
    assert handed.proto == 0
    assert _nodelay_of_accepted(handed) == 0


def test_workers_each_bind_the_port_and_the_kernel_spreads_connections() -> None:
    first = tcp_listener("127.0.0.1", 0, reuse_port=True)
    port = first.getsockname()[1]
    second = tcp_listener("127.0.0.1", port, reuse_port=True)
    accepted = {first: 0, second: 0}
    for listener in accepted:
        listener.listen(64)
        listener.setblocking(False)
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(24)]
    for listener in accepted:
        while True:
            try:
                conn, _ = listener.accept()
            except BlockingIOError:
                break
            conn.close()
            accepted[listener] += 1
    for client in clients:
        client.close()
    assert sum(accepted.values()) == 24
    assert all(count > 0 for count in accepted.values())  # 2**-23 odds of a false failure


def test_a_serving_process_freezes_its_heap_collects_less_often_and_shortens_turns() -> None:
    probe = (
        "import gc, sys\n"
        "from greenlight.cli._serving import settle_for_serving, SWITCH_INTERVAL, "
        "YOUNG_COLLECTION_AT\n"
        "settle_for_serving()\n"
        "print(gc.get_freeze_count() > 1000, sys.getswitchinterval() == SWITCH_INTERVAL,\n"
        "      gc.get_threshold() == (YOUNG_COLLECTION_AT, 10, 10))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["True", "True", "True"]
