"""``hidsctl send``: the agent side of the link (OSSEC's agentd).

Records read on stdin are appended to a durable on-disk queue (state dir ``send-queue``)
before anything else happens, so a SIGKILL loses nothing that was read. A connection loop
drains the queue in order to the first server that answers, and commits the queue only
when the server has acknowledged a batch, which it does after writing it out. Active-response
commands from the server are written on stdout as ``ar`` records.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import os
import platform
import select
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable

import orjson

from hidsctl import __version__, records
from hidsctl.backoff import Backoff
from hidsctl.diagnostics import logger
from hidsctl.errors import UsageError
from hidsctl.queue import DurableQueue, Item
from hidsctl.state import atomic_write
from hidsctl.transport import protocol
from hidsctl.transport.addresses import DEFAULT_PORT, parse_address
from hidsctl.transport.agent_link import AgentLink, Inbox, UdpAgentLink, read_body
from hidsctl.transport.keys import AgentKey, KeyFile, keys_path
from hidsctl.transport.output import BoundedLog, Output
from hidsctl.transport.protocol import Rejected

QUEUE_DIR = "send-queue"
CONSUMER = "send"


@dataclass
class SendSettings:
    server: list[str] = field(default_factory=list)
    udp: bool = False
    id: str | None = None
    keepalive: float = 10.0
    drain_timeout: float = 30.0
    queue_size: int = 256 << 20
    batch_records: int = 2000
    window: int = 8
    sync: bool = True
    connect_timeout: float = 10.0
    ack_timeout: float = 30.0
    max_backoff: float = 60.0
    enroll: str | None = None
    password: str | None = None
    fingerprint: str | None = None
    name: str | None = None


def agent_key(state: Path, ident: str | None) -> AgentKey:
    """This agent's key: the only one in its keys file, or the one ``--id`` names."""
    keyfile = KeyFile.open(keys_path(state))
    if ident is not None:
        key = keyfile.get(records.agent_id(ident))
        if key is None:
            raise UsageError(f"no key for agent {ident} in {keyfile.path}")
        return key
    if not keyfile.keys:
        raise UsageError(f"no agent key in {keyfile.path}: run 'hidsctl keys import' or "
                         f"'hidsctl send --enroll HOST'")
    if len(keyfile.keys) > 1:
        raise UsageError(f"{keyfile.path} holds {len(keyfile.keys)} keys: pick one with --id")
    return next(iter(keyfile.keys.values()))


def host_info(config_path: Path | None) -> dict[str, str]:
    """What keepalives carry: hostname, OS, hidsctl version and a hash of the config."""
    try:
        config = config_path.read_bytes() if config_path else b""
    except OSError:
        config = b""
    return {"hostname": socket.gethostname(), "os": _os_name(), "version": __version__,
            "config_hash": hashlib.sha256(config).hexdigest()[:16]}


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return f"{line.split('=', 1)[1].strip(chr(34))} ({platform.system()} " \
                       f"{platform.release()})"
    except OSError:
        pass
    return f"{platform.system()} {platform.release()}"


