"""Peers on loopback for the alert tests: a webhook receiver and an SMTP collector."""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A threaded HTTP(S) server on 127.0.0.1 that records requests and answers as told."""

    status: int = 204
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""
    delay_s: float = 0.0
    requests: list[Seen] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    def url(self, path: str = "/hook", *, scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def start(self, tls: ssl.SSLContext | None = None) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {key.lower(): value for key, value in self.headers.items()}
                receiver.requests.append(Seen(self.path, headers, body))
                if receiver.delay_s:
                    receiver.release.wait(receiver.delay_s)
                try:
                    self.send_response(receiver.status)
                    for key, value in receiver.response_headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(receiver.response_body)))
                    self.end_headers()
                    self.wfile.write(receiver.response_body)
                except OSError:
                    pass  # the client gave up (timeout tests)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


class Collector:
    """An aiosmtpd handler that keeps every envelope (and whether it arrived over TLS)."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.tls: list[bool] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.envelopes.append(envelope)
        transport = server.transport
        self.tls.append(transport is not None and transport.get_extra_info("ssl_object") is not None)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Feed:
    """What a :class:`FeedServer` answers at one path (and its query string, if any)."""

    body: bytes
    etag: str | None = None
    last_modified: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FeedServer:
    """A threaded HTTP server on 127.0.0.1 serving fixture feeds for the connector tests.

    ``feeds`` maps a path with its query (``/needs?page=2``) to what it answers; a request carrying the
    feed's ETag in ``If-None-Match``, or its Last-Modified in ``If-Modified-Since``, is answered
    ``304 Not Modified``. Every request is recorded.
    """

    feeds: dict[str, Feed] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    answered: list[tuple[str, int]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def start(self) -> FeedServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                headers = {key.lower(): value for key, value in self.headers.items()}
                owner.requests.append(Seen(self.path, headers, b""))
                feed = owner.feeds.get(self.path)
                if feed is None:
                    status, body, extra = 404, b"not found", {}
                elif feed.etag is not None and headers.get("if-none-match") == feed.etag:
                    status, body, extra = 304, b"", {"ETag": feed.etag}
                elif feed.last_modified is not None and headers.get("if-modified-since") == feed.last_modified:
                    status, body, extra = 304, b"", {}
                else:
                    status, body = feed.status, feed.body
                    extra = {**feed.headers, **({"ETag": feed.etag} if feed.etag else {})}
                    if feed.last_modified is not None:
                        extra["Last-Modified"] = feed.last_modified
                owner.answered.append((self.path, status))
                self.send_response(status)
                for key, value in extra.items():
                    self.send_header(key, value)
                if status != 304:
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
