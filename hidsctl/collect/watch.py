"""Wake-ups for followed files: inotify on their directories where the kernel offers it,
so a new line is read as soon as it is written; the caller's poll covers the rest."""

from __future__ import annotations

import os

from hidsctl.diagnostics import logger

try:
    from inotify_simple import INotify, flags
except ImportError:  # pragma: no cover - a dependency, but not on every platform
    INotify = None

MASK = 0
if INotify is not None:
    MASK = (flags.MODIFY | flags.CREATE | flags.MOVED_TO | flags.MOVED_FROM | flags.DELETE
            | flags.CLOSE_WRITE | flags.ATTRIB | flags.DELETE_SELF | flags.MOVE_SELF)


class Watcher:
    """Directory watches. ``changed()`` says which directories saw events; None means
    events were lost (queue overflow) and everything must be looked at."""

    def __init__(self, enabled: bool = True):
        self.inotify = None
        self.dirs: dict[int, str] = {}
        self.watched: dict[str, int] = {}
        if enabled and INotify is not None:
            try:
                self.inotify = INotify()
            except OSError as exc:
                logger("collect").warning(f"inotify unavailable ({exc.strerror}); polling")

    @property
    def active(self) -> bool:
        return self.inotify is not None

    def fileno(self) -> int:
        assert self.inotify is not None
        return self.inotify.fileno()

    def watch(self, directory: str) -> None:
        if self.inotify is None or directory in self.watched:
            return
        try:
            wd = self.inotify.add_watch(directory, MASK)
        except OSError:
            return  # not there yet or not ours to watch: the poll covers it
        self.watched[directory] = wd
        self.dirs[wd] = directory

    def changed(self) -> set[str] | None:
        assert self.inotify is not None
        touched: set[str] = set()
        for event in self.inotify.read(timeout=0):
            if event.mask & flags.Q_OVERFLOW:
                return None
            directory = self.dirs.get(event.wd)
            if directory is None:
                continue
            if event.mask & flags.IGNORED:
                self.dirs.pop(event.wd, None)
                self.watched.pop(directory, None)
            touched.add(directory)
        return touched

    def close(self) -> None:
        if self.inotify is not None:
            try:
                self.inotify.close()
            except OSError:
                pass
            self.inotify = None


def directory_of(path: str) -> str:
    return os.path.dirname(path) or "."
