"""Correlation state of one partition: kept apart from the engine, installed in it while
the partition's records are analysed, and serialised to the bus's KV store.

An engine's state that spans events is one ``CorrelationState`` (analysis/correlation.py):
plain data keyed by rule id and event-list name, and the rootcheck findings of the
partition's agents. One engine (one loaded ruleset) serves every partition a member owns:
``install`` puts a partition's state in, ``capture`` takes it back out.

A snapshot is data only: zlib-compressed JSON, with a format number and the fingerprint of
the ruleset it was made with, decoded against a fixed schema (msgspec). The KV bucket is
writable by anything on the bus, so nothing read from it is ever run: a blob that is not a
snapshot, is of another format or ruleset, does not fit the schema or names lists and
events the ruleset does not have is refused with a ``ValueError`` that says which (the
member goes on without that state). Events shared between lists are written once and
referred to by number, so a mark made through one list still holds in the others.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import deque
from typing import Any

import msgspec

from hidsctl.analysis import events
from hidsctl.analysis.correlation import (INDEX_KEY_LIMIT, LEVELS, LIST_LIMIT, TABLE_LIMIT,
                                          BoundedSet, CorrelationState, EventList, Seen)
from hidsctl.analysis.decoders import Decoder

FORMAT = 2
MAX_SIZE = 64 << 20  # decompressed bytes: a larger blob is refused, not inflated

State = CorrelationState


def capture(engine: Any) -> State:
    state: State = engine.state
    return state


def install(engine: Any, state: State) -> None:
    engine.state = state


# --- the schema ----------------------------------------------------------------------------

Value = str | None


class SeenData(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    time: float
    matched: int
    full_log: str
    type: str
    log: str | None
    values: dict[str, Value]


class IndexData(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    names: tuple[str, ...]
    buckets: list[tuple[tuple[str, ...], list[tuple[int, int]]]]  # (values, [(seq, seen)])


class ListData(msgspec.Struct, forbid_unknown_fields=True):
    seq: int
    marks: list[int]
    horizon: float
    events: list[tuple[int, int]]  # (seq, number in ``seen``)
    indexes: list[IndexData]


class Head(msgspec.Struct):
    format: int
    ruleset: str


class FindingsData(msgspec.Struct, forbid_unknown_fields=True):
    rows: list[tuple[str, str, float, float]]  # (agent, finding, first seen, last seen)
    newest: float
    added: int


class Snapshot(msgspec.Struct, forbid_unknown_fields=True):
    format: int
    ruleset: str
    last_seq: int
    sequence: int
    fired: dict[int, int]
    ignored_at: dict[int, float]
    seen: list[SeenData]
    lists: dict[str, ListData]
    fts_seen: list[tuple[Value, ...]]
    diffs: list[tuple[int, Value, str, str]]  # (rule, agent, location) -> full log
    ignored: list[tuple[tuple[str, Value], ...]]
    rootcheck: FindingsData



class Codec:
    """Writes and reads partition states against one loaded ruleset."""

    def __init__(self, engine: Any):
        self.engine = engine
        decoders: list[Decoder] = [v for v in vars(events).values() if isinstance(v, Decoder)]
        dset = engine.decoders
        for node in dset.with_program + dset.without_program:
            decoders.append(node.decoder)
            decoders.extend(node.children)
        plan = engine.plan
        text = "\n".join([f"{d.name}/{d.parent}/{d.type}" for d in decoders]
                         + sorted(str(rule.id) for rule in engine.ruleset.tree.rules())
                         + [f"{name}:{plan.indexes[name]}" for name in sorted(plan.horizons)]
                         + [f"kept:{plan.kept}:{plan.keep_log}"])
        self.fingerprint = hashlib.sha256(text.encode()).hexdigest()[:16]
        self._head = msgspec.json.Decoder(Head)
        self._full = msgspec.json.Decoder(Snapshot)

    def fresh(self) -> State:
        state: State = self.engine.new_state()
        return state

    # --- writing -------------------------------------------------------------------------

    def dumps(self, state: State, last_seq: int) -> bytes:
        return zlib.compress(self.encode(state, last_seq), 3)

    def encode(self, state: State, last_seq: int) -> bytes:
        """The snapshot's JSON, before compression (``loads`` refuses it past MAX_SIZE)."""
        numbers: dict[int, int] = {}
        seen: list[SeenData] = []

        def number(item: Seen) -> int:
            n = numbers.get(id(item))
            if n is None:
                n = numbers[id(item)] = len(seen)
                seen.append(SeenData(item.time, item.matched, item.full_log, item.type,
                                     item.log, item.values))
            return n

        lists = {}
        for name, target in state.lists.items():
            indexes = [IndexData(names, [(key, [(s, number(e)) for s, e in bucket])
                                         for key, bucket in index.items()])
                       for names, index in target.indexes.items()]
            lists[name] = ListData(target.seq, list(target.marks), target.horizon,
                                   [(s, number(e)) for s, e in target.events], indexes)
        snap = Snapshot(FORMAT, self.fingerprint, last_seq, state.sequence, state.fired,
                        state.ignored_at, seen, lists, _keys(state.fts_seen),
                        [(*key, log) for key, log in _entries(state.diffs)],
                        _keys(state.ignored), _findings(state))
        return msgspec.json.encode(snap)

    # --- reading -------------------------------------------------------------------------

    def loads(self, blob: bytes) -> tuple[int, State]:
        """(last input sequence, state); ValueError when it is not for this ruleset."""
        try:
            inflate = zlib.decompressobj()
            raw = inflate.decompress(blob, MAX_SIZE)
            if inflate.unconsumed_tail:
                raise ValueError(f"larger than {MAX_SIZE >> 20} MiB")
            head = self._head.decode(raw)
        except (ValueError, zlib.error, msgspec.DecodeError) as exc:
            raise ValueError(f"unreadable snapshot: {exc}") from None
        if head.format != FORMAT:
            raise ValueError("snapshot of another format")
        if head.ruleset != self.fingerprint:
            raise ValueError("snapshot made with another ruleset")
        try:
            snap = self._full.decode(raw)
            state = self._state(snap)
        except (ValueError, IndexError, msgspec.DecodeError) as exc:
            raise ValueError(f"unreadable snapshot: {exc}") from None
        return snap.last_seq, state

    def _state(self, snap: Snapshot) -> State:
        state = self.fresh()
        state.sequence = snap.sequence
        state.fired = snap.fired
        state.ignored_at = snap.ignored_at
        seen = [Seen(s.time, s.matched, s.full_log, s.type, s.log, s.values) for s in snap.seen]
        for name, data in snap.lists.items():
            target = state.lists.get(name)
            if target is None:
                raise ValueError(f"event list {name!r} is not this ruleset's")
            _fill(target, data, seen)
        for key in snap.fts_seen[-TABLE_LIMIT:]:
            state.fts_seen.add(key)
        for rule, agent, location, log in snap.diffs[-TABLE_LIMIT:]:
            state.diffs.add((rule, agent, location), log)
        _fill_table(state.ignored, snap.ignored)
        found = snap.rootcheck
        if len(found.rows) > state.rootcheck.limit:
            raise ValueError(f"{len(found.rows)} rootcheck findings")
        state.rootcheck.restore(found.rows, found.newest, found.added)
        return state


