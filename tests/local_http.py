"""A local HTTP server for tests: ThreadingHTTPServer on 127.0.0.1 and a free port, serving GET
requests from a thread; a subclass says what each path answers.

Example::

    class Pictures(LocalServer):
        def answer(self, path: str) -> tuple[str, bytes] | None:
            return ("image/png", PNG) if path.startswith("/img/") else None   # None: 404

    server = Pictures().start()        # server.url == "http://127.0.0.1:<port>"
    ...
    server.stop()
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LocalServer:
    """Subclasses define :meth:`answer`; ``url`` is set by :meth:`start`."""

    url: str = ""
    _server: ThreadingHTTPServer | None = None

    def answer(self, path: str) -> tuple[str, bytes] | None:
        """The content type and body of a GET of ``path``, or None for a 404."""
        raise NotImplementedError

    def start(self) -> Any:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                found = owner.answer(self.path)
                try:
                    if found is None:
                        self.send_error(404)
                        return
                    content_type, body = found
                    self.send_response(200)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client went away (a cancelled crawl) while the answer was on its way

            def log_message(self, *args: Any) -> None:
                """Quiet: the tests read responses, not logs."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
