"""Walk the monitored trees: which files a scan looks at, with each directory's options.

Paths are bytes throughout, so names that are not valid UTF-8 are scanned and stored
exactly; they become text only when written into a record.
"""

from __future__ import annotations

import os
import re
import stat
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterator

from hidsctl.diagnostics import logger
from hidsctl.scan import pathtext
from hidsctl.scan.settings import DirOptions


@dataclass
class Root:
    """One directory (or file) to walk, its options compiled for the walk."""

    path: bytes
    options: DirOptions
    depth_offset: int = 0  # a subtree of a configured directory starts this deep
    ignore_literal: frozenset[bytes] = frozenset()
    ignore_regex: re.Pattern[bytes] | None = None
    restrict: re.Pattern[bytes] | None = None
    nodiff_literal: frozenset[bytes] = frozenset()
    nodiff_regex: re.Pattern[bytes] | None = None
    compared: frozenset[str] = frozenset()

    @classmethod
    def of(cls, options: DirOptions, path: str | bytes | None = None, depth_offset: int = 0) -> "Root":
        literal, regex = compile_patterns(options.ignore)
        restrict = re.compile(os.fsencode(options.restrict)) if options.restrict else None
        nodiff_literal, nodiff_regex = compile_patterns(options.nodiff)
        raw = os.fsencode(path if path is not None else options.path)
        return cls(raw, options, depth_offset, literal, regex, restrict, nodiff_literal,
                   nodiff_regex, options.compared())

    def ignored(self, path: bytes) -> bool:
        if path in self.ignore_literal:
            return True
        return bool(self.ignore_regex and self.ignore_regex.search(path))

    def nodiff(self, path: bytes) -> bool:
        if path in self.nodiff_literal:
            return True
        return bool(self.nodiff_regex and self.nodiff_regex.search(path))


def compile_patterns(items: list[str]) -> tuple[frozenset[bytes], re.Pattern[bytes] | None]:
    """Literal paths and ``r:REGEX`` entries, as OSSEC's ignore and nodiff lists take them."""
    literal = frozenset(os.fsencode(os.path.normpath(item)) for item in items
                        if not item.startswith("r:"))
    regexes = [item[2:] for item in items if item.startswith("r:")]
    regex = re.compile(os.fsencode("|".join(f"(?:{r})" for r in regexes))) if regexes else None
    return literal, regex


@dataclass
class WalkStats:
    files: int = 0
    special: int = 0
    ignored: int = 0
    errors: int = 0
    # Directories that could not be listed: baseline entries below them are kept as they are.
    unscanned: list[bytes] = field(default_factory=list)


