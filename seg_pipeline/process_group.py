"""Run long-lived helper processes (`seg ui`: webserver, daemon and their code servers) and stop them all.

Killing only the direct children is not enough: dagster-webserver and dagster-daemon each start a code server
(``dagster api grpc``), which outlives its parent and keeps the port or the workspace busy. Each child gets its
own process group; on Ctrl-C, SIGTERM or SIGHUP every process in those groups, and every descendant found
before the stop, is asked to stop (SIGINT, then SIGTERM) and killed if it is still there after a grace period.
"""

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from types import FrameType

import psutil

GRACE_S = 15.0


def run_until_stopped(commands: Sequence[Sequence[str]], env: Mapping[str, str],
                      on_started: Callable[[], None] | None = None) -> int:
    """Start ``commands``, wait until one exits or this process is told to stop, then stop the whole family."""
    procs: list[subprocess.Popen[bytes]] = []
    with _stop_signals(_raise_stop):
        try:
            # S603: the caller passes this venv's own entry points with fixed arguments
            procs.extend(subprocess.Popen(list(cmd), env=dict(env), start_new_session=True)  # noqa: S603
                         for cmd in commands)
            if on_started:
                on_started()
            while all(p.poll() is None for p in procs):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            with _stop_signals(signal.SIG_IGN):  # a second Ctrl-C must not cut the cleanup short
                stop_family(procs)
    return max((p.returncode or 0 for p in procs), default=0)


class _StopRequestedError(KeyboardInterrupt):
    """SIGTERM/SIGHUP, handled like Ctrl-C."""


def _raise_stop(_signo: int, _frame: FrameType | None) -> None:
    raise _StopRequestedError


@contextmanager
def _stop_signals(handler: Callable[[int, FrameType | None], None] | signal.Handlers) -> Iterator[None]:
    """Handle SIGINT, SIGTERM and SIGHUP alike while the children run (the default would orphan them)."""
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, handler) for sig in sigs}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def stop_family(procs: Sequence[subprocess.Popen[bytes]], grace_s: float = GRACE_S) -> None:
    """Stop every child, its process group and all its descendants: SIGINT, then SIGTERM, then SIGKILL."""
    family = _family(procs)
    for sig in (signal.SIGINT, signal.SIGTERM):
        for p in procs:
            _signal_group(p.pid, sig)
        for member in family:
            _signal(member, sig)
        _, family = psutil.wait_procs(family, timeout=grace_s / 2)
        if not family:
            break
    for member in family:
        _signal(member, signal.SIGKILL)
    psutil.wait_procs(family, timeout=grace_s)
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def _family(procs: Sequence[subprocess.Popen[bytes]]) -> list[psutil.Process]:
    members: list[psutil.Process] = []
    for p in procs:
        try:
            root = psutil.Process(p.pid)
            members += [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    return members


def _signal_group(pid: int, sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _signal(member: psutil.Process, sig: int) -> None:
    with suppress(psutil.NoSuchProcess, psutil.AccessDenied):
        member.send_signal(sig)
