"""``hidsctl receive``: the asyncio server agents connect to (OSSEC's remoted).

Each TCP connection or UDP peer goes through the handshake of protocol.py, then its
batches are opened, stamped with the identity of the key that authenticated them, written
to stdout and only then acknowledged. A peer that breaks the protocol is dropped, counted
and logged at a bounded rate; every connection is handled without blocking the others.
"""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, TypeVar

import orjson

from hidsctl import origin, records
from hidsctl.diagnostics import logger
from hidsctl.errors import ConfigError, ProtocolError
from hidsctl.transport import protocol
from hidsctl.transport.addresses import DEFAULT_PORT, parse_address
from hidsctl.transport.keys import AgentKey, KeyFile, keys_path
from hidsctl.transport.links import HelloLimiter, Link, TcpLink, UdpEndpoint
from hidsctl.transport.output import BoundedLog, Output
from hidsctl.transport.protocol import Rejected
from hidsctl.transport.status import KEEPALIVE_FIELDS, StatusStore

T = TypeVar("T")

@dataclass
class ReceiveSettings:
    listen: list[str] = field(default_factory=lambda: [f"0.0.0.0:{DEFAULT_PORT}"])
    udp: list[str] = field(default_factory=list)
    syslog: list[str] = field(default_factory=list)
    allow: list[str] = field(default_factory=list)
    control: str | None = None
    enroll: str | None = None
    enroll_password: str | None = None
    enroll_replace: bool = False
    disconnect_time: float = 600.0
    rate_limit: int = 20000
    handshake_timeout: float = 10.0
    read_timeout: float = 30.0
    ar_queue_time: float = 300.0
    log_interval: float = 60.0
    max_frame: int = protocol.MAX_FRAME
    hello_rate: float = 50.0  # handshakes per second from one source address; 0: no limit
    hello_burst: int = 500
    to: str | None = None           # nats://SERVERS/STREAM: publish there, not on stdout
    partitions: int | None = None   # of a stream --to creates (hidsctl/bus/partition.py)
    replicas: int | None = None     # NATS cluster servers holding a stream --to creates


def stamp(lines: list[bytes], identity: dict[str, str]
          ) -> tuple[list[bytes], list[str], dict[str, int]]:
    """The batch's records with ``agent`` overwritten by the authenticated identity and
    ``origin`` by the agent's origin (whatever the agent wrote there is lost).

    Returns (serialised records, what was wrong with each line dropped, how many records of
    each type were refused). Only the types agents produce are taken: an ``alert``, an
    ``ar``, a ``checkpoint`` or any other type from an agent is data the agent has no
    business sending (it would reach the outputs, or order a response), so it is dropped."""
    out: list[bytes] = []
    problems: list[str] = []
    refused: dict[str, int] = {}
    loads, dumps, validate = orjson.loads, records.dumps, records.validate
    allowed = origin.AGENT_TYPES
    source = origin.of_agent(identity)
    for line in lines:
        if not line:
            continue
        try:
            record = loads(line)
        except orjson.JSONDecodeError:
            problems.append("not valid JSON")
            continue
        problem = validate(record)
        if problem:
            problems.append(problem)
            continue
        if record["type"] not in allowed:
            label = origin.type_label(record["type"])
            refused[label] = refused.get(label, 0) + 1
            continue
        record["agent"] = identity
        record["origin"] = source
        if "timestamp" not in record:
            record["timestamp"] = records.now()
        out.append(dumps(record))
    return out, problems, refused


