"""Outputs reading the bus: ``logs write``, ``mail``, ``forward`` and ``respond`` with
``--from nats://SERVERS/ALERTS`` and a group (docs/scale-out.md).

An output reads every partition of the stream through a durable JetStream consumer named
after its group (its position survives restarts on the server). Each message is
acknowledged on its own (explicit acks), and only once the output's side effect is done:

- ``handle`` takes a batch's records; ``sync`` makes what they left durable (alert files
  written, mail or syslog messages in the output's on-disk queue, responses recorded);
- ``mark`` names "everything handled so far" (a queue offset, say) and ``reached(mark)``
  says whether the side effects up to it are done (the queue delivered up to there);
- the batch's sequences and their mark go to a position file beside the output's state
  (written atomically) before anything is acknowledged; a sequence leaves it only once
  the server confirmed its ack.

After a crash the server delivers again what it has no ack for; a sequence in the
position file was handled already and is only acknowledged (once its mark is reached),
never handled twice. The window left is between the side effect being durable and the
position file's rename: a crash there hands that batch (with ``Output.each``, that record)
to the output again; docs/scale-out.md lists each output's. A message delivered to an
output that died before handling it comes back after ``ACK_WAIT``.

Members of one group share the consumer: each gets some of the records, and each acks
only its own, so members may run on several machines. For alert files, where order and
one set of files matter, run one member per group and output directory.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import orjson

from hidsctl.bus import client, partition
from hidsctl.bus.address import parse
from hidsctl.bus.group import GROUP_NAME
from hidsctl.deadletter import NOT_THE_RECORDS_FAULT
from hidsctl.diagnostics import logger
from hidsctl.errors import ConfigError, HidsError, UsageError
from hidsctl.state import atomic_write

BATCH = 512
MAX_ACK_PENDING = BATCH * 4  # unacknowledged records an output may hold (per member)
# Seconds before a record with no ack is delivered again: soon after a crash, then more and
# more rarely while an output holds it (a mail server down, the hourly cap).
ACK_WAIT = (10.0, 30.0, 120.0, 600.0)
ACK_TIMEOUT = 5.0
CONFIRMED = MAX_ACK_PENDING * 4  # acked sequences remembered, to drop crossing deliveries


@dataclass
class Output:
    """What an output does with the records; see the module's docstring."""

    handle: Callable[[dict], None]
    tick: Callable[[], None]
    sync: Callable[[], None]
    mark: Callable[[], Any] = lambda: None
    reached: Callable[[Any], bool] = lambda mark: True
    # A record ``handle`` fails on: set aside (dead letters), and the next one follows.
    failed: Callable[[dict, Exception], None] | None = None
    # Whether ``handle`` makes its side effect durable at once (a response run, a mail
    # queued with its own fsync): then each record's sequence is written as it is handled,
    # not the batch's at its end, so a crash mid-batch repeats one record, not the batch.
    each: bool = False


