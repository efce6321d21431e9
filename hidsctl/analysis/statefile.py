"""analyze's correlation state on disk, so a restart (a crash, a SIGKILL) goes on counting
where the last run stopped instead of from nothing.

With a state directory, analyze writes its correlation state (frequency counts, event
lists, ignore windows, first-time-seen and diff tables: analysis/correlation.py) to one
file, ``correlation.snap``, and reads it back at start. The snapshot is the bus's
(bus/snapshot.py): data only, zlib-compressed JSON decoded against a fixed schema, tied to
the ruleset's fingerprint, at most ``snapshot.MAX_SIZE`` bytes of JSON (a larger state is
not written, with a notice). Rootcheck findings are not in it: they have their own
database beside it (findings.py).

When. A snapshot is only ever taken at a point the input position is known, so that a
restart fed again from that position counts every record once:

- right after a supervisor's ``checkpoint`` record (before it is echoed, so when the
  supervisor records the position, the state of that position is already on disk), when
  ``interval`` seconds have passed since the last one, or sooner once the input goes quiet
  (at most one a ``IDLE_GAP``, and never more than ``BUDGET`` of the run's time);
- at the end of the input, when it ended on a checkpoint.

A pipeline without checkpoints has no position to resume from: nothing is saved, so
running analyze twice on the same input gives the same alerts twice.

Where the input resumes. A supervisor starts each feed with a ``checkpoint`` record marked
``"resume": true`` naming the offset it feeds each input queue from (supervise/pipes.py).
The file keeps the last two snapshots with the input offsets they stand for, and the
newest one not past the resume offsets is restored. One past them (saved, then killed
before the supervisor recorded the checkpoint) would count the records fed again twice; one
short of them (saves are spaced out) leaves out the records in between, which are not fed
again. Without resume records (analyze fed by hand) the newest is restored.

A file that cannot be read, of another format or ruleset, or past its bounds is set aside
with one notice and analyze starts with an empty state: never a crash.
"""

from __future__ import annotations

import json
import select
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hidsctl.diagnostics import logger

if TYPE_CHECKING:
    from hidsctl.analysis.engine import Engine
    from hidsctl.bus.snapshot import Codec

FILE = "correlation.snap"
MAGIC = b"hidsctl-correlation\n"
FORMAT = 1
IDLE_GAP = 1.0   # seconds: the fewest between two snapshots taken because the input paused
BUDGET = 0.02    # the share of time snapshots may take: a costly one spaces the next out
KEEP = 2         # snapshots in the file: the newest, and the one before for a lagging resume

Position = dict[str, int]  # input queue -> offset after the last checkpoint


def path_for(state_dir: Path, worker: int = 0, workers: int = 1) -> Path:
    """The file of one analysing process: agent-split workers each keep their own agents'."""
    return state_dir / (FILE if workers == 1 else f"correlation-{worker + 1}of{workers}.snap")


@dataclass
class Entry:
    position: Position
    blob: bytes  # a bus/snapshot.py snapshot


