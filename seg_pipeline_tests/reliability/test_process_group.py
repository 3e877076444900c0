"""`seg ui`'s process handling without a webserver: SIGTERM stops every child and grandchild.

Including one that ignores SIGINT (break 7: "`seg ui` on SIGTERM orphans daemon and webserver").
"""

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from seg_pipeline_tests.reliability.conftest import REPO, seg_env

pytestmark = pytest.mark.reliability
STEP_TIMEOUT_S = 120

# a "server" that ignores SIGINT and starts a "code server" of its own, then writes both PIDs
SERVER = """
import signal, subprocess, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open(sys.argv[1], "w").write(f"{child.pid}\\n")
time.sleep(600)
"""
RUNNER = """
import os, sys
from seg_pipeline.process_group import run_until_stopped
run_until_stopped([[sys.executable, sys.argv[1], sys.argv[2]]], os.environ,
                  on_started=lambda: print("started", flush=True))
"""


def test_sigterm_stops_children_and_grandchildren(tmp_path: Path) -> None:
    server = tmp_path / "server.py"
    server.write_text(SERVER)
    pids = tmp_path / "pids"
    runner = subprocess.Popen([sys.executable, "-c", RUNNER, str(server), str(pids)],  # noqa: S603
                              env=seg_env(tmp_path), cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert runner.stdout is not None
        assert runner.stdout.readline().strip() == "started"
        deadline = time.monotonic() + STEP_TIMEOUT_S  # a server that never starts fails instead of hanging
        while not pids.exists() or not pids.read_text().endswith("\n"):
            assert time.monotonic() < deadline
            assert runner.poll() is None
            time.sleep(0.1)
        family = psutil.Process(runner.pid).children(recursive=True)
        assert len(family) == 2  # the server and its code server
        runner.send_signal(signal.SIGTERM)
        runner.wait(timeout=STEP_TIMEOUT_S)
        _, alive = psutil.wait_procs(family, timeout=STEP_TIMEOUT_S)
        assert alive == []
    finally:
        if runner.poll() is None:
            runner.kill()
