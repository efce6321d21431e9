"""The seal chain of closed (gzipped) log files, and its verification.

Each tree (``alerts/``, ``archives/``) has a ``checksums`` file, one line per sealed file in
the order they were closed::

    2026-11-24 2026/Nov/ossec-alerts-24.log.gz sha256=<hex> bytes=<n> chain=<hex>

``sha256`` is the gzip file's hash, ``bytes`` its uncompressed length, and ``chain`` the
sha256 of the previous line's chain (64 zeros for the first) followed by this line's day,
path and sha256. Changing, truncating or removing any sealed file, or editing the checksum
file, breaks the chain from that day on; editing every later line needs rewriting the lot.

The open (today's) files are not sealed yet: their running chains (hidsctl.outputs.runchain)
cover them line by line until they are; verification reports both.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

CHECKSUM_FILE = "checksums"
GENESIS = "0" * 64


@dataclass(frozen=True)
class Seal:
    day: str  # YYYY-MM-DD
    path: str  # relative to the tree
    sha256: str
    size: int  # uncompressed bytes
    chain: str

    def line(self) -> str:
        return f"{self.day} {self.path} sha256={self.sha256} bytes={self.size} chain={self.chain}\n"


@dataclass(frozen=True)
class Problem:
    day: str
    path: str
    kind: str  # modified, truncated, missing, unsealed, chain-broken, unreadable, unchained
    line: int | None = None  # in an open file: where the change starts
    last_line: int | None = None  # and where the append holding it ends

    def __str__(self) -> str:
        return f"{self.day} {self.kind}: {self.path}{self.lines()}"

    def lines(self) -> str:
        if self.line is None:
            return ""
        if self.last_line is None or self.last_line == self.line:
            return f" line {self.line}"
        return f" lines {self.line}-{self.last_line} (one record)"


@dataclass(frozen=True)
class OpenFile:
    """An open (unsealed) file and how much of it its running chain vouches for."""

    path: str
    intact: int  # lines
    uncovered: int  # lines after the last chain entry


def chain_hash(previous: str, day: str, path: str, sha256: str) -> str:
    return hashlib.sha256(f"{previous} {day} {path} {sha256}".encode()).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_seals(tree: Path) -> list[Seal]:
    seals = []
    try:
        text = (tree / CHECKSUM_FILE).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 5:
            seals.append(Seal("????-??-??", line.strip(), "", 0, ""))  # flagged by verify
            continue
        fields = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
        try:
            size = int(fields.get("bytes", "-1"))
        except ValueError:
            size = -1
        seals.append(Seal(parts[0], parts[1], fields.get("sha256", ""), size, fields.get("chain", "")))
    return seals


def last_chain(tree: Path) -> str:
    seals = read_seals(tree)
    return seals[-1].chain if seals else GENESIS


def append_seal(tree: Path, day: str, relative: str, sha256: str, size: int) -> Seal:
    """Add one closed file to the chain, durably."""
    seal = Seal(day, relative, sha256, size, chain_hash(last_chain(tree), day, relative, sha256))
    fd = os.open(tree / CHECKSUM_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, seal.line().encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return seal


def verify_tree(tree: Path) -> tuple[list[Seal], list[Problem]]:
    """Check every sealed file of one tree against the chain; (seals, problems)."""
    seals = read_seals(tree)
    problems: list[Problem] = []
    previous = GENESIS
    listed = set()
    for seal in seals:
        listed.add(seal.path)
        if chain_hash(previous, seal.day, seal.path, seal.sha256) != seal.chain:
            problems.append(Problem(seal.day, _shown(tree, seal.path), "chain-broken"))
        previous = seal.chain
        problem = _check_file(tree, seal)
        if problem:
            problems.append(Problem(seal.day, _shown(tree, seal.path), problem))
    for path in sorted(tree.rglob("*.gz")):
        relative = path.relative_to(tree).as_posix()
        if relative not in listed:
            problems.append(Problem(day_of(relative), _shown(tree, relative), "unsealed"))
    return seals, problems


def _check_file(tree: Path, seal: Seal) -> str | None:
    path = tree / seal.path
    try:
        if file_sha256(path) == seal.sha256:
            return None
    except FileNotFoundError:
        return "missing"
    except OSError:
        return "unreadable"
    return "truncated" if _is_truncated(path, seal.size) else "modified"


def _is_truncated(path: Path, size: int) -> bool:
    """A cut gzip stream, or one that decompresses to fewer bytes than were sealed."""
    try:
        with gzip.open(path, "rb") as handle:
            length = sum(len(block) for block in iter(lambda: handle.read(1 << 20), b""))
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError):
        return os.path.getsize(path) < 20 or _cut_stream(path)
    return length < size


def _cut_stream(path: Path) -> bool:
    """True when the data is a valid gzip stream that ends early (not garbage)."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                decompressor.decompress(block)
    except zlib.error:
        return False
    return not decompressor.eof


def day_of(relative: str) -> str:
    """YYYY-MM-DD from ``2026/Nov/ossec-alerts-25.log.gz``."""
    from hidsctl.outputs.clock import MONTHS

    parts = relative.split("/")
    try:
        year, month = parts[0], MONTHS.index(parts[1]) + 1
        day = parts[2].split("-")[2].split(".")[0]
        return f"{year}-{month:02d}-{int(day):02d}"
    except (IndexError, ValueError):
        return "????-??-??"


def _shown(tree: Path, relative: str) -> str:
    return f"{tree.name}/{relative}"


def print_verification(seals: list[Seal], problems: list[Problem],
                       open_files: Sequence[OpenFile] = (), *, as_json: bool = False) -> None:
    """One line per problem, one per open file saying what its running chain covers, then
    a summary line (JSON objects with ``as_json``)."""
    import json

    for problem in problems:
        if as_json:
            doc: dict[str, Any] = {"day": problem.day, "problem": problem.kind,
                                   "path": problem.path}
            if problem.line is not None:
                doc["line"] = problem.line
                doc["last_line"] = problem.last_line or problem.line
            print(json.dumps(doc))
        else:
            print(problem)
    broken = {p.path for p in problems}
    for item in open_files:
        if as_json:
            print(json.dumps({"open_file": item.path, "lines_intact": item.intact,
                              "lines_not_covered": item.uncovered,
                              "intact": item.path not in broken}))
        elif item.path not in broken:
            print(f"open {item.path}: {item.intact} lines intact up to its running chain; "
                  f"lines after the last chain update: {item.uncovered} not yet covered")
    days = sorted({s.day for s in seals})
    span = f" ({days[0]} to {days[-1]})" if days else ""
    opened = f"; {len(open_files)} open file(s) not sealed yet" + (
        " (checked against their running chains)" if open_files else "")
    if as_json:
        print(json.dumps({"sealed_files": len(seals), "days": len(days),
                          "open_files": len(open_files), "problems": len(problems)}))
    elif problems:
        print(f"{len(problems)} problem(s) in {len(seals)} sealed files over {len(days)} "
              f"days{span}{opened}")
    else:
        print(f"{len(seals)} sealed files over {len(days)} days intact{span}{opened}")
