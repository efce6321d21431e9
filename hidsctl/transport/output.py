"""Records out of a long-running daemon: unbuffered writes of whole lines to a file
descriptor, so a record written is a record the next stage can read, and rate-bounded
diagnostics that a flood of bad peers cannot turn into a flood of log lines."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from hidsctl import records
from hidsctl.diagnostics import logger


class Output:
    """Writes JSON lines straight to a file descriptor (stdout by default)."""

    def __init__(self, fd: int | None = None):
        self.fd = sys.stdout.fileno() if fd is None else fd
        self.written = 0

    def lines(self, lines: list[bytes]) -> None:
        """Write serialised records (each ending in a newline) and return once the kernel
        has them: the acknowledgement that follows is only true after this."""
        if not lines:
            return
        data = memoryview(b"".join(lines))
        try:
            while data:
                sent = os.write(self.fd, data)
                data = data[sent:]
        except BrokenPipeError:
            records._quiet_exit_on_broken_pipe()
        self.written += len(lines)

    def record(self, record: records.Record) -> None:
        self.lines([records.dumps(record)])


class BoundedLog:
    """At most one diagnostic line and one ``notice`` record per key and interval; what happens
    in between is counted and reported with the next line."""

    MAX_KEYS = 10000

    def __init__(self, output: Output | None, component: str, interval: float = 60.0):
        self.output = output
        self.component = component
        self.interval = interval
        self.log = logger(component)
        self.last: dict[tuple[str, str], float] = {}
        self.suppressed: dict[tuple[str, str], int] = {}
        self.totals: dict[str, int] = {}

    def report(self, code: str, where: str, message: str, notice: bool = True,
               **fields: Any) -> None:
        self.totals[code] = self.totals.get(code, 0) + 1
        key = (code, where)
        now = time.monotonic()
        last = self.last.get(key)
        if last is not None and now - last < self.interval:
            self.suppressed[key] = self.suppressed.get(key, 0) + 1
            return
        if len(self.last) >= self.MAX_KEYS:
            self.last.clear()
            self.suppressed.clear()
        count = self.suppressed.pop(key, 0) + 1
        self.last[key] = now
        more = f" ({count} times since the last report)" if count > 1 else ""
        self.log.warning(f"{where}: {message}{more}")
        if notice and self.output is not None:
            self.output.record(records.make("notice", component=self.component, code=code,
                                            message=message, count=count, location=where,
                                            **fields))