def _fill(target: EventList, data: ListData, seen: list[Seen]) -> None:
    if len(data.marks) != LEVELS:
        raise ValueError(f"{len(data.marks)} marks, not {LEVELS}")
    target.seq, target.marks, target.horizon = data.seq, data.marks, data.horizon
    target.events = deque(((s, seen[n]) for s, n in data.events[-LIST_LIMIT:]),
                          maxlen=LIST_LIMIT)
    for index in data.indexes:
        if index.names not in target.indexes:
            raise ValueError(f"no index by {', '.join(index.names)}")
        if len(index.buckets) > LIST_LIMIT:
            raise ValueError(f"an index of {len(index.buckets)} values")
        target.indexes[index.names] = {
            key: [(s, seen[n]) for s, n in bucket[-INDEX_KEY_LIMIT:]]
            for key, bucket in index.buckets}


def _findings(state: State) -> FindingsData:
    """The rootcheck findings of an in-memory table; none of one analyze keeps on disk
    (its database outlives the process by itself)."""
    if state.rootcheck.path is not None:
        return FindingsData([], 0.0, 0)
    return FindingsData(*state.rootcheck.dump())


def _keys(table: BoundedSet) -> list[Any]:
    return list(table.items)


def _entries(table: BoundedSet) -> list[tuple[Any, Any]]:
    return list(table.items.items())


def _fill_table(table: BoundedSet, keys: list[Any]) -> None:
    for key in keys[-TABLE_LIMIT:]:
        table.add(key)
