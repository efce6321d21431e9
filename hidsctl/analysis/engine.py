"""The analysis engine: decode an event, walk the rule tree, correlate, build the alert.

Evaluation follows OSSEC's analysisd: the top-level templates whose category is the
decoder's type are tried in order; a matching rule's children are tried before the rule
itself is taken (the deepest matching descendant wins); ``noalert`` rules never win;
a level-0 winner ends the search without an alert.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any, Callable

from hidsctl.analysis import cdb
from hidsctl.analysis.compiled import COMPILED_RULES, CrawlerCheck
from hidsctl.analysis.compiler import RuleCompiler
from hidsctl.analysis.correlation import CorrelationState, Plan
from hidsctl.analysis.events import NO_DECODER, ROOTCHECK, Event, from_record
from hidsctl.analysis.findings import DEFAULT_FORGET, finding_of
from hidsctl.analysis.patterns import Pattern
from hidsctl.analysis.jsondecode import SCALAR_FIELDS as _SCALAR
from hidsctl.analysis.rules import ListRule, Rule, RuleNode
from hidsctl.analysis.ruleset import Ruleset
from hidsctl.gcpause import paused
from hidsctl.records import Record, format_timestamp


@dataclass
class Outcome:
    """What one event came to: the rule that matched (level 0 included) and the alert."""

    event: Event
    rule: Rule | None = None
    alert: dict[str, Any] | None = None
    firedtimes: int = 0  # the rule's wins so far, this one included


class Engine:
    """One compiled ruleset and the correlation state it works with. The rules are
    read-only; ``state`` is everything learnt from events, and may be swapped for another
    (bus/snapshot.py: one per partition) or a fresh one (``reset``)."""

    @paused
    def __init__(self, ruleset: Ruleset, *, crawler_dns: bool = False,
                 manager: str | None = None, rootcheck_forget: float = DEFAULT_FORGET):
        self.ruleset = ruleset
        self.decoders = ruleset.decoders
        self.top: tuple[RuleNode, ...] = tuple(ruleset.tree.top)
        self.plan = Plan(ruleset.tree.rules())
        self.rootcheck_forget = rootcheck_forget
        self.state = self.new_state()
        self.crawler = CrawlerCheck(use_dns=crawler_dns)
        self.manager = {"name": manager or socket.gethostname()}
        compiler = RuleCompiler(self)
        self._entries = compiler.compile(self.top)
        self._lines, self._names, self._patterns = compiler.lines, compiler.ns, compiler.patterns

    def new_state(self) -> CorrelationState:
        return CorrelationState(self.plan, rootcheck_forget=self.rootcheck_forget)

    def reset(self) -> None:
        """Forget all state between events, as a fresh ossec-logtest process would."""
        self.state = self.new_state()

    # --- services the compiled rule checks call ----------------------------------------------

    def compiled_check(self, name: str) -> Callable[[Event], bool]:
        if name == "is_valid_crawler":
            return self.crawler
        return COMPILED_RULES[name]

    def diff_check(self, rule: Rule) -> Callable[[Event], bool]:
        return lambda ev: self.state.changed(rule, ev)

    def fts_check(self) -> Callable[[Event], bool]:
        return lambda ev: self.state.first_time_seen(ev)

    def list_check(self, list_rule: ListRule) -> Callable[[Event], bool]:
        name = list_rule.field
        kind, check = list_rule.lookup, list_rule.check_value

        def check_list(ev: Event) -> bool:
            table = list_rule.table
            if table is None:
                return False
            if name == "user":
                value = ev.fields.get("srcuser") or ev.fields.get("dstuser")
            elif name == "data":
                value = ev.fields.get("extra_data")
            else:
                value = ev.field(name)
            return value is not None and cdb.lookup(table, kind, value, check)
        return check_list

    # --- what the generated code was doing (budget.py) ---------------------------------------

    def rule_at_line(self, lineno: int) -> Rule | None:
        """The rule whose test or function holds line ``lineno`` of the generated code."""
        for line in reversed(self._lines[:lineno]):
            name = line.rpartition("  # ")[2] if "  # R" in line else None
            if name:
                rule = self._names.get(name)
                return rule if isinstance(rule, Rule) else None
            if line.startswith("def "):
                return None
        return None

    def pattern_named(self, name: str) -> Pattern | None:
        return self._patterns.get(name)

    # --- evaluation --------------------------------------------------------------------------

    def match(self, ev: Event) -> Rule | None:
        """The winning rule for a decoded event (OSSEC's rule loop), state included."""
        entry = self._entries.get(ev.decoder.type)
        if entry is None:
            return None
        rule: Rule | None = entry(ev, ev.log, ev.lower, ev.fields, ev.decoder.reported,
                                  ev.program_name)
        if rule is not None:
            fired = self.state.fired
            fired[rule.id] = fired.get(rule.id, 0) + 1
        return rule

    def process(self, ev: Event) -> Outcome:
        """Decode (for log events), match, apply ignores and correlation; build the alert."""
        if ev.decoder is NO_DECODER:
            self.decoders.decode(ev)
        elif ev.decoder is ROOTCHECK:
            self.note_rootcheck(ev)
        rule = self.match(ev)
        if rule is None:
            return Outcome(ev)
        state = self.state
        outcome = Outcome(ev, rule, firedtimes=state.fired[rule.id])
        if rule.level == 0:
            return outcome
        if rule.ignore_time:
            since = state.ignored_at.get(rule.id)
            if since and ev.time - since < rule.ignore_time:
                return outcome
            state.ignored_at[rule.id] = ev.time
        if rule.check_if_ignored and self.state.is_ignored(rule, ev):
            return outcome
        if rule.ignore_fields:
            self.state.add_ignore(rule, ev)
        self.state.record(rule, ev)
        if "no_log" not in rule.options:
            outcome.alert = self.build_alert(rule, ev, outcome.firedtimes)
        return outcome

    def note_rootcheck(self, ev: Event) -> None:
        """As OSSEC's rootcheck decoder: the event is first-time-seen (``<if_fts />``, rule
        510) only when the agent's findings (findings.py) did not hold it yet."""
        finding = finding_of(ev.record) if ev.record is not None else ev.full_log
        ev.fts = self.state.rootcheck.sighting(str(ev.agent.get("id", "")), finding,
                                                     ev.time)

    def process_record(self, record: Record) -> Outcome | None:
        ev = from_record(record)
        if ev is None:
            return None
        return self.process(ev)

    def build_alert(self, rule: Rule, ev: Event, firedtimes: int | None = None
                    ) -> dict[str, Any]:
        """The alert of ``rule`` on ``ev``; ``firedtimes`` defaults to the rule's count."""
        if firedtimes is None:
            firedtimes = self.state.fired.get(rule.id, 0)
        self.state.sequence += 1
        record = ev.record
        stamp = record.get("timestamp") if record is not None else None
        if not isinstance(stamp, str):
            stamp = format_timestamp(ev.time)
        alert: dict[str, Any] = {
            "type": "alert",
            "timestamp": stamp,
            "id": f"{int(ev.time)}.{self.state.sequence}",
            "rule": dict(rule.alert_rule, firedtimes=firedtimes),
            "agent": ev.agent,
            "manager": self.manager,
        }
        if ev.decoder.reported:
            alert["decoder"] = ev.decoder.as_dict()
        if ev.fields:
            alert["data"] = alert_data(ev.fields, ev.structured)
        if "no_full_log" not in rule.options:
            alert["full_log"] = ev.full_log
        alert["location"] = ev.location
        if ev.header is not None:
            pre = ev.header.as_dict()
            if pre:
                alert["predecoder"] = pre
        previous = ev.previous
        if previous:
            alert["previous_output"] = "\n".join(previous)
        if ev.syscheck is not None:
            alert["syscheck"] = ev.syscheck
        return alert


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
