"""``hidsctl logtest``: one line at a time through the engine, each phase shown.

The text layout is ossec-logtest's: Phase 1 (pre-decoding), Phase 2 (decoding, every
field), Phase 3 (the matching rule, with id, level and description) and whether an alert
would be generated. ``-U RULE:LEVEL:DECODER`` checks a line the way ``ossec-logtest -U``
does: the decoder name, the rule id and the level must all be exactly those.
"""

from __future__ import annotations

from typing import Any

from hidsctl.analysis.engine import Engine, Outcome
from hidsctl.analysis.events import from_log_line
from hidsctl.errors import UsageError

FIELD_LABELS = (("srcip", "srcip"), ("dstip", "dstip"), ("srcport", "srcport"),
                ("dstport", "dstport"), ("protocol", "proto"), ("action", "action"),
                ("srcuser", "srcuser"), ("dstuser", "dstuser"), ("id", "id"), ("url", "url"),
                ("status", "status"), ("extra_data", "extra_data"),
                ("system_name", "system_name"))


def parse_expectation(text: str) -> tuple[str, str, str]:
    parts = text.split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise UsageError(f"-U needs RULE:LEVEL:DECODER, not {text!r}")
    return parts[0], parts[1], parts[2]


def run_line(engine: Engine, line: str, location: str = "stdin",
             when: float | None = None) -> Outcome:
    return engine.process(from_log_line(line, location, {}, when))


def expectation_met(outcome: Outcome, rule_id: str, level: str, decoder: str) -> bool:
    name = outcome.event.decoder.reported
    if not name or name.lower() != decoder.lower():
        return False
    rule = outcome.rule
    if rule is None:
        return False
    return str(rule.id) == rule_id.strip() and str(rule.level) == level.strip()


def as_json(outcome: Outcome) -> dict[str, Any]:
    ev = outcome.event
    rule = outcome.rule
    out: dict[str, Any] = {
        "full_log": ev.full_log,
        "predecoder": ev.header.as_dict() if ev.header is not None else {},
        "decoder": ev.decoder.as_dict() if ev.decoder.reported else None,
        "data": dict(ev.fields),
        "rule": None,
        "alert": outcome.alert is not None,
    }
    if rule is not None:
        out["rule"] = {"id": str(rule.id), "level": rule.level,
                       "description": rule.description, "groups": rule.groups,
                       "firedtimes": outcome.firedtimes}
    return out


def as_text(outcome: Outcome) -> str:
    ev = outcome.event
    header = ev.header
    lines = ["**Phase 1: Completed pre-decoding.",
             f"       full event: '{ev.full_log}'"]
    if header is not None:
        if header.timestamp is not None:
            lines.append(f"       timestamp: '{header.timestamp}'")
        lines.append(f"       hostname: '{header.hostname if header.hostname is not None else ev.hostname}'")
        lines.append(f"       program_name: '{header.program_name if header.program_name is not None else '(null)'}'")
    lines.append(f"       log: '{ev.log}'")
    lines.append("")
    lines.append("**Phase 2: Completed decoding.")
    if ev.decoder.reported:
        lines.append(f"       decoder: '{ev.decoder.reported}'")
        if ev.decoder.parent_reported and ev.decoder.reported != ev.decoder.name:
            pass
        shown = set()
        for key, label in FIELD_LABELS:
            if key in ev.fields:
                lines.append(f"       {label}: '{ev.fields[key]}'")
                shown.add(key)
        for key, value in ev.fields.items():
            if key not in shown:
                lines.append(f"       {key}: '{value}'")
    else:
        lines.append("       No decoder matched.")
    rule = outcome.rule
    if rule is not None:
        lines += ["", "**Phase 3: Completed filtering (rules).",
                  f"       Rule id: '{rule.id}'",
                  f"       Level: '{rule.level}'",
                  f"       Description: '{rule.description}'"]
        for info in rule.info:
            lines.append(f"       Info - {info['type'].capitalize()}: '{info['value']}'")
        if outcome.alert is not None:
            lines.append("**Alert to be generated.")
    return "\n".join(lines) + "\n"
