"""Plain syslog from devices for ``receive --syslog`` (OSSEC's remoted in syslog mode).

UDP datagrams and TCP streams, RFC 3164 and RFC 5424 messages, TCP framed by octet
counting (RFC 6587: ``LEN SP MSG``) or by newlines, accepted only from the allow-list.
Each message becomes a ``log`` record of the server (agent 000) whose ``location`` is the
device's address and whose ``origin`` is ``{"kind": "syslog", "ip": ADDRESS}``; a device
yields nothing but ``log`` records. An RFC 5424 message is rewritten into the classic
syslog line that OSSEC's pre-decoder reads, its structured parts kept under ``data``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time
from typing import Any

from hidsctl import origin, records
from hidsctl.errors import ConfigError, ProtocolError, UsageError
from hidsctl.transport.addresses import normal_ip as _ip
from hidsctl.transport.output import BoundedLog, Output

DEFAULT_PORT = 514
MAX_MESSAGE = 64 << 10
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_PRI = re.compile(rb"^<(\d{1,3})>")
_RFC5424 = re.compile(
    r"^1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) "
    r"(?P<sd>-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: (?P<msg>.*))?$", re.S)


def parse_message(raw: bytes) -> tuple[str, dict[str, Any]]:
    """(the log line, structured fields) of one syslog message."""
    data: dict[str, Any] = {}
    match = _PRI.match(raw)
    if match:
        pri = int(match.group(1))
        if pri <= 191:
            data["facility"], data["severity"] = divmod(pri, 8)
        raw = raw[match.end():]
    text = raw.decode("utf-8", "replace").rstrip("\r\n\0")
    if text.startswith("\ufeff"):
        text = text[1:]
    modern = _RFC5424.match(text)
    if not modern:
        return text, data
    fields = modern.groupdict()
    msg = (fields["msg"] or "").removeprefix("\ufeff")
    data.update(syslog_format="rfc5424", hostname=_nil(fields["host"]),
                app_name=_nil(fields["app"]), procid=_nil(fields["procid"]),
                msgid=_nil(fields["msgid"]))
    if fields["sd"] != "-":
        data["structured_data"] = fields["sd"]
    data = {k: v for k, v in data.items() if v is not None}
    stamp = _classic_time(fields["ts"])
    program = data.get("app_name", "-")
    if "procid" in data:
        program += f"[{data['procid']}]"
    host = data.get("hostname", "-")
    return f"{stamp} {host} {program}: {msg}", data


def _nil(value: str) -> str | None:
    return None if value == "-" else value


def _classic_time(stamp: str) -> str:
    """RFC 5424's timestamp as RFC 3164's ``Mmm dd hh:mm:ss`` (UTC)."""
    try:
        epoch = records.parse_timestamp(stamp.replace("Z", "+00:00"))
    except ValueError:
        epoch = time.time()
    parts = time.gmtime(epoch)
    return f"{MONTHS[parts.tm_mon - 1]} {parts.tm_mday:2d} {time.strftime('%H:%M:%S', parts)}"


class OctetStream:
    """Cuts a TCP syslog stream into messages: octet-counted when a frame starts with a
    digit, newline-delimited otherwise (RFC 6587)."""

    def __init__(self, limit: int = MAX_MESSAGE):
        self.buffer = bytearray()
        self.limit = limit

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        out: list[bytes] = []
        while self.buffer:
            if self.buffer[:1].isdigit():
                space = self.buffer.find(b" ", 0, 8)
                if space < 0:
                    if len(self.buffer) >= 8 or not self.buffer.isdigit():
                        raise ProtocolError("bad octet count")
                    break
                digits = bytes(self.buffer[:space])
                if not digits.isdigit():
                    raise ProtocolError("bad octet count")
                length = int(digits)
                if length > self.limit:
                    raise ProtocolError(f"message of {length} bytes exceeds {self.limit}")
                if len(self.buffer) < space + 1 + length:
                    break
                out.append(bytes(self.buffer[space + 1:space + 1 + length]))
                del self.buffer[:space + 1 + length]
            else:
                end = self.buffer.find(b"\n")
                if end < 0:
                    if len(self.buffer) > self.limit:
                        raise ProtocolError(f"line longer than {self.limit} bytes")
                    break
                line = bytes(self.buffer[:end])
                del self.buffer[:end + 1]
                if line.strip(b"\r\0 "):
                    out.append(line)
        return out


class SyslogListener:
    def __init__(self, output: Output, allow: list[str], log: BoundedLog):
        if not allow:
            raise UsageError("--syslog needs at least one --allow ADDRESS|CIDR")
        try:
            self.allowed = [ipaddress.ip_network(a, strict=False) for a in allow]
        except ValueError as exc:
            raise ConfigError(f"--allow: {exc}") from None
        self.output = output
        self.log = log
        self.agent = records.local_agent()

    def permitted(self, address: str) -> bool:
        try:
            peer = ipaddress.ip_address(address)
        except ValueError:
            return False
        if peer.version == 6 and peer.ipv4_mapped:
            peer = peer.ipv4_mapped
        if any(peer in net for net in self.allowed):
            return True
        self.log.report("syslog_denied", address, "syslog from an address not allowed")
        return False

    def emit(self, messages: list[bytes], address: str) -> None:
        lines = []
        source = origin.of_syslog(address)
        for raw in messages:
            text, data = parse_message(raw)
            record = records.make("log", agent=self.agent, location=address, log=text)
            if data:
                record["data"] = data
            record["origin"] = source
            lines.append(records.dumps(record))
        self.output.lines(lines)

    async def start(self, address: str) -> list[str]:
        from hidsctl.transport.addresses import parse_address

        host, port = parse_address(address, DEFAULT_PORT)
        loop = asyncio.get_running_loop()
        listener = self
        try:
            server = await loop.create_server(lambda: _SyslogTcp(listener), host, port,
                                              reuse_address=True)
            port = server.sockets[0].getsockname()[1]  # the TCP port also serves UDP
            await loop.create_datagram_endpoint(lambda: _SyslogUdp(listener),
                                                local_addr=(host, port))
        except OSError as exc:
            raise ProtocolError(f"cannot listen for syslog on {address}: {exc.strerror}") \
                from None
        return [f"listening on syslog tcp+udp {host}:{port}"]


class _SyslogUdp(asyncio.DatagramProtocol):
    def __init__(self, listener: SyslogListener):
        self.listener = listener

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        address = _ip(addr[0])
        if data.strip() and self.listener.permitted(address):
            self.listener.emit([data[:MAX_MESSAGE]], address)


class _SyslogTcp(asyncio.Protocol):
    def __init__(self, listener: SyslogListener):
        self.listener = listener
        self.stream = OctetStream()
        self.address = "?"
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.address = _ip(transport.get_extra_info("peername")[0])
        if not self.listener.permitted(self.address):
            transport.close()

    def data_received(self, data: bytes) -> None:
        try:
            messages = self.stream.feed(data)
        except ProtocolError as exc:
            self.listener.log.report("syslog_rejected", self.address, str(exc))
            assert self.transport is not None
            self.transport.close()
            return
        if messages:
            self.listener.emit(messages, self.address)

    def eof_received(self) -> bool | None:
        rest = bytes(self.stream.buffer).strip(b"\r\n\0 ")
        if rest:
            self.listener.emit([rest], self.address)
        return None
