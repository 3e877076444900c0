"""Start a real dagster-webserver over a SEG_HOME on a free loopback port, for tests and screenshots."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx

from seg_pipeline.settings import PROJECT_ROOT

_LOCATION_STATUS = "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def dagster_webserver(home: Path, *, timeout_s: float = 90.0, read_only: bool = True) -> Iterator[str]:
    """Yield the base URL once the code location has loaded; stop the server (and its code server) after.

    Raises ``RuntimeError`` with the tail of the server's output when it dies or is not ready in time.
    """
    exe = Path(sys.executable).parent / "dagster-webserver"
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "SEG_HOME": str(home)}
    cmd = [str(exe), "-h", "127.0.0.1", "-p", str(port), "-w", str(PROJECT_ROOT / "workspace.yaml")]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [*cmd, *(["--read-only"] if read_only else [])],
            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_loaded(proc, base, log, timeout_s)
            yield base
        finally:
            _stop(proc)


def _wait_loaded(proc: subprocess.Popen[bytes], base: str, log: IO[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=10) as client:
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                state = f"exited with {proc.returncode}" if proc.poll() is not None else f"not ready after {timeout_s}s"
                raise RuntimeError(f"dagster-webserver {state}:\n{log.read().decode(errors='replace')[-4000:]}")
            with contextlib.suppress(httpx.TransportError, KeyError, TypeError, ValueError):
                if client.get(f"{base}/server_info").status_code == 200:
                    data = client.post(f"{base}/graphql", json={"query": _LOCATION_STATUS}).json()
                    entries = data["data"]["workspaceOrError"]["locationEntries"]
                    if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                        return
            time.sleep(0.5)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the webserver, then kill its session: the code-server child lives in the same one."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
