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
from typing import Iterable, Iterator

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


File = tuple[bytes, os.stat_result, str | None]  # path, lstat, symlink target


def walk(root: Root, skip: frozenset[bytes], stats: WalkStats,
         warn=None, prefetch: bool = True) -> Iterator[File]:
    """Yield (path, lstat, symlink target or None) for every file under ``root``.

    Regular files and symlinks are yielded; sockets, FIFOs and devices are counted and
    skipped. ``skip`` (/proc, /sys, …) is pruned wherever the walk meets it.
    """
    for files in walk_dirs(root, skip, stats, warn, prefetch):
        yield from files


def walk_dirs(root: Root, skip: frozenset[bytes], stats: WalkStats,
              warn=None, prefetch: bool = True) -> Iterator[list[File]]:
    """What ``walk`` yields, one list per directory, in the same order: a caller with
    little to do per file (``--fast``) loops over lists instead of resuming a generator.

    ``prefetch=False`` lists each directory on this thread as it is reached: when the
    caller does little per file, the lister threads' contention for the GIL costs more
    than their overlap gains on a warm cache.
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
        files: list[File] = []
        _file(files, root.path, top, root, stats)
        stats.files += len(files)
        if files:
            yield files
        return
    # With prefetch, directories are listed (readdir + lstat of each entry) ahead of time on
    # a few threads, so the kernel's work overlaps the comparisons done here; the order
    # stays depth-first.
    reader = _Reader(root, skip, stats, warn, top, _lister() if prefetch else None)
    stack: list[tuple[bytes, int, Future | None]] = [
        (root.path, root.depth_offset, reader.submit(root.path))]
    while stack:
        directory, depth, listing = stack.pop()
        try:
            if listing is None:
                with os.scandir(directory) as entries:
                    files, subdirs = reader.read(entries, depth)
            else:
                files, subdirs = reader.read(listing.result(), depth)
        except FileNotFoundError:
            continue  # vanished while we walked; its files were never listed
        except OSError as exc:
            warn(f"cannot list {_show(directory)}: {exc.strerror}", directory)
            stats.errors += 1
            stats.unscanned.append(directory)
            continue
        stats.files += len(files)
        if files:
            yield files
        stack.extend(reversed(subdirs))


class _Reader:
    """Sorts one directory's entries into files to yield and subdirectories to walk."""

    def __init__(self, root: Root, skip: frozenset[bytes], stats: WalkStats, warn,
                 top: os.stat_result, pool: ThreadPoolExecutor | None):
        self.root, self.skip, self.stats, self.warn, self.pool = root, skip, stats, warn, pool
        self.top_dev = top.st_dev
        self.seen = {(top.st_dev, top.st_ino)}

    def submit(self, directory: bytes) -> Future | None:
        """Have a lister thread list ``directory`` now, or (None) this thread when reached."""
        return self.pool.submit(_list, directory) if self.pool is not None else None

    def read(self, entries: Iterable[os.DirEntry[bytes]], depth: int
             ) -> tuple[list[File], list[tuple[bytes, int, Future | None]]]:
        root, options, stats, warn = self.root, self.root.options, self.stats, self.warn
        restrict, skip, seen = root.restrict, self.skip, self.seen
        ignore_literal, ignore_regex = root.ignore_literal, root.ignore_regex  # root.ignored, inline
        follow, one_filesystem = options.follow_symlinks, options.one_filesystem
        too_deep = depth + 1 > options.recursion_level
        files: list[File] = []
        subdirs: list[tuple[bytes, int, Future | None]] = []
        add = files.append
        for entry in entries:
            path = entry.path
            if path in ignore_literal or (ignore_regex is not None and ignore_regex.search(path)):
                stats.ignored += 1
                continue
            try:
                st = entry.stat(follow_symlinks=False)  # a lister thread's lstat, if it listed
            except FileNotFoundError:
                continue
            except OSError as exc:
                warn(f"cannot stat {_show(path)}: {exc.strerror}", path)
                stats.errors += 1
                stats.unscanned.append(path)
                continue
            mode = st.st_mode
            if follow and S_ISLNK(mode):
                try:
                    st = os.stat(path)
                    mode = st.st_mode
                except OSError:
                    pass  # dangling: recorded as the link it is
            if S_ISDIR(mode):
                if path in skip or (one_filesystem and st.st_dev != self.top_dev) or too_deep:
                    continue
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue  # a symlink loop, followed on request
                seen.add(key)
                subdirs.append((path, depth + 1, self.submit(path)))
            elif restrict is None and S_ISREG(mode):
                add((path, st, None))  # the common case, without a call per file
            else:
                _file(files, path, st, root, stats)
        return files, subdirs


S_ISDIR, S_ISLNK, S_ISREG = stat.S_ISDIR, stat.S_ISLNK, stat.S_ISREG
_LISTERS = 4
_pool: ThreadPoolExecutor | None = None


def _lister() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(_LISTERS, thread_name_prefix="list")
    return _pool


def _list(directory: bytes) -> list[os.DirEntry[bytes]]:
    """A directory's entries, each lstat'ed (the entry keeps the result; one whose stat
    failed tries again when read)."""
    out = []
    with os.scandir(directory) as it:
        for entry in it:
            try:
                entry.stat(follow_symlinks=False)
            except OSError:
                pass
            out.append(entry)
    return out


def _file(files: list[File], path: bytes, st: os.stat_result, root: Root,
          stats: WalkStats) -> None:
    """Add a regular file or symlink that passes ``restrict`` to ``files``; count the rest."""
    mode = st.st_mode
    if root.restrict is not None and not root.restrict.search(os.path.basename(path)):
        return
    if S_ISREG(mode):
        files.append((path, st, None))
    elif S_ISLNK(mode):
        try:
            target = _show(os.readlink(path))
        except OSError:
            return
        files.append((path, st, target))
    else:
        stats.special += 1


_show = pathtext.show


def _log_warning(message: str, path: bytes | None = None) -> None:
    """walk's default ``warn``: the message alone (a Scanner also records the path)."""
    logger("scan").warning(message)
