"""The live summary on a terminal, and the status table of `hidsctl status`."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table


def status_table(report: dict[str, Any]) -> Table:
    table = Table(title=f"hidsctl {report['role']} (pid {report['pid']}, "
                        f"up {_duration(report['uptime'])})")
    for column in ("component", "state", "pid", "user", "uptime", "restarts", "in", "out",
                   "alerts by level", "dropped"):
        table.add_column(column)
    for c in report["components"]:
        levels = " ".join(f"{lvl}:{n}" for lvl, n in c["alerts_by_level"].items())
        table.add_row(c["name"], c["state"], str(c["pid"] or "-"), c["user"],
                      _duration(c["uptime"]), str(c["restarts"]), str(c["records_in"]),
                      str(c["records_out"]), levels or "-", str(c["dropped"]))
    return table


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


class LiveSummary:
    """Redraws the status table on stderr about once a second."""

    def __init__(self) -> None:
        self.live = Live(console=Console(stderr=True), auto_refresh=False)
        self.last = 0.0

    def __enter__(self) -> "LiveSummary":
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(*exc)

    def update(self, supervisor) -> None:
        if time.monotonic() - self.last < 1.0:
            return
        self.last = time.monotonic()
        self.live.update(status_table(supervisor.status()), refresh=True)
