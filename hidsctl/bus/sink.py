"""Outputs reading the bus: ``logs write --from nats://SERVERS/ALERTS --group NAME``.

The output reads every partition of the stream through a durable JetStream consumer
named after the group (its position survives restarts on the server). After each batch it
makes what it wrote durable (``sync``), records the batch's last stream sequence in a
position file beside its output (written atomically), and only then acknowledges the
batch; on restart, records at or below the position are skipped, so a crash between the
write and the ack repeats nothing. The one window left is between the sync and the
position's rename (microseconds): a crash there writes that batch again.

Members of one group share the consumer: each gets some of the records. For alert files,
where order and one set of files matter, run one member per group and output directory.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path
from typing import Callable

import orjson

from hidsctl.bus import client, partition
from hidsctl.bus.address import parse
from hidsctl.bus.group import GROUP_NAME
from hidsctl.errors import HidsError, UsageError
from hidsctl.state import atomic_write

BATCH = 512


def position_path(directory: Path, stream: str, group: str) -> Path:
    return directory / f".bus-position-{stream}-{group}"


def read_position(path: Path) -> int:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise HidsError(f"{path}: {exc.strerror}") from None
    if not text.isdigit():
        raise HidsError(f"{path}: not a stream position: {text[:40]!r}")
    return int(text)


def consume(source: str, group: str, directory: Path, handle: Callable[[dict], None],
            tick: Callable[[], None], sync: Callable[[], None], name: str = "logs",
            stderr=None, interval: float = 1.0) -> int:
    """Feed every record of the stream to ``handle`` until SIGTERM/SIGINT; returns 0."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    address = parse(source, "--from")
    if not GROUP_NAME.fullmatch(group):
        raise UsageError(f"--group {group!r}: only letters, digits, '_' and '-'")
    err = stderr if stderr is not None else sys.stderr
    position = position_path(directory, address.stream, group)
    done = read_position(position)
    stop: list[int] = []
    previous = {s: signal.signal(s, lambda *_: stop.append(1))
                for s in (signal.SIGTERM, signal.SIGINT)}
    bus = client.SyncBus(address, name)
    try:
        bus.ensure_stream(None)
        sub = bus.call(bus.js.pull_subscribe(
            partition.wildcard(address.stream), durable=group, stream=address.stream,
            config=ConsumerConfig(ack_policy=AckPolicy.ALL, deliver_policy=DeliverPolicy.ALL,
                                  ack_wait=60, max_ack_pending=BATCH * 4)))
        print(f"hidsctl {name}: reading {address} as {group}", file=err, flush=True)
        last_tick = time.monotonic()
        while not stop:
            try:
                batch = bus.call(sub.fetch(BATCH, timeout=interval))
            except (asyncio.TimeoutError, TimeoutError):
                batch = []
            for msg in batch:
                seq = msg.metadata.sequence.stream
                if seq <= done:
                    continue  # written before a crash that came before its ack
                try:
                    record = orjson.loads(msg.data)
                except orjson.JSONDecodeError:
                    record = None
                if isinstance(record, dict) and isinstance(record.get("type"), str):
                    handle(record)
                else:
                    print(f"hidsctl {name}: {address} message {seq}: not a JSON record; "
                          "skipped", file=err, flush=True)
            if batch:
                sync()
                last = batch[-1].metadata.sequence.stream
                if last > done:
                    done = last
                    atomic_write(position, f"{done}\n")
                bus.call(batch[-1].ack())  # AckAll: this and every earlier one
            if time.monotonic() - last_tick >= interval or not batch:
                last_tick = time.monotonic()
                tick()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        bus.close()
    return 0
