"""Correlation state of one partition: kept apart from the engine, installed in it while
the partition's records are analysed, and serialised to the bus's KV store.

An engine's state that spans events is: its alert sequence, its ``Correlation`` (the
recent-events list, first-time-seen, diff and ignore tables, the rootcheck findings of the
partition's agents) and, per rule, ``firedtimes``, ``time_ignored`` and the event lists
correlation reads (``sid_prev_matched``, ``search_list``, ``group_prev_matched``, shared
between rules). One engine (one loaded
ruleset) serves every partition a member owns: ``install`` puts a partition's state in,
``capture`` takes it back out. Everything else in the engine is the ruleset, read only.

Serialised with pickle, the ruleset's own objects (decoders, rules) written as references
(their position in the loaded ruleset) so they are neither copied nor duplicated; a
ruleset that differs from the one a snapshot was made with (its ``fingerprint``) refuses
the snapshot. Snapshots are only read from the bus's KV bucket that the group's members
write; whoever can write there can run code in the members, as anyone who can write their
state directory could.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import zlib
from typing import Any

from hidsctl.analysis import events
from hidsctl.analysis.decoders import Decoder

FORMAT = 1
RULE_ATTRS = ("firedtimes", "time_ignored", "sid_prev_matched", "search_list",
              "group_prev_matched")

State = dict  # {"sequence": int, "correlation": Correlation, "rules": {id: tuple}}


def capture(engine) -> State:
    return {"sequence": engine.sequence, "correlation": engine.correlation,
            "rules": {rule.id: tuple(getattr(rule, a) for a in RULE_ATTRS)
                      for rule in engine.ruleset.tree.rules()}}


def install(engine, state: State) -> None:
    engine.sequence = state["sequence"]
    engine.correlation = state["correlation"]
    rules = state["rules"]
    for rule in engine.ruleset.tree.rules():
        values = rules.get(rule.id)
        if values is not None:
            for name, value in zip(RULE_ATTRS, values):
                setattr(rule, name, value)


class Codec:
    """Pickles partition states against one loaded ruleset."""

    def __init__(self, engine):
        self.engine = engine
        decoders: list[Decoder] = [v for v in vars(events).values() if isinstance(v, Decoder)]
        dset = engine.decoders
        for node in dset.with_program + dset.without_program:
            decoders.append(node.decoder)
            decoders.extend(node.children)
        self.decoders = decoders
        self.decoder_ref = {id(d): n for n, d in enumerate(decoders)}
        self.rules = {rule.id: rule for rule in engine.ruleset.tree.rules()}
        text = "\n".join([f"{d.name}/{d.parent}/{d.type}" for d in decoders]
                         + sorted(str(r) for r in self.rules))
        self.fingerprint = hashlib.sha256(text.encode()).hexdigest()[:16]
        # A fresh partition's state: the engine must not have seen an event yet.
        self.pristine = self.dumps(capture(engine), 0)

    def fresh(self) -> State:
        return self.loads(self.pristine)[1]

    def dumps(self, state: State, last_seq: int) -> bytes:
        buffer = io.BytesIO()
        pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.persistent_id = self._persistent_id  # type: ignore[method-assign]
        pickler.dump({"format": FORMAT, "ruleset": self.fingerprint, "last_seq": last_seq,
                      "state": state})
        return zlib.compress(buffer.getvalue(), 3)

    def loads(self, blob: bytes) -> tuple[int, State]:
        """(last input sequence, state); ValueError when it is not for this ruleset."""
        try:
            unpickler = pickle.Unpickler(io.BytesIO(zlib.decompress(blob)))
            unpickler.persistent_load = self._persistent_load  # type: ignore[method-assign]
            data = unpickler.load()
        except Exception as exc:
            raise ValueError(f"unreadable snapshot: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("snapshot of another format")
        if data.get("ruleset") != self.fingerprint:
            raise ValueError("snapshot made with another ruleset")
        return int(data["last_seq"]), data["state"]

    def _persistent_id(self, obj: Any):
        if isinstance(obj, Decoder):
            ref = self.decoder_ref.get(id(obj))
            return None if ref is None else ("d", ref)
        if obj.__class__.__name__ == "Rule" and getattr(obj, "id", None) in self.rules \
                and self.rules[obj.id] is obj:
            return ("r", obj.id)
        return None

    def _persistent_load(self, pid):
        kind, ref = pid
        if kind == "d":
            return self.decoders[ref]
        if kind == "r":
            return self.rules[ref]
        raise pickle.UnpicklingError(f"unknown reference {pid!r}")
