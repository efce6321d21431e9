"""The input loop every output shares: records from stdin, with a periodic tick.

Outputs have timed work (closing a day at midnight, a mail grouping window, retrying a server
that was down), so while stdin is idle the loop wakes every ``interval`` seconds to run
``tick`` instead of blocking in read.

Outputs are sinks: they consume the record contract's types and write nothing to stdout but
their own ``notice`` records. A record of a type outside the contract (such as the
checkpoints ``supervise`` interleaves) passes through unchanged, after ``sync`` has made
everything before it durable, so a checkpoint coming back means its batch is safe.
"""

from __future__ import annotations

import os
import select
import sys
import time
from typing import BinaryIO, Callable

from hidsctl.deadletter import NOT_THE_RECORDS_FAULT, DeadLetters
from hidsctl.records import RECORD_TYPES, Record, RecordReader, RecordWriter


def run(handle: Callable[[Record], None], tick: Callable[[], None], *,
        flush: Callable[[], None] | None = None, sync: Callable[[], None] | None = None,
        interval: float = 1.0,
        stream: BinaryIO | None = None, writer: RecordWriter | None = None,
        dead_letters: DeadLetters | None = None) -> RecordReader:
    """Feed every record to ``handle``.

    A record ``handle`` fails on goes to ``dead_letters`` and its notice to ``writer``; the
    next record follows.

    ``flush`` runs whenever the input runs dry; ``tick`` at least every ``interval`` seconds
    (while records keep coming too) and once at the end of input.
    """
    stream = stream if stream is not None else sys.stdin.buffer
    fd = _fileno(stream)
    last_tick = time.monotonic()

    def flush_all() -> None:
        if flush is not None:
            flush()
        if writer is not None:
            writer.flush()

    def tick_if_due() -> None:
        nonlocal last_tick
        if time.monotonic() - last_tick >= interval:
            last_tick = time.monotonic()
            tick()
            flush_all()

    def before_block() -> None:
        tick_if_due()
        if fd is None or _readable(fd, 0):
            return
        flush_all()
        while not _readable(fd, interval):
            tick_if_due()

    reader = RecordReader(stream, before_block=before_block)
    for record in reader:
        if record["type"] in RECORD_TYPES:
            try:
                handle(record)
            except NOT_THE_RECORDS_FAULT:
                raise
            except Exception as exc:
                if dead_letters is None:
                    raise
                notice = dead_letters.put(record, exc)
                if writer is not None:
                    writer.write(notice)
        else:
            if sync is not None:
                sync()
            if writer is not None:
                writer.write(record)
    tick()
    flush_all()
    return reader


def _readable(fd: int, timeout: float) -> bool:
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
    except (OSError, ValueError):
        return True  # not selectable (a regular file): just read
    return bool(ready)


def _fileno(stream) -> int | None:
    try:
        fd = stream.fileno()
        os.fstat(fd)
        return fd
    except (AttributeError, OSError, ValueError):
        return None
