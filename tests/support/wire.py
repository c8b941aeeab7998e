"""A lean WebSocket client for the load generator's phones.

The ``websockets`` client is built for correctness and convenience: every connect reads
the proxy settings from the environment, parses the handshake with generator-based
parsers, and negotiates extensions through factory objects. Measured in a 10,000-phone
reconnect storm (py-spy on a client process, 30 Nov 2026), that cost ~1.8 ms of client
CPU per reconnect: two client processes on one core needed ~18 s, the server sat idle
for the first 9-13 s while they worked through the handshakes, and the storm measured the
load generator, not the server (issue 14). This client does what a phone's browser does
on the wire and nothing more, on a plain ``asyncio.Protocol``:

- the handshake: one GET with Origin and a permessage-deflate offer (as browsers send),
  the 101 answer checked (status, Sec-WebSocket-Accept) and the server's extension
  parameters taken;
- frames: text and continuation frames assembled, compressed messages inflated (with or
  without context takeover, as negotiated), pings answered, a close frame answered;
- sends: one masked text frame per message, compressed when deflate was negotiated
  (browsers compress theirs too), so the server decompresses as it would for a phone.

It offers the part of ``websockets.asyncio.client.ClientConnection`` that ``Phone`` uses
(``send``, ``close``, ``async for``, ``recv``, ``close_code``, ``transport``) and raises
``websockets.ConnectionClosed`` the same way, so a phone works with either client.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import os
import struct
import zlib
from typing import Any, cast
from urllib.parse import urlsplit

from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Close
from websockets.http11 import Response
from websockets.utils import apply_mask

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# What Chromium offers; the app (uvicorn + websockets) answers with its window sizes.
OFFER = "permessage-deflate; client_max_window_bits"
MAX_HEAD = 16 * 1024  # a handshake answer longer than this is not a WebSocket server's
EMPTY_BLOCK = b"\x00\x00\xff\xff"  # RFC 7692: removed after compressing, added back to inflate

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


class Deflate:
    """The negotiated permessage-deflate parameters and both sides' zlib streams."""

    def __init__(self, answer: str) -> None:
        params: dict[str, str | None] = {}
        for part in answer.split(";")[1:]:
            name, _, value = part.strip().partition("=")
            params[name.strip()] = value.strip().strip('"') or None
        self.server_bits = int(params.get("server_max_window_bits") or 15)
        self.client_bits = int(params.get("client_max_window_bits") or 15)
        self.server_reset = "server_no_context_takeover" in params
        self.client_reset = "client_no_context_takeover" in params
        self._inflate = zlib.decompressobj(-self.server_bits)
        self._deflate: Any = None  # made on the first send: most phones send little

    def inflate(self, data: bytes) -> bytes:
        if self.server_reset:
            self._inflate = zlib.decompressobj(-self.server_bits)
        return self._inflate.decompress(data + EMPTY_BLOCK)

    def deflate(self, data: bytes) -> bytes:
        if self._deflate is None or self.client_reset:
            # memLevel 5, as the websockets client: 32 KiB a socket instead of 256.
            self._deflate = zlib.compressobj(wbits=-self.client_bits, memLevel=5)
        out: bytes = self._deflate.compress(data) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        return out[:-4] if out.endswith(EMPTY_BLOCK) else out


