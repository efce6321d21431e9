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
    __slots__ = ("source", "kind", "rx", "search", "negate", "literals", "exact")

    def __init__(self, source: str, kind: str, rx: Any, negate: bool = False):
        self.source = source
        self.kind = kind
        self.rx = rx
        self.search = rx.search  # bound once: the hot path calls it directly
        self.negate = negate
        # Lowercase strings one of which any match must contain (None: no such set), and
        # whether containing one is already a match. A substring test on the lowercased
        # text is far cheaper than a case-insensitive regex search, so it runs first.
        self.literals, self.exact = required_literals(rx)

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


_RUN_MIN = 3


def required_literals(rx: Any) -> tuple[tuple[str, ...] | None, bool]:
    """Analyse a compiled stdlib pattern: each top-level alternative's longest literal run."""
    import re
    try:
        from re import _constants as C, _parser as P  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover
        return None, False
    if not isinstance(rx, re.Pattern) or not (rx.flags & re.IGNORECASE):
        return None, False
    try:
        tree = P.parse(rx.pattern, rx.flags)
    except Exception:  # noqa: BLE001 - analysis is an optimisation only
        return None, False
    items = list(tree)
    if len(items) == 1 and items[0][0] is C.BRANCH:
        alternatives = [list(a) for a in items[0][1][1]]
    else:
        alternatives = [items]
    literals: list[str] = []
    exact = True
    for alt in alternatives:
        best, run = "", []
        for op, arg in alt:
            if op is C.LITERAL:
                run.append(chr(arg))
                continue
            exact = False
            if len(run) > len(best):
                best = "".join(run)
            run = []
        if len(run) > len(best):
            best = "".join(run)
        if len(best) < _RUN_MIN:
            return None, False
        literals.append(best.lower())
    if any(ch != ch.lower() or ch.upper().lower() != ch for lit in literals for ch in lit
           if not ch.isascii()):
        return None, False  # leave non-ASCII case folding to the regex engine
    return tuple(literals), exact


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
