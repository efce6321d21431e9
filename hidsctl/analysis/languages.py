"""Compile a pattern in any of the three pattern languages into a :class:`Pattern`.

The languages build on :mod:`patterns` (the compiled form); this module picks one by name,
so that the form does not import the languages that subclass and construct it.
"""

from __future__ import annotations

from hidsctl.analysis.osmatch import compile_osmatch
from hidsctl.analysis.osregex import compile_osregex
from hidsctl.analysis.patterns import Pattern, PatternError
from hidsctl.analysis.pcre import compile_pcre2


def compile_pattern(kind: str, source: str, *, negate: bool = False) -> Pattern:
    """Compile ``source`` in pattern language ``kind`` ("match", "regex" or "pcre2")."""
    if kind == "match":
        return compile_osmatch(source, negate=negate)
    if kind == "regex":
        return compile_osregex(source, negate=negate)
    if kind == "pcre2":
        return compile_pcre2(source, negate=negate)
    raise PatternError(f"unknown pattern language {kind!r}")
