"""Dropping what a restarted log source sends twice.

``collect`` commits its file offsets a moment after writing the lines; killed in between,
it reads those lines again when it restarts. They are then a contiguous run at the end of
what the queue already holds for that location, so the first records after a restart are
compared with the queue's tail, per location: a run that reaches the end of the tail is a
repeat and is dropped; anything that stops matching is new and goes on. Held records are
released after a short grace period whatever happens, so nothing is ever lost; the cost is
that a genuinely new line identical to the last lines of its file (with the same syslog
timestamp) right after a restart would be taken for a repeat.
"""

from __future__ import annotations

import time
from typing import Callable

import orjson

GRACE = 5.0  # seconds after a restart during which records are compared
TAIL_PER_LOCATION = 5000


class _LocationMatch:
    def __init__(self, tail: list[str]):
        self.tail = tail
        self.candidates: set[int] | None = None  # positions in tail where the next record must match
        self.held: list[bytes] = []
        self.done = not tail

    def offer(self, text: str, line: bytes) -> tuple[list[bytes], bool]:
        """(lines to release, whether this location is settled)."""
        if self.done:
            return [line], True
        self.held.append(line)
        if self.candidates is None:
            self.candidates = {i + 1 for i, t in enumerate(self.tail) if t == text}
        else:
            self.candidates = {i + 1 for i in self.candidates
                               if i < len(self.tail) and self.tail[i] == text}
        if len(self.tail) in self.candidates:  # a run reaching the end: a repeat
            self.held, self.done = [], True
            return [], True
        if not self.candidates:  # stopped matching: new records
            released, self.held, self.done = self.held, [], True
            return released, True
        return [], False


class RestartDedupe:
    """Filters a restarted source's first records against the tail of its queue."""

    def __init__(self, tail_lines: list[bytes], release: Callable[[bytes], None],
                 clock: Callable[[], float] = time.monotonic):
        self.release = release
        self.clock = clock
        self.deadline = clock() + GRACE
        self.locations: dict[str, _LocationMatch] = {}
        by_location: dict[str, list[str]] = {}
        for raw in tail_lines:
            key = _key(raw)
            if key is not None:
                by_location.setdefault(key[0], []).append(key[1])
        for location, texts in by_location.items():
            self.locations[location] = _LocationMatch(texts[-TAIL_PER_LOCATION:])
        self.active = bool(self.locations)

    def offer(self, line: bytes) -> None:
        if not self.active:
            self.release(line)
            return
        key = _key(line)
        if key is None or key[0] not in self.locations:
            self.release(line)
        else:
            released, _ = self.locations[key[0]].offer(key[1], line)
            for item in released:
                self.release(item)
        self.expire()

    def expire(self, force: bool = False) -> None:
        """After the grace period, release whatever is still held and stop comparing."""
        if not self.active or (not force and self.clock() < self.deadline):
            return
        for match in self.locations.values():
            for item in match.held:
                self.release(item)
            match.held = []
        self.active = False


def _key(line: bytes) -> tuple[str, str] | None:
    if b'"log"' not in line:
        return None
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(record, dict) or record.get("type") != "log":
        return None
    location, text = record.get("location"), record.get("log")
    if isinstance(location, str) and isinstance(text, str):
        return location, text
    return None
