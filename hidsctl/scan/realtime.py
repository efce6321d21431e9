"""``--realtime``: after the baseline, watch the directories with inotify and report each
change as it happens (new subdirectories are watched as they appear).

Events are gathered for a short moment and the paths they name are scanned again with
the same engine as a full scan (so the records and the baseline are the same); each batch
is one transaction. When the kernel's watch limit is reached the command says so and
falls back to periodic full scans.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from contextlib import AbstractContextManager
from typing import Protocol

from inotify_simple import INotify, flags

from hidsctl.diagnostics import logger
from hidsctl.records import RecordWriter
from hidsctl.scan.engine import Scanner
from hidsctl.scan.settings import DirOptions
from hidsctl.scan.walk import Root

log = logger("scan")

WATCH_MASK = (flags.CREATE | flags.MODIFY | flags.CLOSE_WRITE | flags.ATTRIB | flags.MOVED_FROM
              | flags.MOVED_TO | flags.DELETE | flags.DELETE_SELF | flags.MOVE_SELF
              | flags.DONT_FOLLOW | flags.EXCL_UNLINK)
GATHER = 0.05             # seconds to gather the events that come together
FALLBACK_INTERVAL = 60.0  # full scans when watching is impossible and --every is not set


class WatchLimit(Exception):
    """The kernel refused another watch (fs.inotify.max_user_watches)."""


class Watcher:
    def __init__(self, directories: list[DirOptions], skip: frozenset[bytes]):
        self.inotify = INotify()
        self.directories = sorted(directories, key=lambda d: len(d.path), reverse=True)
        self.skip = skip
        self.paths: dict[int, bytes] = {}   # watch descriptor -> directory
        self.wds: dict[bytes, int] = {}

    def close(self) -> None:
        self.inotify.close()

    def governing(self, path: bytes) -> tuple[DirOptions, int] | None:
        """The configured directory a path belongs to, and the path's depth in it."""
        for options in self.directories:
            top = os.fsencode(options.path)
            if path == top:
                return options, 0
            if path.startswith(top.rstrip(b"/") + b"/"):
                return options, path[len(top.rstrip(b"/")):].count(b"/")
        return None

    def root_for(self, path: bytes) -> Root | None:
        """A root to scan ``path`` again with its directory's options; None when a scan
        of that directory would not look at it (too deep, ignored)."""
        found = self.governing(path)
        if found is None:
            return None
        options, depth = found
        try:
            is_dir = stat.S_ISDIR(os.lstat(path).st_mode)
        except OSError:
            is_dir = False
        # A directory's entries sit at its depth; a file sits in its parent's.
        if (depth if is_dir else depth - 1) > options.recursion_level:
            return None
        root = Root.of(options, path, depth_offset=depth)
        if depth and root.ignored(path):
            return None
        return root

    def add_tree(self, top: bytes) -> None:
        """Watch ``top`` and the directories below it that its options let a scan see."""
        found = self.governing(top)
        if found is None:
            return
        options, depth = found
        root = Root.of(options)
        if depth > options.recursion_level or (depth and (root.ignored(top) or top in self.skip)):
            return
        stack = [(top, depth)]
        top_dev = None
        while stack:
            directory, level = stack.pop()
            try:
                st = os.lstat(directory)
            except OSError:
                continue
            if not stat.S_ISDIR(st.st_mode):
                continue
            top_dev = st.st_dev if top_dev is None else top_dev
            self.add(directory)
            if level >= options.recursion_level:
                continue
            try:
                with os.scandir(directory) as it:
                    names = [e.name for e in it if e.is_dir(follow_symlinks=False)]
            except OSError:
                continue
            prefix = directory.rstrip(b"/") + b"/"
            for name in names:
                path = prefix + name
                if path in self.skip or root.ignored(path):
                    continue
                stack.append((path, level + 1))

    def add(self, directory: bytes) -> None:
        try:
            wd = self.inotify.add_watch(directory, WATCH_MASK)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise WatchLimit(directory) from None
            return  # vanished or unreadable: the next full scan covers it
        self.paths[wd] = directory
        self.wds[directory] = wd

    def forget(self, directory: bytes) -> None:
        """Drop the watches of a directory that moved away or was deleted."""
        prefix = directory.rstrip(b"/") + b"/"
        for path in [p for p in self.wds if p == directory or p.startswith(prefix)]:
            wd = self.wds.pop(path)
            self.paths.pop(wd, None)
            try:
                self.inotify.rm_watch(wd)
            except OSError:
                pass

    def changed_paths(self, timeout: float | None) -> tuple[set[bytes], bool]:
        """Paths named by the next events (waiting up to ``timeout``), and whether the
        kernel's queue overflowed (then only a full scan is sure)."""
        events = self.inotify.read(timeout=None if timeout is None else int(timeout * 1000),
                                   read_delay=int(GATHER * 1000))
        if not events:
            return set(), False
        paths: set[bytes] = set()
        overflow = False
        for event in events:
            if event.mask & flags.Q_OVERFLOW:
                overflow = True
                continue
            directory = self.paths.get(event.wd)
            if directory is None:
                continue
            if event.mask & (flags.DELETE_SELF | flags.MOVE_SELF):
                self.forget(directory)
                paths.add(directory)
                continue
            if event.mask & flags.IGNORED or not event.name:
                continue
            path = directory.rstrip(b"/") + b"/" + os.fsencode(event.name)
            if event.mask & flags.ISDIR:
                if event.mask & (flags.CREATE | flags.MOVED_TO):
                    self.add_tree(path)
                elif event.mask & flags.MOVED_FROM:
                    self.forget(path)
            paths.add(path)
        return paths, overflow


