"""Forwarding alerts to syslog servers (OSSEC's csyslogd) over UDP, TCP or TLS.

Each matching alert is formatted once and appended to a bounded durable queue per
destination; the queue is drained whenever the input runs dry and on every tick. A TCP or
TLS server that is down delays delivery; at the bound the oldest messages are dropped and a
``notice`` record (code ``dropped``) says how many. UDP cannot tell that a server is down, so
its messages leave the queue as soon as they are sent.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import urlsplit

from hidsctl.diagnostics import logger
from hidsctl.errors import UsageError
from hidsctl.outputs.clock import Clock, system_clock
from hidsctl.outputs.filters import AlertFilter
from hidsctl.outputs.formats import FACILITIES, FORMATS, FORMATTERS
from hidsctl.outputs.outbox import Outbox
from hidsctl.records import Record, make

SCHEMES = {"udp": 514, "tcp": 514, "tls": 6514}
FRAMINGS = ("lf", "octet")
MAX_UDP = 65000  # bytes of one datagram; longer messages are cut
# Messages gathered before a queue append (one fdatasync) and sent per commit (one fsync):
# under a steady stream the fsyncs, not the formatting, set the pace.
BATCH = 5000
BATCH_BYTES = 2 << 20


@dataclass
class ForwardSettings:
    to: list[str] = field(default_factory=list)
    format: str = "rfc5424"
    level: int = 0
    rule_id: list[str] = field(default_factory=list)
    group: list[str] = field(default_factory=list)
    facility: str = "local0"
    hostname: Optional[str] = None
    framing: str = "lf"
    ca_file: Optional[Path] = None
    cert_file: Optional[Path] = None
    key_file: Optional[Path] = None
    queue_size: int = 64 << 20
    linger: float = 10.0
    timeout: float = 10.0

    def check(self) -> None:
        if not self.to:
            raise UsageError("forward needs at least one --to udp://|tcp://|tls://HOST:PORT")
        for target in self.to:
            Destination.parse(target)
        if self.format not in FORMATS:
            raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {self.format!r}")
        if self.facility not in FACILITIES:
            raise UsageError(f"unknown --facility {self.facility!r}")
        if self.framing not in FRAMINGS:
            raise UsageError(f"--framing must be lf or octet, not {self.framing!r}")
        if self.queue_size < 16384:
            raise UsageError("--queue-size must be at least 16384 bytes")


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> "Destination":
        parts = urlsplit(text)
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise UsageError(f"--to {text!r}: expected udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT")
        try:
            port = parts.port or SCHEMES[parts.scheme]
        except ValueError:
            raise UsageError(f"--to {text!r}: bad port") from None
        return cls(parts.scheme, parts.hostname, port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def queue_name(self) -> str:
        safe = re.sub(r"[^A-Za-z0-9.-]", "_", f"{self.scheme}-{self.host}-{self.port}")
        return f"{safe}-{hashlib.sha256(str(self).encode()).hexdigest()[:8]}"


class SendFailure(Exception):
    """The server could not be reached; the messages stay queued."""


class SyslogSender:
    """One destination's socket: connected lazily, reconnected after a failure."""

    def __init__(self, destination: Destination, settings: ForwardSettings):
        self.destination = destination
        self.framing = settings.framing
        self.timeout = settings.timeout
        self.sock: socket.socket | None = None
        self.context: ssl.SSLContext | None = None
        if destination.scheme == "tls":
            self.context = ssl.create_default_context(
                cafile=str(settings.ca_file) if settings.ca_file else None)
            if settings.cert_file:
                self.context.load_cert_chain(settings.cert_file, settings.key_file)

    def send(self, messages: list[bytes]) -> None:
        if self.destination.scheme == "udp":
            self._send_udp(messages)
            return
        data = b"".join(self._frame(m) for m in messages)
        try:
            sock = self._connected()
            sock.sendall(data)
        except (OSError, ssl.SSLError) as exc:
            self.close()
            raise SendFailure(f"{self.destination}: {exc.strerror or exc}") from None

    def _frame(self, message: bytes) -> bytes:
        if self.framing == "octet":  # RFC 6587 octet counting
            return str(len(message)).encode() + b" " + message
        return message + b"\n"

    def _send_udp(self, messages: list[bytes]) -> None:
        try:
            if self.sock is None:
                family = socket.AF_INET6 if ":" in self.destination.host else socket.AF_INET
                self.sock = socket.socket(family, socket.SOCK_DGRAM)
            for message in messages:
                self.sock.sendto(message[:MAX_UDP], (self.destination.host, self.destination.port))
        except OSError as exc:
            self.close()
            raise SendFailure(f"{self.destination}: {exc.strerror or exc}") from None

    def _connected(self) -> socket.socket:
        if self.sock is not None and self._peer_closed(self.sock):
            self.close()
        if self.sock is None:
            sock = socket.create_connection((self.destination.host, self.destination.port),
                                            timeout=self.timeout)
            if self.context is not None:
                try:
                    sock = self.context.wrap_socket(sock, server_hostname=self.destination.host)
                except (OSError, ssl.SSLError):
                    sock.close()
                    raise
            self.sock = sock
        return self.sock

    def _peer_closed(self, sock: socket.socket) -> bool:
        """True when the server has closed the connection since the last send."""
        try:
            sock.setblocking(False)
            try:
                return sock.recv(1) == b""
            finally:
                sock.settimeout(self.timeout)
        except (BlockingIOError, ssl.SSLWantReadError):
            return False
        except (OSError, ssl.SSLError):
            return True

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None


