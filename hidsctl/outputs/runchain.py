"""The running hash chain of an open (not yet sealed) alert file, and its verification.

A day's files are sealed (hidsctl.outputs.seal) only when the day closes; until then they
grow. So that lines already written cannot be changed unseen in the meantime, the writer
keeps beside each open file a sidecar, ``.ossec-alerts-25.log.chain``, with one entry per
append::

    <end offset> <chain>

``chain`` is the first 32 hex digits of sha256(previous chain, then the bytes appended);
the chain before the first append comes from the file's path in its tree, so a sidecar
cannot vouch for another file. Entries are held until the writer has flushed (or fsynced)
the data they cover, and written then, so a reader or a crash sees at worst data the chain
does not cover yet, never a chain ahead of its data. Changing a byte already covered breaks the entry of its append:
verification names the line where that append began. A writer that finds bytes its chain
does not cover (its own last write before a crash) takes them in as they are on restart.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

WIDTH = 32  # hex digits kept of each link: 128 bits


def sidecar(path: Path) -> Path:
    return path.with_name(f".{path.name}.chain")


def start(label: str) -> str:
    return hashlib.sha256(f"hidsctl running chain {label}".encode()).hexdigest()[:WIDTH]


def link(previous: str, data: bytes) -> str:
    return hashlib.sha256(previous.encode() + data).hexdigest()[:WIDTH]


def read_entries(path: Path) -> list[tuple[int, str]] | None:
    """The complete entries of a sidecar (a torn last one is not yet written); None when
    there is no sidecar. A malformed entry ends the list with (-1, line)."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return None
    entries: list[tuple[int, str]] = []
    for raw in text.split(b"\n")[:-1]:  # the part after the last newline is torn
        end, _, value = raw.decode("ascii", "replace").partition(" ")
        if not end.isdigit() or len(value) != WIDTH:
            entries.append((-1, raw.decode("ascii", "replace")))
            break
        entries.append((int(end), value))
    return entries


class ChainWriter:
    """The running chain of one open file, extended with every append to it."""

    def __init__(self, data_path: Path, label: str):
        self.path = sidecar(data_path)
        entries = [e for e in read_entries(self.path) or [] if e[0] >= 0]
        self.end, value = entries[-1] if entries else (0, start(label))
        self.value = value.encode()  # as bytes: append is on the path of every alert
        self._drop_torn_entry()
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self.pending: list[bytes] = []  # entries whose data may not be flushed yet
        self._take_in(data_path)

    def _drop_torn_entry(self) -> None:
        try:
            with open(self.path, "r+b") as handle:
                text = handle.read()
                if text and not text.endswith(b"\n"):
                    handle.truncate(text.rfind(b"\n") + 1)
        except FileNotFoundError:
            pass

    def _take_in(self, data_path: Path) -> None:
        """Bytes already in the file beyond the chain: the last write before a crash (or a
        file from before running chains)."""
        try:
            size = data_path.stat().st_size
        except FileNotFoundError:
            return
        if size > self.end:
            with open(data_path, "rb") as handle:
                handle.seek(self.end)
                self.append(handle.read(size - self.end))

    def append(self, data: bytes) -> None:
        """link(), inlined on bytes."""
        self.value = hashlib.sha256(self.value + data).hexdigest()[:WIDTH].encode()
        self.end += len(data)
        self.pending.append(b"%d %s\n" % (self.end, self.value))

    def flush(self, sync: bool = False) -> None:
        """Write the held entries: call after the data they cover is flushed."""
        if self.pending:
            os.write(self.fd, b"".join(self.pending))
            self.pending.clear()
        if sync:
            os.fsync(self.fd)

    def close(self) -> None:
        self.flush(sync=True)
        os.close(self.fd)


@dataclass(frozen=True)
class Coverage:
    """What verification of one open file found."""

    intact: int  # lines covered by the chain and unchanged
    uncovered: int  # lines after the last chain entry
    problem: str | None = None  # modified, truncated, unchained, chain-broken
    line: int | None = None  # where the problem starts
    last_line: int | None = None  # where the append that no longer matches ends


def verify_open(data_path: Path, label: str) -> Coverage:
    entries = read_entries(sidecar(data_path))
    with open(data_path, "rb") as handle:
        if entries is None:
            lines = _count_lines(handle.read())
            return Coverage(0, lines, "unchained" if lines else None, 1 if lines else None)
        value, position, lines = start(label), 0, 0
        for end, expected in entries:
            if end < position:  # malformed, or offsets going backwards: the sidecar was edited
                return Coverage(lines, 0, "chain-broken", lines + 1)
            segment = handle.read(end - position)
            if len(segment) < end - position:
                return Coverage(lines, 0, "truncated", lines + _count_lines(segment) + 1)
            value = link(value, segment)
            if value != expected:
                return Coverage(lines, 0, "modified", lines + 1, lines + _count_lines(segment))
            lines += segment.count(b"\n")
            position = end
        return Coverage(lines, _count_lines(handle.read()))


def _count_lines(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
