"""Framing: how the lines of a source become entries, one per format.

A framer is fed blocks of complete lines (each ending in a newline) and writes entries
through its Emitter. A framer that holds lines back (multi-line formats) reports how many
bytes it holds in ``pending_bytes``, so the saved offset never passes a line that has not
been written yet, and says by ``deadline`` when what it holds must go out anyway.
"""

from __future__ import annotations

import re
import time
from typing import Any, Callable

import orjson

from hidsctl.collect.emit import Emitter

# Formats, with the names OSSEC and Wazuh users write in <log_format>.
SYSLOG = "syslog"
JSON = "json"
MULTI_LINE = "multi-line"
MULTI_LINE_REGEX = "multi-line-regex"
APACHE = "apache"
NGINX = "nginx"
FORMATS = (SYSLOG, JSON, MULTI_LINE, MULTI_LINE_REGEX, APACHE, NGINX)


class Framer:
    pending_bytes = 0

    def __init__(self, emitter: Emitter):
        self.emitter = emitter

    def feed(self, block: bytes) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        """Write whatever is held back (idle timeout, end of a rotated file, --once)."""

    def deadline(self) -> float | None:
        """Monotonic time by which held-back lines must be flushed; None when none are."""
        return None


class LineFramer(Framer):
    """syslog: one line, one record (the batch path)."""

    def feed(self, block: bytes) -> None:
        self.emitter.lines(block)


class ParsedLineFramer(Framer):
    """One line, one record, with fields parsed from the line into ``data``."""

    def __init__(self, emitter: Emitter, parse: Callable[[bytes], dict[str, Any] | None]):
        super().__init__(emitter)
        self.parse = parse

    def feed(self, block: bytes) -> None:
        emitter = self.emitter
        limit = emitter.max_line
        for raw in block.split(b"\n")[:-1]:
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if not raw:
                continue
            data = self.parse(raw) if len(raw) <= limit else None
            emitter.entry(raw, data=data)


