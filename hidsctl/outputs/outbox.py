"""Pending deliveries of one output: a durable queue (hidsctl.queue) with one consumer,
and the retry backoff for a server that is down.

An item is committed only once the server took it, so an outage (or a crash) delays
delivery but loses nothing; with ``max_bytes`` the oldest items are dropped at the bound
and counted.
"""

from __future__ import annotations

import os
from pathlib import Path

from hidsctl.backoff import Backoff
from hidsctl.diagnostics import logger
from hidsctl.outputs.clock import Clock, system_clock
from hidsctl.queue import DurableQueue, Item

CONSUMER = "deliver"


class Outbox:
    def __init__(self, directory: str | os.PathLike, *, component: str, what: str,
                 now: Clock = system_clock, max_bytes: int | None = None):
        self.log = logger(component)  # "mail", "forward"
        self.what = what  # the server, "smtp.example.com:25", for messages
        self.now = now
        self.queue = DurableQueue(Path(directory), writer=True, max_bytes=max_bytes)
        committed = self.queue.committed(CONSUMER)
        self.offset = committed if committed is not None else self.queue.start_offset()
        self.backoff = Backoff(1.0, 10.0)  # a server back up is found within seconds
        self.next_attempt = 0.0
        self.reported_down = False
        self._dropped_seen = 0

    def put(self, data: bytes) -> None:
        self.queue.append([data])

    def put_many(self, lines: list[bytes]) -> None:
        """Append in chunks of at most a segment, so the bound drops the oldest, not a batch."""
        chunk: list[bytes] = []
        size = 0
        for line in lines:
            if chunk and size + len(line) + 1 > self.queue.segment_bytes:
                self.queue.append(chunk)
                chunk, size = [], 0
            chunk.append(line)
            size += len(line) + 1
        if chunk:
            self.queue.append(chunk)

    def pending(self, max_items: int = 1000) -> list[Item]:
        return self.queue.read(self.offset, max_items=max_items)

    def has_pending(self) -> bool:
        return self.queue.end_offset() > self.offset

    def done(self, next_offset: int) -> None:
        """Commit everything before ``next_offset`` as delivered."""
        self.offset = next_offset
        self.queue.commit(CONSUMER, next_offset)
        self.queue.prune()

    def new_drops(self) -> int:
        """Items dropped at the bound since the last call."""
        count = self.queue.dropped - self._dropped_seen
        self._dropped_seen = self.queue.dropped
        return count

    # --- backoff ------------------------------------------------------------------------

    def ready(self) -> bool:
        return self.now() >= self.next_attempt

    def failed(self, error: object) -> None:
        self.next_attempt = self.now() + self.backoff.next()
        if not self.reported_down:
            self.reported_down = True
            self.log.warning(f"{self.what}: {error}; queued on disk, retrying")

    def succeeded(self) -> None:
        if self.reported_down:
            self.log.info(f"{self.what}: delivering again")
        self.backoff.reset()
        self.next_attempt = 0.0
        self.reported_down = False

    def close(self) -> None:
        self.queue.close()

