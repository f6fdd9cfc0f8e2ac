"""The HTTP/1.1 protocol ``kfqmap serve`` runs: uvicorn's httptools (llhttp) parser with a bound on request heads.

uvicorn bounds a request head only with its pure-Python ``h11`` parser (``h11_max_incomplete_event_size``);
its httptools protocol, about twice as fast per request (a warm tile: ~8,100 against ~4,700 req/s with one
keep-alive client here), buffers a head of any size. ``BoundedHttpTools`` counts the bytes a connection sends
while a request head is incomplete and, past ``MAX_HEAD_BYTES`` (request line + headers), answers
``431 Request Header Fields Too Large`` (problem+json) and closes the connection before the app sees anything,
so a client cannot grow a worker's memory with an endless header.

``uvicorn.run(app, http=BoundedHttpTools)``; ``kfqmap.cli.serve_cmd`` does this.
"""
from __future__ import annotations

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from kfqmap.deploy import MAX_HEAD_BYTES     # nginx's limit is set from the same figure

from .middleware import problem_body


#: longest request target llhttp's URL parser takes (``httptools.parse_url``); the app's own, configurable limit
#: (``RequestLimits``, 414) is normally far lower, this one answers the same way for targets past the parser's
PARSER_MAX_URL_BYTES = 65535


def _problem_response(status: int, reason: bytes, title: str, detail: str) -> bytes:
    body = orjson.dumps(problem_body(status, title, detail, ""))
    return (b"HTTP/1.1 " + str(status).encode() + b" " + reason + b"\r\n"
            b"content-type: application/problem+json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"x-content-type-options: nosniff\r\n"
            b"connection: close\r\n\r\n" + body)


def head_too_large_response(limit: int = MAX_HEAD_BYTES) -> bytes:
    return _problem_response(431, b"Request Header Fields Too Large", "RequestHeaderFieldsTooLarge",
                             f"请求行与请求头共超过 {limit // 1024} KB，已拒绝；请缩短 URL 或 Cookie 后重试")


def uri_too_long_response() -> bytes:
    return _problem_response(414, b"URI Too Long", "URITooLong",
                             f"请求地址过长（超过 {PARSER_MAX_URL_BYTES} 字节；长过滤条件请用 POST）（URI too long）")


class _Refused(Exception):
    """Raised in a parser callback to stop parsing; ``send_400_response`` then sends the prepared answer."""


class BoundedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request head over ``MAX_HEAD_BYTES`` with 431."""

    max_head_bytes = MAX_HEAD_BYTES

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self._in_head = True          # waiting for (or reading) a request line and headers
        self._head_bytes = 0
        self._refusal: bytes | None = None
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        # counted before parsing, judged after: a chunk that completes the head (and carries body bytes too)
        # resets the count in on_headers_complete, so only a head still incomplete after this chunk is refused
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.max_head_bytes:
            self._refuse_head()

    def _refuse_head(self) -> None:
        if self.transport.is_closing():
            return
        self.transport.write(head_too_large_response(self.max_head_bytes))
        self.transport.close()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        if len(self.url) > PARSER_MAX_URL_BYTES:   # parse_url would fail: a 414 like the app's, not a bare 400
            self._refusal = uri_too_long_response()
            raise _Refused()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        refusal, self._refusal = self._refusal, None
        if refusal is None:
            super().send_400_response(msg)
            return
        self.transport.write(refusal)
        self.transport.close()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True          # the next bytes on this keep-alive connection are the next request's head