@dataclass
class Position:
    """Sequences handled but whose ack the server has not confirmed, with their marks;
    ``floor``: every sequence at or below it was handled (the position files' first form)."""

    path: Path
    floor: int = 0
    pending: dict[int, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> "Position":
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            return cls(path)
        except OSError as exc:
            raise HidsError(f"{path}: {exc.strerror}") from None
        if text.isdigit():
            return cls(path, int(text))
        try:
            data = orjson.loads(text)
            return cls(path, int(data["floor"]), {int(s): m for s, m in data["pending"]})
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise HidsError(f"{path}: not a stream position: {text[:40]!r}") from None

    def handled(self, seq: int) -> bool:
        return seq <= self.floor or seq in self.pending

    def save(self) -> None:
        atomic_write(self.path, orjson.dumps(
            {"floor": self.floor, "pending": list(self.pending.items())}).decode() + "\n")


def position_path(directory: Path, stream: str, group: str) -> Path:
    return directory / f".bus-position-{stream}-{group}"


def check_group(group: str, option: str = "--group") -> None:
    if not GROUP_NAME.fullmatch(group):
        raise UsageError(f"{option} {group!r}: only letters, digits, '_' and '-'")


def check_pair(source: str | None, group: str | None, option: str = "--bus-group") -> bool:
    """Whether the output reads the bus; a usage error when only one of the pair is given."""
    if bool(source) != bool(group):
        raise UsageError(f"--from and {option} go together")
    if source:
        parse(source, "--from")
        check_group(group or "", option)
    return bool(source)


def consume(source: str, group: str, directory: Path, output: Output, name: str = "logs",
            interval: float = 1.0, option: str = "--group") -> int:
    """Feed every record of the stream to ``output`` until SIGTERM/SIGINT; returns 0."""
    address = parse(source, "--from")
    check_group(group, option)
    log = logger(name)
    position = Position.load(position_path(directory, address.stream, group))
    stop: list[int] = []
    previous = {s: signal.signal(s, lambda *_: stop.append(1))
                for s in (signal.SIGTERM, signal.SIGINT)}
    bus = client.SyncBus(address, name)
    try:
        if not _stream_made(bus, address.stream, stop, str(address), log):
            return 0
        sub = bus.call(subscribe(bus.js, address.stream, group))
        log.info(f"reading {address} as {group}")
        reader = _Reader(bus, output, position, str(address), log)
        last_tick = time.monotonic()
        failure = ""
        while not stop:
            try:
                batch = bus.call(sub.fetch(BATCH, timeout=interval))
                failure = ""
            except (asyncio.TimeoutError, TimeoutError):
                batch = []
            except Exception as exc:  # the bus is away: nats-py reconnects meanwhile
                batch = []
                if str(exc) != failure:
                    failure = str(exc)
                    log.warning(f"{address}: {failure or type(exc).__name__}; retrying")
                time.sleep(interval)
            reader.take(batch)
            if time.monotonic() - last_tick >= interval or not batch:
                last_tick = time.monotonic()
                output.tick()
            reader.acknowledge()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        bus.close()
    return 0


def _stream_made(bus: client.SyncBus, stream: str, stop: list[int], label: str,
                 log: logging.Logger) -> bool:
    """Wait until the stream exists (whoever writes it makes it, with its partition count:
    ``analyze --to`` takes its input's); False when stopped first."""
    from nats.js.errors import NotFoundError

    said = ""
    while not stop:
        try:
            bus.call(bus.js.stream_info(stream), timeout=client.ACK_TIMEOUT)
            return True
        except NotFoundError:
            why = "no such stream yet; waiting for its writer to make it"
        except Exception as exc:  # JetStream not ready (a cluster electing), timeouts
            why = f"JetStream not ready ({str(exc) or type(exc).__name__}); retrying"
        if why != said:
            said = why
            log.warning(f"{label}: {why}")
        time.sleep(1.0)
    return False


async def subscribe(js: Any, stream: str, group: str) -> Any:
    """The group's durable pull consumer, created with explicit acks when missing."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    try:
        info = await js.consumer_info(stream, group)
    except Exception:  # missing: pull_subscribe creates it
        info = None
    if info is not None and info.config.ack_policy != AckPolicy.EXPLICIT:
        raise ConfigError(f"consumer {group} of stream {stream} does not take explicit acks; "
                          "delete it (it restarts from the stream's start) or use another group")
    return await js.pull_subscribe(
        partition.wildcard(stream), durable=group, stream=stream,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
                              ack_wait=ACK_WAIT[0], backoff=list(ACK_WAIT),
                              max_ack_pending=MAX_ACK_PENDING, max_deliver=-1))


class _Reader:
    """Handles fresh messages, remembers the handled ones, acks what is done."""

    def __init__(self, bus: client.SyncBus, output: Output, position: Position, label: str,
                 log: logging.Logger):
        self.bus = bus
        self.output = output
        self.position = position
        self.label = label
        self.log = log
        self.messages: dict[int, Any] = {}  # handled sequence -> its latest delivery
        # Acks the server confirmed lately: a delivery of one of them that crossed the ack
        # (its redelivery timer ran out first) is dropped, not handled again.
        self.confirmed: collections.deque[int] = collections.deque(maxlen=CONFIRMED)
        self.confirmed_set: set[int] = set()
        self.unconfirmed = 0

    def take(self, batch: list[Any]) -> None:
        fresh: list[int] = []
        for msg in batch:
            seq = msg.metadata.sequence.stream
            if seq in self.confirmed_set:
                continue
            if self.position.handled(seq):
                self.messages[seq] = msg  # delivered again: ack this delivery when done
                continue
            self._handle(seq, msg.data)
            self.messages[seq] = msg
            fresh.append(seq)
            if self.output.each:
                self._handled(fresh)
                fresh = []
        if fresh:
            self._handled(fresh)

    def _handled(self, fresh: list[int]) -> None:
        self.output.sync()
        mark = self.output.mark()
        for seq in fresh:
            self.position.pending[seq] = mark
        self.position.save()

    def _handle(self, seq: int, data: bytes) -> None:
        try:
            record = orjson.loads(data)
        except orjson.JSONDecodeError:
            record = None
        if isinstance(record, dict) and isinstance(record.get("type"), str):
            try:
                self.output.handle(record)
            except NOT_THE_RECORDS_FAULT:
                raise
            except Exception as exc:
                if self.output.failed is None:
                    raise
                self.output.failed(record, exc)
        else:
            self.log.warning(f"{self.label} message {seq}: not a JSON record; skipped")

    def acknowledge(self) -> None:
        """Ack every delivery whose side effects are done; forget what the server confirmed."""
        due = [(seq, msg) for seq, msg in self.messages.items()
               if seq <= self.position.floor or self.output.reached(self.position.pending[seq])]
        if not due:
            return

        async def ack_all() -> list[Any]:
            return await asyncio.gather(*(msg.ack_sync(timeout=ACK_TIMEOUT) for _, msg in due),
                                        return_exceptions=True)

        results = self.bus.call(ack_all())
        confirmed = [seq for (seq, _), result in zip(due, results)
                     if not isinstance(result, BaseException)]
        for seq in confirmed:
            del self.messages[seq]
            self.position.pending.pop(seq, None)
            if len(self.confirmed) == CONFIRMED:
                self.confirmed_set.discard(self.confirmed[0])
            self.confirmed.append(seq)
            self.confirmed_set.add(seq)
        unconfirmed = len(due) - len(confirmed)
        if unconfirmed and not self.unconfirmed:  # kept, and acked again on the next round
            self.log.warning(f"{self.label}: {unconfirmed} ack(s) not confirmed; retrying")
        self.unconfirmed = unconfirmed
        if confirmed:
            self.position.save()
