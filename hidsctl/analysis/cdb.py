"""CDB-style lookup lists for ``<list>`` rules.

OSSEC compiles ``key:value`` text files into CDB databases; hidsctl reads the text form
directly (one ``key:value`` or ``key`` per line, ``#`` comments) into a dict, once at load.
Address lookups (``address_match_key``) also try the address's shorter dotted prefixes, so a
list entry ``10.0.0`` covers ``10.0.0.0/24`` as OSSEC's does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hidsctl.analysis.sourcefile import NotRegular, open_text
from hidsctl.errors import RuleError, SourceLocation

if TYPE_CHECKING:
    from hidsctl.analysis.patterns import Pattern

# The longest line a list may hold (OSSEC's longest event, 64 KiB, and its line ending):
# a key longer than any event could never match, and a file of one endless line would
# otherwise be read whole into memory.
MAX_LINE = 65536


class CdbList:
    def __init__(self, path: Path, entries: dict[str, str]):
        self.path = path
        self.entries = entries

    def __reduce__(self) -> tuple[type[CdbList], tuple[Path, dict[str, str]]]:
        # For the ruleset cache: made again through __init__ (a mypyc-compiled class pickles
        # no other way).
        return (CdbList, (self.path, self.entries))

    @classmethod
    def load(cls, path: Path) -> "CdbList":
        """The list in the text file at ``path``; a file that is not a regular one, a line
        longer than MAX_LINE or a quoted key left open is refused by file and line."""
        entries: dict[str, str] = {}
        shown = str(path)
        number = 0
        try:
            with open_text(path) as handle:
                while line := handle.readline(MAX_LINE + 2):
                    number += 1
                    key, value = _entry(line, shown, number)
                    if key is not None:
                        entries[key] = value
        except NotRegular:
            raise RuleError("a list must be a regular file", SourceLocation(shown)) from None
        except OSError as exc:
            raise RuleError(f"cannot read list: {exc.strerror}", SourceLocation(shown)) from None
        return cls(path, entries)

    def value(self, key: str) -> str | None:
        return self.entries.get(key)

    def address_value(self, ip: str) -> str | None:
        key = ip
        while True:
            found = self.entries.get(key)
            if found is not None:
                return found
            dot = key.rfind(".")
            if dot <= 0:
                return None
            key = key[:dot]


def lookup(table: CdbList, kind: str, value: str, check: Pattern | None) -> bool:
    """Whether ``value`` passes a ``<list lookup=kind>`` test against ``table``."""
    if kind.startswith("address") or kind.startswith("not_address"):
        found = table.address_value(value)
    else:
        found = table.value(value)
    if kind in ("match_key", "address_match_key"):
        return found is not None
    if kind in ("not_match_key", "not_address_match_key"):
        return found is None
    if found is None:
        return False
    return check is None or check.test(found)


def _entry(line: str, path: str, number: int) -> tuple[str | None, str]:
    """One list line as (key, value); (None, "") for a blank or comment line."""
    text = line.rstrip("\r\n")
    if len(text) > MAX_LINE:
        raise RuleError(f"list line longer than {MAX_LINE:,} characters",
                        SourceLocation(path, number))
    if not text or text.lstrip().startswith("#"):
        return None, ""
    if not text.startswith('"'):
        key, _, value = text.partition(":")
        return key, value
    end = text.find('"', 1)
    if end < 0:
        raise RuleError("quoted key without its closing quote", SourceLocation(path, number))
    rest = text[end + 1:]
    return text[1:end], rest[1:] if rest.startswith(":") else ""
