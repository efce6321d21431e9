"""State that spans events: frequency/timeframe searches, first-time-seen, diffs, ignores.

Searches follow OSSEC's: walk the events a rule reads (newest first) while they are
inside the timeframe and not already part of a correlation at this level or above; skip
those that fail the ``same_*``/``different_url`` conditions; the rule matches when
``frequency + 1`` earlier events qualify, so a ``frequency="N"`` rule fires on the
(N+2)th event in all, as OSSEC's documentation says. Time is the records' own timestamps.

Memory is bounded: every event list keeps at most ``limit`` events and drops those older
than the longest timeframe of the rules that read it; the first-time-seen, diff and ignore
tables are LRU-bounded.
"""

from __future__ import annotations

from collections import OrderedDict, deque

from hidsctl.analysis.rules import EventList, Rule

FTS_FIELDS = {"name": None, "user": "dstuser", "dstuser": "dstuser", "srcuser": "srcuser",
              "location": "location", "srcip": "srcip", "dstip": "dstip", "id": "id",
              "data": "extra_data", "extra_data": "extra_data", "system_name": "system_name",
              "url": "url", "hostname": "hostname", "program_name": "program_name",
              "action": "action", "status": "status"}
IGNORE_FIELD_NAMES = {"user": "dstuser", "srcip": "srcip", "dstip": "dstip", "id": "id",
                      "location": "location", "data": "extra_data", "name": None}


class BoundedSet:
    def __init__(self, limit: int):
        self.items: OrderedDict = OrderedDict()
        self.limit = limit

    def __contains__(self, key) -> bool:
        return key in self.items

    def add(self, key, value=True) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        if len(self.items) > self.limit:
            self.items.popitem(last=False)

    def get(self, key):
        return self.items.get(key)


class Correlation:
    def __init__(self, *, list_limit: int = 4096, recent_limit: int = 4096,
                 table_limit: int = 100000):
        self.recent: deque = deque(maxlen=recent_limit)  # every alerted event
        self.list_limit = list_limit
        self.fts_seen = BoundedSet(table_limit)
        self.diffs = BoundedSet(table_limit)
        self.ignored = BoundedSet(table_limit)
        self.horizon: dict[int, float] = {}  # id(EventList) -> longest timeframe reading it
        self.recent_horizon = 0.0

    def register(self, rule: Rule) -> None:
        if rule.search_list is not None:
            key = id(rule.search_list)
            self.horizon[key] = max(self.horizon.get(key, 0.0), float(rule.timeframe))
            if rule.search_list.events.maxlen != self.list_limit:
                rule.search_list.events = deque(rule.search_list.events, maxlen=self.list_limit)
        elif rule.search_kind == "events":
            self.recent_horizon = max(self.recent_horizon, float(rule.timeframe))

    # --- recording ---------------------------------------------------------------------------

    def record(self, rule: Rule, ev) -> None:
        """Remember an alerted event where correlating rules will look for it."""
        if rule.sid_prev_matched is not None:
            self._append(rule.sid_prev_matched, ev)
        elif rule.group_prev_matched:
            for target in rule.group_prev_matched:
                self._append(target, ev)
        if self.recent_horizon:
            self.recent.append(ev)

    def _append(self, target: EventList, ev) -> None:
        events = target.events
        events.append(ev)
        horizon = self.horizon.get(id(target))
        if horizon:
            cutoff = ev.time - horizon
            while events and events[0].time < cutoff:
                events.popleft()

    # --- searching ---------------------------------------------------------------------------

    def search(self, rule: Rule, ev) -> list[str] | None:
        """The earlier events' logs when the rule's correlation holds, else None."""
        kind = rule.search_kind
        events = self.recent if kind == "events" else rule.search_list.events
        if not events:
            return None
        first = events[-1]
        level = rule.level
        timeframe = rule.timeframe
        now = ev.time
        wanted = rule.frequency
        count = 0
        previous: list[str] = []
        same = rule.same
        regex = rule.if_matched_regex
        for prev in reversed(events):
            if now - prev.time > timeframe:
                return None
            if prev.matched >= level:
                return None
            if kind == "events":
                if prev.decoder.type != ev.decoder.type:
                    continue
                if regex is not None and regex.search(prev.log) is None:
                    continue
            if same and not _same(prev, ev, same):
                continue
            if rule.different_url:
                a, b = prev.fields.get("url"), ev.fields.get("url")
                if a is None or b is None or a == b:
                    continue
            if len(previous) < 10:
                previous.append(prev.full_log)
            if count < wanted:
                count += 1
                continue
            ev.matched = level
            prev.matched = level
            first.matched = level
            return previous
        return None

    # --- first time seen, diffs, ignores -----------------------------------------------------

    def first_time_seen(self, ev) -> bool:
        if ev.fts is not None:
            return ev.fts
        names = ev.decoder.fts
        if not names:
            ev.fts = False
            return False
        key = (ev.decoder.reported,) + tuple(
            ev.decoder.reported if FTS_FIELDS.get(n, n) is None else ev.field(FTS_FIELDS.get(n, n))
            for n in names)
        seen = key in self.fts_seen
        self.fts_seen.add(key)
        ev.fts = not seen
        return ev.fts

    def changed(self, rule: Rule, ev) -> bool:
        key = (rule.id, ev.agent.get("id"), ev.location)
        before = self.diffs.get(key)
        self.diffs.add(key, ev.full_log)
        return before is not None and before != ev.full_log

    def _ignore_key(self, fields: tuple[str, ...], ev) -> tuple:
        return tuple((name, ev.decoder.reported if IGNORE_FIELD_NAMES.get(name, name) is None
                      else ev.field(IGNORE_FIELD_NAMES.get(name, name))) for name in fields)

    def add_ignore(self, rule: Rule, ev) -> None:
        self.ignored.add(self._ignore_key(rule.ignore_fields, ev))

    def is_ignored(self, rule: Rule, ev) -> bool:
        return self._ignore_key(rule.check_if_ignored, ev) in self.ignored


def _same(prev, ev, names: list[str]) -> bool:
    for name in names:
        if name == "agent":
            a, b = prev.agent.get("id"), ev.agent.get("id")
        elif name in ("hostname", "location"):
            a, b = getattr(prev, name), getattr(ev, name)
        else:
            a, b = prev.fields.get(name), ev.fields.get(name)
        if a is None or b is None or a != b:
            return False
    return True
