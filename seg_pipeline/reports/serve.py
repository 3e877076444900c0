"""Serve the dashboard directory over HTTP on 127.0.0.1 (for `seg dashboard` and the browser test).

Opening the file directly works too; a server exists so browsers that restrict ``file://`` pages, and the
real-browser test, load it the way a user would. It binds to loopback only: Dagster OSS and this report have no
auth (R10).
"""

import threading
import webbrowser
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


class _QuietHandler(SimpleHTTPRequestHandler):
    """Static files from one directory, no request logging to stderr, no caching of a page that is rebuilt weekly."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()


class DashboardServer(ThreadingHTTPServer):
    """A threading HTTP server running in a daemon thread; ``close()`` stops and releases the port."""

    daemon_threads = True
    thread: threading.Thread | None = None

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Block the caller; when already serving in the background thread, just wait for it to stop."""
        bg = self.thread
        if bg is not None and bg.is_alive() and threading.current_thread() is not bg:
            while bg.is_alive():
                bg.join(timeout=poll_interval)
            return
        super().serve_forever(poll_interval)

    def server_close(self) -> None:
        """Stop the background loop (if any), then release the port; safe to call twice."""
        bg = self.thread
        if bg is not None and bg.is_alive() and threading.current_thread() is not bg:
            self.shutdown()
            bg.join(timeout=5)
        self.thread = None
        super().server_close()

    def close(self) -> None:
        """Stop serving and release the port."""
        self.server_close()

    def __enter__(self) -> "DashboardServer":
        """Serve for the duration of a ``with`` block."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop serving when the ``with`` block ends."""
        self.close()


def serve_dashboard(path: Path, *, port: int = 0, open_browser: bool = False) -> tuple[DashboardServer, str]:
    """Serve the directory holding ``path`` on 127.0.0.1 in a background thread; return ``(server, url)``.

    ``port=0`` picks a free port (tests). ``path`` may be the dashboard file or its directory. Stop with
    ``server.close()``/``server_close()`` (or use the server as a context manager); to block, call
    ``server.serve_forever()`` or :func:`wait`, which wait on the background thread.
    """
    path = Path(path).resolve()
    if path.is_dir():
        directory, name = path, ""
    elif path.is_file():
        directory, name = path.parent, path.name
    else:
        raise FileNotFoundError(f"no dashboard at {path}; build it first (seg dashboard builds then serves)")
    handler = partial(_QuietHandler, directory=str(directory))
    server = DashboardServer((HOST, port), handler)
    server.thread = threading.Thread(target=server.serve_forever, name="dashboard-http", daemon=True)
    server.thread.start()
    url = f"http://{HOST}:{server.server_address[1]}/{name}"
    if open_browser:
        webbrowser.open(url)
    return server, url


def wait(server: DashboardServer) -> None:
    """Block until Ctrl-C, then stop the server (for `seg dashboard`; ``server.serve_forever()`` also works)."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
