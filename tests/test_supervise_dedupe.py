"""A restarted log source's repeats are dropped; new lines, even similar ones, are kept."""

from __future__ import annotations

import orjson

from hidsctl.supervise.dedupe import RestartDedupe


def log(location: str, text: str) -> bytes:
    return orjson.dumps({"type": "log", "location": location, "log": text, "timestamp": "t"})


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def run(tail: list[bytes], incoming: list[bytes], clock: Clock | None = None) -> list[bytes]:
    out: list[bytes] = []
    dedupe = RestartDedupe(tail, out.append, clock or Clock())
    for line in incoming:
        dedupe.offer(line)
    dedupe.expire(force=True)
    return out


def test_repeated_suffix_is_dropped_and_new_lines_pass():
    tail = [log("/a", f"line {i}") for i in range(10)]
    incoming = [log("/a", f"line {i}") for i in range(7, 13)]
    assert run(tail, incoming) == [log("/a", f"line {i}") for i in range(10, 13)]


def test_nothing_repeated_passes_everything():
    tail = [log("/a", f"line {i}") for i in range(10)]
    incoming = [log("/a", f"new {i}") for i in range(3)]
    assert run(tail, incoming) == incoming


def test_a_match_that_does_not_reach_the_end_is_new():
    tail = [log("/a", t) for t in ("x", "y", "z")]
    incoming = [log("/a", t) for t in ("x", "y", "q")]
    assert run(tail, incoming) == incoming


def test_locations_are_matched_separately_and_other_records_pass():
    tail = [log("/a", "a1"), log("/b", "b1"), log("/a", "a2"), log("/b", "b2")]
    other = orjson.dumps({"type": "syscheck", "path": "/etc/x", "event": "added"})
    incoming = [log("/b", "b2"), other, log("/a", "a2"), log("/a", "a3"), log("/c", "c1")]
    assert run(tail, incoming) == [other, log("/a", "a3"), log("/c", "c1")]


def test_held_records_are_released_after_the_grace_period():
    clock = Clock()
    out: list[bytes] = []
    tail = [log("/a", t) for t in ("x", "y", "z")]
    dedupe = RestartDedupe(tail, out.append, clock)
    dedupe.offer(log("/a", "x"))  # could be the start of a repeat: held
    assert out == []
    clock.now = 10.0
    dedupe.expire()
    assert out == [log("/a", "x")]
