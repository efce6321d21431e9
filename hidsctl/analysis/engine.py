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
from hidsctl.analysis.alertline import AlertLines, alert_data
from hidsctl.analysis.compiled import COMPILED_RULES, CrawlerCheck
from hidsctl.analysis.compiler import RuleCompiler
from hidsctl.analysis.correlation import CorrelationState, NeedsState, Plan
from hidsctl.analysis.events import NO_DECODER, ROOTCHECK, Event, from_record
from hidsctl.analysis.findings import DEFAULT_FORGET, finding_of
from hidsctl.analysis.patterns import Pattern
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

    def __init__(self, ruleset: Ruleset, *, crawler_dns: bool = False,
                 manager: str | None = None, rootcheck_forget: float = DEFAULT_FORGET):
        with paused():
            self._build(ruleset, crawler_dns, manager, rootcheck_forget)

    def _build(self, ruleset: Ruleset, crawler_dns: bool, manager: str | None,
               rootcheck_forget: float) -> None:
        self.ruleset = ruleset
        self.decoders = ruleset.decoders
        self.top: tuple[RuleNode, ...] = tuple(ruleset.tree.top)
        self.plan = Plan(ruleset.tree.rules())
        self._plain = plain_rules(ruleset.tree.rules())
        self.rootcheck_forget = rootcheck_forget
        self.state = self.new_state()
        # What the ruleset was loaded from (rulecache.fingerprint), when a process that
        # matches ahead (pipeline.py) needs to know: winner() takes a rule matched ahead
        # only by an engine of the same fingerprint.
        self.fingerprint: str | None = None
        self.crawler = CrawlerCheck(use_dns=crawler_dns)
        self.manager = {"name": manager or socket.gethostname()}
        self.alert_lines = AlertLines(self.manager)
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
        rule = self._walk(ev)
        if rule is not None:
            fired = self.state.fired
            fired[rule.id] = fired.get(rule.id, 0) + 1
        return rule

    def process(self, ev: Event) -> Outcome:
        """Decode (for log events), match, apply ignores and correlation; build the alert."""
        rule = self.winner(ev)
        if rule is None:
            return Outcome(ev)
        outcome = Outcome(ev, rule, firedtimes=self.state.fired[rule.id])
        if self.alerts(rule, ev):
            outcome.alert = self.build_alert(rule, ev, outcome.firedtimes)
        return outcome

    def winner(self, ev: Event) -> Rule | None:
        """Decode (for log events) and match: the winning rule, its count taken. (match()
        inline: this runs for every event.)"""
        decoder = ev.decoder
        if decoder is NO_DECODER:
            self.decoders.decode(ev)
            decoder = ev.decoder
        elif decoder is ROOTCHECK:
            self.note_rootcheck(ev)
        rule: Rule | None
        ahead = ev.ahead
        if ahead is not None and ev.ahead_by is not None and ev.ahead_by == self.fingerprint:
            rule = self.ruleset.tree.by_id.get(ahead) if ahead >= 0 else None
        else:
            entry = self._entries.get(decoder.type)
            if entry is None:
                return None
            rule = entry(ev, ev.log, ev.lower, ev.fields, decoder.reported, ev.program_name)
        if rule is not None:
            fired = self.state.fired
            fired[rule.id] = fired.get(rule.id, 0) + 1
        return rule

    def match_ahead(self, ev: Event) -> int | None:
        """For a decoding process's engine, whose state is ``Stateless``: the id of the
        rule that wins the decoded ``ev`` whatever the state (-1: none), or None when a
        check on the way needs the state, which the correlating process holds."""
        try:
            rule = self._walk(ev)
        except NeedsState:
            return None
        return -1 if rule is None else rule.id

    def _walk(self, ev: Event) -> Rule | None:
        """The rule tree's winner for a decoded event (winner() has it inline)."""
        entry = self._entries.get(ev.decoder.type)
        if entry is None:
            return None
        rule: Rule | None = entry(ev, ev.log, ev.lower, ev.fields, ev.decoder.reported,
                                  ev.program_name)
        return rule

    def alerts(self, rule: Rule, ev: Event) -> bool:
        """Whether the winner alerts on ``ev`` (its level, ignores, ``no_log``); an alerting
        event is remembered for correlation. The caller then builds the alert (or, when
        it is below the level it shows, counts it: ``skip_alert``)."""
        state = self.state
        if rule in self._plain and not state.recent.horizon:
            return True
        if rule.level == 0:
            return False
        if rule.ignore_time:
            since = state.ignored_at.get(rule.id)
            if since and ev.time - since < rule.ignore_time:
                return False
            state.ignored_at[rule.id] = ev.time
        if rule.check_if_ignored and state.is_ignored(rule, ev):
            return False
        if rule.ignore_fields:
            state.add_ignore(rule, ev)
        state.record(rule, ev)
        return "no_log" not in rule.options

    def skip_alert(self) -> None:
        """An alert not built still takes its number, as build_alert would."""
        self.state.sequence += 1

    def alert_line(self, rule: Rule, ev: Event, text: bool = False) -> tuple[bytes, str | None]:
        """The alert build_alert makes, as its JSON line (``records.dumps``'s bytes) and,
        when ``text``, its alerts.log block (``alerttext.format_alert``'s)."""
        state = self.state
        state.sequence += 1
        return self.alert_lines.build(rule, ev, state.sequence, state.fired.get(rule.id, 0),
                                      text)

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


def plain_rules(rules: list[Rule]) -> frozenset[Rule]:
    """Rules whose alerts no ignore, correlation list or no_log concerns (most): alerts()
    has nothing to check or remember for them."""
    return frozenset([rule for rule in rules
                      if rule.level and not (rule.ignore_time or rule.check_if_ignored
                                             or rule.ignore_fields or rule.record_keys
                                             or "no_log" in rule.options)])
