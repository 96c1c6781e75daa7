"""A minimal HTTP/1.1 keep-alive client on asyncio streams, for the Python load drivers.

httpx spends far more CPU per request than the service under test does on a small body; on a
2-core machine that CPU is taken from the server. This sends pre-encoded bytes and reads only
the status line, headers and a Content-Length body.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit


class HttpError(Exception):
    """A response this client cannot read (no Content-Length, malformed head)."""


class StaleConnection(Exception):
    """The server closed a reused keep-alive connection before answering; safe to resend."""


def post_bytes(url: str, body: bytes) -> bytes:
    """A complete POST request, encoded once and sent unchanged for the whole run."""
    parts = urlsplit(url)
    head = (
        f"POST {parts.path or '/'} HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode("ascii") + body


class Connection:
    """One keep-alive connection; `send` returns the response status."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.used = 0
        self.last_used = time.monotonic()
        self.closed = False

    @classmethod
    async def open(cls, url: str) -> Connection:
        """Connect to the URL's host and port."""
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        return cls(reader, writer)

    async def send(self, raw: bytes) -> int:
        """Send one request and read its whole response."""
        self.writer.write(raw)
        await self.writer.drain()
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            self.close()
            if self.used and not exc.partial:
                raise StaleConnection from None
            raise
        status, length, close = _parse_head(head)
        await self.reader.readexactly(length)
        self.used += 1
        self.last_used = time.monotonic()
        if close:
            self.close()
        return status

    def close(self) -> None:
        """Close without waiting for the peer."""
        self.closed = True
        self.writer.close()


def _parse_head(head: bytes) -> tuple[int, int, bool]:
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        raise HttpError("malformed status line") from None
    length: int | None = None
    close = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "connection" and value.strip().lower() == "close":
            close = True
        elif name == "transfer-encoding":
            raise HttpError("chunked responses are not supported")
    if length is None:
        if status in (204, 304):
            return status, 0, close
        raise HttpError("response without Content-Length")
    return status, length, close