class Agent:
    def __init__(self, settings: SendSettings, state: Path, key: AgentKey,
                 info: dict[str, str], output: Output | None = None):
        if not settings.server:
            raise UsageError("no server: give --server HOST:PORT (several for failover)")
        self.settings = settings
        self.key = key
        self.info = info
        self.output = output or Output()
        self.log = BoundedLog(None, "send", 30.0)
        self.servers = [parse_address(s, DEFAULT_PORT) for s in settings.server]
        self.queue = DurableQueue(state / QUEUE_DIR, writer=True,
                                  max_bytes=settings.queue_size, sync=settings.sync)
        # The reader thread appends while the loop reads: the queue's readers open segment
        # files on their own and stop at a partly written line, so no lock is needed.
        self.commit_interval = 0.25
        self._committed_at = 0.0
        self._commit_pending = False
        self._commit_timer: asyncio.TimerHandle | None = None
        self.committer = concurrent.futures.ThreadPoolExecutor(1, "send commit")
        self.commit_lock = threading.Lock()
        self.committed = self.queue.committed(CONSUMER) or 0
        self.committed_seq = 0
        self.stream = os.urandom(protocol.STREAM_LEN)
        self.dropped_reported = 0
        # Records dropped at the bound and not yet reported to a server. The notice travels
        # outside the queue (a notice queued there could itself be dropped) and the count
        # is kept in a file until a server acknowledges it.
        self.drop_file = state / QUEUE_DIR / "dropped"
        self.unreported_drops = _read_count(self.drop_file)
        self.input_done = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.new_data: asyncio.Event | None = None
        self.drained: asyncio.Event | None = None
        self.reset_session = False

    # --- what a session (agent_link.LinkAgent) asks of the agent -------------------------

    def read(self, offset: int, max_records: int, max_bytes: int) -> list[Item]:
        return self.queue.read(offset, max_records, max_bytes)

    def keepalive_payload(self) -> bytes:
        return orjson.dumps(self.info)

    def command(self, record: dict[str, Any]) -> None:
        self.output.record(record)

    def problem(self, code: str, where: str, message: str) -> None:
        self.log.report(code, where, message, notice=False)

    # --- input: stdin to the durable queue -------------------------------------------------

    def read_input_or_say(self, stream: BinaryIO) -> None:
        """The input thread: ``read_input``, with what goes wrong said in one line. Once
        send is shutting down (``loop`` gone) the queue may close under a read still in
        progress: that is the end of input, not an error."""
        try:
            self.read_input(stream)
        except Exception as exc:
            if self.loop is None:
                return
            logger("send").error(f"input: {exc}")
            self._notify(self._input_finished)

    def read_input(self, stream: BinaryIO) -> None:
        """Append what stdin brings, in chunks: whenever reading would block (so a quiet
        source is queued at once) and every 5,000 records or 1 MiB (less for a small
        queue) otherwise."""
        pending: list[bytes] = []
        size = 0
        fd = stream.fileno()
        # Small against the bound, so the queue drops old records a segment at a time.
        chunk_bytes = max(4096, min(1 << 20, self.settings.queue_size // 16))

        def flush(force: bool = True) -> None:
            nonlocal size
            if pending and (force or not _readable(fd)):
                self.append(pending)
                pending.clear()
                size = 0

        reader = records.RecordReader(stream, before_block=lambda: flush(False))
        for line_no, raw in reader.lines():
            if records.parse_checkpoint(raw) is not None:
                # A supervisor's position marker: answer it once everything before it is
                # durably queued; it never goes to the server.
                flush()
                self.output.lines([raw + b"\n"])
                continue
            line = _checked_line(reader, line_no, raw)
            if line is None:
                continue
            pending.append(line)
            size += len(line)
            if len(pending) >= 5000 or size >= chunk_bytes:
                flush()
        flush()
        self._notify(self._input_finished)

    def append(self, lines: list[bytes]) -> None:
        self.queue.append(lines)
        dropped = self.queue.dropped - self.dropped_reported
        if dropped:
            self.dropped_reported = self.queue.dropped
            self._notify(lambda: self._dropped(dropped))
        self._notify(self._wake)

    def _notify(self, callback: Callable[[], None]) -> None:
        loop = self.loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(callback)
            except RuntimeError:
                pass  # the loop closed under the reader: what it read is queued already

    def _wake(self) -> None:
        assert self.new_data is not None
        self.new_data.set()

    def _dropped(self, count: int) -> None:
        # Records vanished under the reader: sequence numbers would no longer name the same
        # records, so start a fresh stream on a fresh connection.
        self.log.report("dropped", "queue", "queue over its bound; oldest records dropped",
                        notice=False)
        self.stream = os.urandom(protocol.STREAM_LEN)
        self.committed_seq = 0
        self.reset_session = True
        self.unreported_drops += count
        atomic_write(self.drop_file, f"{self.unreported_drops}\n", mode=0o640)

    def drop_notice(self) -> tuple[int, bytes] | None:
        """(count, a DATA payload of one notice) for the drops not yet reported, or None.
        It goes as a stream of its own, so it never disturbs the records' numbering."""
        count = self.unreported_drops
        if not count:
            return None
        notice = records.make(
            "notice", component="send", code="dropped", count=count,
            message=f"send queue over its bound of {self.settings.queue_size} bytes: "
                    f"dropped the {count} oldest record(s)")
        return count, protocol.encode_batch(os.urandom(protocol.STREAM_LEN), 0,
                                            [records.dumps(notice)[:-1]])

    def drops_reported(self, count: int) -> None:
        self.unreported_drops = max(0, self.unreported_drops - count)
        atomic_write(self.drop_file, f"{self.unreported_drops}\n", mode=0o640)

    def _input_finished(self) -> None:
        self.input_done = True
        self._check_drained()

    def _check_drained(self) -> None:
        assert self.drained is not None
        if self.input_done and self.committed >= self.queue._end:
            self.drained.set()

    # --- acknowledged delivery ------------------------------------------------------------

    def acknowledge(self, offset: int, seq: int) -> None:
        """The server has written everything before ``offset``. The queue's offset file is
        rewritten (with fsyncs) at most every ``commit_interval`` and at the end; a SIGKILL
        in between means a few acknowledged records are sent again, never lost."""
        self.committed, self.committed_seq = offset, seq
        now = time.monotonic()
        if now - self._committed_at >= self.commit_interval:
            self.commit()
        elif not self._commit_pending and self.loop is not None:
            self._commit_pending = True
            self._commit_timer = self.loop.call_later(self.commit_interval, self.commit)
        self._check_drained()

    def commit(self) -> None:
        """Write the committed offset; from the loop, in a worker thread, because the
        fsyncs would otherwise hold up the link."""
        self._commit_pending = False
        self._commit_timer = None
        self._committed_at = time.monotonic()
        offset = self.committed
        if self.loop is not None and self.loop.is_running():
            self.loop.run_in_executor(self.committer, self._write_commit, offset)
        else:
            self._write_commit(offset)

    def _write_commit(self, offset: int) -> None:
        with self.commit_lock:
            current = self.queue.committed(CONSUMER)
            if current is None or current < offset:
                self.queue.commit(CONSUMER, offset)

    # --- the connection loop --------------------------------------------------------------

    async def run(self, stdin: BinaryIO | None = None) -> int:
        self.loop = asyncio.get_running_loop()
        self.new_data = asyncio.Event()
        self.drained = asyncio.Event()
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(signum, stop.set)
        reader = threading.Thread(target=self.read_input_or_say, args=(stdin or sys.stdin.buffer,),
                                  name="send input", daemon=True)
        reader.start()
        connector = asyncio.create_task(self.connect_forever())
        drained = asyncio.create_task(self._drain_or_timeout())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait([connector, drained, stopped], return_when=asyncio.FIRST_COMPLETED)
        for task in (connector, drained, stopped):
            task.cancel()
        await asyncio.gather(connector, drained, stopped, return_exceptions=True)
        # Nothing may hand the committer work once it is shut down: cancel the pending
        # commit, and detach from the loop (asyncio.run still turns it while closing) so a
        # late commit or notification is done in place or dropped, never scheduled.
        if self._commit_timer is not None:
            self._commit_timer.cancel()
            self._commit_timer = None
        self.loop = None
        self.committer.shutdown(wait=True)
        self._write_commit(self.committed)
        left = self.queue._end - max(self.committed, self.queue.start_offset())
        if left > 0:
            self.log.report("queued", "queue", f"{left} bytes of records stay queued for the "
                            f"next run", notice=False)
        return 0

    async def _drain_or_timeout(self) -> None:
        while not self.input_done:
            await asyncio.sleep(0.1)
        assert self.drained is not None  # made before this task starts
        try:
            await asyncio.wait_for(self.drained.wait(), self.settings.drain_timeout)
        except asyncio.TimeoutError:
            pass

    async def connect_forever(self) -> None:
        backoff = Backoff(1.0, self.settings.max_backoff, jitter=0.5)
        while True:
            for host, port in self.servers:
                where = f"{host}:{port}"
                try:
                    connect = self.udp_session if self.settings.udp else self.session
                    delivered = await connect(host, port)
                except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
                    self.log.report("unreachable", where, _describe(exc), notice=False)
                    delivered = False
                except Rejected as exc:
                    self.log.report(exc.code, where, str(exc), notice=False)
                    delivered = False
                if delivered:
                    backoff.reset()
                    break  # the connection was good: retry the same list from the top
            else:
                await asyncio.sleep(backoff.next())

    async def session(self, host: str, port: int) -> bool:
        """One connection, until it breaks; True when the handshake succeeded."""
        settings = self.settings
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port),
                                                settings.connect_timeout)
        try:
            handshake = protocol.AgentHandshake(self.key.id, self.key.derived())
            writer.write(protocol.frame(handshake.start()))
            body = await asyncio.wait_for(read_body(reader), settings.connect_timeout)
            session = handshake.finish(body)
            self.log.report("connected", f"{host}:{port}", "connected", notice=False)
            self.reset_session = False
            link = AgentLink(self, session, reader, writer)
            await link.run()
        finally:
            writer.close()
        return True


    async def udp_session(self, host: str, port: int) -> bool:
        """One UDP session, until the server stops answering; True after a handshake."""
        loop = asyncio.get_running_loop()
        transport, inbox = await loop.create_datagram_endpoint(Inbox, remote_addr=(host, port))
        try:
            handshake = protocol.AgentHandshake(self.key.id, self.key.derived(), strict=False)
            session = None
            for _attempt in range(3):
                transport.sendto(handshake.start())
                try:
                    session = handshake.finish(await asyncio.wait_for(inbox.get(), 2.0))
                    break
                except asyncio.TimeoutError:
                    continue
            if session is None:
                raise asyncio.TimeoutError()
            self.log.report("connected", f"{host}:{port}", "connected over UDP", notice=False)
            self.reset_session = False
            await UdpAgentLink(self, session, transport, inbox).run()
        finally:
            transport.close()
        return True


def _checked_line(reader: records.RecordReader, line_no: int, raw: bytes) -> bytes | None:
    """The line to queue for one input line: itself when it is a complete record (the
    common case, kept byte for byte), re-serialised with defaults filled in otherwise, or
    None (reported with its number) when it is no record at all."""
    if not raw or raw.isspace():
        return None
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        reader.report(line_no, records._json_problem(raw, exc))
        return None
    problem = records.validate(record)
    if problem:
        reader.report(line_no, problem)
        return None
    if "timestamp" in record and "agent" in record and b"\n" not in raw:
        return raw.rstrip(b"\r")
    return records.dumps(records.fill_defaults(record))[:-1]


def _read_count(path: Path) -> int:
    try:
        return int(path.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def _readable(fd: int) -> bool:
    try:
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError):
        return False


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "connection closed"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def run(settings: SendSettings, state: Path, config_path: Path | None) -> int:
    key = agent_key(state, settings.id)
    agent = Agent(settings, state, key, host_info(config_path))
    try:
        return asyncio.run(agent.run())
    finally:
        agent.queue.close()