def outermost(paths: set[bytes]) -> list[bytes]:
    """The paths without those below another one of them (scanned with their parent)."""
    ordered = sorted(paths)
    kept: list[bytes] = []
    for path in ordered:
        if kept and (path == kept[-1] or path.startswith(kept[-1].rstrip(b"/") + b"/")):
            continue
        kept.append(path)
    return kept


class Scans(Protocol):
    """What watching needs of ``hidsctl scan`` (scan/run.py), passed in so this module
    depends on no caller: a full scan of every configured directory, and the guard that
    keeps SIGTERM from ending a batch half committed."""

    def full(self, init: bool = False) -> object: ...

    def batch(self) -> AbstractContextManager[None]: ...


def watch(directories: list[DirOptions], scanner: Scanner, writer: RecordWriter,
          every: float | None, scans: Scans, *, init: bool = False) -> None:
    """Watch first, then scan, so nothing that changes in between goes unseen.
    ``directories`` are all the configured ones; those marked realtime are watched."""
    watcher = Watcher([d for d in directories if d.realtime], scanner.skip)
    configured = frozenset(os.fsencode(d.path) for d in directories)
    try:
        try:
            for options in watcher.directories:
                watcher.add_tree(os.fsencode(options.path))
        except WatchLimit:
            interval = every or FALLBACK_INTERVAL
            watcher.close()
            with scans.batch():
                scans.full(init)
                writer.flush()
            log.warning(f"the inotify watch limit is reached (fs.inotify.max_user_watches); "
                        f"falling back to a full scan every {interval:g}s")
            _periodic(scans, writer, interval)
            return
        with scans.batch():
            scans.full(init)
            writer.flush()
        log.info(f"watching {len(watcher.wds)} directories")
        next_full = time.monotonic() + every if every else None
        while True:
            timeout = None if next_full is None else max(0.0, next_full - time.monotonic())
            paths, overflow = watcher.changed_paths(timeout)
            with scans.batch():
                if overflow:
                    scans.full()
                elif paths:
                    roots = [root for root in map(watcher.root_for, outermost(paths)) if root]
                    if roots:
                        scanner.scan(roots, fast=False, prune=configured, remember=False,
                                     progress=False)
                if every and next_full is not None and time.monotonic() >= next_full:
                    scans.full()
                    next_full = time.monotonic() + every
                writer.flush()
    finally:
        watcher.close()


def _periodic(scans: Scans, writer: RecordWriter, interval: float) -> None:
    while True:
        time.sleep(interval)
        scans.full()
        writer.flush()