def walk(root: Root, skip: frozenset[bytes], stats: WalkStats,
         warn=None, prefetch: bool = True) -> Iterator[tuple[bytes, os.stat_result, str | None]]:
    """Yield (path, lstat, symlink target or None) for every file under ``root``.

    Regular files and symlinks are yielded; sockets, FIFOs and devices are counted and
    skipped. ``skip`` (/proc, /sys, …) is pruned wherever the walk meets it.
    ``prefetch=False`` lists each directory on this thread: when the caller does little per
    file (``--fast``), the lister threads' contention for the GIL costs more than their
    overlap gains on a warm cache.
    """
    warn = warn or _log_warning
    options = root.options
    try:
        top = os.lstat(root.path)
    except FileNotFoundError:
        return
    except OSError as exc:
        warn(f"cannot read {_show(root.path)}: {exc.strerror}", root.path)
        stats.errors += 1
        stats.unscanned.append(root.path)
        return
    if stat.S_ISLNK(top.st_mode) and options.follow_symlinks:
        try:
            top = os.stat(root.path)
        except OSError:
            pass
    if not stat.S_ISDIR(top.st_mode):
        if root.ignored(root.path):
            stats.ignored += 1
            return
        yield from _file(root.path, top, root, stats, warn)
        return
    seen = {(top.st_dev, top.st_ino)}
    restrict = root.restrict
    ignore_literal, ignore_regex = root.ignore_literal, root.ignore_regex  # root.ignored, inline
    # Directories are listed (readdir + lstat of each entry) ahead of time on a few threads,
    # so the kernel's work overlaps the comparisons done here; the order stays depth-first.
    pool = _lister() if prefetch else _Inline()
    stack: list[tuple[bytes, int, Future | _Listed]] = [
        (root.path, root.depth_offset, pool.submit(_list, root.path))]
    while stack:
        directory, depth, listing = stack.pop()
        try:
            entries = listing.result()
        except FileNotFoundError:
            continue  # vanished while we walked; its files were never listed
        except OSError as exc:
            warn(f"cannot list {_show(directory)}: {exc.strerror}", directory)
            stats.errors += 1
            stats.unscanned.append(directory)
            continue
        subdirs: list[tuple[bytes, int, Future | _Listed]] = []
        prefix = directory if directory.endswith(b"/") else directory + b"/"
        for name, st in entries:
            path = prefix + name
            if path in ignore_literal or (ignore_regex is not None and ignore_regex.search(path)):
                stats.ignored += 1
                continue
            if isinstance(st, OSError):
                if not isinstance(st, FileNotFoundError):
                    warn(f"cannot stat {_show(path)}: {st.strerror}", path)
                    stats.errors += 1
                    stats.unscanned.append(path)
                continue
            mode = st.st_mode
            if stat.S_ISLNK(mode) and options.follow_symlinks:
                try:
                    st = os.stat(path)
                    mode = st.st_mode
                except OSError:
                    pass  # dangling: recorded as the link it is
            if stat.S_ISDIR(mode):
                if path in skip or (options.one_filesystem and st.st_dev != top.st_dev):
                    continue
                if depth + 1 > options.recursion_level:
                    continue
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue  # a symlink loop, followed on request
                seen.add(key)
                subdirs.append((path, depth + 1, pool.submit(_list, path)))
                continue
            if restrict is None and stat.S_ISREG(mode):
                stats.files += 1  # the common case, without a generator per file
                yield path, st, None
            else:
                yield from _file(path, st, root, stats, warn)
        stack.extend(reversed(subdirs))


_LISTERS = 4
_pool: ThreadPoolExecutor | None = None


def _lister() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(_LISTERS, thread_name_prefix="list")
    return _pool


class _Inline:
    """A stand-in for the lister pool that lists when asked, on the calling thread (its
    listings stand in for futures: a real Future costs a lock per directory)."""

    def submit(self, fn, *args) -> "_Listed":
        try:
            return _Listed(fn(*args), None)
        except OSError as exc:
            return _Listed(None, exc)


class _Listed:
    __slots__ = ("value", "error")

    def __init__(self, value, error: OSError | None):
        self.value, self.error = value, error

    def result(self):
        if self.error is not None:
            raise self.error
        return self.value


def _list(directory: bytes) -> list[tuple[bytes, os.stat_result | OSError]]:
    """A directory's entries with their lstat (or the error that stat gave)."""
    out: list[tuple[bytes, os.stat_result | OSError]] = []
    with os.scandir(directory) as it:
        for entry in it:
            try:
                out.append((entry.name, entry.stat(follow_symlinks=False)))
            except OSError as exc:
                out.append((entry.name, exc))
    return out


def _file(path: bytes, st: os.stat_result, root: Root, stats: WalkStats, warn):
    mode = st.st_mode
    if root.restrict is not None and not root.restrict.search(os.path.basename(path)):
        return
    if stat.S_ISREG(mode):
        stats.files += 1
        yield path, st, None
    elif stat.S_ISLNK(mode):
        try:
            target = _show(os.readlink(path))
        except OSError:
            return
        stats.files += 1
        yield path, st, target
    else:
        stats.special += 1


_show = pathtext.show


def _log_warning(message: str, path: bytes | None = None) -> None:
    """walk's default ``warn``: the message alone (a Scanner also records the path)."""
    logger("scan").warning(message)
