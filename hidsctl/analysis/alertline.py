"""An alert straight to its JSON line and its alerts.log text, for ``analyze``'s output.

``Engine.build_alert`` makes the alert as a dict, for the callers that read it; analyze only
writes it, once per alerting event, so here the parts fixed by the rule (its ``rule``
object, the alerts.log header tail and rule line) are serialised once per rule and spliced
in (``orjson.Fragment``), and the alerts.log block is made from the same parts instead of
from a parsed alert. The bytes are the ones ``records.dumps(build_alert(...))`` gives, and
the text the one ``alerttext.format_alert`` gives for that alert.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from hidsctl import alerttext
from hidsctl.analysis.jsondecode import SCALAR_FIELDS as _SCALAR
from hidsctl.records import _json_default, format_timestamp, record_time

if TYPE_CHECKING:
    from hidsctl.analysis.decoders import Decoder
    from hidsctl.analysis.events import Event
    from hidsctl.analysis.rules import Rule

_OPTIONS = orjson.OPT_APPEND_NEWLINE


class RuleParts:
    """What every alert of one rule shares: its ``rule`` object up to ``firedtimes``, and
    its alerts.log header tail and rule line."""

    __slots__ = ("head", "tail", "line", "full_log")

    def __init__(self, rule: Rule):
        shown = rule.alert_rule
        body = orjson.dumps(shown, default=_json_default)
        # dict(alert_rule, firedtimes=N): firedtimes comes last.
        self.head = body[:-1] + b',"firedtimes":' if shown else b'{"firedtimes":'
        self.tail = alerttext.header_tail(shown)
        self.line = alerttext.rule_line(shown)
        self.full_log = "no_full_log" not in rule.options


class AlertLines:
    """One engine's alert writer: per-rule parts cached (rules are read-only once loaded)."""

    def __init__(self, manager: dict[str, str]):
        self.manager = orjson.Fragment(orjson.dumps(manager))
        self.rules: dict[Rule, RuleParts] = {}
        self.decoders: dict[int, tuple[Decoder, str, str | None, orjson.Fragment]] = {}

    def parts(self, rule: Rule) -> RuleParts:
        parts = self.rules.get(rule)
        if parts is None:
            parts = RuleParts(rule)
            if rule.finished:
                self.rules[rule] = parts
        return parts

    def decoder(self, decoder: Decoder) -> orjson.Fragment:
        """The alert's ``decoder`` object, kept per decoder while its names stay (build
        reads it from ``decoders``)."""
        shown = orjson.Fragment(orjson.dumps(decoder.as_dict()))
        self.decoders[id(decoder)] = (decoder, decoder.reported, decoder.parent_reported, shown)
        return shown

    def build(self, rule: Rule, ev: Event, sequence: int, firedtimes: int,
              text: bool) -> tuple[bytes, str | None]:
        """The alert's JSON line (with newline) and, when ``text``, its alerts.log block.
        Keys in build_alert's order."""
        parts = self.rules.get(rule) or self.parts(rule)
        record = ev.record
        stamp = record.get("timestamp") if record is not None else None
        own = isinstance(stamp, str)
        if not own:
            stamp = format_timestamp(ev.time)
        alert_id = f"{int(ev.time)}.{sequence}"
        alert: dict[str, Any] = {
            "type": "alert", "timestamp": stamp, "id": alert_id,
            "rule": orjson.Fragment(b"%s%d}" % (parts.head, firedtimes)),
            "agent": ev.agent, "manager": self.manager,
        }
        decoder = ev.decoder
        if decoder.reported:
            known = self.decoders.get(id(decoder))
            if known is not None and known[0] is decoder and known[1] == decoder.reported \
                    and known[2] == decoder.parent_reported:
                alert["decoder"] = known[3]
            else:
                alert["decoder"] = self.decoder(decoder)
        fields = ev.fields
        data = None
        if fields:
            # Names without a dot and no JSON arrays: alert_data would copy them as they are.
            data = fields if ev.structured is None and "." not in "".join(fields) \
                else alert_data(fields, ev.structured)
            alert["data"] = data
        full_log = None
        if parts.full_log:
            alert["full_log"] = full_log = ev.full_log
        alert["location"] = ev.location
        if ev.header is not None:
            pre = ev.header.as_dict()
            if pre:
                alert["predecoder"] = pre
        previous = None
        if ev.previous:
            alert["previous_output"] = previous = "\n".join(ev.previous)
        if ev.syscheck is not None:
            alert["syscheck"] = ev.syscheck
        line = orjson.dumps(alert, option=_OPTIONS, default=_json_default)
        if not text:
            return line, None
        # The second alerts.log shows: the record's own (ev.time is read from it), else
        # the one written in the alert.
        second = int(ev.time) if own else int(record_time(alert))
        if full_log:
            log_text = full_log
        elif isinstance(ev.syscheck, dict):
            log_text = alerttext.syscheck_text(ev.syscheck)
        else:
            log_text = ""
        block = alerttext.layout(
            f"** Alert {alert_id}:{parts.tail}",
            f"{alerttext.date_of_second(second)} "
            f"{alerttext.origin_of(ev.location, ev.agent)}",
            parts.line, data or {}, log_text, previous)
        return line, block


def alert_data(fields: dict[str, str], structured: dict[str, list[Any]] | None = None
               ) -> dict[str, Any]:
    """The alert's ``data``: dotted field names nested as Wazuh nests them (``user.name``
    under ``user``), arrays the JSON decoder kept shown as arrays. A name that cannot nest
    (its parent is already a value, or it is one the schema types as text) stays whole."""
    data: dict[str, Any] = {}
    for name, value in fields.items():
        shown: Any = structured.get(name, value) if structured else value
        if "." not in name:
            data.setdefault(name, shown)
            continue
        parts = name.split(".")
        node = _parent_of(data, parts)
        if node is None or parts[-1] in node:
            data.setdefault(name, shown)
        else:
            node[parts[-1]] = shown
    return data


def _parent_of(data: dict[str, Any], parts: list[str]) -> dict[str, Any] | None:
    """The object a dotted name's last part goes in, made as needed; None if it cannot nest."""
    if not all(parts) or parts[0] in _SCALAR:
        return None
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            return None
        node = child
    return node
