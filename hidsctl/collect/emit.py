"""Turns log entries into ``log`` records on a RecordWriter.

Collecting is the hottest path in hidsctl (every line of every log passes here), so plain
one-line entries take a batch path: a whole block of lines is encoded by one orjson call
and joined under a precomputed record prefix, with no Python work per line.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from hidsctl import records


class Clock:
    """Record timestamps, with the date part formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        epoch = time.time()
        second = int(epoch)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((epoch - second) * 1000):03d}Z"


CLOCK = Clock()


class Emitter:
    """Writes the records of one source (one ``location``)."""

    def __init__(self, writer: records.RecordWriter, location: str, fmt: str | None = None,
                 max_line: int = 65536):
        self.writer = writer
        self.location = location
        self.format = fmt  # None for plain syslog, which carries no format field
        self.max_line = max_line
        self.agent = records.local_agent()
        self.count = 0
        agent_json = orjson.dumps(self.agent)
        location_json = orjson.dumps(location)
        # {"type":"log","timestamp":"<ts>","agent":{..},"location":"..","log":"<line>"}
        self._head = b'{"type":"log","timestamp":"'
        self._tail = b'","agent":' + agent_json + b',"location":' + location_json + b',"log":"'

    # -- the batch path ---------------------------------------------------------------------

    def lines(self, block: bytes) -> None:
        """A block of complete lines, each ending in a newline, one record per line.

        Empty lines are skipped, a trailing carriage return is dropped, lines over the
        limit are cut and flagged, invalid UTF-8 is replaced."""
        if self.format is not None or b"\r" in block or self.has_long_line(block):
            for line in block.split(b"\n")[:-1]:
                self.line(line)
            return
        prefix = self._head + CLOCK.now().encode() + self._tail
        if plain_json(block):
            # Lines that JSON takes as they are: no encoding at all.
            out = prefix + block[:-1].replace(b"\n", b'"}\n' + prefix) + b'"}\n'
        elif b"\\" in block:
            out = self.encode_each(block.decode("utf-8", "replace"), prefix)
        else:
            text = block.decode("utf-8", "replace")
            # Without backslashes in the text, an escaped newline in the encoded block
            # can only be a line end: one encode and one replace for the whole block.
            encoded = orjson.dumps(text)  # b'"line\\nline\\n"'
            out = prefix + encoded[1:-3].replace(b"\\n", b'"}\n' + prefix) + b'"}\n'
        count = block.count(b"\n")
        empty = prefix + b'"}\n'
        if empty in out:
            count -= out.count(empty)
            out = out.replace(empty, b"")
        write_block(self.writer, out, count)
        self.count += count

    @staticmethod
    def encode_each(text: str, prefix: bytes) -> bytes:
        texts = text.split("\n")
        texts.pop()
        # Inside a JSON string every quote is escaped, so '","' only separates elements.
        bodies = orjson.dumps(texts)[2:-2].split(b'","')
        return prefix + (b'"}\n' + prefix).join(bodies) + b'"}\n'

    def has_long_line(self, block: bytes) -> bool:
        """Is any line longer than the limit? A line that long spans a multiple of the
        limit, so probing the lines at those offsets is enough."""
        limit = self.max_line
        if len(block) > 64 * limit:  # a small limit: many probes; measure every line instead
            return max(map(len, block.split(b"\n"))) > limit
        for probe in range(0, len(block), limit):
            start = block.rfind(b"\n", 0, probe) + 1
            end = block.find(b"\n", probe)
            if end - start > limit:
                return True
        return False

    # -- one entry at a time ------------------------------------------------------------------

    def line(self, raw: bytes) -> None:
        """One line (no newline) as one record."""
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw:
            return
        self.entry(raw)

    def entry(self, raw: bytes | str, *, data: dict[str, Any] | None = None,
              timestamp: str | None = None, fmt: str | None = None) -> None:
        """One entry (possibly several lines) as one record, cut at the limit."""
        truncated = False
        if isinstance(raw, bytes):
            if len(raw) > self.max_line:
                raw, truncated = cut(raw, self.max_line), True
            text = raw.decode("utf-8", "replace")
        else:
            text = raw
            if len(text) > self.max_line and len(text.encode("utf-8", "replace")) > self.max_line:
                text = cut(text.encode("utf-8", "replace"), self.max_line).decode("utf-8", "replace")
                truncated = True
        record: dict[str, Any] = {
            "type": "log",
            "timestamp": timestamp or CLOCK.now(),
            "agent": self.agent,
            "location": self.location,
            "log": text,
        }
        if data is not None:
            record["data"] = data
        if truncated:
            record["truncated"] = True
        fmt = fmt or self.format
        if fmt is not None:
            record["format"] = fmt
        self.writer.write(record)
        self.count += 1


# Bytes a JSON string cannot hold as they are (the newline ends a line, so it stays).
UNSAFE = bytes(range(0x20)).replace(b"\n", b"") + b'"\\'


def plain_json(block: bytes) -> bool:
    """Can these lines stand in a JSON string unescaped: valid UTF-8 without quotes,
    backslashes or control characters?"""
    if b'"' in block or b"\\" in block or len(block.translate(None, UNSAFE)) != len(block):
        return False
    if block.isascii():
        return True
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def write_block(writer: records.RecordWriter, data: bytes, count: int) -> None:
    """Queue ``count`` serialised records (ending in a newline) on the writer as one piece:
    RecordWriter.write_raw would copy the whole block once more to add its newline."""
    writer.pending.append(data)
    writer.pending_bytes += len(data)
    writer.written += count
    if writer.line_buffered or writer.pending_bytes >= records.READ_CHUNK:
        writer.flush()


def cut(raw: bytes, limit: int) -> bytes:
    """The first ``limit`` bytes, backed off so a multi-byte character is not split."""
    head = raw[:limit]
    back = 0
    while back < 3 and back < len(head) and (head[-1 - back] & 0xC0) == 0x80:
        back += 1
    if back < len(head) and head[-1 - back] >= 0xC0:
        lead = head[-1 - back]
        need = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
        if back + 1 < need:
            head = head[: len(head) - back - 1]
    return head
