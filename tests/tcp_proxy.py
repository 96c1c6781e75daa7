"""A loopback TCP proxy that can forward, refuse or blackhole connections, as outages do.

`pass` forwards both ways. `blackhole` accepts new connections and reads whatever arrives on
every connection, old and new, but never forwards or answers: a server that is up but hangs.
`refuse` resets new connections at once. `reset()` cuts every open connection (a restart).
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

Mode = Literal["pass", "blackhole", "refuse"]


def _hard_close(sock: socket.socket) -> None:
    # SO_LINGER 0: close sends RST, as a refused or crashed peer does.
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class TcpProxy:
    """Listens on 127.0.0.1 (a free port) and relays to `target_host:target_port`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode: Mode = "pass"
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self._pairs: list[tuple[socket.socket, socket.socket | None]] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @classmethod
    def for_url(cls, url: str) -> TcpProxy:
        """A proxy to the host and port of a database or Redis URL."""
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 5432)

    def url(self, url: str) -> str:
        """`url` with its host and port replaced by this proxy's."""
        parts = urlsplit(url)
        netloc = f"{parts.username + '@' if parts.username else ''}127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def reset(self) -> None:
        """Cut every open connection, as a server restart does."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for client, upstream in pairs:
            _hard_close(client)
            if upstream is not None:
                _hard_close(upstream)

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self.listener.close()
        self.reset()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.mode == "refuse":
                _hard_close(client)
                continue
            upstream = None
            if self.mode == "pass":
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    _hard_close(client)
                    continue
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._relay, args=(client, upstream), daemon=True).start()

    def _relay(self, client: socket.socket, upstream: socket.socket | None) -> None:
        ends = [client] if upstream is None else [client, upstream]
        try:
            while not self._stopped.is_set():
                readable, _, _ = select.select(ends, [], [], 0.05)
                for end in readable:
                    data = end.recv(65536)
                    if not data:
                        return
                    if self.mode == "pass" and upstream is not None:
                        (upstream if end is client else client).sendall(data)
                    # blackhole: read and drop, never answer
        except OSError:
            return
        finally:
            for end in ends:
                with contextlib.suppress(OSError):
                    end.close()
