"""``hidsctl respond`` as a running process: records in, ar_result records out, undos on
the wall clock while the input is idle, and what expired while it was down at start."""

from __future__ import annotations

import queue
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from hidsctl import records, state
from hidsctl.deadletter import NOT_THE_RECORDS_FAULT, DeadLetters, for_state
from hidsctl.respond.allowlist import AllowList, resolve
from hidsctl.respond.engine import Responder
from hidsctl.respond.routing import Router
from hidsctl.respond.settings import RespondSettings
from hidsctl.respond.timers import Timers

IDLE_WAKE = 60.0  # seconds between looks at the timers when none is due sooner
BATCH = 256
_END = object()


def run(settings: RespondSettings, directory: Path, stdin: BinaryIO | None = None,
        stdout: BinaryIO | None = None, clock: Callable[[], float] = time.time) -> int:
    """Run until end of input, then undo what is due and exit (with ``wait``, only once
    every pending undo has run). Returns the exit code. ``clock`` is the wall clock that
    actions are timed by (a test's stands in for the time to come)."""
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        with _responder(settings, directory, clock) as (responder, timers):
            writer = records.RecordWriter(stdout, line_buffered=True)
            _loop(responder, timers, writer, _read_in_background(stdin), settings.wait,
                  for_state(directory, "respond"))
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


@contextmanager
def _responder(settings: RespondSettings, directory: Path,
               clock: Callable[[], float] = time.time) -> Iterator[tuple[Responder, Timers]]:
    """The responder and its timers, under the state's lock; closed on the way out."""
    with state.ExclusiveLock(directory / "respond.lock", "the active-response state"):
        timers = Timers(directory)
        router = Router(settings.route) if settings.route else None
        try:
            allow = AllowList(settings.allow + tuple(resolve(settings.servers)))
            yield Responder(settings, timers, allow, router, clock), timers
        finally:
            if router is not None:
                router.close()
            timers.close()


def run_bus(settings: RespondSettings, directory: Path, source: str, group: str) -> int:
    """Respond to the alerts of a bus stream (``--from``) until SIGTERM. An alert is acked
    once its response ran and its undo is recorded (bus/sink.py)."""
    from hidsctl.bus import sink

    with _responder(settings, directory) as (responder, _timers):
        writer = records.RecordWriter(line_buffered=True)
        dead_letters = for_state(directory, "respond")

        def handle(record: dict) -> None:
            for result in _handled(responder, record, dead_letters):
                writer.write(result)

        def tick() -> None:
            for result in responder.undo_due():
                writer.write(result)

        output = sink.Output(handle, tick, writer.flush, each=True)
        return sink.consume(source, group, directory, output, name="respond",
                            option="--bus-group")


def _loop(responder: Responder, timers: Timers, writer: records.RecordWriter,
          inbox: queue.Queue, wait: bool, dead_letters: DeadLetters) -> None:
    ended = False
    while True:
        for result in responder.undo_due():
            writer.write(result)
        if ended and (not wait or timers.pending() == 0):
            return
        try:
            item = inbox.get(timeout=_seconds_to_next(timers, responder.clock))
        except queue.Empty:
            continue
        if item is _END:
            ended = True
            continue
        for record in item:
            for result in _handled(responder, record, dead_letters):
                writer.write(result)


def _handled(responder: Responder, record: dict, dead_letters: DeadLetters) -> list[dict]:
    """The records out for one record in; a record the responder fails on is a dead letter
    (its notice goes out) and the next one follows."""
    try:
        return responder.handle(record)
    except NOT_THE_RECORDS_FAULT:
        raise
    except Exception as exc:
        return [dead_letters.put(record, exc)]


def _seconds_to_next(timers: Timers, clock: Callable[[], float]) -> float:
    due = timers.next_due()
    if due is None:
        return IDLE_WAKE
    return min(IDLE_WAKE, max(0.0, due - clock()) + 0.01)


def _read_in_background(stdin: BinaryIO | None) -> queue.Queue:
    """Records from stdin on a queue, so the main loop can wake for timers in between.
    They travel in batches: whatever was read before the input ran dry, at most BATCH."""
    inbox: queue.Queue = queue.Queue(maxsize=64)
    batch: list[dict] = []

    def hand_over() -> None:
        if batch:
            inbox.put(batch.copy())
            batch.clear()

    def read() -> None:
        try:
            for record in records.RecordReader(stdin, before_block=hand_over):
                batch.append(record)
                if len(batch) >= BATCH:
                    hand_over()
            hand_over()
        finally:
            inbox.put(_END)

    threading.Thread(target=read, name="respond-input", daemon=True).start()
    return inbox


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)
