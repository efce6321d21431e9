"""The collect loop: find the files, place each at its saved or initial offset, read them
as they grow, follow rotation, run commands on time, and save offsets after the records
they cover have been flushed."""

from __future__ import annotations

import fnmatch
import glob
import os
import selectors
import signal
import stat
import sys
import time
from pathlib import Path

from hidsctl import records
from hidsctl.collect.command import CommandRunner
from hidsctl.collect.emit import Emitter
from hidsctl.collect.formats import SYSLOG, make_framer
from hidsctl.collect.journal import CURSOR_NAME, JournalReader
from hidsctl.collect.offsets import Offset, OffsetStore, find_inode
from hidsctl.collect.settings import CollectSettings, FileSource, Sources
from hidsctl.collect.tail import FileTail
from hidsctl.collect.watch import Watcher, directory_of
from hidsctl.diagnostics import logger

log = logger("collect")
COMMIT_INTERVAL = 0.2      # seconds between offset commits while records keep coming
ONCE_BUDGET = 64 << 20     # bytes per file per round with --once, between commits
FOLLOW_BUDGET = 16 << 20   # bytes per file per wake-up, so one busy file cannot starve others


class Collector:
    def __init__(self, settings: CollectSettings, sources: Sources, state_dir: Path,
                 writer: records.RecordWriter | None = None):
        self.settings = settings
        self.sources = sources
        self.writer = writer or records.RecordWriter()
        self.store = OffsetStore(state_dir)
        self.store.prune()
        self.once = settings.once
        self.active: dict[str, FileTail] = {}   # path -> the file now at that path
        self.draining: list[FileTail] = []     # rotated-away files still read to their end
        self.gone: list[tuple[str, int, int]] = []
        self.reported: dict[str, str] = {}
        self.watcher: Watcher | None = None
        self.commands = [CommandRunner(c, self.writer, settings.max_line) for c in sources.commands]
        self.journal: JournalReader | None = None
        if sources.journal is not None:
            if JournalReader.available():
                self.journal = JournalReader(
                    sources.journal, self.writer, settings.max_line,
                    self.store.cursor(CURSOR_NAME), follow=not self.once,
                    from_start=self.once and not settings.from_end or settings.from_start)
            else:
                log.warning("journal: journalctl not found; the journal is not collected")
        self.saved_cursor = self.journal.cursor if self.journal else None
        self.stop_signal: int | None = None
        self.missing = False  # with --once, a named file or glob that gave nothing to read
        self.last_commit = 0.0
        self.more = False

    # -- running ------------------------------------------------------------------------------

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            if self.once:
                self.run_once()
            else:
                self.follow()
            self.writer.flush()
            self.commit(force=True)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for tail in [*self.active.values(), *self.draining]:
                tail.close()
            self.store.close()
        if self.stop_signal == signal.SIGINT:
            return 130
        return 1 if self.missing else 0

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stop_signal = signum

    def run_once(self) -> None:
        self.discover(initial=True)
        while self.stop_signal is None:
            self.more = False
            self.round(None)
            self.commit()
            if not self.more:
                break
        if self.stop_signal is not None:
            return
        for tail in [*self.draining, *self.active.values()]:
            if tail.fd is not None:
                tail.finish()
        for tail in self.draining:
            self.gone.append((tail.path, tail.dev, tail.ino))
            tail.close()
        self.draining.clear()
        for runner in self.commands:
            runner.run_once()
        if self.journal is not None:
            self.journal.run_once()

    def follow(self) -> None:
        self.watcher = Watcher(self.settings.inotify)
        selector = selectors.DefaultSelector()
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        old_wakeup = signal.set_wakeup_fd(wake_w)
        selector.register(wake_r, selectors.EVENT_READ, "signal")
        if self.watcher.active:
            selector.register(self.watcher.fileno(), selectors.EVENT_READ, "inotify")
        try:
            self.follow_loop(selector)
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for runner in self.commands:
                runner.stop()
            if self.journal is not None:
                self.journal.stop()
            selector.close()
            os.close(wake_r)
            os.close(wake_w)
            self.watcher.close()

    def follow_loop(self, selector: selectors.BaseSelector) -> None:
        poll = self.settings.poll_interval
        self.discover(initial=True)
        self.round(None)
        next_poll = time.monotonic() + poll
        if self.journal is not None:
            self.start_journal(selector)
        while self.stop_signal is None:
            self.start_commands(selector)
            self.writer.flush()
            self.commit()
            if self.stop_signal is not None:
                break
            events = selector.select(self.timeout(next_poll))
            dirs: set[str] | None = set()
            for key, _ in events:
                dirs = self.on_event(selector, key, dirs)
            now = time.monotonic()
            if now >= next_poll or dirs is None:
                next_poll = now + poll
                self.discover(initial=False)
                dirs = None
            elif dirs:
                self.discover(initial=False, dirs=dirs)
            if dirs is None or dirs or self.more:
                everything = dirs is None or self.more
                self.more = False
                self.round(None if everything else dirs)
            self.expire(now)
            if self.journal is not None and self.journal.proc is None \
                    and now >= self.journal.restart_at:
                self.start_journal(selector)

    def on_event(self, selector: selectors.BaseSelector, key: selectors.SelectorKey,
                 dirs: set[str] | None) -> set[str] | None:
        kind = key.data
        if kind == "signal":
            try:
                while os.read(key.fd, 512):
                    pass
            except BlockingIOError:
                pass
        elif kind == "inotify":
            assert self.watcher is not None
            changed = self.watcher.changed()
            if changed is None or dirs is None:
                return None
            dirs |= changed
        elif kind == "journal":
            assert self.journal is not None
            if self.journal.readable():
                selector.unregister(key.fd)
        elif isinstance(kind, tuple):
            runner, fds = kind
            if runner.readable(key.fd):
                selector.unregister(key.fd)
                fds.discard(key.fd)
                if not fds:
                    runner.finish()
        return dirs

    def timeout(self, next_poll: float) -> float:
        now = time.monotonic()
        if self.more:
            return 0
        deadlines = [next_poll]
        for tail in [*self.active.values(), *self.draining]:
            deadline = tail.framer.deadline()
            if deadline is not None:
                deadlines.append(deadline)
        if self.draining:
            deadlines.append(min(t.last_data for t in self.draining) + self.settings.rotate_wait)
        deadlines += [r.next_run for r in self.commands if r.proc is None]
        if self.pending_offsets():
            deadlines.append(self.last_commit + COMMIT_INTERVAL)
        return max(0.0, min(deadlines) - now)

    def start_commands(self, selector: selectors.BaseSelector) -> None:
        now = time.monotonic()
        for runner in self.commands:
            if runner.due(now):
                fds = set(runner.start())
                for fd in fds:
                    selector.register(fd, selectors.EVENT_READ, (runner, fds))

    def start_journal(self, selector: selectors.BaseSelector) -> None:
        assert self.journal is not None
        fd = self.journal.start()
        if fd is not None:
            selector.register(fd, selectors.EVENT_READ, "journal")
        else:
            self.journal.restart_at = time.monotonic() + 60

    # -- finding files ----------------------------------------------------------------------

    def discover(self, *, initial: bool, dirs: set[str] | None = None) -> None:
        """Start following the files the sources name that are not followed yet."""
        known = {(t.dev, t.ino): t for t in [*self.active.values(), *self.draining]
                 if t.fd is not None}
        for source in self.sources.files:
            if dirs is not None and not source.is_glob:
                continue
            where = directory_of(source.current_pattern())
            if dirs is not None and where not in dirs and not any(c in where for c in "*?["):
                continue
            paths = self.expand(source, initial)
            if not paths and initial and source.is_glob and source.required:
                # A follower waits for files to appear; a one-shot run has read nothing.
                self.report(source.pattern, "matches no file"
                            + ("" if self.once else " yet; waiting for files"))
                self.missing |= self.once
            for path in paths:
                if path in self.active:
                    continue
                if self.adopt(path, known):
                    continue
                self.start_tail(path, source, initial)
                # Placing it may have found its rotated predecessor (under a name this
                # pattern may match next): known from now on, so never read twice.
                for tail in [self.active.get(path), *self.draining]:
                    if tail is not None and tail.fd is not None:
                        known[(tail.dev, tail.ino)] = tail

    def expand(self, source: FileSource, initial: bool) -> list[str]:
        if not source.is_glob:
            if self.watcher is not None:
                self.watcher.watch(directory_of(source.pattern))
            return [source.pattern]
        pattern = source.current_pattern()
        if self.watcher is not None and not any(c in directory_of(pattern) for c in "*?["):
            self.watcher.watch(directory_of(pattern))
        paths = []
        for path in sorted(glob.glob(pattern)):
            name = os.path.basename(path)
            if any(fnmatch.fnmatch(name, x) or fnmatch.fnmatch(path, x) for x in source.exclude):
                continue
            if os.path.isfile(path):
                paths.append(path)
        return paths

    def adopt(self, path: str, known: dict[tuple[int, int], FileTail]) -> bool:
        """A new name for a file already followed (rotated by rename to a name a glob
        matches): keep reading it where it is, never again from its start."""
        try:
            st = os.stat(path)
        except OSError:
            return False
        tail = known.get((st.st_dev, st.st_ino))
        if tail is None:
            return False
        if tail in self.draining:
            self.draining.remove(tail)
            self.gone.append((tail.path, tail.dev, tail.ino))
            tail.path, tail.rotated, tail.saved = path, False, None
            self.active[path] = tail
        return True  # an active tail's file under a second name: its own check sees the rename

    def start_tail(self, path: str, source: FileSource, initial: bool) -> None:
        tail = self.make_tail(path, source)
        self.active[path] = tail
        if self.watcher is not None:
            self.watcher.watch(directory_of(path))
        if self.open_tail(tail, missing_ok=not source.required or source.is_glob):
            self.place(tail, initial)
        elif source.is_glob:
            del self.active[path]
        elif self.once and source.required:
            self.missing = True  # reported by open_tail; nothing will come of it

    def make_tail(self, path: str, source: FileSource) -> FileTail:
        emitter = Emitter(self.writer, source.alias or path,
                          None if source.format == SYSLOG else source.format, self.settings.max_line)
        framer = make_framer(emitter, source.format, lines=source.lines, regex=source.regex,
                             timeout=source.timeout)
        return FileTail(path, emitter, framer, source)

    def open_tail(self, tail: FileTail, missing_ok: bool = False) -> bool:
        try:
            st = tail.open()
        except FileNotFoundError:
            if not missing_ok:
                self.report(tail.path, "no such file" + ("" if self.once else "; waiting for it"))
            return False
        except OSError as exc:
            self.report(tail.path, f"cannot read: {exc.strerror}"
                        + ("" if self.once else "; will retry"), notice="unreadable")
            return False
        if not stat.S_ISREG(st.st_mode):
            tail.close()
            self.report(tail.path, "not a regular file; skipped")
            return False
        self.reported.pop(tail.path, None)
        return True

    def place(self, tail: FileTail, initial: bool) -> None:
        """Where reading starts: the saved offset of this very file; the start of a file
        that replaced one read before (rotation) or that appeared while running; otherwise
        the start with --once and the end when following, unless told otherwise."""
        rows = self.store.for_path(tail.path)
        current = next((row for row in rows if tail.matches(row)), None)
        followed = {(t.dev, t.ino) for t in self.draining if t.fd is not None}
        for row in rows:
            if row is not current and (row.dev, row.ino) not in followed:
                self.recover(row, tail)
        if current is not None:
            if current.pos > tail.size():
                self.truncated(tail, current)
            else:
                tail.resume(current)
            return
        if rows:
            return
        for row in self.store.for_inode(tail.dev, tail.ino):
            if tail.matches(row) and row.path not in self.active:
                tail.resume(row)  # the same file under a new name (renamed while stopped)
                tail.saved = None
                self.gone.append((row.path, row.dev, row.ino))
                return
        settings = self.settings
        if initial and (settings.from_end or not (self.once or settings.from_start)):
            tail.restart(tail.size())

    def recover(self, row: Offset, current: FileTail) -> None:
        """A file read before at this path that is no longer there: read what was written
        to it after its saved offset, wherever rotation put it in the same directory."""
        self.gone.append((row.path, row.dev, row.ino))
        where = find_inode(directory_of(row.path), row.dev, row.ino)
        if where is not None:
            old = self.make_tail(row.path, current.source)
            try:
                old.open(where)
            except OSError:
                old.fd = None
            if old.fd is not None and old.matches(row):
                old.resume(row)
                old.rotated, old.saved = True, None
                self.draining.append(old)
                self.gone.pop()
                return
            old.close()
        if row.fingerprint and row.fp_len:
            log.warning(f"{row.path}: the file read before (inode {row.ino}) is gone; anything written "
                 f"to it after offset {row.pos} was not collected")

    # -- reading ------------------------------------------------------------------------------

    def round(self, dirs: set[str] | None) -> None:
        """Read the files (those in ``dirs`` only, when given): rotated ones first."""
        budget = ONCE_BUDGET if self.once else FOLLOW_BUDGET
        for tail in list(self.draining):
            if dirs is None or directory_of(tail.path) in dirs:
                self.read(tail, budget)
        for tail in list(self.active.values()):
            if dirs is None or directory_of(tail.path) in dirs:
                self.check(tail, budget)

    def check(self, tail: FileTail, budget: int) -> None:
        """Follow rotation and truncation of one path, then read it."""
        try:
            st: os.stat_result | None = os.stat(tail.path)
        except OSError:
            st = None
        if tail.fd is None:
            if st is not None and self.open_tail(tail):
                self.place(tail, initial=False)
                self.read(tail, budget)
            return
        if st is None or (st.st_dev, st.st_ino) != (tail.dev, tail.ino):
            self.rotated(tail, st)
            return
        if tail.size() < tail.pos or not tail.verify():
            self.truncated(tail, None)
        self.read(tail, budget)

    def rotated(self, tail: FileTail, st: os.stat_result | None) -> None:
        """The path now names another file, or none: read the old one on (writers may
        still add to it) and the new one from its start."""
        self.read(tail, None)
        tail.rotated, tail.saved = True, None
        self.draining.append(tail)
        if st is None and tail.source is not None and tail.source.is_glob:
            del self.active[tail.path]  # the pattern finds it again if it comes back
            return
        new = self.make_tail(tail.path, tail.source)
        self.active[tail.path] = new
        if st is not None and self.open_tail(new, missing_ok=True):
            new.saved = None
            self.read(new, None)

    def truncated(self, tail: FileTail, saved: Offset | None) -> None:
        """Truncated in place (copytruncate): the lines written after the last read went
        into the copy, so read them from there, then the file from its start."""
        offset = saved or tail.offset()
        copy = find_copy(tail, offset)
        if copy is not None:
            if saved is not None:
                copy.resume(saved)
            else:
                copy.resume(offset)  # carry on exactly where the last read stopped
                copy.pos, copy.carry, copy.skipping = tail.pos, tail.carry, tail.skipping
            self.read(copy, None)
            copy.finish()
            copy.close()
        else:
            if tail.framer.pending_bytes or tail.carry:
                tail.finish()
            log.warning(f"{tail.path}: truncated; reading it again from its start")
        tail.restart(0)
        tail.saved = None

    def read(self, tail: FileTail, budget: int | None) -> None:
        try:
            count = tail.read(budget)
        except OSError as exc:
            self.report(tail.path, f"read failed: {exc.strerror}", notice="unreadable")
            tail.close()
            return
        if budget is not None and count >= budget:
            self.more = True

    def expire(self, now: float) -> None:
        """Flush multi-line entries left idle; close rotated files gone quiet."""
        for tail in [*self.active.values(), *self.draining]:
            deadline = tail.framer.deadline()
            if deadline is not None and now >= deadline:
                tail.framer.flush()
        for tail in list(self.draining):
            if now - tail.last_data >= self.settings.rotate_wait:
                self.read(tail, None)
                if tail.fd is not None:
                    tail.finish()
                self.draining.remove(tail)
                self.gone.append((tail.path, tail.dev, tail.ino))
                tail.close()

    # -- saving -------------------------------------------------------------------------------

    def pending_offsets(self) -> list[Offset]:
        return [t.offset() for t in [*self.active.values(), *self.draining]
                if t.fd is not None and t.committed != t.saved]

    def commit(self, force: bool = False) -> None:
        """Save offsets, after the records they cover are flushed."""
        now = time.monotonic()
        if not force and now - self.last_commit < COMMIT_INTERVAL:
            return
        offsets = self.pending_offsets()
        cursors = {}
        if self.journal is not None and self.journal.cursor is not None \
                and self.journal.cursor != self.saved_cursor:
            cursors[CURSOR_NAME] = self.journal.cursor
        if not offsets and not self.gone and not cursors:
            return
        self.writer.flush()
        live = {(o.path, o.dev, o.ino) for o in offsets}
        self.store.commit(offsets, [g for g in self.gone if g not in live], cursors)
        self.gone.clear()
        for tail in [*self.active.values(), *self.draining]:
            if tail.fd is not None:
                tail.saved = tail.committed
        if cursors:
            self.saved_cursor = cursors[CURSOR_NAME]
        self.last_commit = now

    def report(self, path: str, problem: str, notice: str | None = None) -> None:
        """Say what is wrong with a source once, not at every poll; with ``notice`` (its
        code) also as a ``notice`` record, so a log nobody can read raises an alert."""
        if self.reported.get(path) != problem:
            self.reported[path] = problem
            log.warning(f"{path}: {problem}")
            if notice:
                self.writer.write(records.make("notice", component="collect", code=notice,
                                               message=f"{path}: {problem}", location=path))


def find_copy(tail: FileTail, offset: Offset) -> FileTail | None:
    """The copy copytruncate left beside a file: same directory, a name that starts with
    the file's, the same first bytes, and at least as long as what was read."""
    directory, name = os.path.split(tail.path)
    try:
        entries = list(os.scandir(directory or "."))
    except OSError:
        return None
    for entry in entries:
        try:
            if entry.name == name or not entry.name.startswith(name) \
                    or not entry.is_file(follow_symlinks=False):
                continue
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (tail.dev, tail.ino) or st.st_size < offset.pos:
            continue
        copy = FileTail(tail.path, tail.emitter, tail.framer)
        try:
            copy.open(entry.path)
        except OSError:
            continue
        probe = Offset(tail.path, copy.dev, copy.ino, offset.pos, offset.fingerprint, offset.fp_len)
        if offset.fp_len and copy.matches(probe):
            return copy
        copy.close()
    return None


def collect(settings: CollectSettings, sources: Sources, state_dir: Path) -> int:
    collector = Collector(settings, sources, state_dir)
    try:
        return collector.run()
    except BrokenPipeError:  # pragma: no cover - RecordWriter handles the usual case
        return 0
    finally:
        sys.stderr.flush()
