"""The forked analysis processes of ``analyze --workers``: signalled and reaped alike,
whether they analyse their agents' records (parallel.py) or decode one agent's stream
(pipeline.py)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable

from hidsctl.diagnostics import logger


def signal_all(pids: Iterable[int], signum: int) -> None:
    """Pass ``signum`` on to every child still there (SIGHUP: each reloads)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def reap(pid: int, what: str) -> int:
    """Wait for child ``pid`` and return its exit code, saying so when it failed."""
    _pid, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        logger("analyze").error(f"analysis {what} (pid {pid}) exited with status {code}")
    return code
