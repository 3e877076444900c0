"""`seg ui` stopped with SIGTERM: webserver, daemon and their code servers all exit, and the port is free.

Break 7: "`seg ui` on SIGTERM orphans daemon and webserver and keeps the port" (service managers send SIGTERM).
"""

import contextlib
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest

from seg_pipeline_tests.helpers.webserver import free_port
from seg_pipeline_tests.reliability.conftest import REPO, seg_cmd, seg_env

pytestmark = [pytest.mark.reliability, pytest.mark.e2e, pytest.mark.webserver]
START_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 120.0


def _wait_serving(proc: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(timeout=10) as client:
        while True:
            assert proc.poll() is None, "seg ui exited before the webserver answered"
            assert time.monotonic() < deadline, f"the webserver did not answer within {START_TIMEOUT_S}s"
            with contextlib.suppress(httpx.TransportError):
                if client.get(f"{base}/server_info").status_code == 200:
                    return
            time.sleep(1)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_sigterm_stops_webserver_daemon_and_code_servers_and_frees_the_port(tmp_path: Path) -> None:
    port = free_port()
    ui = subprocess.Popen(seg_cmd("ui", "--port", str(port)), env=seg_env(tmp_path / "home"), cwd=REPO,  # noqa: S603
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    family: list[psutil.Process] = []
    try:
        _wait_serving(ui, f"http://127.0.0.1:{port}")
        family = psutil.Process(ui.pid).children(recursive=True)
        assert len(family) >= 2  # webserver and daemon, plus their code servers
        ui.send_signal(signal.SIGTERM)
        ui.wait(timeout=STOP_TIMEOUT_S)
        _, alive = psutil.wait_procs(family, timeout=STOP_TIMEOUT_S)
        assert [p.pid for p in alive] == []
        assert _port_free(port)
    finally:  # whatever happened, leave no server behind
        if ui.poll() is None:
            ui.kill()
        for member in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.kill()
