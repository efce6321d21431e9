"""report_changes: a compressed copy of each watched text file, and the unified diff
between that copy and the file's new content.

Copies live under ``<state>/diff/local/<path>/last-entry.gz`` (OSSEC's layout). New
copies are written beside the old ones as ``last-entry.gz.new`` and only put in place
after the baseline commits, so a killed scan never leaves a copy ahead of its baseline.
"""

from __future__ import annotations

import difflib
import gzip
import os
import stat
from pathlib import Path

from hidsctl.scan import attributes, pathtext

MAX_DIFF = 64 * 1024  # characters of diff kept in a record
BINARY_PROBE = 8192


class DiffStore:
    def __init__(self, state_dir: Path, size_limit: int):
        self.root = os.fsencode(state_dir / "diff" / "local")
        self.size_limit = size_limit
        self.staged: list[bytes] = []
        self.removed: list[bytes] = []

    def _copy(self, path: bytes) -> bytes:
        return self.root + path + b"/last-entry.gz"

    def read_text_file(self, path: bytes) -> bytes | None:
        """The file's content when it is small enough and looks like text, else None.

        Opened as the hashing opens it (no link followed, no blocking): the file may have
        become a FIFO or a link to one since it was hashed, and must not hang the scan."""
        try:
            fd = os.open(path, attributes.OPEN_FLAGS | os.O_NOFOLLOW)
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            with open(fd, "rb", closefd=False) as handle:
                data = handle.read(self.size_limit + 1)
        except OSError:
            return None
        finally:
            os.close(fd)
        if len(data) > self.size_limit or looks_binary(data):
            return None
        return data

    def previous(self, path: bytes) -> bytes | None:
        try:
            with gzip.open(self._copy(path), "rb") as handle:
                return handle.read()
        except (OSError, EOFError):
            return None

    def stage(self, path: bytes, content: bytes) -> None:
        target = self._copy(path) + b".new"
        try:
            os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
            with open(target, "wb") as raw:
                with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as handle:
                    handle.write(content)
                raw.flush()
                os.fsync(raw.fileno())
        except OSError:
            return
        self.staged.append(path)

    def forget(self, path: bytes) -> None:
        self.removed.append(path)

    def commit(self) -> None:
        """Put staged copies in place; run after the baseline transaction commits."""
        for path in self.staged:
            copy = self._copy(path)
            try:
                os.replace(copy + b".new", copy)
            except OSError:
                pass
        for path in self.removed:
            try:
                os.unlink(self._copy(path))
            except OSError:
                pass
        self.staged.clear()
        self.removed.clear()

    def diff(self, path: bytes, new: bytes) -> str | None:
        """Unified diff from the kept copy to ``new``; None without a kept copy."""
        old = self.previous(path)
        if old is None:
            return None
        return unified_diff(old, new, pathtext.show(path))


def looks_binary(data: bytes) -> bool:
    return b"\0" in data[:BINARY_PROBE] or b"\0" in data


def unified_diff(old: bytes, new: bytes, name: str) -> str:
    old_lines = old.decode("utf-8", "replace").splitlines()
    new_lines = new.decode("utf-8", "replace").splitlines()
    text = "\n".join(difflib.unified_diff(old_lines, new_lines, fromfile=name, tofile=name,
                                          lineterm=""))
    if len(text) > MAX_DIFF:
        text = text[:MAX_DIFF] + "\n... (diff truncated)"
    return text
