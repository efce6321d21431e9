"""Moving records between durable queues and a component's stdin/stdout.

The feeder writes records from the component's input queues into its stdin, following each
batch with a ``checkpoint`` record naming the queue and the offset after the batch. Every
command passes record types it does not handle through unchanged and in order, so the
checkpoint comes back on stdout after everything the component made of that batch. The
drainer then appends those outputs to the output queue *together with* the checkpoint's
offset, in one durable append: after a crash the component is fed again from exactly the
offset its durable output covers, so nothing is lost and nothing is repeated.

Each feed starts with one ``checkpoint`` per input marked ``"resume": true``, naming the
offset it is fed from: analyze picks the correlation state saved for that position
(analysis/statefile.py). Echoed like any other, it commits the offset already committed.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Callable

import orjson

from hidsctl.queue import DurableQueue
from hidsctl.records import CHECKPOINT, parse_checkpoint

IDLE_FLUSH = 1.0  # outputs not followed by a checkpoint are appended after this long


@dataclass
class Counters:
    records_in: int = 0
    records_out: int = 0
    dropped: int = 0
    alerts_by_level: dict[int, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"records_in": self.records_in, "records_out": self.records_out,
                "dropped": self.dropped,
                "alerts_by_level": {str(k): v for k, v in sorted(self.alerts_by_level.items())}}


def checkpoint_line(queue: str, offset: int, resume: bool = False) -> bytes:
    record: dict = {"type": CHECKPOINT, "queue": queue, "offset": offset}
    if resume:
        record["resume"] = True
    return orjson.dumps(record)


class Feeder(threading.Thread):
    """Input queues -> a component's stdin, with checkpoints."""

    def __init__(self, name: str, stdin: IO[bytes], inputs: dict[str, DurableQueue],
                 offsets: dict[str, int], counters: Counters, stop: threading.Event,
                 batch: int = 500, poll: float = 0.05):
        super().__init__(name=f"feed-{name}", daemon=True)
        self.stdin = stdin
        self.inputs = inputs
        self.offsets = offsets  # the next offset to feed, per input queue
        self.counters = counters
        self.stop_event = stop
        self.batch = batch
        self.poll = poll
        self.fed_all = threading.Event()  # set while every input is fed to its end

    def run(self) -> None:
        try:
            self.stdin.write(b"".join(checkpoint_line(name, offset, resume=True) + b"\n"
                                      for name, offset in self.offsets.items()))
            self.stdin.flush()
            while not self.stop_event.is_set():
                if not self._feed_round():
                    self.fed_all.set()
                    self.stop_event.wait(self.poll)
                else:
                    self.fed_all.clear()
        except (BrokenPipeError, ValueError, OSError):
            pass  # the component went away; the runner restarts it

    def _feed_round(self) -> bool:
        moved = False
        for queue_name, queue in self.inputs.items():
            items = queue.read(self.offsets[queue_name], max_items=self.batch)
            if not items:
                continue
            payload = b"\n".join(item.data for item in items)
            next_offset = items[-1].next_offset
            self.stdin.write(payload + b"\n" + checkpoint_line(queue_name, next_offset) + b"\n")
            self.stdin.flush()
            self.offsets[queue_name] = next_offset
            self.counters.records_in += len(items)
            moved = True
        return moved


class Drainer(threading.Thread):
    """A component's stdout -> its output queue, committing input offsets at checkpoints."""

    def __init__(self, name: str, stdout: IO[bytes], output: DurableQueue | None,
                 inputs: dict[str, DurableQueue], counters: Counters,
                 keep: Callable[[bytes], bool], on_checkpoint: Callable[[str, int], None],
                 dedupe_tail: list[bytes] | None = None,
                 mirror: Callable[[list[bytes]], None] | None = None):
        super().__init__(name=f"drain-{name}", daemon=True)
        self.component = name
        self.stdout = stdout
        self.output = output
        self.inputs = inputs
        self.counters = counters
        self.keep = keep
        self.on_checkpoint = on_checkpoint
        self.pending: list[bytes] = []
        self.lock = threading.Lock()
        self.last_output = time.monotonic()
        self.mirror = mirror  # also writes what reached the queue (the flat alerts files)
        self.dedupe = None
        if dedupe_tail is not None:
            from hidsctl.supervise.dedupe import RestartDedupe

            self.dedupe = RestartDedupe(dedupe_tail, self._hold)

    def run(self) -> None:
        # Read whatever the pipe holds at once: a source's burst becomes one durable append.
        fd = self.stdout.fileno()
        rest = b""
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                if line:
                    self._take(line)
            if not self.inputs:  # a source: nothing to wait for
                self.tick()
        if rest:
            self._take(rest)
        if not self.inputs:
            self.tick(force=True)
        else:  # outputs no checkpoint covered: the input is fed again, so they come again
            with self.lock:
                self.pending = []

    def _take(self, line: bytes) -> None:
        checkpoint = parse_checkpoint(line)
        if checkpoint is not None:
            self._commit(checkpoint)
        elif self.keep(line):
            with self.lock:
                if self.dedupe is not None:
                    self.dedupe.offer(line)
                else:
                    self._hold(line)

    def _hold(self, line: bytes) -> None:
        """Keep an output until its checkpoint (or, for a source, the next append)."""
        self._count(line)
        self.pending.append(line)
        self.last_output = time.monotonic()

    def tick(self, force: bool = False) -> None:
        """Release what the restart dedupe held past its grace period; sources append."""
        if self.dedupe is not None:
            with self.lock:
                self.dedupe.expire(force)
        if not self.inputs:
            self.flush()

    def _count(self, line: bytes) -> None:
        self.counters.records_out += 1
        if b'"type":"alert"' in line:
            try:
                level = int(orjson.loads(line)["rule"]["level"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                return
            self.counters.alerts_by_level[level] = self.counters.alerts_by_level.get(level, 0) + 1

    def _commit(self, checkpoint: tuple[str, int]) -> None:
        queue_name, offset = checkpoint
        if queue_name not in self.inputs:
            return
        with self.lock:
            lines, self.pending = self.pending, []
            if self.output is not None:
                self.output.append(lines, source=(f"{self.component}:{queue_name}", offset))
                if self.mirror is not None and lines:
                    self.mirror(lines)
        self.inputs[queue_name].commit(self.component, offset)
        self.on_checkpoint(queue_name, offset)

    def flush(self) -> None:
        with self.lock:
            lines, self.pending = self.pending, []
            if lines and self.output is not None:
                self.output.append(lines)
                if self.mirror is not None:
                    self.mirror(lines)

    def flush_if_idle(self, caught_up: bool) -> None:
        """Append outputs no checkpoint will cover (a timer's, not an input's) once the
        component has answered every batch fed to it and stayed quiet a while."""
        if self.pending and caught_up and time.monotonic() - self.last_output > IDLE_FLUSH:
            self.flush()


def keep_types(*types: str) -> Callable[[bytes], bool]:
    """A drainer filter keeping only records of the given types (all when none given)."""
    if not types:
        return lambda line: True
    tags = tuple(b'"type":"%s"' % t.encode() for t in types)

    def keep(line: bytes) -> bool:
        if any(tag in line for tag in tags):
            return True
        try:
            return orjson.loads(line).get("type") in types
        except (orjson.JSONDecodeError, AttributeError):
            return False

    return keep
