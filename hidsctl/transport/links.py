"""The server's side of each peer: a TCP connection or a UDP session going through the
handshake, then opening the agent's messages and handing them to the link's owner (a
``LinkOwner``: server.py's Receiver)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

from hidsctl.transport import protocol
from hidsctl.transport.addresses import normal_ip as _ip
from hidsctl.transport.keys import AgentKey
from hidsctl.transport.protocol import Rejected, Session


class TokenBucket:
    def __init__(self, rate: float):
        self.rate = rate
        self.tokens = rate
        self.stamp = time.monotonic()

    def take(self, count: int) -> float:
        """Spend ``count``; returns how long to wait before taking more (0: no wait)."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate) - count
        self.stamp = now
        return -self.tokens / self.rate if self.tokens < 0 else 0.0

    def blocked(self) -> bool:
        """Whether the bucket is still in debt (without spending anything)."""
        return self.rate > 0 and self.take(0) > 0


class HelloLimiter:
    """Hellos per source address: at most ``rate`` a second, in bursts of up to ``burst``
    (agents behind one NAT reconnect together after a server restart). Asked before any
    parsing or crypto, so a flood costs a dict lookup per hello; what it refused is counted
    per source for one aggregated notice per interval."""

    MAX_SOURCES = 65536  # spoofed UDP sources cannot grow the table past this

    def __init__(self, rate: float, burst: float):
        self.rate = rate
        self.burst = max(burst, 1.0)
        self.sources: dict[str, tuple[float, float]] = {}  # peer -> (tokens, when)
        self.refused: dict[str, int] = {}

    def admit(self, peer: str) -> bool:
        if self.rate <= 0:
            return True
        now = time.monotonic()
        tokens = min(self.burst, self._level(self.sources.get(peer, (self.burst, now)), now))
        if tokens < 1.0:
            self.refused[peer] = self.refused.get(peer, 0) + 1
            self.sources[peer] = (tokens, now)
            return False
        if peer not in self.sources and len(self.sources) >= self.MAX_SOURCES:
            self.forget_idle(now)
        self.sources[peer] = (tokens - 1.0, now)
        return True

    def spent(self, peer: str) -> bool:
        """Whether ``peer`` has no hello left right now (nothing is spent asking); counted
        as a refused hello, since a connection is only ever opened to send one."""
        entry = self.sources.get(peer)
        if entry is None or self.rate <= 0:
            return False
        if self._level(entry, time.monotonic()) >= 1.0:
            return False
        self.refused[peer] = self.refused.get(peer, 0) + 1
        return True

    def forget_idle(self, now: float) -> None:
        """Drop sources whose bucket has refilled: they are as good as new."""
        self.sources = {peer: entry for peer, entry in self.sources.items()
                        if self._level(entry, now) < self.burst}
        if len(self.sources) >= self.MAX_SOURCES:
            self.sources.clear()  # all busy: start over rather than grow without bound

    def _level(self, entry: tuple[float, float], now: float) -> float:
        """A source's tokens at ``now``: what it had then, refilled at ``rate`` since."""
        tokens, then = entry
        return tokens + (now - then) * self.rate

    def take_refused(self) -> dict[str, int]:
        """Hellos refused per source since the last call."""
        refused, self.refused = self.refused, {}
        return refused


class LinkLimits(Protocol):
    @property
    def rate_limit(self) -> float: ...  # records a second from one agent; 0: no limit

    @property
    def max_frame(self) -> int: ...  # bytes in one TCP frame


class LinkOwner(Protocol):
    """All a link asks of the server it belongs to; everything else of the server is
    hidden from links."""

    @property
    def settings(self) -> LinkLimits: ...

    @property
    def hellos(self) -> HelloLimiter: ...

    def agent_key(self, ident: str, peer: str) -> AgentKey | None:
        """The key of agent ``ident``; raises Rejected when it may not connect from ``peer``."""

    def opened(self, link: TcpLink) -> None:
        """A TCP connection came in (not yet authenticated)."""

    def attach(self, link: Link) -> None:
        """The peer proved its key: the link is now that agent's session."""

    def closed(self, link: Link) -> None:
        """The link is gone."""

    def deliver(self, link: Link, payload: bytes) -> float:
        """A batch of records; returns how long to pause to stay under the rate limit."""

    def keepalive(self, link: Link, payload: bytes) -> None: ...

    def rejected(self, link: Link, exc: Rejected) -> None:
        """The peer broke the protocol (the caller drops it)."""


