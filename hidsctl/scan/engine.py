"""One integrity scan: walk the roots, hash on a thread pool, compare with the baseline,
emit ``syscheck`` records and commit the new baseline in one transaction.

The main thread walks and compares; worker threads open, read and hash (hashlib and
os.read release the GIL, so hashing runs on every core).
"""

from __future__ import annotations

import contextlib
import os
import stat
import struct
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from hidsctl import records
from hidsctl.diagnostics import logger
from hidsctl.gcpause import paused
from hidsctl.scan import attributes, pathtext
from hidsctl.scan.attributes import Entry, Unreadable
from hidsctl.scan.baseline import Baseline
from hidsctl.scan.diffs import DiffStore
from hidsctl.scan.walk import Root, WalkStats, walk, walk_dirs

BATCH = 64          # files per task handed to a worker
IN_FLIGHT = 8       # tasks queued per worker before the walk waits


def default_threads() -> int:
    return max(2, (os.cpu_count() or 1) * 2)


@dataclass
class ScanResult:
    files: int = 0
    hashed: int = 0
    bytes: int = 0
    added: int = 0
    modified: int = 0
    deleted: int = 0
    special: int = 0
    errors: int = 0
    seconds: float = 0.0
    records: list[dict] = field(default_factory=list)


class Progress:
    """Counts files and bytes; draws a rich bar only when stderr is a terminal."""

    def __init__(self, enabled: bool):
        self.bar = None
        if enabled:
            from rich.progress import Progress as RichProgress, SpinnerColumn, TextColumn

            self.bar = RichProgress(SpinnerColumn(), TextColumn("{task.description}"),
                                    transient=True, console=_stderr_console())
            self.task = self.bar.add_task("scanning", total=None)
            self.bar.start()
        self.files = 0
        self.bytes = 0

    def advance(self, size: int) -> None:
        self.files += 1
        self.bytes += size
        if self.bar is not None and self.files % 256 == 0:
            self.bar.update(self.task, description=f"scanning: {self.files} files, "
                                                   f"{self.bytes / 1e6:.0f} MB")

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


class Scanner:
    def __init__(self, state_dir: Path, *, skip: frozenset[bytes] = frozenset(),
                 threads: int = 0, diff_size_limit: int = 1 << 20,
                 hash_size_limit: int = 1 << 30,
                 emit: Callable[[dict], None] | None = None,
                 warn: Callable[[str], None] | None = None, progress: bool = False):
        self.baseline = Baseline(state_dir)
        self.diffs = DiffStore(state_dir, diff_size_limit)
        self.skip = skip
        self.hash_size_limit = max(0, hash_size_limit)
        self.threads = threads or default_threads()
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="hash")
        self.emit = emit
        self.warn = warn or logger("scan").warning
        self.show_progress = progress
        self.run_records: list[dict] = []  # the current scan's result, without ``emit``

    def unreadable(self, message: str, path: bytes) -> None:
        """A file or directory that could not be read: on stderr, and as a ``notice``
        record, since a file an intruder made unreadable is no longer watched."""
        self.warn(message)
        record = records.make("notice", component="scan", code="unreadable", message=message,
                              location=_show(path))
        if self.emit is not None:
            self.emit(record)
        else:
            self.run_records.append(record)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.baseline.close()

    def scan(self, roots: list[Root], *, fast: bool = False, init: bool = False,
             report: bool = True, prune: frozenset[bytes] = frozenset(),
             remember: bool = True, progress: bool = True) -> ScanResult:
        """Scan ``roots``; compare only with baseline entries under them.

        ``init`` rebuilds those entries from scratch and reports nothing; ``report=False``
        records a first baseline silently. ``prune`` holds other configured roots, which
        are scanned with their own options; ``remember=False`` (realtime rescans of single
        paths) does not record the roots as scanned directories.
        """
        run = _Run(self, fast=fast, report=report and not init)
        self.run_records = run.result.records
        # A root scanned for the first time is recorded silently: that is its baseline.
        run.silent = {r.path for r in roots if not self.baseline.known(r.path)}
        started = time.monotonic()
        stats = WalkStats()
        shown = run.progress = Progress(self.show_progress and progress)
        try:
            # --fast builds a tuple per file and a stat per file, none in a cycle: the
            # cyclic collector would only walk them again and again (a tenth of its time).
            with paused() if fast else contextlib.nullcontext():
                old: dict[bytes, Any] = {}  # rows; stamps under --fast
                if not init:
                    for root in roots:
                        # --fast holds stamps (what a stat can confirm), whole rows on demand.
                        old.update(self.baseline.stamps(root.path) if fast
                                   else self.baseline.under(root.path))
                run.old = old
                for root in roots:
                    skip = self.skip | (prune - {root.path})
                    if fast:
                        run.walk_fast(root, walk_dirs(root, skip, stats, self.unreadable,
                                                      prefetch=False))
                    else:
                        run.walk_root(root, walk(root, skip, stats, self.unreadable))
                run.drain(0)
        finally:
            shown.stop()
        # Configured roots nested in these but not scanned now keep their entries.
        elsewhere = [p for p in prune - {r.path for r in roots}
                     if any(p.startswith(r.path.rstrip(b"/") + b"/") for r in roots)]
        deletions = run.deletions(stats.unscanned + elsewhere)
        self.baseline.write(run.upserts, deletions, time.time(),
                            clear=[r.path for r in roots] if init else (),
                            roots=[r.path for r in roots] if remember else ())
        self.diffs.commit()
        result = run.result
        result.files, result.special = stats.files, stats.special
        result.errors += stats.errors
        result.seconds = time.monotonic() - started
        return result


