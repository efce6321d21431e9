"""The live session of ``send``: over TCP, a sender keeping a window of batches in flight,
a receiver of acks and commands, keepalives and a watchdog; over UDP, one batch at a time
sent until acknowledged."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, Coroutine, Protocol

import orjson

from hidsctl import records
from hidsctl.queue import Item
from hidsctl.transport import protocol
from hidsctl.transport.protocol import Rejected


class LinkSettings(Protocol):
    @property
    def keepalive(self) -> float: ...  # seconds between keepalives

    @property
    def ack_timeout(self) -> float: ...  # an unacknowledged window this long: reconnect

    @property
    def window(self) -> int: ...  # batches in flight over TCP

    @property
    def batch_records(self) -> int: ...


class LinkAgent(Protocol):
    """All a session asks of ``send`` (agent.py's Agent): its queued records and where
    their delivery stands, and where commands and problems go."""

    @property
    def settings(self) -> LinkSettings: ...

    @property
    def committed(self) -> int: ...  # queue offset the server has acknowledged

    @property
    def committed_seq(self) -> int: ...  # sequence number of the next record to send

    @property
    def stream(self) -> bytes: ...  # this run's stream id

    @property
    def reset_session(self) -> bool: ...  # records were dropped: start a new stream

    @property
    def new_data(self) -> asyncio.Event | None: ...  # set when records are queued

    def read(self, offset: int, max_records: int, max_bytes: int) -> list[Item]:
        """Queued records from ``offset`` on."""

    def keepalive_payload(self) -> bytes: ...

    def drop_notice(self) -> tuple[int, bytes] | None:
        """(count, DATA payload) reporting records dropped at the queue bound, or None."""

    def drops_reported(self, count: int) -> None: ...

    def acknowledge(self, offset: int, seq: int) -> None:
        """The server has everything before queue offset ``offset``."""

    def command(self, record: dict[str, Any]) -> None:
        """An ``ar`` record the server sent."""

    def problem(self, code: str, where: str, message: str) -> None: ...


class Inbox(asyncio.DatagramProtocol):
    """Datagrams from the server, queued for the session (a bounded queue: a flood is
    dropped here, never buffered without end)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | Exception] = asyncio.Queue(1000)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if not self.queue.full():
            self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        if not self.queue.full():
            self.queue.put_nowait(exc)

    async def get(self) -> bytes:
        item = await self.queue.get()
        if isinstance(item, Exception):
            raise item
        return item


class AgentLink:
    """One live session: a sender, a receiver and a keepalive timer."""

    def __init__(self, agent: LinkAgent, session: protocol.Session, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter):
        self.agent = agent
        self.session = session
        self.reader = reader
        self.writer = writer
        # (counter, end offset, end seq) of each batch in flight; offset -1 for a drop
        # notice, whose count is in the seq slot
        self.inflight: deque[tuple[int, int, int]] = deque()
        self.acked = asyncio.Event()
        self.last_progress = time.monotonic()  # last ack, or when the window became non-empty

    def duties(self) -> list[Coroutine[Any, Any, None]]:
        return [self.sender(), self.receiver(), self.keepalives(), self.watchdog()]

    async def run(self) -> None:
        tasks = [asyncio.create_task(duty) for duty in self.duties()]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def send(self, kind: int, payload: bytes) -> int:
        self.writer.write(protocol.frame(self.session.seal(kind, payload)))
        return self.session.send.counter - 1

    async def drain(self) -> None:
        await self.writer.drain()

    async def keepalives(self) -> None:
        info = self.agent.keepalive_payload()
        while True:
            self.send(protocol.KEEPALIVE, info)
            await self.drain()
            await asyncio.sleep(self.agent.settings.keepalive)

    async def watchdog(self) -> None:
        """A server that stops acknowledging (stuck, or a frame lost in a middlebox) is
        left for the next one, and the unacknowledged batches are sent again."""
        timeout = self.agent.settings.ack_timeout
        while True:
            await asyncio.sleep(min(1.0, timeout / 4))
            if self.inflight and time.monotonic() - self.last_progress > timeout:
                raise asyncio.TimeoutError()

    async def sender(self) -> None:
        agent = self.agent
        settings = agent.settings
        offset, seq = agent.committed, agent.committed_seq
        new_data = agent.new_data
        assert new_data is not None
        notice = agent.drop_notice()
        if notice is not None:
            self.inflight.append((self.send(protocol.DATA, notice[1]), -1, notice[0]))
        while not agent.reset_session:
            if len(self.inflight) >= settings.window:
                self.acked.clear()
                await self.acked.wait()
                continue
            new_data.clear()
            items = agent.read(offset, settings.batch_records, 512 << 10)
            if not items:
                await new_data.wait()
                continue
            payload = protocol.encode_batch(agent.stream, seq, [item.data for item in items])
            if not self.inflight:
                self.last_progress = time.monotonic()
            counter = self.send(protocol.DATA, payload)
            offset, seq = items[-1].next_offset, seq + len(items)
            self.inflight.append((counter, offset, seq))
            await self.writer.drain()
        raise ConnectionResetError("queue dropped records; starting a new stream")

    async def receiver(self) -> None:
        while True:
            kind, payload = self.session.open(await read_body(self.reader))
            if kind == protocol.ACK:
                self.on_ack(protocol.decode_ack(payload))
            elif kind == protocol.COMMAND:
                self.on_command(payload)
            else:
                raise Rejected("bad_frame", f"servers do not send {protocol.KIND_NAMES[kind]}")

    def on_ack(self, counter: int) -> None:
        last = None
        while self.inflight and self.inflight[0][0] <= counter:
            entry = self.inflight.popleft()
            if entry[1] < 0:
                self.agent.drops_reported(entry[2])
            else:
                last = entry
        if last is not None:
            self.last_progress = time.monotonic()
            self.agent.acknowledge(last[1], last[2])
            self.acked.set()

    def on_command(self, payload: bytes) -> None:
        try:
            record = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise Rejected("bad_payload", "command is not JSON") from None
        if not isinstance(record, dict) or record.get("type") != "ar" or records.validate(record):
            self.agent.problem("bad_command", "server", "ignored a malformed command")
            return
        self.agent.command(record)


