"""Rootkit signatures in OSSEC's formats (docs/rootcheck.md).

``rootkit_files.txt``: ``path ! Rootkit name ::reference``, the path relative to the
root; ``*/name`` looks for the name in the usual system directories.

``rootkit_trojans.txt``: ``binary !pattern! comment``: the binary is looked for in
bin, sbin, usr/bin and usr/sbin, and a trojaned copy is one whose printable strings
match the pattern (a POSIX extended regular expression, case-sensitive).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from hidsctl.errors import RuleError, SourceLocation

# Where ``*/name`` entries are looked for, relative to the root.
WILDCARD_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin", "dev", "lib", "lib64", "etc", "root",
                 "var/log", "var/mail", "var/lib", "var/www", "usr/lib", "usr/include", "tmp",
                 "boot", "usr/local", "var/tmp", "var/spool", "usr/share", "usr/local/bin")
BINARY_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin")
MAX_BINARY = 64 << 20
_STRINGS = re.compile(rb"[\x20-\x7e\t]{4,}")


@dataclass(frozen=True)
class FileSignature:
    path: str
    name: str
    reference: str


@dataclass(frozen=True)
class TrojanSignature:
    binary: str
    pattern: str
    regex: re.Pattern[str]


def _lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise RuleError(f"cannot read signatures: {exc.strerror}", SourceLocation(str(path))) from None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield number, line


def load_files(path: str | os.PathLike, warn=None) -> list[FileSignature]:
    """Signatures of a rootkit_files.txt; a malformed line is skipped with a warning, as
    OSSEC skips it."""
    signatures = []
    for number, line in _lines(path):
        file, sep, rest = line.partition("!")
        name, _, reference = rest.partition("::")
        if not sep or not file.strip() or not name.strip():
            if warn is not None:
                warn(f"{path}:{number}: skipped: expected 'path ! Rootkit name ::reference'")
            continue
        signatures.append(FileSignature(file.strip().lstrip("/"), name.strip(), reference.strip()))
    return signatures


def load_trojans(path: str | os.PathLike) -> list[TrojanSignature]:
    signatures = []
    for number, line in _lines(path):
        binary, _, rest = line.partition(" ")
        rest = rest.strip()
        end = rest.rfind("!")
        if not binary or not rest.startswith("!") or len(rest) < 2:
            raise RuleError("expected 'binary !pattern!'", SourceLocation(str(path), number))
        pattern = rest[1:end] if end > 0 else rest[1:]  # OSSEC tolerates a missing closing '!'
        try:
            # POSIX extended regular expressions (as OSSEC's os_string), per printable string.
            regex = re.compile(pattern, re.MULTILINE)
        except re.error as exc:
            raise RuleError(f"bad pattern: {exc}", SourceLocation(str(path), number)) from None
        signatures.append(TrojanSignature(binary.strip(), pattern, regex))
    return signatures


def find_rootkit_files(signatures: list[FileSignature], root: str) -> Iterator[tuple[FileSignature, str]]:
    """(signature, path shown as on the host) for each signature file present under root."""
    base = root.rstrip("/")
    for signature in signatures:
        if signature.path.startswith("*/"):
            name = signature.path[2:]
            candidates = [f"{d}/{name}" for d in WILDCARD_DIRS]
        else:
            candidates = [signature.path]
        for relative in candidates:
            if os.path.lexists(f"{base}/{relative}"):
                yield signature, "/" + relative


def find_trojans(signatures: list[TrojanSignature], root: str) -> Iterator[tuple[TrojanSignature, str]]:
    base = root.rstrip("/")
    text_cache: dict[str, str | None] = {}
    for signature in signatures:
        reported: set[str] = set()  # /bin is often a link to /usr/bin: one finding each
        for directory in BINARY_DIRS:
            relative = f"{directory}/{signature.binary}"
            path = os.path.realpath(f"{base}/{relative}")
            if path in reported:
                continue
            if path not in text_cache:
                text_cache[path] = _printable_strings(path)
            text = text_cache[path]
            if text is not None and signature.regex.search(text):
                reported.add(path)
                yield signature, "/" + relative


def _printable_strings(path: str) -> str | None:
    """The file's printable strings one a line (what OSSEC's os_string matches)."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_BINARY:
            return None
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    return "\n".join(m.decode("ascii") for m in _STRINGS.findall(data))
