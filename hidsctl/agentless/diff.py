"""Command outputs and device configurations: keep the last one, and when a new one differs
emit a ``log`` record carrying OSSEC's ``ossec: agentless: Change detected:`` text (so the
rules for agentless changes fire) and the unified diff."""

from __future__ import annotations

import difflib
from typing import Callable

from hidsctl import records
from hidsctl.agentless.settings import Host
from hidsctl.agentless.store import Store
from hidsctl.diagnostics import logger

log = logger("agentless")

HEADER = "ossec: agentless: Change detected:"
MAX_ALERT_LINES = 16  # changed lines quoted in the log text; the whole diff is in data.diff


def without_volatile(text: str, is_volatile: Callable[[str], bool] | None) -> str:
    """The output with lines that change by themselves (clocks, counters) left out."""
    if is_volatile is None:
        return text
    return "".join(line for line in text.splitlines(keepends=True) if not is_volatile(line))


def unified(old: str, new: str, name: str) -> str:
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                 fromfile=f"{name} (previous)", tofile=f"{name} (current)", n=2)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def alert_text(diff: str) -> str:
    """OSSEC's wording and the first changed lines of the diff."""
    changed = [line for line in diff.splitlines()
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    text = "\n".join([HEADER, *changed[:MAX_ALERT_LINES]])
    if len(changed) > MAX_ALERT_LINES:
        text += f"\nMore changes.. ({len(changed) - MAX_ALERT_LINES} more lines)"
    return text


def record_output(host: Host, store: Store, name: str, output: str, emit,
                  is_volatile: Callable[[str], bool] | None = None) -> bool:
    """Store ``output`` of ``name`` (a command) for ``host``; emit a record when it differs
    from the stored one. The first output is stored silently. True when a change was emitted."""
    current = without_volatile(output, is_volatile)
    previous = store.output(host.key, name)
    changed = previous is not None and previous != current
    if changed:
        diff = unified(previous, current, name)  # type: ignore[arg-type]
        emit(records.make("log", location=host.location(name), log=alert_text(diff),
                          data={"diff": diff, "command": name, "host": host.target,
                                "check": host.type}))
    if previous is None:
        log.info(f"{host.target}: first output of {name!r} stored")
    if previous != current:
        store.save_output(host.key, name, current)
    return changed
