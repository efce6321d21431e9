"""``receive --to nats://SERVERS/STREAM``: records go to a JetStream stream, not stdout.

An agent's records go to the partition of its agent id (partition.py), each with a
``Nats-Msg-Id`` of the agent id, the agent's stream id and the record's own sequence
number in that stream (the batch header of protocol.py carries the first; the records
follow it one by one). The agent's batch is acknowledged only once JetStream has acked
every record of it, so a batch resent after a lost ack or a receiver that died, to this
receiver or another one, lands in the stream once: JetStream drops a message id it has
seen within the stream's duplicate window (client.DUPLICATE_WINDOW).

The receiver's own records (``agent_status``, ``notice``) and syslog records are published
without a message id: they are not retried.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import orjson

from hidsctl.bus import client, partition
from hidsctl.bus.address import parse
from hidsctl.diagnostics import logger
from hidsctl.records import agent_id_of
from hidsctl.transport.output import Output

# server.py's stamp(): (stamped records, problems, refused counts per type) of a batch
Stamp = Callable[[list[bytes], dict[str, str]], tuple[list[bytes], list[str], dict[str, int]]]

ACK_TIMEOUT = client.ACK_TIMEOUT


def msg_id(agent: str, stream_id: bytes, seq: int) -> str:
    return f"{agent}.{stream_id.hex()}.{seq}"


class BusOutput(Output):
    """The receiver's output when it publishes to a bus instead of writing to stdout."""

    def __init__(self, to: str, partitions: int | None = None,
                 replicas: int | None = None):
        super().__init__(fd=-1)
        self.address = parse(to, "--to")
        self.wanted_partitions = partitions
        self.replicas = replicas
        self.nc: Any = None
        self.js: Any = None
        self.partitions = 0
        self.early: list[bytes] = []  # records made before the connection was up
        self.tasks: set[asyncio.Task] = set()
        self.failures = 0
        self.sending = asyncio.Lock()

    async def open(self) -> str:
        """Connect and create the stream if needed; returns a line saying where to."""
        self.nc = await client.connect(self.address, "receive")
        self.js = self.nc.jetstream()
        self.publisher = client.Publisher(self.nc)
        await self.publisher.start()
        self.partitions = await client.ensure_stream(self.js, self.address.stream,
                                                     self.wanted_partitions, self.replicas)
        early, self.early = self.early, []
        self.lines(early)
        return f"publishing to {self.address} ({self.partitions} partitions)"

    async def close(self) -> None:
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=ACK_TIMEOUT)
        if self.nc is not None:
            await self.nc.close()

    def subject_of(self, agent: str) -> str:
        return partition.subject(self.address.stream,
                                 partition.partition_of(agent, self.partitions))

    # --- the receiver's own records: published, not retried ----------------------------

    def lines(self, lines: list[bytes]) -> None:
        if self.js is None:
            self.early.extend(lines)
            return
        for line in lines:
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                record = None
            agent = agent_id_of(record.get("agent") if isinstance(record, dict) else None)
            self._spawn(self.js.publish(self.subject_of(agent), line.rstrip(b"\n")))
        self.written += len(lines)

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.failures += 1
            logger("receive").warning(f"{self.address}: a record was not published: "
                                      f"{task.exception()!r}")

    # --- an agent's batch: acknowledged once every record is in the stream ---------------

    def agent_batch(self, link: Any, agent: str, stream_id: bytes,
                    numbered: list[tuple[int, bytes]], done: Callable[[], None]) -> None:
        """Publish an agent's stamped records; ``link.publishing`` becomes the future the
        link's acknowledgement waits for. Batches of one link complete in order, and one
        that fails fails those after it (their records are sent again by the agent)."""
        previous = link.publishing
        subject = self.subject_of(agent)
        prefix = f"{agent}.{stream_id.hex()}."  # msg_id() without a call per record
        messages = [(subject, data.rstrip(b"\n"), prefix + str(seq)) for seq, data in numbered]

        async def publish() -> None:
            # Sent in order of the calls (FIFO lock), then all acks awaited at once.
            async with self.sending:
                batch = await self.publisher.send(messages)
            await self.publisher.confirm(batch)
            if previous is not None:
                await previous
            done()
            self.written += len(numbered)

        link.publishing = asyncio.get_running_loop().create_task(publish())


def stamp_numbered(stamp: Stamp, lines: list[bytes], identity: dict[str, str], first_seq: int
                   ) -> tuple[list[tuple[int, bytes]], list[str], dict[str, int]]:
    """``stamp`` (server.py) line by line, keeping each record's sequence number."""
    numbered: list[tuple[int, bytes]] = []
    problems: list[str] = []
    refused: dict[str, int] = {}
    for index, line in enumerate(lines):
        out, bad, refusals = stamp([line], identity)
        if out:
            numbered.append((first_seq + index, out[0]))
        problems += bad
        for kind, count in refusals.items():
            refused[kind] = refused.get(kind, 0) + count
    return numbered, problems, refused
