"""OSSEC's alerts.log text layout for one alert record.

Users grep and parse alerts.log by its OSSEC shape, so the layout follows it line for line:

    ** Alert 1795614647.42: - syslog,sshd,authentication_failed,
    2026 Nov 25 13:50:47 web1->/var/log/auth.log
    Rule: 5716 (level 5) -> 'sshd: authentication failed.'
    Src IP: 203.0.113.9
    User: root
    Nov 25 13:50:47 web1 sshd[811]: Failed password for root from 203.0.113.9 port 52144 ssh2

Times are UTC (alert files are filed under UTC days). Integrity alerts whose record has no
``full_log`` get OSSEC's syscheck lines built from their ``syscheck`` object.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from hidsctl.records import record_time

# Decoded fields OSSEC prints between the rule line and the log, in its order.
DECODED_LINES = (
    ("srcip", "Src IP"),
    ("srcport", "Src Port"),
    ("dstip", "Dst IP"),
    ("dstport", "Dst Port"),
    ("dstuser", "User"),
)


def format_alert(alert: dict[str, Any]) -> str:
    """One alert as an alerts.log block, ending with the blank line that separates alerts."""
    rule = alert.get("rule") or {}
    return layout(_header_line(alert, rule), f"{_date(alert)} {origin(alert)}",
                  rule_line(rule), alert.get("data") or {}, alert_log_text(alert),
                  alert.get("previous_output"))


def layout(header: str, origin_line: str, rule_text: str, data: dict[str, Any],
           log_text: str, previous: Any) -> str:
    """The block from its parts (analyze builds them from the event, format_alert from an
    alert record)."""
    lines = [header, origin_line, rule_text]
    for key, label in DECODED_LINES:
        value = data.get(key)
        if value not in (None, ""):
            lines.append(f"{label}: {one_line(value)}")
    lines.append(log_text)
    if previous:
        lines.append(str(previous).rstrip("\n"))
    return "\n".join(lines) + "\n\n"


def rule_line(rule: dict[str, Any]) -> str:
    return (f"Rule: {one_line(rule.get('id', ''))} (level {rule.get('level', 0)}) -> "
            f"'{one_line(rule.get('description') or '')}'")


def header_tail(rule: dict[str, Any]) -> str:
    """What follows ``** Alert ID:`` in the header: the mail mark and the groups."""
    mail = " mail " if rule.get("mail") else ""
    groups = "".join(f"{g}," for g in rule.get("groups") or ())
    return one_line(f"{mail} - {groups}")


def alert_log_text(alert: dict[str, Any]) -> str:
    """The alert's log portion: ``full_log``, or OSSEC's syscheck text for integrity alerts."""
    full_log = alert.get("full_log")
    if full_log:
        return str(full_log)
    syscheck = alert.get("syscheck")
    if isinstance(syscheck, dict):
        return syscheck_text(syscheck)
    return ""


def one_line(value: Any) -> str:
    """A field's text for a line of its own: a CR or LF in it (from a log line or an agent)
    is shown escaped, so it cannot start a forged line."""
    return str(value).replace("\r", "\\r").replace("\n", "\\n")


def _header_line(alert: dict[str, Any], rule: dict[str, Any]) -> str:
    alert_id = one_line(alert.get("id") or f"{int(record_time(alert))}.0")
    return f"** Alert {alert_id}:{header_tail(rule)}"


def _date(alert: dict[str, Any]) -> str:
    return date_of_second(int(record_time(alert)))


@functools.lru_cache(maxsize=256)
def date_of_second(second: int) -> str:
    return time.strftime("%Y %b %d %H:%M:%S", time.gmtime(second))


def origin(alert: dict[str, Any]) -> str:
    """``host->location`` for the local host, ``(name) ip->location`` for an agent."""
    return origin_of(alert.get("location"), alert.get("agent") or {})


def origin_of(location: Any, agent: dict[str, Any]) -> str:
    location = one_line(location or "")
    if location.startswith("(") and "->" in location:
        return location  # already an OSSEC origin, as agentless locations are
    name = one_line(agent.get("name") or "")
    if agent.get("id", "000") in ("000", None):
        return f"{name}->{location}"
    return f"({name}) {one_line(agent.get('ip') or 'any')}->{location}"


# --- integrity alerts ---------------------------------------------------------------------

_HASHES = (("md5", "md5sum"), ("sha1", "sha1sum"), ("sha256", "sha256sum"))


def syscheck_text(syscheck: dict[str, Any]) -> str:
    """OSSEC's text for a file integrity event, from an alert's ``syscheck`` object."""
    path = one_line(syscheck.get("path") or "")
    event = syscheck.get("event", "modified")
    if event == "added":
        return f"New file '{path}' added to the file system."
    if event == "deleted":
        return f"File '{path}' was deleted. Unable to retrieve checksum."
    lines = [f"Integrity checksum changed for: '{path}'"]
    pairs = [
        ("size", "Size changed from '{0}' to '{1}'"),
        ("perm", "Permissions changed from '{0}' to '{1}'"),
        ("uid", "Ownership was '{0}', now it is '{1}'"),
        ("gid", "Group ownership was '{0}', now it is '{1}'"),
        ("mtime", "Old modification time was: '{0}', now it is '{1}'"),
        ("inode", "Old inode was: '{0}', now it is '{1}'"),
    ]
    for key, text in pairs:
        before, after = syscheck.get(f"{key}_before"), syscheck.get(f"{key}_after")
        if before is not None and after is not None and before != after:
            lines.append(text.format(one_line(before), one_line(after)))
    diff = syscheck.get("diff")
    if diff:
        lines.append("What changed:")
        lines.append(str(diff).rstrip("\n"))
    for key, name in _HASHES:
        before, after = syscheck.get(f"{key}_before"), syscheck.get(f"{key}_after")
        if before and after and before != after:
            lines.append(f"Old {name} was: '{one_line(before)}'")
            lines.append(f"New {name} is : '{one_line(after)}'")
    return "\n".join(lines)
