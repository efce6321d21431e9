"""One followed file: an open descriptor, a read position, the bytes of an unfinished
line, and the fingerprint that tells this file from a later one with the same inode."""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

from hidsctl.collect.emit import Emitter
from hidsctl.collect.formats import Framer
from hidsctl.collect.offsets import Offset

CHUNK = 1 << 18          # bytes per read: large, so a busy file costs few system calls
FINGERPRINT_BYTES = 1024


def fingerprint(head: bytes) -> str:
    return hashlib.sha256(head).hexdigest()


class FileTail:
    def __init__(self, path: str, emitter: Emitter, framer: Framer, source: Any = None):
        self.path = path
        self.source = source     # the FileSource that named it
        self.emitter = emitter
        self.framer = framer
        self.max_line = emitter.max_line
        self.fd: int | None = None
        self.dev = 0
        self.ino = 0
        self.pos = 0             # where the next read starts
        self.carry = b""         # an unfinished last line
        self.skipping = False    # inside an over-long line already written, cut
        self.fp = fingerprint(b"")
        self.fp_len = 0
        self.rotated = False     # an old file still read to its end after rotation
        self.last_data = time.monotonic()
        self.saved: int | None = None  # the offset last committed

    # -- opening ------------------------------------------------------------------------------

    def open(self, path: str | None = None) -> os.stat_result:
        """Open the file (OSError propagates); position 0."""
        fd = os.open(path or self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        st = os.fstat(fd)
        self.fd, self.dev, self.ino = fd, st.st_dev, st.st_ino
        self.restart(0)
        return st

    def restart(self, pos: int) -> None:
        self.pos = pos
        self.carry = b""
        self.skipping = False
        self.fp, self.fp_len = fingerprint(b""), 0
        self.verify()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def size(self) -> int:
        assert self.fd is not None
        return os.fstat(self.fd).st_size

    # -- identity -----------------------------------------------------------------------------

    def verify(self) -> bool:
        """Is the start of the file still what it was? Extends the fingerprint up to
        FINGERPRINT_BYTES as the file grows. False after a truncation or rewrite."""
        assert self.fd is not None
        if self.fp_len >= FINGERPRINT_BYTES:
            head = os.pread(self.fd, self.fp_len, 0)
            return len(head) == self.fp_len and fingerprint(head) == self.fp
        head = os.pread(self.fd, FINGERPRINT_BYTES, 0)
        if len(head) < self.fp_len or fingerprint(head[:self.fp_len]) != self.fp:
            return False
        if len(head) > self.fp_len:
            self.fp, self.fp_len = fingerprint(head), len(head)
        return True

    def matches(self, saved: Offset) -> bool:
        """Is the open file the one an offset was saved for?"""
        if (self.dev, self.ino) != (saved.dev, saved.ino):
            return False
        assert self.fd is not None
        head = os.pread(self.fd, saved.fp_len, 0)
        return len(head) == saved.fp_len and fingerprint(head) == saved.fingerprint

    def resume(self, saved: Offset) -> None:
        self.fp, self.fp_len = saved.fingerprint, saved.fp_len
        self.pos = saved.pos
        self.carry = b""
        self.skipping = False
        self.saved = saved.pos
        self.verify()

    # -- reading ------------------------------------------------------------------------------

    @property
    def committed(self) -> int:
        """The offset safe to save: nothing before it is held back unwritten."""
        return self.pos - len(self.carry) - self.framer.pending_bytes

    def offset(self) -> Offset:
        return Offset(self.path, self.dev, self.ino, self.committed, self.fp, self.fp_len,
                      self.rotated)

    def read(self, budget: int | None = None) -> int:
        """Read what the file holds past the position, up to ``budget`` bytes."""
        assert self.fd is not None
        total = 0
        fd, limit = self.fd, self.max_line
        while budget is None or total < budget:
            data = os.pread(fd, CHUNK, self.pos)
            if not data:
                break
            self.pos += len(data)
            total += len(data)
            if self.skipping:
                newline = data.find(b"\n")
                if newline < 0:
                    continue
                data = data[newline + 1:]
                self.skipping = False
            if self.carry:
                data = self.carry + data
                self.carry = b""
            last = data.rfind(b"\n")
            if last < 0:
                self.carry = data
            elif last + 1 == len(data):
                self.framer.feed(data)
            else:
                self.carry = data[last + 1:]
                self.framer.feed(data[:last + 1])
            if len(self.carry) > limit:
                # A line longer than the limit: written cut (and flagged) now, its rest skipped.
                self.framer.feed(self.carry[:limit + 1] + b"\n")
                self.carry = b""
                self.skipping = True
        if total:
            self.last_data = time.monotonic()
            if self.fp_len < FINGERPRINT_BYTES:
                self.verify()
        return total

    def finish(self) -> None:
        """End of this file's content: write the unfinished line and what the framer holds."""
        if self.carry:
            self.framer.feed(self.carry + b"\n")
            self.carry = b""
        self.framer.flush()
