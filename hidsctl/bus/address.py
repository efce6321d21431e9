"""Bus addresses: ``nats://HOST:PORT[,HOST:PORT...]/STREAM``.

Several servers of one NATS cluster may be listed; the client connects to any of them and
fails over to the others. The path names the JetStream stream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hidsctl.errors import UsageError

DEFAULT_PORT = 4222
# JetStream stream names may not hold whitespace, '.', '*', '>' or path separators; they
# also become subject prefixes and KV bucket names here, so keep to a safe alphabet.
STREAM_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::(\d{1,5}))?")


@dataclass(frozen=True)
class BusAddress:
    servers: tuple[str, ...]  # nats://host:port, as nats-py takes them
    stream: str

    def __str__(self) -> str:
        hosts = ",".join(s.removeprefix("nats://") for s in self.servers)
        return f"nats://{hosts}/{self.stream}"


def parse(text: str, option: str = "--to") -> BusAddress:
    """The servers and stream of ``text``; a UsageError saying what is wrong otherwise."""
    def bad(why: str) -> UsageError:
        return UsageError(f"{option} {text!r}: {why} (expected nats://HOST:PORT[,HOST:PORT]/STREAM)")

    if not text.startswith("nats://"):
        raise bad("not a nats:// address")
    rest = text[len("nats://"):]
    hosts, slash, stream = rest.partition("/")
    if not slash or not stream:
        raise bad("no stream name")
    if not STREAM_NAME.fullmatch(stream):
        raise bad(f"stream name {stream!r} may hold only letters, digits, '_' and '-'")
    servers = []
    for item in hosts.split(","):
        match = _HOST_PORT.fullmatch(item)
        if not match:
            raise bad(f"{item!r} is not HOST:PORT")
        port = int(match.group(2) or DEFAULT_PORT)
        if not 0 < port < 65536:
            raise bad(f"port {port} is out of range")
        servers.append(f"nats://{match.group(1)}:{port}")
    return BusAddress(tuple(servers), stream)
