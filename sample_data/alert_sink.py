"""The demo's alert channel: a webhook receiver on loopback that keeps every notice.

`spendscope demo` points the service's generic webhook (`SPENDSCOPE_ALERT_WEBHOOK_URL`) at
it, so the incidents the demo injects are really delivered over HTTP, and the Alerts page
shows their delivery status. Each notice is appended, one JSON document a line, to a file
in the data directory; nothing leaves the machine.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class AlertSink:
    """Started with `start()`, stopped with `stop()`; `url` is the webhook to configure."""

    def __init__(self, path: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.path = path
        self.received = 0
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    notice: Any = json.loads(body)
                except ValueError:
                    self.send_error(400, "not JSON")
                    return
                sink.keep(notice)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the file is the log

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="alert-sink", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/alerts"

    def keep(self, notice: Any) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as file:
                file.write(json.dumps(notice, sort_keys=True) + "\n")
            self.received += 1

    def start(self) -> AlertSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self.server.shutdown()
            self._thread.join(timeout=5)
        self.server.server_close()