def parse_json(raw: bytes) -> dict[str, Any] | None:
    """A JSON log line's fields; None (a plain record) when it is not a JSON object."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


# Apache and nginx share the access log formats (common and combined).
ACCESS = re.compile(
    r'(?P<srcip>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" '
    r'(?P<status>\d{3}|-) (?P<bytes>\d+|-)'
    r'(?: "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<user_agent>(?:[^"\\]|\\.)*)")?')
APACHE_ERROR = re.compile(
    r'\[(?P<time>[^\]]+)\] \[(?:(?P<module>[^:\]]+):)?(?P<level>[^\]]+)\]'
    r'(?: \[pid (?P<pid>\d+)[^\]]*\])?(?: \[client (?P<client>[^\]]+)\])? (?P<message>.*)')
NGINX_ERROR = re.compile(
    r'(?P<time>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(?P<level>\w+)\] (?P<pid>\d+)#\d+: '
    r'(?:\*\d+ )?(?P<message>.*)')
NGINX_CLIENT = re.compile(r', client: ([^,]+)')
CLIENT_PORT = re.compile(r'^\[?([^\]]*?)\]?(?::\d+)?$')


def parse_web(raw: bytes) -> dict[str, Any] | None:
    """Fields of an apache or nginx access or error log line; None when it is neither."""
    text = raw.decode("utf-8", "replace")
    match = ACCESS.match(text)
    if match:
        return _access_fields(match)
    match = APACHE_ERROR.match(text)
    if match:
        fields = {"log_type": "error", "level": match["level"], "message": match["message"]}
        if match["module"]:
            fields["module"] = match["module"]
        if match["pid"]:
            fields["pid"] = match["pid"]
        if match["client"]:
            fields["srcip"] = _strip_port(match["client"])
        return fields
    match = NGINX_ERROR.match(text)
    if match:
        fields = {"log_type": "error", "level": match["level"], "pid": match["pid"],
                  "message": match["message"]}
        client = NGINX_CLIENT.search(match["message"])
        if client:
            fields["srcip"] = client.group(1)
        return fields
    return None


def _access_fields(match: re.Match[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {"log_type": "access", "srcip": match["srcip"]}
    if match["user"] != "-":
        fields["user"] = match["user"]
    parts = match["request"].split(" ")
    if len(parts) == 3:
        fields["method"], fields["url"], fields["protocol"] = parts
    else:
        fields["request"] = match["request"]
    fields["status"] = match["status"]
    if match["bytes"] != "-":
        fields["bytes"] = match["bytes"]
    if match["referer"] not in (None, "-"):
        fields["referer"] = match["referer"]
    if match["user_agent"] not in (None, "-"):
        fields["user_agent"] = match["user_agent"]
    return fields


def _strip_port(client: str) -> str:
    match = CLIENT_PORT.match(client)
    return match.group(1) if match else client


class HeldLines(Framer):
    """Shared part of the multi-line framers: the lines held for the entry being built."""

    def __init__(self, emitter: Emitter, timeout: float):
        super().__init__(emitter)
        self.timeout = timeout
        self.held: list[bytes] = []
        self.held_size = 0
        self.pending_bytes = 0
        self.last_fed = 0.0

    def hold(self, raw: bytes, consumed: int) -> None:
        self.held.append(raw)
        self.held_size += len(raw) + 1
        self.pending_bytes += consumed

    def flush(self) -> None:
        if self.held:
            self.emitter.entry(b"\n".join(self.held))
            self.held = []
            self.held_size = 0
        self.pending_bytes = 0

    def deadline(self) -> float | None:
        return self.last_fed + self.timeout if self.held else None

    def lines_of(self, block: bytes):
        """(line, bytes it took in the file) for each non-empty line of the block."""
        self.last_fed = time.monotonic()
        for raw in block.split(b"\n")[:-1]:
            consumed = len(raw) + 1
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if not raw:
                if self.held:
                    self.pending_bytes += consumed
                continue
            yield raw, consumed


class CountFramer(HeldLines):
    """multi-line: a fixed number of lines per entry (OSSEC's ``multi-line:N``)."""

    def __init__(self, emitter: Emitter, lines: int, timeout: float):
        super().__init__(emitter, timeout)
        self.count = lines

    def feed(self, block: bytes) -> None:
        for raw, consumed in self.lines_of(block):
            self.hold(raw, consumed)
            if len(self.held) >= self.count:
                self.flush()


class RegexFramer(HeldLines):
    """multi-line-regex: a line matching the pattern starts an entry; the lines after it
    belong to it (stack traces). An entry goes out when the next one starts, when the
    source has been idle for the timeout, or when it grows past the line limit."""

    def __init__(self, emitter: Emitter, start: re.Pattern[str], timeout: float):
        super().__init__(emitter, timeout)
        self.start = start

    def feed(self, block: bytes) -> None:
        search = self.start.search
        limit = self.emitter.max_line
        for raw, consumed in self.lines_of(block):
            if self.held and search(raw.decode("utf-8", "replace")):
                self.flush()
            self.hold(raw, consumed)
            if self.held_size > limit:
                self.flush()


def make_framer(emitter: Emitter, fmt: str, *, lines: int = 1, regex: re.Pattern[str] | None = None,
                timeout: float = 1.0) -> Framer:
    if fmt == SYSLOG:
        return LineFramer(emitter)
    if fmt == JSON:
        return ParsedLineFramer(emitter, parse_json)
    if fmt in (APACHE, NGINX):
        return ParsedLineFramer(emitter, parse_web)
    if fmt == MULTI_LINE:
        return CountFramer(emitter, lines, timeout)
    if fmt == MULTI_LINE_REGEX:
        assert regex is not None
        return RegexFramer(emitter, regex, timeout)
    raise ValueError(f"unknown format {fmt!r}")
