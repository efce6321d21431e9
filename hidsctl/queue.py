"""Durable on-disk queues: append-only segment files and a committed read offset per consumer.

A queue is a directory::

    segments/00000000000000000000.seg   records as lines; the name is the segment's first offset
    consumers/NAME.offset               the next offset NAME has not yet committed

Offsets are byte positions in the queue as a whole, so they only grow. One process appends
(an flock enforces it); any number of consumers read, each committing its own offset after it
has durably handled what it read. A SIGKILL anywhere loses nothing: appends are fsynced, a
torn last line is cut off when the writer reopens the queue, and a consumer restarts from its
last committed offset.

A stage that reads one queue and appends to another can store its input offset *inside* the
output append (``append(lines, source=(name, offset))``); after a crash it resumes from
``source_offset(name)``, which is exactly what its durable output covers, so the next stage
sees every record once.

With ``max_bytes`` the queue is bounded: when it grows past the bound the oldest segments are
deleted, whether read or not, and ``dropped`` counts the records lost that no consumer had
committed. Records are bytes without newlines (JSON lines as orjson writes them).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from hidsctl.errors import StateError
from hidsctl.state import ExclusiveLock, atomic_write, fsync_dir

SEGMENT_SUFFIX = ".seg"
MARKER = b"#"  # lines starting with # carry source offsets, never records
DEFAULT_SEGMENT_BYTES = 16 << 20


def _segment_name(start: int) -> str:
    return f"{start:020d}{SEGMENT_SUFFIX}"


@dataclass(frozen=True)
class Item:
    offset: int  # where this record starts
    next_offset: int  # commit this once the record is handled
    data: bytes


class DurableQueue:
    """One queue directory. Open it as the writer (``writer=True``) or as a reader."""

    def __init__(self, directory: str | os.PathLike, *, writer: bool = False,
                 max_bytes: int | None = None, segment_bytes: int = DEFAULT_SEGMENT_BYTES,
                 sync: bool = True):
        self.dir = Path(directory)
        self.segments_dir = self.dir / "segments"
        self.consumers_dir = self.dir / "consumers"
        self.max_bytes = max_bytes
        self.segment_bytes = min(segment_bytes, max(4096, (max_bytes or segment_bytes) // 4))
        self.sync = sync
        self.dropped = 0
        self._lock: ExclusiveLock | None = None
        self._append_lock = threading.Lock()  # drainer threads of one process share a writer
        self._fd: int | None = None
        self._end = 0
        self._segment_start = 0
        self._markers: dict[str, int] = {}  # latest source offsets, carried into new segments
        try:
            self.segments_dir.mkdir(parents=True, exist_ok=True)
            self.consumers_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create queue {self.dir}: {exc.strerror}") from exc
        if writer:
            self._lock = ExclusiveLock(self.dir / "writer.lock", f"queue {self.dir}").acquire()
            self._open_for_append()

    # --- segments ---------------------------------------------------------------------

    def segment_starts(self) -> list[int]:
        starts = []
        for entry in os.scandir(self.segments_dir):
            if entry.name.endswith(SEGMENT_SUFFIX):
                try:
                    starts.append(int(entry.name[: -len(SEGMENT_SUFFIX)]))
                except ValueError:
                    continue
        return sorted(starts)

    def _segment_path(self, start: int) -> Path:
        return self.segments_dir / _segment_name(start)

    def end_offset(self) -> int:
        """The offset just past the last complete record."""
        starts = self.segment_starts()
        if not starts:
            return 0
        last = self._segment_path(starts[-1])
        try:
            size = last.stat().st_size
        except FileNotFoundError:
            return starts[-1]
        return starts[-1] + size

    def start_offset(self) -> int:
        starts = self.segment_starts()
        return starts[0] if starts else self.end_offset()

    # --- writing ----------------------------------------------------------------------

    def _open_for_append(self) -> None:
        starts = self.segment_starts()
        if not starts:
            starts = [0]
            self._segment_path(0).touch()
        self._segment_start = starts[-1]
        path = self._segment_path(self._segment_start)
        self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        size = os.fstat(self._fd).st_size
        good = _complete_length(self._fd, size)
        if good != size:  # a torn write from a crash: cut it off
            os.ftruncate(self._fd, good)
            os.fsync(self._fd)
        self._end = self._segment_start + good
        for start in starts:
            self._markers.update(_markers(self._segment_path(start)))

    def append(self, lines: Iterable[bytes], *, source: tuple[str, int] | None = None) -> int:
        """Durably append records (and the source offset they cover); returns the end offset."""
        with self._append_lock:
            return self._append(lines, source)

    def _append(self, lines: Iterable[bytes], source: tuple[str, int] | None) -> int:
        if self._fd is None:
            raise StateError(f"queue {self.dir} is not open for writing")
        parts = [line.rstrip(b"\n") + b"\n" for line in lines]
        if source is not None:
            parts.append(_marker_line(*source))
            self._markers[source[0]] = source[1]
        if not parts:
            return self._end
        data = b"".join(parts)
        os.write(self._fd, data)
        if self.sync:
            os.fdatasync(self._fd)
        self._end += len(data)
        if self._end - self._segment_start >= self.segment_bytes:
            self._roll()
        if self.max_bytes is not None:
            self._enforce_bound()
        return self._end

    def _roll(self) -> None:
        os.close(self._fd)  # type: ignore[arg-type]
        self._segment_start = self._end
        path = self._segment_path(self._segment_start)
        self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        if self._markers:  # every segment starts with the source offsets, so pruning keeps them
            data = b"".join(_marker_line(name, offset) for name, offset in self._markers.items())
            os.write(self._fd, data)
            if self.sync:
                os.fdatasync(self._fd)
            self._end += len(data)
        fsync_dir(self.segments_dir)

    def _enforce_bound(self) -> None:
        starts = self.segment_starts()
        committed = self.min_committed()
        while len(starts) > 1 and self._end - starts[0] > self.max_bytes:  # type: ignore[operator]
            oldest = self._segment_path(starts[0])
            unread_from = max(starts[0], committed if committed is not None else starts[0])
            self.dropped += _count_records(oldest, unread_from - starts[0])
            oldest.unlink(missing_ok=True)
            starts.pop(0)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> "DurableQueue":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- source offsets (exactly-once between stages) --------------------------------

    def source_offset(self, name: str, default: int = 0) -> int:
        """The last source offset stored with an append, for the source ``name``."""
        if self._fd is not None:
            return self._markers.get(name, default)
        for start in reversed(self.segment_starts()):
            for marker_name, offset in reversed(_markers(self._segment_path(start))):
                if marker_name == name:
                    return offset
        return default

    # --- consumers --------------------------------------------------------------------

    def committed(self, consumer: str) -> int | None:
        try:
            return int((self.consumers_dir / f"{consumer}.offset").read_text().strip() or 0)
        except FileNotFoundError:
            return None
        except ValueError:
            raise StateError(f"queue {self.dir}: consumer {consumer!r} offset file is corrupt") from None

    def commit(self, consumer: str, offset: int) -> None:
        atomic_write(self.consumers_dir / f"{consumer}.offset", f"{offset}\n", mode=0o640)

    def min_committed(self) -> int | None:
        offsets = []
        for entry in os.scandir(self.consumers_dir):
            if entry.name.endswith(".offset"):
                value = self.committed(entry.name[: -len(".offset")])
                if value is not None:
                    offsets.append(value)
        return min(offsets) if offsets else None

    def prune(self) -> int:
        """Delete segments every consumer has passed; returns how many."""
        committed = self.min_committed()
        if committed is None:
            return 0
        starts = self.segment_starts()
        removed = 0
        for start, following in zip(starts, starts[1:]):
            if following <= committed:
                self._segment_path(start).unlink(missing_ok=True)
                removed += 1
        return removed

    def read(self, offset: int, max_items: int = 1000, max_bytes: int = 1 << 20) -> list[Item]:
        """Complete records from ``offset`` on, at most ``max_items`` (and about ``max_bytes``).

        An ``offset`` older than the oldest segment (dropped at the bound) skips to it.
        """
        starts = self.segment_starts()
        if not starts:
            return []
        offset = max(offset, starts[0])
        items: list[Item] = []
        budget = max_bytes
        for index in range(_segment_index(starts, offset), len(starts)):
            start = starts[index]
            offset = max(offset, start)
            try:
                handle = open(self._segment_path(start), "rb")
            except FileNotFoundError:  # pruned or dropped under us: move on
                continue
            with handle:
                handle.seek(offset - start)
                for line in handle:
                    if not line.endswith(b"\n"):
                        return items  # a write in progress: the rest comes later
                    next_offset = offset + len(line)
                    if not line.startswith(MARKER):
                        items.append(Item(offset, next_offset, line[:-1]))
                        budget -= len(line)
                    offset = next_offset
                    if len(items) >= max_items or budget <= 0:
                        return items
        return items


def _segment_index(starts: list[int], offset: int) -> int:
    index = 0
    for i, start in enumerate(starts):
        if start <= offset:
            index = i
    return index


def _complete_length(fd: int, size: int) -> int:
    """Length of the file up to and including its last newline."""
    if size == 0:
        return 0
    block = 65536
    position = size
    while position > 0:
        read_from = max(0, position - block)
        chunk = os.pread(fd, position - read_from, read_from)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            return read_from + cut + 1
        position = read_from
    return 0


def _marker_line(name: str, offset: int) -> bytes:
    return MARKER + f"{name} {offset}".encode() + b"\n"


def _markers(path: Path) -> list[tuple[str, int]]:
    found = []
    try:
        with open(path, "rb") as handle:
            for line in handle:
                if line.startswith(MARKER) and line.endswith(b"\n"):
                    name, _, value = line[1:].strip().decode("utf-8", "replace").rpartition(" ")
                    if value.isdigit():
                        found.append((name, int(value)))
    except FileNotFoundError:
        pass
    return found


def _count_records(path: Path, skip_bytes: int) -> int:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, skip_bytes))
            return sum(1 for line in handle if line.endswith(b"\n") and not line.startswith(MARKER))
    except FileNotFoundError:
        return 0


def tail_records(queue: DurableQueue, max_bytes: int = 4 << 20) -> list[bytes]:
    """The last records of a queue, about ``max_bytes`` of them, oldest first."""
    starts = queue.segment_starts()
    out: list[bytes] = []
    budget = max_bytes
    for start in reversed(starts):
        path = queue.segments_dir / _segment_name(start)
        try:
            size = path.stat().st_size
            with open(path, "rb") as handle:
                skip = max(0, size - budget)
                handle.seek(skip)
                data = handle.read(size - skip)
        except FileNotFoundError:
            continue
        lines = data.split(b"\n")
        lines.pop()  # after the last newline: empty, or a write in progress
        if skip > 0 and lines:
            lines.pop(0)  # started mid-record
        out[:0] = [line for line in lines if line and not line.startswith(MARKER)]
        budget -= len(data)
        if budget <= 0:
            break
    return out