class Link:
    """One authenticated (or authenticating) peer: a TCP connection or a UDP session."""

    protocol_name = "tcp"
    publishing = None  # with receive --to: the bus's future for the last batch (bus/publish.py)

    def __init__(self, owner: LinkOwner, peer: str):
        self.owner = owner
        self.peer = peer
        self.session: Session | None = None
        self.key: AgentKey | None = None
        self.opened = self.last_rx = time.monotonic()
        self.attached = False
        self.bucket = TokenBucket(owner.settings.rate_limit)

    def send_body(self, body: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def identity(self) -> dict[str, str]:
        assert self.key is not None
        return self.key.identity(self.peer)

    def handle(self, body: bytes) -> None:
        """One body from the peer; raises Rejected when the peer broke the protocol."""
        if protocol.parse_header(body).kind == protocol.HELLO:
            self.hello(body)
            return
        kind, payload = self.open(body)
        if kind == protocol.DATA:
            self.data(payload)
        elif kind == protocol.KEEPALIVE:
            self.owner.keepalive(self, payload)
        else:
            raise Rejected("bad_frame", f"agents do not send {protocol.KIND_NAMES[kind]}")

    def handshake(self, body: bytes) -> tuple[Session, AgentKey]:
        key: AgentKey | None = None

        def lookup(ident: str) -> bytes | None:
            nonlocal key
            key = self.owner.agent_key(ident, self.peer)
            return key.derived() if key is not None else None

        _agent, welcome, session = protocol.server_handshake(
            body, lookup, strict=self.protocol_name == "tcp")
        assert key is not None  # the handshake raises Rejected for an unknown agent
        self.send_body(welcome)
        return session, key

    def hello(self, body: bytes) -> None:
        if self.session is not None:
            raise Rejected("bad_handshake", "second hello on one connection")
        if not self.owner.hellos.admit(self.peer):
            self.close()  # over the handshake rate: no answer, no crypto, counted
            return
        self.session, self.key = self.handshake(body)

    def open(self, body: bytes) -> tuple[int, bytes]:
        if self.session is None:
            raise Rejected("bad_handshake", "expected a hello")
        opened = self.session.open(body)
        if not self.attached:
            # Only now has the peer proven the key: a hello alone never displaces the
            # agent's live session or counts as a connection.
            self.attached = True
            self.owner.attach(self)
        return opened

    def data(self, payload: bytes) -> None:
        assert self.session is not None
        wait = self.owner.deliver(self, payload)
        counter = self.session.recv.counter - 1
        if self.publishing is None:
            self.send_ack(counter)
        else:  # acknowledged once the bus has stored it; never if it could not
            self.publishing.add_done_callback(lambda done: self.published(done, counter))
        if wait:
            self.throttle(wait)

    def send_ack(self, counter: int) -> None:
        if self.session is not None:
            self.send_body(self.session.seal(protocol.ACK, protocol.encode_ack(counter)))

    def published(self, done: asyncio.Future[None], counter: int) -> None:
        if done.cancelled() or done.exception() is not None:
            # No ack: the agent sends the batch again, on a new connection.
            if not done.cancelled():
                self.owner.rejected(self, Rejected(
                    "not_stored", f"records not stored on the bus: {done.exception()!r}"))
            self.close()
            return
        self.send_ack(counter)

    def throttle(self, seconds: float) -> None:
        """Over the rate limit: stop reading for a while (TCP); UDP relies on the agent."""


class TcpLink(Link, asyncio.Protocol):
    def __init__(self, owner: LinkOwner):
        Link.__init__(self, owner, "?")
        self.transport: asyncio.Transport | None = None
        self.reader = protocol.FrameReader(owner.settings.max_frame)
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = _ip(peer[0]) if peer else "?"
        if self.owner.hellos.spent(self.peer):
            self.closed = True  # a flooding source: reset before reading a byte
            transport.abort()  # type: ignore[attr-defined]
            return
        self.owner.opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.owner.closed(self)

    def data_received(self, data: bytes) -> None:
        self.last_rx = time.monotonic()
        try:
            for body in self.reader.feed(data):
                if self.closed:
                    return
                self.handle(body)
        except Rejected as exc:
            self.owner.rejected(self, exc)
            if exc.code in ("unknown_agent", "not_allowed"):
                self.send_body(protocol.reject(self.key.id if self.key else "0", exc.code))
            self.close()

    def send_body(self, body: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(protocol.frame(body))

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()

    def throttle(self, seconds: float) -> None:
        if self.transport is None or self.closed:
            return
        self.transport.pause_reading()
        asyncio.get_running_loop().call_later(seconds, self._resume)

    def _resume(self) -> None:
        if not self.closed and self.transport is not None:
            self.transport.resume_reading()


class UdpLink(Link):
    """A UDP peer. A hello starts a pending session that replaces the current one only
    once the agent proves it with a sealed datagram, so a replayed hello breaks nothing."""

    protocol_name = "udp"

    def __init__(self, owner: LinkOwner, endpoint: UdpEndpoint, addr: tuple[Any, ...]):
        super().__init__(owner, _ip(addr[0]))
        self.endpoint = endpoint
        self.addr = addr
        self.pending: tuple[Session, AgentKey] | None = None
        self.slot: tuple[Any, str] | None = None  # its key in the endpoint's table

    def hello(self, body: bytes) -> None:
        if self.session is not None or self.pending is not None:
            if not self.owner.hellos.admit(self.peer):
                return  # a known peer's hellos count too (a new link was counted on creation)
        self.pending = self.handshake(body)

    def open(self, body: bytes) -> tuple[int, bytes]:
        if self.session is not None:
            try:
                return self.session.open(body)
            except Rejected:
                if self.pending is None:
                    raise
        if self.pending is None:
            raise Rejected("bad_handshake", "expected a hello")
        session, key = self.pending
        opened = session.open(body)
        self.session, self.key, self.pending = session, key, None
        self.attached = True
        self.owner.attach(self)
        return opened

    def data(self, payload: bytes) -> None:
        if self.bucket.blocked():
            return  # over the rate limit: no ack, so the agent sends it again later
        super().data(payload)

    def send_body(self, body: bytes) -> None:
        if self.endpoint.transport is not None:
            self.endpoint.transport.sendto(body, self.addr)

    def close(self) -> None:
        if self.slot is not None and self.endpoint.links.get(self.slot) is self:
            del self.endpoint.links[self.slot]
        self.owner.closed(self)


class UdpEndpoint(asyncio.DatagramProtocol):
    MAX_LINKS = 20000

    def __init__(self, owner: LinkOwner):
        self.owner = owner
        self.transport: asyncio.DatagramTransport | None = None
        self.links: dict[tuple[Any, str], UdpLink] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        link: UdpLink | None = None
        try:
            head = protocol.parse_header(data)
            key = (addr, head.agent)
            link = self.links.get(key)
            if link is None:
                if head.kind != protocol.HELLO:
                    raise Rejected("no_session", "datagram outside any session")
                if not self.owner.hellos.admit(_ip(addr[0])):
                    return  # over the handshake rate: dropped before a session exists
                if len(self.links) >= self.MAX_LINKS:
                    self._evict()
                link = self.links[key] = UdpLink(self.owner, self, addr)
                link.slot = key
            link.last_rx = time.monotonic()
            link.handle(data)
        except Rejected as exc:
            self.owner.rejected(link or UdpLink(self.owner, self, addr), exc)
            if link is not None and link.session is None and link.pending is None:
                link.close()

    def _evict(self) -> None:
        oldest = min(self.links.values(), key=lambda link: link.last_rx)
        oldest.close()
