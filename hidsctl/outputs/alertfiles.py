"""Alert files: OSSEC's dated alert log tree, closed (gzip) and sealed day by day.

    DIR/alerts/2026/Nov/ossec-alerts-25.log     alerts.log text (hidsctl.alerttext)
    DIR/alerts/2026/Nov/ossec-alerts-25.json    one alert per line, alerts.json names
    DIR/alerts/alerts.log, alerts.json          symlinks to the newest open day
    DIR/archives/2026/Nov/ossec-archive-25.json every record received (on request)
    DIR/alerts/checksums, DIR/archives/checksums  the seal chains (hidsctl.outputs.seal)
    DIR/alerts/2026/Nov/.ossec-alerts-25.log.chain  an open file's running chain
                                                (hidsctl.outputs.runchain)

Each record is filed under the UTC day of its own ``timestamp``. A day closes (its files are
gzipped and sealed) when a record of a later day arrives, when the wall clock passes midnight
while the writer runs, and at the start and end of a run for days the wall clock has left
behind (so replaying old alerts does not close a day between two of its own records). Sealed
files never change: a record that arrives for a day already sealed opens a new part,
``ossec-alerts-25-1.log``, closed and sealed the same way.
"""

from __future__ import annotations

import os
import re
import shutil
import gzip
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import BinaryIO

from hidsctl.alerttext import format_alert
from hidsctl.diagnostics import logger
from hidsctl.errors import StateError
from hidsctl.outputs import runchain, seal
from hidsctl.outputs.clock import MONTHS, Clock, system_clock, utc_day
from hidsctl.records import Record, dumps, record_time
from hidsctl.state import ExclusiveLock, fsync_dir

_PLAIN = re.compile(r"^(?P<year>\d{4})/(?P<mon>[A-Z][a-z]{2})/(?P<prefix>ossec-[a-z]+)-"
                    r"(?P<day>\d{2})(?:-(?P<part>\d+))?\.(?P<ext>log|json)$")


@dataclass
class OpenDay:
    day: date
    stem: Path  # the files are stem + ".log" / ".json"
    handles: dict[str, BinaryIO] = field(default_factory=dict)
    chains: dict[str, runchain.ChainWriter] = field(default_factory=dict)

    def close(self) -> None:
        """Data first, then the chains that cover it."""
        for handle in self.handles.values():
            handle.close()
        for chain in self.chains.values():
            chain.close()
        self.handles.clear()
        self.chains.clear()


