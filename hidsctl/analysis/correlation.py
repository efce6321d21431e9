"""State that spans events: frequency/timeframe searches, first-time-seen, diffs, ignores.

Searches follow OSSEC's: walk the events a rule reads (newest first) while they are
inside the timeframe and not already part of a correlation at this level or above; skip
those that fail the ``same_*``/``different_url`` conditions; the rule matches when
``frequency + 1`` earlier events qualify, so a ``frequency="N"`` rule fires on the
(N+2)th event in all, as OSSEC's documentation says. A firing marks the current event, the
oldest one counted and the newest one listed, and a later search stops at a marked event.
Time is the records' own timestamps.

For rules with ``same_*`` options the walk goes through an index of the list by those
fields' values, so a search costs what that one source (or user…) has sent, not what
everybody has; the marks are kept beside it, so the result is the walk OSSEC does.

Memory is bounded: every event list keeps at most ``limit`` events (per list and per
index key) and drops those older than the longest timeframe of the rules that read it;
the first-time-seen, diff and ignore tables are LRU-bounded. The rootcheck findings each
agent has reported (findings.py) live here too, so they travel with the rest.
"""

from __future__ import annotations

from collections import OrderedDict, deque

from hidsctl.analysis.findings import Findings
from hidsctl.analysis.rules import EventList, Rule

FTS_FIELDS = {"name": None, "user": "dstuser", "dstuser": "dstuser", "srcuser": "srcuser",
              "location": "location", "srcip": "srcip", "dstip": "dstip", "id": "id",
              "data": "extra_data", "extra_data": "extra_data", "system_name": "system_name",
              "url": "url", "hostname": "hostname", "program_name": "program_name",
              "action": "action", "status": "status"}
IGNORE_FIELD_NAMES = {"user": "dstuser", "srcip": "srcip", "dstip": "dstip", "id": "id",
                      "location": "location", "data": "extra_data", "name": None}
INDEX_KEY_LIMIT = 256  # events kept per index key (a frequency above this never fires)


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


def same_key(ev, names: tuple[str, ...]):
    """The values of the ``same_*`` fields, or None when one is missing (never matches)."""
    getter = _KEY_GETTERS.get(names)
    if getter is None:
        getter = _KEY_GETTERS[names] = _key_getter(names)
    return getter(ev)


_KEY_GETTERS: dict = {}


def _key_getter(names: tuple[str, ...]):
    """A function reading those fields of an event as one tuple: generated, since it runs
    for every event a correlating rule records or searches."""
    parts = []
    for name in names:
        if name == "agent":
            parts.append("ev.agent.get('id')")
        elif name in ("hostname", "location"):
            parts.append(f"ev.{name}")
        else:
            parts.append(f"f.get({name!r})")
    source = (f"def key(ev):\n    f = ev.fields\n    k = ({', '.join(parts)},)\n"
              "    return None if None in k else k\n")
    namespace: dict = {}
    exec(compile(source, "<same_* key>", "exec"), namespace)  # noqa: S102 - fixed names
    return namespace["key"]


class Correlation:
    def __init__(self, *, list_limit: int = 4096, recent_limit: int = 4096,
                 table_limit: int = 100000):
        self.recent = EventList(recent_limit)  # every alerted event (plain context rules)
        self.list_limit = list_limit
        self.fts_seen = BoundedSet(table_limit)
        self.diffs = BoundedSet(table_limit)
        self.ignored = BoundedSet(table_limit)
        self.rootcheck = Findings()  # in memory; analyze puts one on disk in its place

    def register(self, rule: Rule) -> None:
        target = self.recent if rule.search_kind == "events" else rule.search_list
        if target is None:
            return
        target.horizon = max(target.horizon, float(rule.timeframe))
        if target is not self.recent and target.limit != self.list_limit:
            target.limit = self.list_limit
            target.events = deque(target.events, maxlen=self.list_limit)
        if rule.same and rule.search_kind != "events":
            target.indexes.setdefault(tuple(rule.same), {})

    # --- recording ---------------------------------------------------------------------------

    def record(self, rule: Rule, ev) -> None:
        """Remember an alerted event where correlating rules will look for it."""
        if rule.sid_prev_matched is not None:
            self._append(rule.sid_prev_matched, ev)
        elif rule.group_prev_matched:
            for target in rule.group_prev_matched:
                self._append(target, ev)
        if self.recent.horizon:
            self._append(self.recent, ev)

    def _append(self, target: EventList, ev) -> None:
        target.seq += 1
        entry = (target.seq, ev)
        events = target.events
        events.append(entry)
        if ev.matched:
            self._note_mark(target, target.seq, ev.matched)
        cutoff = ev.time - target.horizon
        while events and events[0][1].time < cutoff:
            events.popleft()
        for names, index in target.indexes.items():
            key = same_key(ev, names)
            if key is None:
                continue
            bucket = index.get(key)
            if bucket is None:
                if len(index) >= target.limit:
                    self._prune(index, cutoff)
                bucket = index[key] = deque(maxlen=INDEX_KEY_LIMIT)
            bucket.append(entry)

    @staticmethod
    def _prune(index: dict, cutoff: float) -> None:
        """Drop index keys whose newest event has left every timeframe."""
        stale = [k for k, b in index.items() if not b or b[-1][1].time < cutoff]
        for k in stale:
            del index[k]
        if len(index) > 0 and not stale:
            # Still full of live keys: forget the oldest tenth.
            for k in sorted(index, key=lambda k: index[k][-1][0])[:max(1, len(index) // 10)]:
                del index[k]

    def _mark(self, target: EventList, seq: int, ev, level: int) -> None:
        ev.matched = level
        self._note_mark(target, seq, level)

    @staticmethod
    def _note_mark(target: EventList, seq: int, level: int) -> None:
        marks = target.marks
        level = min(max(level, 0), 16)
        if seq > marks[level]:
            marks[level] = seq

    # --- searching ---------------------------------------------------------------------------

    def search(self, rule: Rule, ev) -> list[str] | None:
        """The earlier events' logs when the rule's correlation holds, else None."""
        kind = rule.search_kind
        target = self.recent if kind == "events" else rule.search_list
        if not target.events:
            return None
        level = rule.level
        same = rule.same
        if same and kind != "events":
            key = same_key(ev, tuple(same))
            if key is None:
                return None
            walk = target.indexes[tuple(same)].get(key)
            if not walk:
                return None
            barrier = max(target.marks[level:])
            same = []  # the index already holds only events with the same values
        else:
            walk = target.events
            barrier = 0
        now = ev.time
        timeframe = rule.timeframe
        wanted = rule.frequency
        regex = rule.if_matched_regex
        different_url = rule.different_url
        count = 0
        previous: list[str] = []
        for seq, prev in reversed(walk):
            if seq <= barrier or now - prev.time > timeframe or prev.matched >= level:
                return None
            if kind == "events":
                if prev.decoder.type != ev.decoder.type:
                    continue
                if regex is not None and regex.search(prev.log) is None:
                    continue
            if same and same_key(prev, tuple(same)) != same_key(ev, tuple(same)):
                continue
            if different_url:
                a, b = prev.fields.get("url"), ev.fields.get("url")
                if a is None or b is None or a == b:
                    continue
            if len(previous) < 10:
                previous.append(prev.full_log)
            if count < wanted:
                count += 1
                continue
            ev.matched = level
            self._mark(target, seq, prev, level)
            first_seq, first = target.events[-1]
            self._mark(target, first_seq, first, level)
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