class UdpAgentLink(AgentLink):
    """A UDP session: one batch at a time, sent again (under a new counter) until the
    server acknowledges it; the server's delivery marks keep the resends from repeating."""

    RETRIES = 5

    def __init__(self, agent: LinkAgent, session: protocol.Session,
                 transport: asyncio.DatagramTransport, inbox: Inbox):
        self.agent = agent
        self.session = session
        self.transport = transport
        self.inbox = inbox
        self.awaiting = -1
        self.acked = asyncio.Event()
        self.inflight = deque()

    def send(self, kind: int, payload: bytes) -> int:
        self.transport.sendto(self.session.seal(kind, payload))
        return self.session.send.counter - 1

    def duties(self) -> list[Coroutine[Any, Any, None]]:
        return [self.sender(), self.receiver(), self.keepalives()]  # deliver() times out

    async def drain(self) -> None:
        """Datagrams are sent at once: nothing to wait for."""

    async def sender(self) -> None:
        agent = self.agent
        offset, seq = agent.committed, agent.committed_seq
        new_data = agent.new_data
        assert new_data is not None
        notice = agent.drop_notice()
        if notice is not None:
            await self.deliver(notice[1])
            agent.drops_reported(notice[0])
        while not agent.reset_session:
            new_data.clear()
            items = agent.read(offset, agent.settings.batch_records, 256 << 10)
            if not items:
                await new_data.wait()
                continue
            payload = protocol.encode_batch(agent.stream, seq, [i.data for i in items])
            while len(payload) > protocol.MAX_DATAGRAM - 64 and len(items) > 1:
                items = items[:len(items) // 2]
                payload = protocol.encode_batch(agent.stream, seq, [i.data for i in items])
            if len(payload) > protocol.MAX_DATAGRAM - 64:
                agent.problem("too_large", "queue", "a record too large for one datagram was "
                              "dropped; use TCP for such records")
            else:
                await self.deliver(payload)
            offset, seq = items[-1].next_offset, seq + len(items)
            agent.acknowledge(offset, seq)
        raise ConnectionResetError("queue dropped records; starting a new stream")

    async def deliver(self, payload: bytes) -> None:
        for attempt in range(self.RETRIES):
            self.acked.clear()
            self.awaiting = self.send(protocol.DATA, payload)
            try:
                await asyncio.wait_for(self.acked.wait(), 1.0 + attempt)
                return
            except asyncio.TimeoutError:
                continue
        raise asyncio.TimeoutError()

    async def receiver(self) -> None:
        while True:
            try:
                kind, payload = self.session.open(await self.inbox.get())
            except Rejected:
                continue  # a stray or stale datagram: UDP brings those
            if kind == protocol.ACK:
                if protocol.decode_ack(payload) == self.awaiting:
                    self.acked.set()
            elif kind == protocol.COMMAND:
                self.on_command(payload)


async def read_body(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readexactly(4)
    length = int.from_bytes(head, "big")
    if not 0 < length <= protocol.MAX_FRAME:
        raise Rejected("bad_frame", f"server sent a frame of {length} bytes")
    return await reader.readexactly(length)
