"""The text of alert e-mails: OSSEC maild's notification layout, grouped messages and
the summary sent when the hourly cap held alerts back."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from hidsctl.alerttext import DECODED_LINES, alert_log_text, origin
from hidsctl.records import record_time

Alert = dict[str, Any]
SUMMARY_LISTED = 200  # alerts listed one line each in a summary; the rest are counted
MAX_SUBJECT = 200


def notification(alert: Alert) -> str:
    """One alert in maild's layout."""
    rule = alert.get("rule") or {}
    lines = [
        "hidsctl notification.",
        time.strftime("%Y %b %d %H:%M:%S UTC", time.gmtime(record_time(alert))),
        "",
        f"Received From: {origin(alert)}",
        f"Rule: {rule.get('id', '')} fired (level {rule.get('level', 0)}) -> "
        f"\"{rule.get('description', '')}\"",
    ]
    data = alert.get("data") or {}
    for key, label in DECODED_LINES:
        if data.get(key) not in (None, ""):
            lines.append(f"{label}: {data[key]}")
    lines += ["Portion of the log(s):", "", alert_log_text(alert)]
    if alert.get("previous_output"):
        lines.append(str(alert["previous_output"]).rstrip("\n"))
    lines += ["", "--END OF NOTIFICATION", ""]
    return "\n".join(lines)


def subject(alerts: list[Alert]) -> str:
    top = max(alerts, key=_level)
    rule = top.get("rule") or {}
    if len(alerts) == 1:
        return header_text(f"[hidsctl] {_agent_name(top)} level {_level(top)}: "
                           f"{rule.get('description') or ''}")
    agents = sorted({_agent_name(a) for a in alerts})
    shown = ", ".join(agents[:3]) + (f" and {len(agents) - 3} more" if len(agents) > 3 else "")
    return header_text(f"[hidsctl] {len(alerts)} alerts (highest level {_level(top)}) from {shown}")


def header_text(text: str) -> str:
    """One header line from alert text: no CR/LF (no header injection), no other control
    character, whitespace runs as one space, at most MAX_SUBJECT characters."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else " " for c in text)
    text = " ".join(text.split())
    return text if len(text) <= MAX_SUBJECT else text[:MAX_SUBJECT - 3] + "..."


def body(alerts: list[Alert]) -> str:
    # A bare CR from a log line would end a line for some mail readers only: show it.
    return "\n".join(notification(a) for a in alerts).replace("\r", "\\r")


def summary_subject(count: int) -> str:
    return f"[hidsctl] hourly mail limit reached: {count} alerts held back"


def summary_body(alerts: list[Alert], cap: int) -> str:
    """Counts by rule and one line per alert for the alerts the cap held back."""
    lines = [f"The limit of {cap} messages an hour was reached; {len(alerts)} alerts were held "
             "back and are summarised here.", "", "Alerts by rule:", ""]
    by_rule = Counter((str((a.get("rule") or {}).get("id", "")), _level(a),
                       str((a.get("rule") or {}).get("description", ""))) for a in alerts)
    lines.append(f"{'count':>7}  {'rule':<8} {'level':<5}  description")
    for (rule_id, level, description), count in by_rule.most_common():
        lines.append(f"{count:>7}  {rule_id:<8} {level:<5}  {description}")
    lines += ["", "Alerts:", ""]
    for alert in alerts[:SUMMARY_LISTED]:
        rule = alert.get("rule") or {}
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(record_time(alert)))
        log = alert_log_text(alert).splitlines()
        lines.append(f"{stamp} rule {rule.get('id', '')} (level {_level(alert)}) "
                     f"{origin(alert)}: {log[0][:300] if log else ''}")
    if len(alerts) > SUMMARY_LISTED:
        lines.append(f"... and {len(alerts) - SUMMARY_LISTED} more")
    return ("\n".join(lines) + "\n").replace("\r", "\\r")


def _level(alert: Alert) -> int:
    try:
        return int((alert.get("rule") or {}).get("level", 0))
    except (TypeError, ValueError):
        return 0


def _agent_name(alert: Alert) -> str:
    agent = alert.get("agent") or {}
    return header_text(str(agent.get("name") or agent.get("id") or "unknown"))
