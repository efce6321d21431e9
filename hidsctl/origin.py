"""Who a record came from, and what that lets it be.

``receive`` stamps every record that arrives over the network with an ``origin`` object:
``{"kind": "agent", "id", "name", "ip"}`` for an authenticated agent, ``{"kind": "syslog",
"ip"}`` for a syslog device; whatever the peer put there is overwritten. Such a record is
data about its sender, never an instruction to this server: an agent may send only the
types agents produce (AGENT_TYPES), ``analyze`` turns remote records into events and never
passes one through, and ``respond`` never acts on an ``alert`` or ``ar`` that carries an
origin. A record without ``origin`` was made on this host (by ``collect``, ``analyze``, or
the local user's own pipeline) and is trusted as such.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from hidsctl import records
from hidsctl.diagnostics import logger

# What an agent's own commands write (collect, scan, agentless, respond, send's notices).
AGENT_TYPES = frozenset({"log", "syscheck", "rootcheck", "ar_result", "agent_status", "notice"})
# Types whose record asks this server to act: never taken from a remote origin.
ACTIONABLE = frozenset({"alert", "ar"})

_LABEL = re.compile(r"[a-z][a-z0-9_]{0,31}")
MAX_LABELS = 8  # distinct type names kept per report; the rest count as "other"


def of_agent(identity: dict[str, str]) -> dict[str, str]:
    """The origin of a record opened with an agent's key (``identity`` as stamped in
    ``agent``: id, name and the peer's address)."""
    return {"kind": "agent", "id": identity["id"], "name": identity["name"],
            "ip": identity["ip"]}


def of_syslog(address: str) -> dict[str, str]:
    return {"kind": "syslog", "ip": address}


def remote(record: dict[str, Any]) -> str | None:
    """Who sent ``record`` from outside this host, or None for a local record. Any
    ``origin`` field counts: only ``receive`` writes one, so a malformed one is treated as
    remote too (fail closed)."""
    return describe(record["origin"]) if "origin" in record else None


def describe(origin: Any) -> str:
    """An origin for humans: ``agent 001 (web1) 10.0.0.4``, ``syslog 192.0.2.1``."""
    if not isinstance(origin, dict):
        return "an unknown origin"
    kind, ip = origin.get("kind"), origin.get("ip")
    if kind == "agent":
        return f"agent {_text(origin.get('id'))} ({_text(origin.get('name'))}) {_text(ip)}"
    if kind == "syslog":
        return f"syslog {_text(ip)}"
    return "an unknown origin"


def agent_of(origin: Any) -> dict[str, Any]:
    """The ``agent`` object of an origin: the agent itself, else this host (a syslog
    device's records are the server's, as in OSSEC)."""
    if isinstance(origin, dict) and origin.get("kind") == "agent":
        return {"id": _text(origin.get("id")), "name": _text(origin.get("name")),
                "ip": _text(origin.get("ip"))}
    return records.local_agent()


def type_label(rtype: Any) -> str:
    """A record type fit to appear in a notice: a short lowercase name, else ``other``."""
    return rtype if isinstance(rtype, str) and _LABEL.fullmatch(rtype) else "other"


def _text(value: Any) -> str:
    text = str(value) if isinstance(value, (str, int)) else "?"
    return text[:64] if text.isprintable() else "?"


@dataclass
class _Pending:
    agent: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)


class Refusals:
    """Records refused because of their origin, counted per sender and reported as one
    ``notice`` (code ``refused``) and one stderr line per sender and interval: the first
    refusal at once, what follows within the interval added up for the next report, so a
    flood of forged records cannot flood the output."""

    MAX_SENDERS = 10000

    def __init__(self, component: str, emit: Callable[[records.Record], None],
                 interval: float = 60.0, what: str = "of a type it may not send",
                 clock: Callable[[], float] = time.monotonic):
        self.component = component
        self.emit = emit
        self.interval = interval
        self.what = what
        self.clock = clock
        self.last: dict[str, float] = {}
        self.pending: dict[str, _Pending] = {}
        self.total = 0

    def add(self, sender: str, agent: dict[str, Any], counts: dict[str, int]) -> None:
        """Count refused records of ``sender`` (type label -> how many)."""
        if not counts:
            return
        pending = self.pending.get(sender)
        if pending is None:
            if len(self.pending) >= self.MAX_SENDERS:
                self.flush(force=True)
            pending = self.pending[sender] = _Pending(agent)
        for label, count in counts.items():
            label = type_label(label)
            if label not in pending.counts and len(pending.counts) >= MAX_LABELS:
                label = "other"
            pending.counts[label] = pending.counts.get(label, 0) + count
            self.total += count
        last = self.last.get(sender)
        if last is None or self.clock() - last >= self.interval:
            self._report(sender)

    def flush(self, force: bool = False) -> None:
        """Report the senders whose interval has passed (all of them with ``force``)."""
        now = self.clock()
        for sender in list(self.pending):
            if force or now - self.last.get(sender, 0.0) >= self.interval:
                self._report(sender)
        if len(self.last) >= self.MAX_SENDERS:
            self.last = {s: t for s, t in self.last.items() if now - t < self.interval}
            if len(self.last) >= self.MAX_SENDERS:
                self.last.clear()  # bounded memory before exact rate limits

    def _report(self, sender: str) -> None:
        pending = self.pending.pop(sender)
        self.last[sender] = self.clock()
        count = sum(pending.counts.values())
        kinds = ", ".join(f"{label} {n}" for label, n in sorted(pending.counts.items()))
        noun = "record" if count == 1 else "records"
        message = f"{sender} sent {count} {noun} {self.what} ({kinds}); dropped"
        logger(self.component).warning(message)
        self.emit(records.make("notice", agent=pending.agent, component=self.component,
                               code="refused", message=message, count=count,
                               location=sender, types=dict(pending.counts)))
