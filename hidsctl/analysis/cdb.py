"""CDB-style lookup lists for ``<list>`` rules.

OSSEC compiles ``key:value`` text files into CDB databases; hidsctl reads the text form
directly (one ``key:value`` or ``key`` per line, ``#`` comments) into a dict, once at load.
Address lookups (``address_match_key``) also try the address's shorter dotted prefixes, so a
list entry ``10.0.0`` covers ``10.0.0.0/24`` as OSSEC's does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hidsctl.errors import RuleError, SourceLocation

if TYPE_CHECKING:
    from hidsctl.analysis.patterns import Pattern


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
        entries: dict[str, str] = {}
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    line = line.rstrip("\r\n")
                    if not line or line.lstrip().startswith("#"):
                        continue
                    if line.startswith('"'):
                        end = line.find('"', 1)
                        key, rest = line[1:end], line[end + 1:]
                        value = rest[1:] if rest.startswith(":") else ""
                    else:
                        key, _, value = line.partition(":")
                    entries[key] = value
        except OSError as exc:
            raise RuleError(f"cannot read list: {exc.strerror}", SourceLocation(str(path))) \
                from None
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