class Tree:
    """One dated tree (alerts or archives): the open days and their closing."""

    def __init__(self, root: Path, prefix: str, exts: tuple[str, ...], links: dict[str, str]):
        self.root = root
        self.prefix = prefix
        self.exts = exts
        self.links = links  # ext -> name of the "current" symlink
        self.open_days: dict[date, OpenDay] = {}
        self.root.mkdir(parents=True, exist_ok=True)
        self._recover()

    # --- writing ------------------------------------------------------------------------

    def write(self, day: date, parts: dict[str, bytes]) -> None:
        open_day = self.open_days.get(day) or self._open(day)
        for ext, data in parts.items():
            handle = open_day.handles.get(ext)
            if handle is None:
                path = Path(f"{open_day.stem}.{ext}")
                open_day.chains[ext] = runchain.ChainWriter(path, self._label(path))
                handle = open_day.handles[ext] = open(path, "ab")
            handle.write(data)
            open_day.chains[ext].append(data)

    def flush(self, sync: bool = False) -> None:
        """Data before the chain entries that cover it, so a chain never runs ahead."""
        for open_day in self.open_days.values():
            for handle in open_day.handles.values():
                handle.flush()
                if sync:
                    os.fsync(handle.fileno())
            for chain in open_day.chains.values():
                chain.flush(sync)

    def _label(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _open(self, day: date) -> OpenDay:
        directory = self.root / str(day.year) / MONTHS[day.month - 1]
        directory.mkdir(parents=True, exist_ok=True)
        stem = self._free_stem(directory, day)
        open_day = self.open_days[day] = OpenDay(day, stem)
        if day == max(self.open_days):
            self._link(open_day)
        return open_day

    def _free_stem(self, directory: Path, day: date) -> Path:
        """The day's file stem; a new part when the day's file is already sealed."""
        part = 0
        while True:
            name = f"{self.prefix}-{day.day:02d}" + (f"-{part}" if part else "")
            stem = directory / name
            if not any(Path(f"{stem}.{ext}.gz").exists() for ext in self.exts):
                return stem
            part += 1

    def _link(self, open_day: OpenDay) -> None:
        for ext, name in self.links.items():
            link = self.root / name
            target = Path(f"{open_day.stem}.{ext}").relative_to(self.root)
            temporary = self.root / f".{name}.tmp"
            temporary.unlink(missing_ok=True)
            temporary.symlink_to(target)
            os.replace(temporary, link)

    # --- closing ------------------------------------------------------------------------

    def close_before(self, day: date) -> list[Path]:
        """Close (gzip and seal) every open day before ``day``; the sealed files."""
        sealed: list[Path] = []
        for old in sorted(d for d in self.open_days if d < day):
            sealed.extend(self._close(self.open_days.pop(old)))
        return sealed

    def _close(self, open_day: OpenDay) -> list[Path]:
        open_day.close()
        sealed = []
        for ext in self.exts:
            plain = Path(f"{open_day.stem}.{ext}")
            if plain.exists():
                self._check_before_sealing(plain)
                sealed.append(self._seal(open_day.day, plain))
        for ext, name in self.links.items():
            link = self.root / name
            if link.is_symlink() and os.readlink(link) == str(
                    Path(f"{open_day.stem}.{ext}").relative_to(self.root)):
                link.unlink()
        return sealed

    def _seal(self, day: date, plain: Path) -> Path:
        """gzip, fsync, rename, chain the hash, then remove the plain file (crash-safe order)."""
        final = Path(f"{plain}.gz")
        temporary = Path(f"{plain}.gz.tmp")
        with open(plain, "rb") as source, open(temporary, "wb") as raw:
            with gzip.GzipFile(filename=plain.name, mode="wb", fileobj=raw, mtime=0) as packed:
                shutil.copyfileobj(source, packed, 1 << 20)
            raw.flush()
            os.fsync(raw.fileno())
        size = plain.stat().st_size
        os.replace(temporary, final)
        fsync_dir(final.parent)
        seal.append_seal(self.root, day.isoformat(), final.relative_to(self.root).as_posix(),
                         seal.file_sha256(final), size)
        plain.unlink()
        runchain.sidecar(plain).unlink(missing_ok=True)  # the seal covers the file now
        fsync_dir(final.parent)
        return final

    def _check_before_sealing(self, plain: Path) -> None:
        """A file changed while open is sealed as it is (alerts keep flowing), but never
        silently: the seal would otherwise vouch for the change."""
        coverage = runchain.verify_open(plain, self._label(plain))
        if coverage.problem is not None and coverage.problem != "unchained":
            logger("logs").warning(f"{self._label(plain)}: line {coverage.line}: "
                                   f"{coverage.problem} before sealing (its running chain "
                                   "does not match); sealed as found")

    def _recover(self) -> None:
        """Pick up days a previous run left open; finish a close a crash interrupted."""
        listed = {s.path for s in seal.read_seals(self.root)}
        for temporary in self.root.rglob("*.gz.tmp"):
            temporary.unlink()
        for chain in self.root.rglob(f".{self.prefix}-*.chain"):
            if not chain.with_name(chain.name[1:-len(".chain")]).exists():
                chain.unlink()  # its file was sealed; only this removal was left to do
        for plain in sorted(self.root.rglob(f"{self.prefix}-*")):
            relative = plain.relative_to(self.root).as_posix()
            match = _PLAIN.match(relative)
            if not match or match["prefix"] != self.prefix:
                continue
            packed = Path(f"{plain}.gz")
            if packed.exists():
                if f"{relative}.gz" in listed:
                    plain.unlink()  # sealed; only the removal was left to do
                    continue
                packed.unlink()  # compressed but never sealed: the plain file is the truth
            day = date(int(match["year"]), MONTHS.index(match["mon"]) + 1, int(match["day"]))
            stem = Path(str(plain)[: -len(match["ext"]) - 1])
            current = self.open_days.get(day)
            if current is None or len(str(stem)) > len(str(current.stem)):
                self.open_days[day] = OpenDay(day, stem)  # the latest part is the one to extend

    def close_handles(self) -> None:
        self.flush(sync=True)
        for open_day in self.open_days.values():
            open_day.close()


class AlertFiles:
    """Writes alerts (and optionally every record) under DIR, rotating by the clock."""

    def __init__(self, directory: str | os.PathLike, *, archives: bool = False,
                 now: Clock = system_clock):
        self.dir = Path(directory)
        self.now = now
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create {self.dir}: {exc.strerror}") from exc
        self.lock = ExclusiveLock(self.dir / ".write.lock", f"alert files in {self.dir}").acquire()
        self.alerts = Tree(self.dir / "alerts", "ossec-alerts", ("log", "json"),
                           {"log": "alerts.log", "json": "alerts.json"})
        self.archives = Tree(self.dir / "archives", "ossec-archive", ("json",),
                             {"json": "archives.json"}) if archives else None
        self.sealed: list[Path] = []
        self.written = 0
        self.wall_day = utc_day(self.now())
        self._close_before(self.wall_day)  # days a previous run left open

    def handle(self, record: Record) -> None:
        # Everything is formatted before anything is written: a record that cannot be
        # (a dead letter) leaves no half of itself in the files.
        day = utc_day(record_time(record))
        line = dumps(record)
        text = format_alert(record).encode("utf-8", "replace") \
            if record.get("type") == "alert" else None
        if self.archives is not None:
            self._advance(self.archives, day)
            self.archives.write(day, {"json": line})
        if text is not None:
            self._advance(self.alerts, day)
            self.alerts.write(day, {"log": text, "json": line})
            self.written += 1

    def sync(self) -> None:
        """Everything written so far on disk (before a checkpoint passes through)."""
        for tree in self.trees():
            tree.flush(sync=True)

    def _advance(self, tree: Tree, day: date) -> None:
        if tree.open_days and day > min(tree.open_days):
            self.sealed.extend(tree.close_before(day))

    def tick(self) -> None:
        """Flush; at midnight by the wall clock, close the days it has left behind."""
        for tree in self.trees():
            tree.flush()
        today = utc_day(self.now())
        if today != self.wall_day:
            self.wall_day = today
            self._close_before(today)

    def _close_before(self, day: date) -> None:
        for tree in self.trees():
            self.sealed.extend(tree.close_before(day))

    def trees(self) -> list[Tree]:
        return [self.alerts] + ([self.archives] if self.archives is not None else [])

    def close(self) -> None:
        """End of input: close the days the wall clock has left behind, keep today's open."""
        self._close_before(utc_day(self.now()))
        for tree in self.trees():
            tree.close_handles()
        self.lock.release()


@dataclass
class Verification:
    seals: list[seal.Seal] = field(default_factory=list)
    problems: list[seal.Problem] = field(default_factory=list)
    open_files: list[seal.OpenFile] = field(default_factory=list)


def verify(directory: str | os.PathLike) -> Verification:
    """Every sealed file under DIR checked against its tree's seal chain, and every open
    file against its running chain."""
    root = Path(directory)
    if not root.is_dir():
        raise StateError(f"{root}: no such directory")
    result = Verification()
    for name in ("alerts", "archives"):
        tree = root / name
        if tree.is_dir():
            tree_seals, tree_problems = seal.verify_tree(tree)
            result.seals.extend(tree_seals)
            result.problems.extend(tree_problems)
            _verify_open_files(tree, result)
    return result


def _verify_open_files(tree: Path, result: Verification) -> None:
    for plain in sorted(tree.rglob("ossec-*")):
        relative = plain.relative_to(tree).as_posix()
        if not _PLAIN.match(relative) or plain.is_symlink():
            continue
        shown = f"{tree.name}/{relative}"
        try:
            coverage = runchain.verify_open(plain, relative)
        except OSError as exc:
            logger("logs").error(f"{shown}: {exc.strerror}")
            result.problems.append(seal.Problem(seal.day_of(relative), shown, "unreadable"))
            continue
        result.open_files.append(seal.OpenFile(shown, coverage.intact, coverage.uncovered))
        if coverage.problem is not None:
            result.problems.append(seal.Problem(seal.day_of(relative), shown, coverage.problem,
                                                coverage.line, coverage.last_line))