class Receiver:
    """The server's state: keys, live sessions, connectivity, pending commands."""

    def __init__(self, settings: ReceiveSettings, state: Path, output: Output | None = None):
        self.settings = settings
        self.state = state
        self.output = output or _output(settings)
        self.keys = KeyFile.open(keys_path(state))
        self._keys_checked = 0.0
        self.store = StatusStore(state)
        self.log = BoundedLog(self.output, "receive", settings.log_interval)
        self.refusals = origin.Refusals("receive", self.output.record, settings.log_interval,
                                        "of types agents do not send")
        self.links: set[TcpLink] = set()
        self.udp: list[UdpEndpoint] = []
        self.sessions: dict[str, Link] = {}
        self.pending_ar: dict[str, list[tuple[float, bytes]]] = {}
        self.records_in = 0
        self.servers: list[asyncio.AbstractServer] = []
        self.stopping: asyncio.Event | None = None
        self.hellos = HelloLimiter(settings.hello_rate, settings.hello_burst)
        self._hellos_reported = time.monotonic()

    # --- keys -------------------------------------------------------------------------

    def agent_key(self, ident: str, peer: str) -> AgentKey | None:
        now = time.monotonic()
        if now - self._keys_checked > 1.0:  # pick up `keys add` without a restart
            self._keys_checked = now
            try:
                self.keys.reload()
            except ConfigError as exc:
                self.log.report("bad_keys", str(self.keys.path), exc.message, notice=False)
        key = self.keys.get(ident)
        if key is None:
            return None
        if not key.allows(peer):
            raise Rejected("not_allowed", f"agent {ident} may not connect from {peer}")
        return key

    # --- sessions ---------------------------------------------------------------------

    def attach(self, link: Link) -> None:
        assert link.key is not None
        key = link.key
        old = self.sessions.get(key.id)
        if old is not None and old is not link:
            old.close()
        self.sessions[key.id] = link
        agent = self.store.get(key.id, key.name)
        was_active = agent.status == "active"
        now = time.time()
        agent.status, agent.ip, agent.connected_at, agent.last_seen = "active", link.peer, now, now
        agent.protocol = link.protocol_name
        agent.dirty = True
        if not was_active:
            self.output.record(records.make("agent_status", agent=link.identity(),
                                            status="connected", protocol=link.protocol_name))
        for _deadline, command in self.pending_ar.pop(key.id, []):
            link.send_body(link.session.seal(protocol.COMMAND, command))  # type: ignore[union-attr]

    def opened(self, link: TcpLink) -> None:
        self.links.add(link)

    def closed(self, link: Link) -> None:
        if isinstance(link, TcpLink):
            self.links.discard(link)
        if link.key is not None and self.sessions.get(link.key.id) is link:
            del self.sessions[link.key.id]

    def rejected(self, link: Link, exc: Rejected) -> None:
        who = link.peer + (f" (agent {link.key.id})" if link.key else "")
        self.log.report("peer_rejected", who, f"{exc.code}: {exc}", reason=exc.code)

    # --- records ------------------------------------------------------------------------

    def deliver(self, link: Link, payload: bytes) -> float:
        """Write a batch's new records, remember how far the stream got; returns how long
        the link must wait to stay under its rate limit."""
        assert link.key is not None
        stream, first_seq, lines = protocol.decode_batch(payload)
        agent = link.key.id
        mark_stream, mark_seq = self.store.mark(agent)  # type: ignore[misc]
        if stream == mark_stream and first_seq <= mark_seq:
            lines = lines[mark_seq - first_seq + 1:]  # already written before a lost ack
            first_seq = mark_seq + 1
        identity = link.identity()
        if getattr(self.output, "agent_batch", None) is not None:  # to a bus: hidsctl/bus
            numbered, problems, refused = self._publish(link, agent, identity, stream,
                                                        first_seq, lines)
            written = len(numbered)
        else:
            out, problems, refused = stamp(lines, identity)
            self.output.lines(out)
            written = len(out)
            if lines:
                self.store.set_mark(agent, stream, first_seq + len(lines) - 1)
        for problem in problems:
            self.log.report("bad_record", f"agent {agent}", problem)
        if refused:
            self.refusals.add(origin.describe(origin.of_agent(identity)), identity, refused)
        self.records_in += written
        state = self.store.agents.get(agent)
        if state is not None:
            state.last_seen = time.time()
        return link.bucket.take(len(lines))

    def _publish(self, link: Link, agent: str, identity: dict[str, str], stream: bytes,
                 first_seq: int, lines: list[bytes]
                 ) -> tuple[list[tuple[int, bytes]], list[str], dict[str, int]]:
        """Hand the batch to the bus; the mark moves (and the link acks) once it is stored."""
        from hidsctl.bus.publish import stamp_numbered

        numbered, problems, refused = stamp_numbered(stamp, lines, identity, first_seq)
        last = first_seq + len(lines) - 1
        self.output.agent_batch(  # type: ignore[attr-defined]
            link, agent, stream, numbered,
            lambda: self.store.set_mark(agent, stream, last) if lines else None)
        return numbered, problems, refused

    def keepalive(self, link: Link, payload: bytes) -> None:
        assert link.key is not None
        try:
            info = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise Rejected("bad_payload", "keepalive is not JSON") from None
        if not isinstance(info, dict):
            raise Rejected("bad_payload", "keepalive is not an object")
        agent = self.store.get(link.key.id, link.key.name)
        now = time.time()
        changed = [name for name in ("version", "config_hash")
                   if agent.last_keepalive is not None and info.get(name) is not None
                   and getattr(agent, name) != info.get(name)]
        for name in KEEPALIVE_FIELDS:
            value = info.get(name)
            if isinstance(value, str):
                setattr(agent, name, value[:200])
        agent.last_seen = agent.last_keepalive = now
        agent.dirty = True
        if changed:
            self.output.record(records.make(
                "agent_status", agent=link.identity(), status="changed", changed=changed,
                version=agent.version, os=agent.os, config_hash=agent.config_hash,
                last_keepalive=records.format_timestamp(now)))

    # --- active response ------------------------------------------------------------------

    def route(self, record: dict[str, Any]) -> None:
        """Deliver an ``ar`` record to its target agent(s), hold it for a disconnected one."""
        if record.get("type") != "ar":
            return
        sender = origin.remote(record)
        if sender is not None:  # an agent's record never commands other agents
            self.log.report("ar_not_routed", sender, "ar record from a remote origin")
            return
        target = str(record.get("target") or "local")
        command = orjson.dumps(record)
        if target == "all":
            for link in list(self.sessions.values()):
                if link.session is not None:  # always, for a link in sessions
                    link.send_body(link.session.seal(protocol.COMMAND, command))
            return
        try:
            agent = records.agent_id(target)
        except ValueError:
            self.log.report("ar_not_routed", f"target {target}",
                            "ar record is not addressed to an agent or 'all'")
            return
        peer = self.sessions.get(agent)
        if peer is not None and peer.session is not None:
            peer.send_body(peer.session.seal(protocol.COMMAND, command))
        elif self.keys.get(agent) is None:
            self.log.report("ar_not_routed", f"agent {agent}", "no such agent")
        else:
            deadline = time.monotonic() + self.settings.ar_queue_time
            self.pending_ar.setdefault(agent, []).append((deadline, command))

    # --- housekeeping -----------------------------------------------------------------

    def sweep(self) -> None:
        """Once a second: drop stuck peers, expire held commands, notice silent agents."""
        now = time.monotonic()
        settings = self.settings
        for link in list(self.links):
            if link.reader.partial and now - link.last_rx > settings.read_timeout:
                self.rejected(link, Rejected("slow", "frame not completed in time"))
                link.close()
            elif not link.attached and now - link.opened > settings.handshake_timeout:
                self.rejected(link, Rejected("timeout", "no handshake in time"))
                link.close()
            elif now - link.last_rx > settings.disconnect_time:
                link.close()
        for endpoint in self.udp:
            for udp_link in list(endpoint.links.values()):
                if now - udp_link.last_rx > settings.disconnect_time:
                    udp_link.close()
        for agent, held in list(self.pending_ar.items()):
            kept = [(d, c) for d, c in held if d > now]
            if len(kept) < len(held):
                self.log.report("ar_undelivered", f"agent {agent}",
                                f"{len(held) - len(kept)} active-response command(s) expired "
                                f"undelivered", count=len(held) - len(kept))
            if kept:
                self.pending_ar[agent] = kept
            else:
                del self.pending_ar[agent]
        wall = time.time()
        for known in self.store.agents.values():
            if known.status == "active" and known.last_seen is not None \
                    and wall - known.last_seen > settings.disconnect_time:
                known.status, known.dirty = "disconnected", True
                self.output.record(records.make(
                    "agent_status", agent={"id": known.id, "name": known.name,
                                           "ip": known.ip or "any"},
                    status="disconnected",
                    last_keepalive=records.format_timestamp(known.last_keepalive)
                    if known.last_keepalive else None))
        self.refusals.flush()
        self.report_hello_floods()
        self.store.flush()

    MAX_HELLO_NOTICES = 20  # sources named per interval; the rest are summed up

    def report_hello_floods(self) -> None:
        """One notice per source whose hellos were refused over the rate, per interval."""
        now = time.monotonic()
        if now - self._hellos_reported < self.settings.log_interval:
            return
        seconds = now - self._hellos_reported
        self._hellos_reported = now
        refused = sorted(self.hellos.take_refused().items(), key=lambda item: -item[1])
        named, rest = refused[:self.MAX_HELLO_NOTICES], refused[self.MAX_HELLO_NOTICES:]
        if rest:
            named.append((f"{len(rest)} other addresses", sum(count for _, count in rest)))
        for source, count in named:
            message = (f"{count} hellos refused over the handshake rate limit "
                       f"({self.settings.hello_rate:g}/s) in {seconds:.0f}s")
            logger("receive").warning(f"{source}: {message}")
            self.output.record(records.make("notice", component="receive", code="hello_flood",
                                            message=message, count=count, location=source))

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.sweep()

    # --- running ------------------------------------------------------------------------

    async def start(self) -> None:
        """Open every configured listener; logs ``listening on …`` lines."""
        loop = asyncio.get_running_loop()
        settings = self.settings
        notes: list[str] = []
        if hasattr(self.output, "open"):  # a bus: connect before the first agent arrives
            notes.append(await self.output.open())
        for address in settings.listen:
            host, port = parse_address(address, DEFAULT_PORT)
            server = await _bind(loop.create_server(lambda: TcpLink(self), host, port,
                                                    backlog=4096, reuse_address=True),
                                 "TCP", address)
            self.servers.append(server)
            notes.append(f"listening on tcp {host}:{server.sockets[0].getsockname()[1]}")
        for address in settings.udp:
            host, port = parse_address(address, DEFAULT_PORT)
            endpoint = UdpEndpoint(self)
            transport, _ = await _bind(loop.create_datagram_endpoint(
                lambda: endpoint, local_addr=(host, port)), "UDP", address)  # noqa: B023 (called at once)
            self.udp.append(endpoint)
            notes.append(f"listening on udp {host}:{transport.get_extra_info('sockname')[1]}")
        if settings.syslog:
            from hidsctl.transport.syslog import SyslogListener
            listener = SyslogListener(self.output, settings.allow, self.log)
            for address in settings.syslog:
                notes += await listener.start(address)
        if settings.enroll:
            from hidsctl.transport.enroll import EnrollServer
            notes += await EnrollServer(self.state, self.keys, settings.enroll_password,
                                        settings.enroll_replace, self.log).start(settings.enroll)
        if settings.control:
            from hidsctl.transport.control import start_control
            await start_control(settings.control, self.route, self.log)
            notes.append(f"reading ar records from {settings.control}")
        for note in notes:
            logger("receive").info(note)

    async def run(self) -> None:
        self.stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stopping.set)
        await self.start()
        sweeper = asyncio.create_task(self._sweeper())
        try:
            await self.stopping.wait()
        finally:
            sweeper.cancel()
            for server in self.servers:
                server.close()
            self.refusals.flush(force=True)
            if hasattr(self.output, "close"):
                await self.output.close()
            self.store.close()


def _output(settings: ReceiveSettings) -> Output:
    if settings.to:
        from hidsctl.bus.publish import BusOutput
        return BusOutput(settings.to, settings.partitions, settings.replicas)
    return Output()


async def _bind(coro: Awaitable[T], what: str, address: str) -> T:
    try:
        result = await coro
    except OSError as exc:
        raise ProtocolError(f"cannot listen on {what} {address}: {exc.strerror}") from None
    return result


def run(settings: ReceiveSettings, state: Path) -> None:
    receiver = Receiver(settings, state)
    asyncio.run(receiver.run())