class _Run:
    """The state of one scan: what was seen, what changes, what to emit."""

    def __init__(self, scanner: Scanner, *, fast: bool, report: bool):
        self.scanner = scanner
        self.fast = fast
        self.report = report
        self.old: dict[bytes, Any] = {}  # rows; stamps under --fast
        self.seen: set[bytes] = set()
        self.upserts: list[tuple[bytes, Entry]] = []
        self.pending: deque[Future] = deque()
        self.result = ScanResult()
        self.silent: set[bytes] = set()
        self.progress = Progress(False)
        self.limit = scanner.threads * IN_FLIGHT

    # --- walking and hashing ---------------------------------------------------------

    def walk_root(self, root: Root, files, rows: dict[bytes, tuple] | None = None) -> None:
        """Hash and compare ``files``; their baseline rows are in ``old`` (or ``rows``)."""
        options = root.options
        names = options.hashes()
        hash_index = [attributes.HASH_INDEX[name] for name in names]
        follow = options.follow_symlinks
        batch: list = []
        old, seen, progress = self.old if rows is None else rows, self.seen, self.progress
        fast = self.fast and rows is None
        unmoved = attributes.unmoved
        for path, st, target in files:
            seen.add(path)
            previous = old.get(path)
            if fast and previous is not None and unmoved(previous, st, target) \
                    and all(previous[i] for i in hash_index):
                progress.advance(st.st_size)
                continue  # the common case of a re-scan: nothing moved, nothing to do
            if target is not None or not names:
                self.compare(path, previous, attributes.from_stat(st, target), root)
            else:
                batch.append((path, st, previous))
                if len(batch) >= BATCH:
                    self.submit(batch, root, names, follow)
                    batch = []
        if batch:
            self.submit(batch, root, names, follow)

    def walk_fast(self, root: Root, directories) -> None:
        """``--fast``: a file whose stamp (size, mtime, ctime, inode, device, the hashes
        wanted, a symlink's target) is unchanged is done with its stat. Its stamp leaves
        ``old``, so what remains there at the end was not seen: deleted. The files that
        moved stream on to walk_root with their whole rows, read one by one."""
        want = attributes.hash_bits(root.options.hashes())
        pack, stamp = attributes.STAMP.pack, attributes.stamp
        pop, row = self.old.pop, self.scanner.baseline.row
        advance = self.progress.advance if self.progress.bar is not None else None
        rows: dict[bytes, tuple] = {}

        def moved():
            for files in directories:  # a list per directory: no generator step per file
                for path, st, target in files:
                    s = pop(path, None)
                    try:
                        now = pack(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino,
                                   st.st_dev, want) if target is None else \
                            stamp(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino,
                                  st.st_dev, 0, target)
                    except struct.error:  # a time or inode past 64 bits: its wide stamp
                        now = stamp(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino,
                                    st.st_dev, want, None)
                    if s == now:
                        if advance is not None:
                            advance(st.st_size)
                        continue
                    full = row(path) if s is not None else None
                    if full is not None:
                        rows[path] = full
                    yield path, st, target

        self.walk_root(root, moved(), rows)

    def submit(self, batch: list, root: Root, names: tuple[str, ...], follow: bool) -> None:
        self.drain(self.limit)
        future = self.scanner.pool.submit(_hash_batch, batch, names, follow,
                                          self.scanner.hash_size_limit)
        future.root = root  # type: ignore[attr-defined]
        self.pending.append(future)

    def drain(self, keep: int) -> None:
        """Handle finished tasks, oldest first, until at most ``keep`` are pending."""
        while len(self.pending) > keep:
            future = self.pending.popleft()
            root = future.root  # type: ignore[attr-defined]
            for path, previous, entry, problem in future.result():
                self.hashed(path, previous, entry, problem, root)

    def hashed(self, path: bytes, previous: tuple | None, entry: Entry | None,
               problem: str | None, root: Root) -> None:
        if entry is None:
            # Vanished or no longer a regular file since the walk: keep what the baseline
            # holds; the next scan settles it, so no false 'deleted' from a race.
            if problem:
                self.scanner.warn(f"{_show(path)}: {problem}")
            return
        if problem:  # unreadable: the stat attributes stand, the hashes are kept as they were
            self.scanner.unreadable(f"cannot read {_show(path)}: {problem}", path)
            self.result.errors += 1
            if previous is not None:
                for name, index in attributes.HASH_INDEX.items():
                    entry[name] = previous[index]
        elif entry["sha256"] is None and entry["sha1"] is None and entry["md5"] is None:
            self.too_large(path, previous, entry)
        else:
            self.result.hashed += 1
            self.result.bytes += entry["size"]
        self.compare(path, previous, entry, root)

    def too_large(self, path: bytes, previous: tuple | None, entry: Entry) -> None:
        """Say so when a file is first seen too large to hash, or grew past the limit."""
        if previous is None or any(previous[i] for i in attributes.HASH_INDEX.values()):
            self.scanner.warn(f"{_show(path)}: {entry['size']} bytes, larger than "
                              f"hash_size_limit ({self.scanner.hash_size_limit}); not hashed")

    # --- comparing -------------------------------------------------------------------

    def compare(self, path: bytes, row: tuple | None, entry: Entry, root: Root) -> None:
        self.progress.advance(entry["size"])
        if row is None:
            self.upserts.append((path, entry))
            self.keep_copy(path, entry, root)
            if self.report and root.path not in self.silent:
                self.result.added += 1
                self.write(path, "added", [], None, entry)
            return
        if attributes.row_of(entry) == row:
            return
        self.upserts.append((path, entry))
        previous = attributes.entry_of(row)
        names = attributes.changed(previous, entry, root.compared)
        if not names:
            return
        diff = None
        if any(name in attributes.HASH_NAMES for name in names):
            diff = self.keep_copy(path, entry, root, want_diff=True)
        if self.report:
            self.result.modified += 1
            self.write(path, "modified", names, previous, entry, diff)

    def keep_copy(self, path: bytes, entry: Entry, root: Root, want_diff: bool = False) -> str | None:
        """report_changes: stage the new copy, and return the diff from the last one."""
        if not root.options.report_changes or entry.get("target") is not None:
            return None
        if root.nodiff(path):
            return None
        diffs = self.scanner.diffs
        content = diffs.read_text_file(path)
        if content is None:
            return None
        diff = diffs.diff(path, content) if want_diff else None
        diffs.stage(path, content)
        return diff

    def deletions(self, unscanned: list[bytes]) -> list[bytes]:
        gone = []
        prefixes = tuple(p.rstrip(b"/") + b"/" for p in unscanned)
        unscanned_set = set(unscanned)
        for path, row in self.old.items():
            if path in self.seen or path in unscanned_set:
                continue
            if prefixes and path.startswith(prefixes):
                continue  # under a directory we could not list: not known to be gone
            gone.append(path)
            self.scanner.diffs.forget(path)
            if self.report:
                if self.fast:  # a stamp: the record shows the whole row
                    full = self.scanner.baseline.row(path)
                    if full is None:  # gone from the baseline meanwhile: nothing to show
                        continue
                    row = full
                self.result.deleted += 1
                self.write(path, "deleted", [], attributes.entry_of(row), None)
        return gone

    def write(self, path: bytes, event: str, names: list[str], old: Entry | None,
              new: Entry | None, diff: str | None = None) -> None:
        fields: dict = {"path": _show(path), "event": event, "changed": names}
        if old is not None:
            fields["old"] = attributes.public(old)
        if new is not None:
            fields["new"] = attributes.public(new)
        if diff:
            fields["diff"] = diff
        fields["location"] = "syscheck"
        record = records.make("syscheck", **fields)
        if self.scanner.emit is not None:
            self.scanner.emit(record)
        else:
            self.result.records.append(record)


def _hash_batch(batch: list, names: tuple[str, ...], follow: bool, limit: int) -> list:
    """Worker: hash each file of a batch. Returns (path, previous, entry, problem)."""
    out: list[tuple[bytes, Any, dict | None, str | None]] = []
    for path, st, previous in batch:
        try:
            digests, fst = attributes.hash_file(path, names, follow, limit)
        except FileNotFoundError:
            out.append((path, previous, None, None))
            continue
        except Unreadable as exc:
            out.append((path, previous, attributes.from_stat(st), str(exc)))
            continue
        if not stat.S_ISREG(fst.st_mode):
            out.append((path, previous, None, "no longer a regular file; skipped"))
            continue
        entry = attributes.from_stat(fst)
        entry.update(digests)
        out.append((path, previous, entry, None))
    return out


_show = pathtext.show