class LeanSocket(asyncio.Protocol):
    def __init__(self, request: bytes, key: bytes) -> None:
        self._request = request
        self._accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        self._buffer = bytearray()
        self._opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._handshaken = False
        self._fragments: list[bytes] = []
        self._fragment_compressed = False
        self._messages: collections.deque[str] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._close_rcvd: Close | None = None
        self._close_sent: Close | None = None
        self._lost: asyncio.Future[None] = self._opened.get_loop().create_future()
        self.deflate: Deflate | None = None
        self.transport: asyncio.Transport = cast(asyncio.Transport, None)  # set on connect
        self.response: Response | None = None

    # ------------------------------------------------------------- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but are one.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._handshaken:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD:
                    self._fail_open(ConnectionError("handshake answer too long"))
                return
            head = bytes(self._buffer[:end])
            del self._buffer[: end + 4]
            self._handshake(head)
            if not self._handshaken:
                return
        self._frames()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail_open(ConnectionError("closed during the handshake"))
        if not self._lost.done():
            self._lost.set_result(None)
        self._wake()

    # ------------------------------------------------------------------ handshake

    def _handshake(self, head: bytes) -> None:
        status_line, _, rest = head.partition(b"\r\n")
        parts = status_line.split(b" ", 2)
        headers = Headers()
        for line in rest.split(b"\r\n"):
            name, _, value = line.partition(b":")
            headers[name.decode("latin-1").strip()] = value.decode("latin-1").strip()
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
        self.response = Response(status, reason, headers)
        if status != 101:
            self._fail_open(InvalidStatus(self.response))
            return
        if headers.get("sec-websocket-accept", "").encode() != self._accept:
            self._fail_open(ConnectionError("wrong Sec-WebSocket-Accept"))
            return
        answer = headers.get("sec-websocket-extensions", "")
        if answer.startswith("permessage-deflate"):
            self.deflate = Deflate(answer)
        self._handshaken = True
        if not self._opened.done():
            self._opened.set_result(None)

    def _fail_open(self, exc: Exception) -> None:
        if not self._opened.done():
            self._opened.set_exception(exc)
            if self.transport is not None:
                self.transport.abort()

    # --------------------------------------------------------------------- frames

    def _frames(self) -> None:
        buf = self._buffer
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            length = b1 & 0x7F
            at = 2
            if length == 126:
                if len(buf) < 4:
                    return
                (length,) = struct.unpack_from("!H", buf, 2)
                at = 4
            elif length == 127:
                if len(buf) < 10:
                    return
                (length,) = struct.unpack_from("!Q", buf, 2)
                at = 10
            if b1 & 0x80:  # a server must not mask; tolerate it anyway
                at += 4
            if len(buf) < at + length:
                return
            payload = bytes(buf[at : at + length])
            if b1 & 0x80:
                payload = apply_mask(payload, bytes(buf[at - 4 : at]))
            del buf[: at + length]
            self._frame(b0 & 0x80 != 0, b0 & 0x40 != 0, b0 & 0x0F, payload)

    def _frame(self, fin: bool, rsv1: bool, opcode: int, payload: bytes) -> None:
        if opcode in (OP_TEXT, OP_BINARY):
            self._fragments = [payload]
            self._fragment_compressed = rsv1
        elif opcode == OP_CONT:
            self._fragments.append(payload)
        elif opcode == OP_PING:
            self._write(OP_PONG, payload)
            return
        elif opcode == OP_CLOSE:
            self._on_close(payload)
            return
        else:
            return  # pong
        if not fin:
            return
        data = b"".join(self._fragments)
        self._fragments = []
        if self._fragment_compressed:
            assert self.deflate is not None, "a compressed message without deflate"
            data = self.deflate.inflate(data)
        self._messages.append(data.decode())
        self._wake()

    def _on_close(self, payload: bytes) -> None:
        code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        self._close_rcvd = Close(code, payload[2:].decode(errors="replace"))
        if self._close_sent is None:
            self._close_sent = Close(code if code != 1005 else 1000, "")
            self._write(OP_CLOSE, payload[:2])
        self.transport.close()
        self._wake()

    def _write(self, opcode: int, payload: bytes, rsv1: bool = False) -> None:
        if self.transport.is_closing():
            return
        n = len(payload)
        first = 0x80 | (0x40 if rsv1 else 0) | opcode
        if n < 126:
            head = struct.pack("!BB", first, 0x80 | n)
        elif n < 1 << 16:
            head = struct.pack("!BBH", first, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", first, 0x80 | 127, n)
        mask = os.urandom(4)
        self.transport.write(head + mask + apply_mask(payload, mask))

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # ----------------------------------------------- the ClientConnection subset

    @property
    def close_code(self) -> int | None:
        if self._close_rcvd is not None:
            return self._close_rcvd.code
        return 1006 if self._lost.done() else None

    @property
    def close_reason(self) -> str | None:
        return self._close_rcvd.reason if self._close_rcvd is not None else None

    def _closed(self) -> ConnectionClosed:
        rcvd, sent = self._close_rcvd, self._close_sent
        return ConnectionClosed(rcvd, sent, None if rcvd is None or sent is None else False)

    async def send(self, message: str) -> None:
        if self._close_rcvd is not None or self._close_sent is not None or self._lost.done():
            raise self._closed()
        data = message.encode()
        if self.deflate is not None:
            self._write(OP_TEXT, self.deflate.deflate(data), rsv1=True)
        else:
            self._write(OP_TEXT, data)

    async def recv(self) -> str:
        while not self._messages:
            if self._close_rcvd is not None or self._lost.done():
                raise self._closed()
            self._waiter = self._opened.get_loop().create_future()
            await self._waiter
        return self._messages.popleft()

    def __aiter__(self) -> LeanSocket:
        return self

    async def __anext__(self) -> str:
        try:
            return await self.recv()
        except ConnectionClosed:
            raise StopAsyncIteration from None

    async def close(self, code: int = 1000, timeout: float = 2.0) -> None:
        if self._close_sent is None and not self._lost.done():
            self._close_sent = Close(code, "")
            self._write(OP_CLOSE, struct.pack("!H", code))
        try:
            await asyncio.wait_for(asyncio.shield(self._lost), timeout)
        except TimeoutError:
            self.transport.abort()


async def connect(
    url: str, origin: str, *, timeout: float = 60.0, deflate: bool = True, source: str = ""
) -> LeanSocket:
    """Open ``url`` (ws://host:port/path) with ``origin`` and the pages' deflate offer;
    from the local address ``source`` when given (see ``source_address``)."""
    parts = urlsplit(url)
    assert parts.scheme == "ws" and parts.hostname, f"ws:// URLs only: {url}"
    port = parts.port or 80
    host = parts.hostname if port == 80 else f"{parts.hostname}:{port}"
    key = base64.b64encode(os.urandom(16))
    request = (
        f"GET {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1\r\n"
        f"Host: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: {origin}\r\n"
        + (f"Sec-WebSocket-Extensions: {OFFER}\r\n" if deflate else "")
        + "User-Agent: eventapp-loadtest\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        _transport, socket = await loop.create_connection(
            lambda: LeanSocket(request, key),
            parts.hostname,
            port,
            local_addr=(source, 0) if source else None,
        )
        try:
            await socket._opened
        except BaseException:
            socket.transport.abort()
            raise
    return socket


def source_address(url: str, ident: int) -> str:
    """A loopback source address of its own for phone ``ident`` when ``url`` is on
    127.0.0.1 (any 127.x.y.z reaches it): each address has its own ~28,000 ports, so a
    storm's 20,000 connections (the aborted ones and their successors) do not reuse ports
    whose old connections the server still knows (seen as challenge ACKs and resets)."""
    if urlsplit(url).hostname != "127.0.0.1":
        return ""
    return f"127.0.{1 + ident // 250 % 250}.{1 + ident % 250}"
