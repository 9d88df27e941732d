"""A fault-injecting HTTP proxy on 127.0.0.1 between the pipeline and the real CKAN portal.

Rules say which CKAN action fails how many times and how: an HTTP status (500, 502, 503,
409), a connection reset, a delay (to trip the client's timeout), an error whose body echoes
the request's headers (as some misconfigured proxies do), or a redirect elsewhere. Every
request is recorded so tests can see what the pipeline sent. `Collector` is a server that
only records what reaches it: the "elsewhere" a token must never be sent to.
"""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Fault:
    action: str
    kind: str  # "500", "502", "503", "409", "reset", "delay", "echo" or "redirect"
    times: int = 1
    delay: float = 0.0
    status: int = 500  # for "echo": the status answered (its body quotes every request header)
    body: str = "text"  # for "echo": "text", or "json" (a CKAN error document quoting the headers)
    location: str = ""  # for "redirect": where to (a 307 keeps the method and body)


@dataclass
class Proxy:
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    hit: dict[str, threading.Event] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> str:
        proxy = self
        target = urlsplit(self.upstream)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                action = self.path.split("/action/", 1)[-1].split("?", 1)[0] if "/action/" in self.path else ""
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = proxy._take(action)
                if fault and fault.kind == "reset":
                    # linger 0 then close: the client gets a TCP reset, not an answer
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.wfile.close()
                    self.rfile.close()
                    self.connection.close()
                    return
                if fault and fault.kind == "delay":
                    time.sleep(fault.delay)
                if fault and fault.kind == "echo":
                    quoted = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
                    if fault.body == "json":
                        error = {"__type": "Validation Error", "request": [quoted]}
                        text = json.dumps({"success": False, "error": error})
                    else:
                        text = f"Bad request. Your request was:\n{quoted}"
                    self._answer(
                        fault.status, text.encode(), "application/json" if fault.body == "json" else "text/plain"
                    )
                    return
                if fault and fault.kind == "redirect":
                    self.send_response(307)
                    self.send_header("Location", fault.location + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if fault and fault.kind.isdigit():
                    self._answer(int(fault.kind), f"injected {fault.kind}".encode(), "text/plain")
                    return
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=300)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                self.send_response(response.status)
                for k, v in response.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            def _answer(self, status: int, payload: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _take(self, action: str) -> Fault | None:
        with self._lock:
            self.seen.append(action)
            if action in self.hit:
                self.hit[action].set()
            for fault in self.faults:
                if fault.action == action and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Collector:
    """A server on 127.0.0.1 that records every request's headers and answers `payload`."""

    payload: bytes = b""
    requests: list[dict[str, str]] = field(default_factory=list)

    def start(self) -> str:
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                collector.requests.append(
                    {**dict(self.headers.items()), "_path": self.path, "_body": body.decode("utf-8", "replace")}
                )
                self.send_response(200)
                self.send_header("Content-Length", str(len(collector.payload)))
                self.end_headers()
                self.wfile.write(collector.payload)

            do_GET = do_POST = _record

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
