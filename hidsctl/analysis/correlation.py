"""State that spans events: frequency/timeframe searches, first-time-seen, diffs, ignores.

Rules are read-only once loaded; everything an engine learns from the events it has seen
is one :class:`CorrelationState`, plain data (numbers, strings, tuples, lists, dicts)
keyed by rule id and by event-list name, so it can be swapped (one per partition),
started afresh (``rules test``) and written as JSON (bus/snapshot.py).

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

A list keeps, per event, only what searches read (:class:`Seen`): its time, its mark, its
full log (``previous_output``) and, where a rule reads it, the decoder type, the log and
the few field values compared. Memory is bounded by these limits, not by events seen:
every list keeps at most ``LIST_LIMIT`` events and none older than the longest timeframe
of the rules reading it. An index searches the list's newest ``INDEX_LIMIT`` events (more
than the list keeps, so one source's events stay findable while others crowd the list),
at most ``LIST_LIMIT`` values of ``INDEX_KEY_LIMIT`` events each; every ``SWEEP_EVERY``
events it drops what no search can reach any more, so it never holds more than
``INDEX_LIMIT + SWEEP_EVERY`` events. The first-time-seen, diff and ignore tables are LRU
tables of ``TABLE_LIMIT`` entries.
The rootcheck findings each agent has reported (findings.py) live here too, so they
travel with the rest.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable
from typing import TYPE_CHECKING, Any

from hidsctl.analysis.findings import DEFAULT_FORGET, Findings
from hidsctl.analysis.rules import RECENT, Rule

if TYPE_CHECKING:
    from hidsctl.analysis.events import Event

FTS_FIELDS = {"name": None, "user": "dstuser", "dstuser": "dstuser", "srcuser": "srcuser",
              "location": "location", "srcip": "srcip", "dstip": "dstip", "id": "id",
              "data": "extra_data", "extra_data": "extra_data", "system_name": "system_name",
              "url": "url", "hostname": "hostname", "program_name": "program_name",
              "action": "action", "status": "status"}
IGNORE_FIELD_NAMES = {"user": "dstuser", "srcip": "srcip", "dstip": "dstip", "id": "id",
                      "location": "location", "data": "extra_data", "name": None}
LIST_LIMIT = 4096      # events per list, and values per same_* index
INDEX_KEY_LIMIT = 256  # events kept per index value (a frequency above this never fires)
INDEX_LIMIT = 4 * LIST_LIMIT  # an index search reaches back this many of its list's events
SWEEP_EVERY = 1024     # events recorded in a list between two sweeps of its indexes
TABLE_LIMIT = 100000   # first-time-seen keys, diff baselines, ignore entries
LEVELS = 17            # marks per list: one per rule level 0..16

Key = tuple[Any, ...]
# A rule's search: list name, same_* fields, whether it reads all events, key function.
Search = tuple[str, tuple[str, ...], bool, "Callable[[Event], Key | None] | None"]
Entry = tuple[int, "Seen"]  # (position in its list, event)


class Seen:
    """What a list keeps of an event: what the searches reading it compare, no more.

    One object per event, shared by every list it is in, so a mark made through one list
    holds in all (OSSEC marks the event itself).
    """

    __slots__ = ("time", "matched", "full_log", "type", "log", "values")

    def __init__(self, time: float, matched: int, full_log: str, type_: str,
                 log: str | None, values: dict[str, str | None]):
        self.time = time
        self.matched = matched
        self.full_log = full_log
        self.type = type_
        self.log = log            # kept only when a rule reading all events has a regex
        self.values = values      # the same_* / url fields rules compare against it


class BoundedSet:
    """An LRU table: the newest ``limit`` keys (with a value each)."""

    def __init__(self, limit: int):
        self.items: OrderedDict[Hashable, Any] = OrderedDict()
        self.limit = limit

    def __contains__(self, key: Hashable) -> bool:
        return key in self.items

    def add(self, key: Hashable, value: Any = True) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        if len(self.items) > self.limit:
            self.items.popitem(last=False)

    def get(self, key: Hashable) -> Any:
        return self.items.get(key)


class EventList:
    """Events some rules fired on, newest last; what one set of correlating rules reads.

    Besides the list itself it keeps, per set of ``same_*`` fields its readers compare, an
    index from those fields' values to the events that have them, so a search looks only
    at its own source/user/... instead of scanning everything; and the positions of the
    newest events marked as part of a correlation, per level, which end every search that
    reaches them (OSSEC's rule).
    """

    __slots__ = ("events", "seq", "indexes", "marks", "horizon")

    def __init__(self, horizon: float = 0.0, index_names: Iterable[tuple[str, ...]] = ()):
        self.events: deque[Entry] = deque(maxlen=LIST_LIMIT)
        self.seq = 0
        self.indexes: dict[tuple[str, ...], dict[Key, list[Entry]]] = {
            names: {} for names in index_names}
        # A search of a rule of level L stops at max(marks[L:]).
        self.marks = [0] * LEVELS
        self.horizon = horizon    # longest timeframe of the rules reading this


def _seen_key(seen: Seen, names: tuple[str, ...]) -> Key | None:
    key = tuple(seen.values.get(name) for name in names)
    return None if None in key else key


_KEY_GETTERS: dict[tuple[str, ...], Callable[[Event], Key | None]] = {}


def key_getter(names: tuple[str, ...]) -> Callable[[Event], Key | None]:
    """The function giving an event's values of those ``same_*`` fields, or None when
    one is missing (then it never matches)."""
    getter = _KEY_GETTERS.get(names)
    if getter is None:
        getter = _KEY_GETTERS[names] = _key_getter(names)
    return getter


def _field_reads(names: Iterable[str], attributes: tuple[str, ...]) -> list[str]:
    """Each field as an expression on ``ev`` and ``f`` (its fields): ``attributes`` are
    read from the event itself."""
    parts = []
    for name in names:
        if name == "agent":
            parts.append("ev.agent.get('id')")
        elif name in attributes:
            parts.append(f"ev.{name}")
        else:
            parts.append(f"f.get({name!r})")
    return parts


def _key_getter(names: tuple[str, ...]) -> Callable[[Event], Key | None]:
    """A function reading those fields of an event as one tuple: generated, since it runs
    for every event a correlating rule records or searches."""
    from hidsctl.analysis.compiler import run_generated

    source = (f"def key(ev):\n    f = ev.fields\n    k = ({', '.join(_field_reads(names, ('hostname', 'location')))},)\n"
              "    return None if None in k else k\n")
    namespace: dict[str, Any] = {}
    run_generated(source, f"<same_* key {','.join(names)}>", namespace)
    key: Callable[[Event], Key | None] = namespace["key"]
    return key


def _values_getter(names: tuple[str, ...]) -> Callable[[Event], dict[str, str | None]]:
    """A function making Seen.values (those fields by name) of an event: generated, as it
    runs for every event recorded."""
    from hidsctl.analysis.compiler import run_generated

    reads = _field_reads(names, ("location", "hostname", "program_name"))  # as Event.field
    items = ", ".join(f"{name!r}: {read}" for name, read in zip(names, reads))
    source = f"def values(ev):\n    f = ev.fields\n    return {{{items}}}\n"
    namespace: dict[str, Any] = {}
    run_generated(source, f"<kept values {','.join(names)}>", namespace)
    values: Callable[[Event], dict[str, str | None]] = namespace["values"]
    return values


class Plan:
    """Which lists a ruleset's correlation needs and what each kept event must carry: the
    part of the state fixed by the rules (a fresh state is made from it)."""

    def __init__(self, rules: Iterable[Rule]):
        self.horizons: dict[str, float] = {RECENT: 0.0}
        self.indexes: dict[str, list[tuple[str, ...]]] = {RECENT: []}
        kept: set[str] = set()
        self.keep_log = False
        for rule in rules:
            for name in rule.record_keys:
                self.horizons.setdefault(name, 0.0)
                self.indexes.setdefault(name, [])
            target = rule.search_key
            if target is None:
                continue
            self.horizons[target] = max(self.horizons.get(target, 0.0), float(rule.timeframe))
            names = self.indexes.setdefault(target, [])
            if rule.same and target != RECENT and tuple(rule.same) not in names:
                names.append(tuple(rule.same))
            if target == RECENT:
                kept.update(rule.same)
                self.keep_log = self.keep_log or rule.if_matched_regex is not None
            if rule.different_url:
                kept.add("url")
        self.kept = tuple(sorted(kept))
        self.values_of = _values_getter(self.kept)
        self.searches: dict[Rule, Search] = {}

    def search_of(self, rule: Rule) -> Search:
        """What a rule's search reads: its list's name, its ``same_*`` fields, whether it
        reads all events, and the function giving an event's values of those fields."""
        how = self.searches.get(rule)
        if how is None:
            same = tuple(rule.same)
            how = (rule.search_key or RECENT, same, rule.search_key == RECENT,
                   key_getter(same) if same else None)
            if rule.finished:
                self.searches[rule] = how
        return how


class NeedsState(Exception):
    """Matching ahead (``Stateless``) came to a check the correlation state decides."""


class CorrelationState:
    """All an engine remembers between events (see the module's docstring)."""

    def __init__(self, plan: Plan, *, rootcheck_forget: float = DEFAULT_FORGET):
        self.plan = plan
        self.sequence = 0                          # alerts made (their ids count it)
        self.fired: dict[int, int] = {}            # rule id -> times it won
        self.ignored_at: dict[int, float] = {}     # rule id -> start of its ignore time
        self.lists = {name: EventList(plan.horizons[name], plan.indexes[name])
                      for name in plan.horizons}
        self.recent = self.lists[RECENT]
        self.fts_seen = BoundedSet(TABLE_LIMIT)
        self.diffs = BoundedSet(TABLE_LIMIT)
        self.ignored = BoundedSet(TABLE_LIMIT)
        # In memory; analyze puts one on disk in its place (run.py).
        self.rootcheck = Findings(forget=rootcheck_forget)

    def carried_to(self, plan: Plan) -> CorrelationState:
        """This state for another ruleset (a reload): what the rules and lists that are
        still there had, under the new ruleset's timeframes and indexes."""
        new = CorrelationState(plan)
        new.sequence = self.sequence
        new.fired = dict(self.fired)
        new.ignored_at = dict(self.ignored_at)
        for name, target in new.lists.items():
            old = self.lists.get(name)
            if old is not None:
                target.events, target.seq, target.marks = old.events, old.seq, old.marks
                target.horizon = max(target.horizon, old.horizon)
                for names, index in old.indexes.items():
                    target.indexes[names] = index
        new.fts_seen, new.diffs, new.ignored = self.fts_seen, self.diffs, self.ignored
        new.rootcheck = self.rootcheck
        return new

    # --- recording ---------------------------------------------------------------------------

    def record(self, rule: Rule, ev: Event) -> None:
        """Remember an alerted event where correlating rules will look for it."""
        targets = rule.record_keys
        recent = self.recent.horizon
        if not targets and not recent:
            return
        plan = self.plan
        seen = Seen(ev.time, ev.matched, ev.full_log, ev.decoder.type,
                    ev.log if plan.keep_log else None, plan.values_of(ev))
        lists = self.lists
        for name in targets:
            self._append(lists[name], ev, seen)
        if recent:
            self._append(self.recent, ev, seen)

    def _append(self, target: EventList, ev: Event, seen: Seen) -> None:
        target.seq += 1
        entry = (target.seq, seen)
        events = target.events
        events.append(entry)
        if seen.matched:
            _note_mark(target, target.seq, seen.matched)
        cutoff = seen.time - target.horizon
        while events and events[0][1].time < cutoff:
            events.popleft()
        indexes = target.indexes
        if not indexes:
            return
        floor = target.seq - INDEX_LIMIT  # events at or below it no search reaches
        for names, index in indexes.items():
            key = (_KEY_GETTERS.get(names) or key_getter(names))(ev)
            if key is None:
                continue
            bucket = index.get(key)
            if bucket is None:
                if len(index) >= LIST_LIMIT:
                    _prune(index, floor, cutoff)
                # A list, not a bounded deque: most values have an event or two, and an
                # empty deque alone takes some 600 bytes (tens of MB over full indexes).
                bucket = index[key] = []
            bucket.append(entry)
            if len(bucket) > INDEX_KEY_LIMIT:
                del bucket[0]
        if target.seq % SWEEP_EVERY == 0:
            for index in indexes.values():
                _sweep(index, floor, cutoff)

    # --- searching ---------------------------------------------------------------------------

    def search(self, rule: Rule, ev: Event) -> list[str] | None:
        """The earlier events' logs when the rule's correlation holds, else None."""
        name, same, every, key_of = self.plan.search_of(rule)
        target = self.lists[name]
        if not target.events:
            return None
        level = rule.level
        walk: deque[Entry] | list[Entry]
        key = key_of(ev) if key_of is not None else None
        if same and not every:
            if key is None:
                return None
            bucket = target.indexes[same].get(key)
            if not bucket:
                return None
            walk = bucket
            # Beyond INDEX_LIMIT the walk ends whether or not a sweep has dropped them yet.
            barrier = max(max(target.marks[level:]), target.seq - INDEX_LIMIT)
            same = ()  # the index already holds only events with the same values
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
            if every:
                if prev.type != ev.decoder.type:
                    continue
                if regex is not None and (prev.log is None or regex.search(prev.log) is None):
                    continue
            if same and _seen_key(prev, same) != key:
                continue
            if different_url:
                a, b = prev.values.get("url"), ev.fields.get("url")
                if a is None or b is None or a == b:
                    continue
            if len(previous) < 10:
                previous.append(prev.full_log)
            if count < wanted:
                count += 1
                continue
            ev.matched = level
            _mark(target, seq, prev, level)
            first_seq, first = target.events[-1]
            _mark(target, first_seq, first, level)
            return previous
        return None

    # --- first time seen, diffs, ignores -----------------------------------------------------

    def first_time_seen(self, ev: Event) -> bool:
        if ev.fts is not None:
            return ev.fts
        names = ev.decoder.fts
        if not names:
            ev.fts = False
            return False
        key = (ev.decoder.reported,) + tuple(
            ev.decoder.reported if FTS_FIELDS.get(n, n) is None
            else ev.field(FTS_FIELDS.get(n, n) or n)
            for n in names)
        seen = key in self.fts_seen
        self.fts_seen.add(key)
        ev.fts = not seen
        return ev.fts

    def changed(self, rule: Rule, ev: Event) -> bool:
        key = (rule.id, ev.agent.get("id"), ev.location)
        before = self.diffs.get(key)
        self.diffs.add(key, ev.full_log)
        return before is not None and before != ev.full_log

    @staticmethod
    def _ignore_key(fields: tuple[str, ...], ev: Event) -> Key:
        return tuple((name, ev.decoder.reported if IGNORE_FIELD_NAMES.get(name, name) is None
                      else ev.field(IGNORE_FIELD_NAMES.get(name, name) or name))
                     for name in fields)

    def add_ignore(self, rule: Rule, ev: Event) -> None:
        self.ignored.add(self._ignore_key(rule.ignore_fields, ev))

    def is_ignored(self, rule: Rule, ev: Event) -> bool:
        return self._ignore_key(rule.check_if_ignored, ev) in self.ignored


def _sweep(index: dict[Key, list[Entry]], floor: int, cutoff: float) -> None:
    """Drop the events no search reaches (at or below ``floor``, or older than the list's
    longest timeframe before ``cutoff``), and the values left with none. Each value's
    events are in list order: only the oldest few ever go, so most values cost one look."""
    stale = []
    for key, bucket in index.items():
        first = bucket[0] if bucket else None
        if first is not None and first[0] > floor and first[1].time >= cutoff:
            continue
        gone = 0
        for seq, seen in bucket:
            if seq > floor and seen.time >= cutoff:
                break
            gone += 1
        if gone == len(bucket):
            stale.append(key)
        else:
            del bucket[:gone]
    for key in stale:
        del index[key]


def _prune(index: dict[Key, list[Entry]], floor: int, cutoff: float) -> None:
    """Make room for a value: drop those whose newest event no search reaches."""
    stale = [k for k, b in index.items()
             if not b or b[-1][0] <= floor or b[-1][1].time < cutoff]
    for k in stale:
        del index[k]
    if len(index) > 0 and not stale:
        # Still full of live keys: forget the oldest tenth.
        for k in sorted(index, key=lambda k: index[k][-1][0])[:max(1, len(index) // 10)]:
            del index[k]


def _mark(target: EventList, seq: int, seen: Seen, level: int) -> None:
    seen.matched = level
    _note_mark(target, seq, level)


def _note_mark(target: EventList, seq: int, level: int) -> None:
    marks = target.marks
    level = min(max(level, 0), 16)
    if seq > marks[level]:
        marks[level] = seq


class Stateless(CorrelationState):
    """The state of an engine that matches ahead of the one that correlates (pipeline.py):
    it remembers nothing, and a check it would answer (a correlation search, first time
    seen, a diff) stops the matching instead. What the tree gives without such a check is
    what it gives whatever the state; what it stops on, the correlating process decides."""

    def search(self, rule: Rule, ev: Event) -> list[str] | None:
        raise NeedsState

    def first_time_seen(self, ev: Event) -> bool:
        raise NeedsState

    def changed(self, rule: Rule, ev: Event) -> bool:
        raise NeedsState
