"""The live summary on a terminal, and the status table of `hidsctl status`."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group, JustifyMethod
from rich.live import Live
from rich.table import Table
from rich.text import Text

# (header, justify) of the table's columns; it fits 80 columns with the longest component
# name, state and user names up to 8 characters (longer ones wrap, names never do).
COLUMNS: tuple[tuple[str, JustifyMethod], ...] = (("component", "left"), ("state", "left"), ("pid", "right"), ("user", "left"),
           ("up", "right"), ("restarts", "right"), ("in", "right"), ("out", "right"),
           ("alerts", "right"), ("dropped", "right"))


def status_table(report: dict[str, Any]) -> Group:
    """The components as a table, then each component's last error on lines of its own
    (wrapped, never cut): what `hidsctl status` and the live summary show."""
    components = report["components"]
    table = Table(title=f"hidsctl {report['role']} (pid {report['pid']}, "
                        f"up {_duration(report['uptime'])})",
                  box=None, padding=(0, 1, 0, 0), pad_edge=False, title_justify="left",
                  header_style="bold underline")
    name_width = max([len("component")] + [len(c["name"]) for c in components])
    for header, justify in COLUMNS:
        if header == "component":
            table.add_column(header, no_wrap=True, min_width=name_width)
        else:
            table.add_column(header, justify=justify, overflow="fold")
    for c in components:
        alerts = sum(c["alerts_by_level"].values())
        table.add_row(c["name"], c["state"], str(c["pid"] or "-"), c["user"],
                      _duration(c["uptime"]), str(c["restarts"]), _count(c["records_in"]),
                      _count(c["records_out"]), _count(alerts) if alerts else "-",
                      _count(c["dropped"]))
    lines = _bus_lines(report.get("bus") or [])
    errors = [Text.assemble((f"{c['name']}: ", "bold"), c["last_error"], overflow="fold")
              for c in components if c.get("last_error")]
    if errors:
        errors.insert(0, Text("last errors:"))
    return Group(table, *lines, *errors)


def _bus_lines(consumers: list[dict[str, Any]]) -> list[Text]:
    """One line per bus consumer: its backlog, unread + delivered but unacknowledged.
    Before `hidsctl status` asked the bus (the live summary), no counts."""
    if not consumers or "stream" not in consumers[0]:
        return []
    lines = [Text("bus backlog (unread + unacked):")]
    for c in consumers:
        stream = c["stream"].rsplit("/", 1)[-1]
        counts = (f"{_count(c['unread'])} + {_count(c['unacked'])}" if "unread" in c
                  else c.get("error", "not asked"))
        lines.append(Text.assemble(f"  {c['component']} ", (f"{stream}", "dim"), f": {counts}",
                                   overflow="fold"))
    return lines


def _count(n: int) -> str:
    """At most five characters: 999, 12.3k, 4.56M."""
    if n < 1000:
        return str(n)
    for unit, size in (("k", 1e3), ("M", 1e6), ("G", 1e9)):
        if n < size * 1000:
            value = n / size
            return f"{value:.3g}{unit}" if value < 100 else f"{value:.0f}{unit}"
    return f"{n / 1e12:.0f}T"


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

    def __exit__(self, *exc: Any) -> None:
        self.live.__exit__(*exc)

    def update(self, supervisor) -> None:
        if time.monotonic() - self.last < 1.0:
            return
        self.last = time.monotonic()
        self.live.update(status_table(supervisor.status()), refresh=True)