class Route:
    """One destination: its queue and its sender."""

    def __init__(self, destination: Destination, settings: ForwardSettings, state: Path,
                 now: Clock):
        self.destination = destination
        self.sender = SyslogSender(destination, settings)
        self.outbox = Outbox(state / destination.queue_name(), component="forward",
                             what=str(destination), now=now, max_bytes=settings.queue_size)
        self.buffer: list[bytes] = []
        self.buffered_bytes = 0

    def store(self) -> None:
        if self.buffer:
            self.outbox.put_many(self.buffer)
            self.buffer = []
            self.buffered_bytes = 0

    def deliver(self) -> None:
        self.store()
        while self.outbox.has_pending() and self.outbox.ready():
            items = self.outbox.pending(BATCH)
            if not items:
                return
            try:
                self.sender.send([item.data for item in items])
            except SendFailure as exc:
                self.outbox.failed(exc)
                return
            self.outbox.succeeded()
            self.outbox.done(items[-1].next_offset)


class Forwarder:
    def __init__(self, settings: ForwardSettings, state: str | os.PathLike, *,
                 now: Clock = system_clock, emit: Callable[[Record], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        settings.check()
        self.settings = settings
        self.now = now
        self.sleep = sleep
        self.emit = emit or (lambda record: None)
        self.filter = AlertFilter.build(settings.level, settings.rule_id, settings.group)
        self.formatter = FORMATTERS[settings.format]
        self.facility = FACILITIES[settings.facility]
        self.hostname = settings.hostname or socket.gethostname()
        state_path = Path(state)
        self.routes = [Route(Destination.parse(t), settings, state_path, now) for t in settings.to]
        self.forwarded = 0

    def handle(self, record: Record) -> None:
        if record.get("type") != "alert" or not self.filter.matches(record):
            return
        message = self.formatter(record, self.facility, self.hostname).replace(b"\n", b"\\n")
        self.forwarded += 1
        for route in self.routes:
            route.buffer.append(message)
            route.buffered_bytes += len(message)
            if len(route.buffer) >= BATCH or route.buffered_bytes >= BATCH_BYTES:
                route.deliver()
                self._report_drops(route)

    def flush(self) -> None:
        for route in self.routes:
            route.deliver()
            self._report_drops(route)

    tick = flush

    def sync(self) -> None:
        """Everything handled so far queued on disk (before a checkpoint passes through)."""
        for route in self.routes:
            route.store()

    def marks(self) -> list[int]:
        """Where each destination's queue ends now (after ``sync``)."""
        return [route.outbox.queue.end_offset() for route in self.routes]

    def delivered(self, marks: list[int]) -> bool:
        """Whether every destination's queue was sent (or dropped at its bound) up to ``marks``."""
        return all(route.outbox.offset >= mark for route, mark in zip(self.routes, marks))

    def finish(self) -> None:
        """End of input: deliver, retrying a server that is down for up to ``linger`` seconds."""
        deadline = time.monotonic() + self.settings.linger
        self.flush()
        while time.monotonic() < deadline:
            waiting = [r for r in self.routes if r.outbox.has_pending()]
            if not waiting:
                break
            wake = min(r.outbox.next_attempt for r in waiting)
            self.sleep(max(0.05, min(wake - self.now(), deadline - time.monotonic())))
            self.flush()
        for route in self.routes:
            if route.outbox.has_pending():
                logger("forward").warning(f"{route.destination}: messages remain queued in "
                                          f"{route.outbox.queue.dir}; the next run sends them")

    def _report_drops(self, route: Route) -> None:
        dropped = route.outbox.new_drops()
        if dropped:
            self.emit(make("notice", component="forward", code="dropped", count=dropped,
                           location=str(route.destination),
                           message=f"forward queue for {route.destination} reached its bound "
                                   f"of {self.settings.queue_size} bytes: dropped the {dropped} "
                                   "oldest messages"))

    def close(self) -> None:
        for route in self.routes:
            route.sender.close()
            route.outbox.close()
