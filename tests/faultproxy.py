"""A fault-injecting HTTP proxy on 127.0.0.1 between the pipeline and the real CKAN portal.

Rules say which CKAN action fails how many times and how: an HTTP status (500, 502, 503,
409), a connection reset, or a delay (to trip the client's timeout). Every request is
recorded so tests can see what the pipeline sent.
"""

from __future__ import annotations

import http.client
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
    kind: str  # "500", "502", "503", "409", "reset" or "delay"
    times: int = 1
    delay: float = 0.0


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
                if fault and fault.kind.isdigit():
                    payload = f"injected {fault.kind}".encode()
                    self.send_response(int(fault.kind))
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
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