@dataclass
class StateFile:
    """One analysing process's snapshots: ``restore`` once, then ``checkpoint``/``record``
    as the loop goes, ``idle`` before the input may block, ``close`` at the end."""

    path: Path
    interval: float = 30.0
    position: Position = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)
    resume: Position = field(default_factory=dict)
    restored: bool = False
    dirty: bool = False       # the state changed since the last snapshot
    at_boundary: bool = True  # no record analysed since the last checkpoint
    checkpoints: bool = False  # one was seen: positions are known
    last: float = float("-inf")
    cost: float = 0.0
    _codec: Codec | None = None

    # --- reading --------------------------------------------------------------------------

    def load(self) -> None:
        """Read the file's snapshots (the state is chosen at ``restore``)."""
        try:
            with open(self.path, "rb") as handle:
                blob = handle.read(_file_limit() + 1)
        except FileNotFoundError:
            return
        except OSError as exc:
            self._notice(f"not read ({exc.strerror})")
            return
        try:
            self.entries = _parse(blob)
        except ValueError as exc:
            self._notice(str(exc))

    def note_resume(self, record: dict[str, Any]) -> bool:
        """Take a supervisor's resume record (True), before any record is analysed."""
        if record.get("resume") is not True or self.restored:
            return False
        queue, offset = record.get("queue"), record.get("offset")
        if isinstance(queue, str) and isinstance(offset, int):
            self.resume[queue] = offset
        return True

    def restore(self, engine: Engine) -> None:
        """Put the newest snapshot not past where the input resumes into ``engine``."""
        entry = self._choose()
        # What this run saves follows the restored snapshot: the others (past the resume,
        # or unreadable) no longer stand for any position of the input.
        self.entries = []
        self.position = dict(self.resume)
        if entry is not None:
            try:
                _, state = self._codec_for(engine).loads(entry.blob)
            except (ValueError, TypeError, KeyError) as exc:  # refused, or values out of place
                self._notice(str(exc))
            else:
                state.rootcheck = engine.state.rootcheck  # kept in its own database
                engine.state = state
                self.entries = [entry]
                self.position = {**entry.position, **self.resume}
                self.checkpoints = bool(entry.position)
        self.restored = True

    def _choose(self) -> Entry | None:
        if not self.resume:
            return self.entries[0] if self.entries else None
        for entry in self.entries:  # newest first
            if all(entry.position.get(q, off) <= off for q, off in self.resume.items()):
                return entry
        if self.entries:
            self._notice(f"its snapshots are past where the input resumes ({self.resume})")
        return None

    # --- the loop's events ----------------------------------------------------------------

    def record(self) -> None:
        """A record was analysed: the state may have changed."""
        self.dirty = True
        self.at_boundary = False

    def checkpoint(self, engine: Engine, queue: Any, offset: Any) -> None:
        """A checkpoint: the state is that of this input position; saved when due."""
        if isinstance(queue, str) and isinstance(offset, int):
            self.position[queue] = offset
        self.checkpoints = True
        self.at_boundary = True
        if self.dirty and time.monotonic() - self.last >= max(self.interval, self._spacing()):
            self.save(engine)

    def idle(self, engine: Engine, fd: int | None) -> None:
        """The loop is about to read: when the state is unsaved at a known position, save
        it once the input has stayed quiet for what is left of the idle gap."""
        if not self._due():
            return
        wait = self.last + max(IDLE_GAP, self._spacing()) - time.monotonic()
        if fd is None:  # nothing to wait on: saved when the gap has passed
            if wait <= 0:
                self.save(engine)
            return
        if not _readable(fd, max(wait, 0.0)):
            self.save(engine)

    def close(self, engine: Engine) -> None:
        """The input ended: save what the last checkpoint covers."""
        if self._due():
            self.save(engine)

    def _due(self) -> bool:
        """Changed since the last save, and at a checkpoint: a position to resume from."""
        return self.dirty and self.restored and self.checkpoints and self.at_boundary

    # --- writing --------------------------------------------------------------------------

    def save(self, engine: Engine) -> None:
        from hidsctl.state import atomic_write

        started = time.monotonic()
        self.dirty = False
        self.last = started
        try:
            raw = self._codec_for(engine).encode(engine.state, 0)
        except (TypeError, ValueError) as exc:  # a value the schema has no place for
            self._notice(f"not written ({exc})")
            return
        if len(raw) > _entry_limit():  # it would be refused when read back
            self._notice(f"not written: {len(raw) >> 20} MiB, past its bound of "
                         f"{_entry_limit() >> 20} MiB")
            return
        blob = zlib.compress(raw, 3)
        entry = Entry(dict(self.position), blob)
        self.entries = [entry] + [e for e in self.entries if e.position != entry.position]
        self.entries = self.entries[:KEEP]
        try:
            atomic_write(self.path, _format(self.entries), mode=0o600)
        except OSError as exc:
            self._notice(f"not written ({exc.strerror or exc})")
        self.cost = time.monotonic() - started

    def _spacing(self) -> float:
        return self.cost / BUDGET

    def _codec_for(self, engine: Engine) -> Codec:
        """The codec of the running ruleset (a reload brings another)."""
        from hidsctl.bus.snapshot import Codec

        if self._codec is None or self._codec.engine is not engine:
            self._codec = Codec(engine)
        return self._codec

    def _notice(self, why: str) -> None:
        then = "" if self.restored else "; starting with an empty correlation state"
        logger("analyze").warning(f"correlation state {self.path}: {why}{then}")


# --- the file ------------------------------------------------------------------------------
# MAGIC, then one JSON line {"format", "entries": [{"position", "size"}…]}, then the
# entries' snapshots one after another.

def _entry_limit() -> int:
    from hidsctl.bus.snapshot import MAX_SIZE

    return MAX_SIZE


def _file_limit() -> int:
    return KEEP * _entry_limit() + 4096


def _format(entries: list[Entry]) -> bytes:
    head = {"format": FORMAT,
            "entries": [{"position": e.position, "size": len(e.blob)} for e in entries]}
    return MAGIC + json.dumps(head).encode() + b"\n" + b"".join(e.blob for e in entries)


def _parse(blob: bytes) -> list[Entry]:
    if len(blob) > _file_limit():
        raise ValueError("larger than its bound")
    if not blob.startswith(MAGIC):
        raise ValueError("not a correlation state file")
    end = blob.find(b"\n", len(MAGIC))
    try:
        head = json.loads(blob[len(MAGIC):end]) if end > 0 else None
    except ValueError:
        head = None
    if not isinstance(head, dict):
        raise ValueError("unreadable header")
    if head.get("format") != FORMAT:
        raise ValueError(f"format {head.get('format')!r}, not {FORMAT}")
    items = head.get("entries")
    if not isinstance(items, list):
        raise ValueError("unreadable header")
    entries, at = [], end + 1
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("unreadable header")
        position, size = item.get("position"), item.get("size")
        if not (isinstance(position, dict) and isinstance(size, int) and size >= 0
                and all(isinstance(k, str) and isinstance(v, int) for k, v in position.items())):
            raise ValueError("unreadable header")
        if at + size > len(blob):
            raise ValueError("truncated")
        entries.append(Entry(position, blob[at:at + size]))
        at += size
    return entries[:KEEP]


def _readable(fd: int, timeout: float) -> bool:
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
    except (OSError, ValueError):
        return True  # not a descriptor select can wait on: read as before
    return bool(ready)
