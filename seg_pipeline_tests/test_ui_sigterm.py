"""`seg ui` stopped with SIGTERM (a service manager, `kill`, a closing terminal) leaves nothing behind.

Like `dagster dev`: the webserver, the daemon and every code server they started are gone and the port is free
again, so the next `seg ui` starts. This runs the real command on a free port with a real daemon.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from seg_pipeline.settings import PROJECT_ROOT
from seg_pipeline_tests.helpers.webserver import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.webserver]

START_TIMEOUT_S = 240.0
STOP_TIMEOUT_S = 60.0
LOADED = "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }"


def _wait_ready(proc: subprocess.Popen[bytes], base: str) -> None:
    """Wait for HTTP 200 and a loaded code location (its code server is then running)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(timeout=10) as client:
        while True:
            assert proc.poll() is None, f"seg ui exited with {proc.returncode}"
            assert time.monotonic() < deadline, f"seg ui not ready after {START_TIMEOUT_S}s"
            with contextlib.suppress(httpx.TransportError, KeyError, TypeError, ValueError):
                if client.get(f"{base}/server_info").status_code == 200:
                    entries = client.post(f"{base}/graphql", json={"query": LOADED}).json()["data"][
                        "workspaceOrError"]["locationEntries"]
                    if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                        return
            time.sleep(0.5)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _names(procs: list[psutil.Process]) -> list[str]:
    names = []
    for p in procs:
        with contextlib.suppress(psutil.Error):
            names.append(" ".join(p.cmdline()[:4]))
    return names


def test_sigterm_stops_webserver_daemon_and_code_servers_and_frees_the_port(tmp_path: Path) -> None:
    port = free_port()
    home = tmp_path / "home"
    env = {**os.environ, "SEG_HOME": str(home), "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("DAGSTER_HOME", None)
    proc = subprocess.Popen(  # noqa: S603 - this interpreter running the project's own CLI
        [sys.executable, "-m", "seg_pipeline.cli", "ui", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    family: list[psutil.Process] = []
    try:
        _wait_ready(proc, f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + START_TIMEOUT_S  # the daemon starts its own code server a little later
        while True:
            family = psutil.Process(proc.pid).children(recursive=True)
            commands = " ".join(_names(family))
            if "dagster-webserver" in commands and "dagster-daemon" in commands and "dagster api" in commands:
                break
            assert time.monotonic() < deadline, f"children never all started: {_names(family)}"
            time.sleep(0.5)
        assert not _port_free(port)

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=STOP_TIMEOUT_S) == 0
        _, alive = psutil.wait_procs(family, timeout=STOP_TIMEOUT_S)
        assert alive == [], f"left running: {_names(alive)}"
        assert _port_free(port)
    finally:
        for p in [*family, psutil.Process(proc.pid)] if proc.poll() is None else family:
            with contextlib.suppress(psutil.Error):
                p.kill()
