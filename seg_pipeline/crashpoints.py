"""Test-only crash points: ``SEG_CRASH_AT=<name>`` SIGKILLs the process when it reaches ``crash_point(name)``.

The reliability battery uses them to prove that a kill at the worst moment (after an MLflow run started, in the
middle of a warehouse transaction, after a sink got a 2xx) loses and duplicates nothing. SIGKILL, not an
exception: no ``finally`` block, rollback or atexit handler may run, exactly like ``kill -9`` or the OOM killer.
Unset (production), each call is one environment lookup.
"""

import os
import signal

CRASH_ENV = "SEG_CRASH_AT"


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL if ``SEG_CRASH_AT`` names this point (comma-separated names allowed)."""
    wanted = os.environ.get(CRASH_ENV)
    if not wanted or name not in {w.strip() for w in wanted.split(",")}:
        return
    os.kill(os.getpid(), signal.SIGKILL)
