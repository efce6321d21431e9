"""The compiled form shared by the three pattern languages.

Every pattern (``os_match``, ``os_regex`` or PCRE2) compiles once, at load, into a
:class:`Pattern`: a Python regular expression plus OSSEC's negation. Matching returns the
end of the match (OSSEC continues decoding after it) and the captured groups that were set,
in order, which is what OSSEC hands to a decoder's ``order``.
"""

from __future__ import annotations

from typing import Any


class PatternError(ValueError):
    """A pattern that does not compile; the message says what is wrong."""


class Pattern:
    __slots__ = ("source", "kind", "rx", "search", "negate")

    def __init__(self, source: str, kind: str, rx: Any, negate: bool = False):
        self.source = source
        self.kind = kind
        self.rx = rx
        self.search = rx.search  # bound once: the hot path calls it directly
        self.negate = negate

    def test(self, text: str) -> bool:
        """Whether the pattern (with its negation) accepts ``text``."""
        return (self.search(text) is not None) is not self.negate

    def end(self, text: str) -> int:
        """End offset of the first match, or -1."""
        m = self.search(text)
        return -1 if m is None else m.end()

    def captures(self, text: str):
        """(end offset, captured groups that were set) or None."""
        m = self.search(text)
        if m is None:
            return None
        return m.end(), [g for g in m.groups() if g is not None]

    def __repr__(self) -> str:
        return f"Pattern({self.kind}, {self.source!r})"


def compile_pattern(kind: str, source: str, *, negate: bool = False) -> Pattern:
    """Compile ``source`` in pattern language ``kind`` ("match", "regex" or "pcre2")."""
    if kind == "match":
        from hidsctl.analysis.osmatch import compile_osmatch
        return compile_osmatch(source, negate=negate)
    if kind == "regex":
        from hidsctl.analysis.osregex import compile_osregex
        return compile_osregex(source, negate=negate)
    if kind == "pcre2":
        from hidsctl.analysis.pcre import compile_pcre2
        return compile_pcre2(source, negate=negate)
    raise PatternError(f"unknown pattern language {kind!r}")
