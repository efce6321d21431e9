"""The compiled form shared by the three pattern languages.

Every pattern (``os_match``, ``os_regex`` or PCRE2) compiles once, at load, into a
:class:`Pattern`: a Python regular expression plus OSSEC's negation. Matching returns the
end of the match (OSSEC continues decoding after it) and the captured groups that were set,
in order, which is what OSSEC hands to a decoder's ``order``.

A pattern with a shape that backtracks slowly (:mod:`shapes`) searches with RE2
(:mod:`linear`) where RE2 can run it; every other pattern searches with the engine it was
compiled with, which is faster on log lines, and the per-event budget bounds it.

The three languages (:mod:`osmatch`, :mod:`osregex`, :mod:`pcre`) build on this module;
:mod:`languages` compiles a pattern in any of them.
"""

from __future__ import annotations

import re
from typing import Any

from hidsctl.analysis.linear import Translated, translated_searcher, translations
from hidsctl.analysis.shapes import find_shapes, unbounded_repeats


# What __init__ learns from a pattern's parse tree, saved with it in the ruleset cache:
# shapes, literals, exact, anchored, first (see __init__) and the RE2 translations.
_Analysis = tuple[list[Any], tuple[str, ...] | None, bool, bool, frozenset[str] | None,
                  tuple[Translated, bool] | None]


class PatternError(ValueError):
    """A pattern that does not compile; the message says what is wrong."""


class Pattern:
    __slots__ = ("source", "kind", "rx", "search", "exists", "negate", "literals", "exact",
                 "anchored", "first", "shapes", "engine", "linear")

    def __init__(self, source: str, kind: str, rx: Any, negate: bool = False,
                 analysed: _Analysis | None = None):
        self.source = source
        self.kind = kind
        self.rx = rx
        self.search = rx.search  # bound once: the hot path calls it directly
        self.engine = "re" if isinstance(rx, re.Pattern) else "regex"
        self.negate = negate
        self.exists = self.search  # for conditions that only ask whether it matched
        # (RE2 translations, whether the shape is slow on short texts too), for _to_re2
        self.linear: tuple[Translated, bool] | None = None
        if analysed is not None:  # unpickled (_restore): the analysis results came with it
            self.shapes, self.literals, self.exact, self.anchored, self.first, linear = \
                analysed
            if linear is not None:
                self._to_re2(*linear)
            return
        parsed = _parse(rx)
        self.shapes = find_shapes(parsed, bool(rx.flags & re.IGNORECASE)) \
            if parsed is not None else []
        if self.shapes:
            slow = any(shape.exponential for shape in self.shapes) or \
                unbounded_repeats(parsed) > 2
            self._to_re2(translations(parsed, rx.flags), slow)
        # Lowercase strings one of which any match must contain (None: no such set), whether
        # they must start the text (``anchored``) rather than occur anywhere in it, and
        # whether containing one is already a match (``exact``). A substring or prefix test
        # on the lowercased text is far cheaper than a case-insensitive regex search, so
        # the rule compiler puts it first.
        alternatives, ops = _parsed_alternatives(rx, parsed)
        self.literals, self.exact, self.anchored = required_literals(alternatives, ops)
        # The ASCII characters a match can start the text with, when every match is
        # anchored at the start (None: unknown, or not anchored). A text that starts with
        # another ASCII character cannot match; the decoders use it to skip candidates.
        self.first = first_characters(alternatives, ops)

    def _to_re2(self, translated: Translated, slow: bool) -> None:
        """Search with RE2. An exponential shape blows up on a short text already (``slow``);
        so does a quadratic one with more than two unbounded repeats; one with two (cubic,
        with the search's start) only on a long one, so texts up to SHORT_TEXT characters
        stay on the faster re (at worst 1.5 ms: ``\\S+\\[[^]]+\\]`` on 128 ``[``), the
        rest go to RE2."""
        self.linear = (translated, slow)
        rx = self.rx
        linear = translated_searcher(translated, rx.search)
        if linear is None:
            return
        # RE2 skips finding the groups of a match when only its existence matters (rules).
        exists = translated_searcher(translated, rx.search, capture=False) if rx.groups \
            else linear
        exists = exists or linear
        self.engine = "re2"
        if slow:
            self.search, self.exists = linear, exists
        else:
            self.search, self.exists = _by_length(rx.search, linear), _by_length(rx.search,
                                                                               exists)

    def __reduce__(self) -> tuple[Any, ...]:
        # For the compiled-ruleset cache (rulecache.py): the analysis results travel, the
        # bound searchers (closures, RE2 objects) are made again from them.
        return (_restore, (self.source, self.kind, self.rx, self.negate, self.shapes,
                           self.literals, self.exact, self.anchored, self.first, self.linear))

    def test(self, text: str) -> bool:
        """Whether the pattern (with its negation) accepts ``text``."""
        return (self.search(text) is not None) is not self.negate

    def captures(self, text: str) -> tuple[int, list[str]] | None:
        """(end offset, captured groups that were set) or None."""
        m = self.search(text)
        if m is None:
            return None
        return m.end(), [g for g in m.groups() if g is not None]

    def __repr__(self) -> str:
        return f"Pattern({self.kind}, {self.source!r})"


def _restore(source: str, kind: str, rx: Any, negate: bool, shapes: list[Any],
             literals: tuple[str, ...] | None, exact: bool, anchored: bool,
             first: frozenset[str] | None,
             linear: tuple[Translated, bool] | None = None) -> Pattern:
    """A pickled Pattern made whole without parsing or analysing it again: the few with a
    slow shape build their RE2 searchers from the translations kept with it."""
    return Pattern(source, kind, rx, negate, (shapes, literals, exact, anchored, first, linear))


_RUN_MIN = 3
SHORT_TEXT = 128


def _by_length(short: Any, long: Any) -> Any:
    def search(text: str) -> Any:
        return short(text) if len(text) <= SHORT_TEXT else long(text)
    return search


def required_literals(alternatives: list[Any] | None,
                      C: Any) -> tuple[tuple[str, ...] | None, bool, bool]:
    """Analyse a parsed pattern's alternatives: (literals, exact, anchored).

    When every top-level alternative starts at the beginning of the text with a literal,
    those prefixes are the literals and ``anchored`` is true; otherwise each alternative's
    longest literal run (at least three characters) is.
    """
    if alternatives is None:
        return None, False, False
    found = _prefixes(alternatives, C)
    if found is None:
        found = _runs(alternatives, C)
    if found is None:
        return None, False, False
    literals, exact, anchored = found
    if any(ch != ch.lower() or ch.upper().lower() != ch for lit in literals for ch in lit
           if not ch.isascii()):
        return None, False, False  # leave non-ASCII case folding to the regex engine
    return literals, exact, anchored


def _prefixes(alternatives: list[Any], C: Any) -> tuple[tuple[str, ...], bool, bool] | None:
    """Every alternative anchored at the start with a literal: those literals."""
    literals, exact = [], True
    for alt in alternatives:
        if not alt or alt[0] not in ((C.AT, C.AT_BEGINNING), (C.AT, C.AT_BEGINNING_STRING)):
            return None
        run = []
        for op, arg in alt[1:]:
            if op is not C.LITERAL:
                break
            run.append(chr(arg))
        if not run:
            return None
        exact = exact and len(run) == len(alt) - 1
        literals.append("".join(run).lower())
    return tuple(literals), exact, True


def _runs(alternatives: list[Any], C: Any) -> tuple[tuple[str, ...], bool, bool] | None:
    """Each alternative's longest literal run, when all are long enough to be worth it."""
    literals, exact = [], True
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
            return None
        literals.append(best.lower())
    return tuple(literals), exact, False


def _parse(rx: Any) -> Any:
    """The parse tree of a stdlib pattern; None for other engines' patterns."""
    if not isinstance(rx, re.Pattern):
        return None
    try:
        from re import _parser as P  # type: ignore[attr-defined]
        return P.parse(rx.pattern, rx.flags)
    except Exception:  # noqa: BLE001 - analysis only; the pattern compiled already
        return None


def _parsed_alternatives(rx: Any, parsed: Any) -> tuple[Any, Any]:
    """The top-level alternatives of a case-insensitive stdlib pattern's parse tree, and
    the parser's opcodes; (None, None) for other patterns."""
    from re import _constants as C  # type: ignore[attr-defined]
    if parsed is None or not (rx.flags & re.IGNORECASE):
        return None, None
    items = list(parsed)
    if items and items[-1][0] is C.BRANCH:
        # The parser moves what all alternatives begin with (``^`` of ``^a|^b``) in front
        # of the branch; put it back into each.
        prefix = items[:-1]
        return [prefix + list(a) for a in items[-1][1][1]], C
    return [items], C


def first_characters(alternatives: list[Any] | None, C: Any) -> frozenset[str] | None:
    """ASCII characters every match must start the text with (see Pattern.first)."""
    if alternatives is None:
        return None
    chars: set[str] = set()
    for alt in alternatives:
        if not alt or alt[0] not in ((C.AT, C.AT_BEGINNING), (C.AT, C.AT_BEGINNING_STRING)):
            return None
        found = _first_of(alt[1:], C)
        if found is None:
            return None
        chars |= found
    return frozenset(chars)


_ASCII = [chr(i) for i in range(128)]


def _first_of(items: list[Any], C: Any) -> set[str] | None:
    """ASCII characters the sequence ``items`` can start with; None when unknown."""
    if not items:
        return None
    op, arg = items[0]
    if op is C.LITERAL:
        return _both_cases({chr(arg)})
    if op is C.IN:
        return _class_members(arg, C)
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)):
        low, _high, sub = arg
        return _first_of(list(sub), C) if low >= 1 else None
    if op is C.SUBPATTERN:
        return _first_of(list(arg[-1]), C)
    if op is C.BRANCH:
        chars: set[str] = set()
        for branch in arg[1]:
            found = _first_of(list(branch), C)
            if found is None:
                return None
            chars |= found
        return chars
    return None


def _class_members(items: list[Any], C: Any) -> set[str] | None:
    categories = {C.CATEGORY_DIGIT: r"\d", C.CATEGORY_NOT_DIGIT: r"\D",
                  C.CATEGORY_SPACE: r"\s", C.CATEGORY_NOT_SPACE: r"\S",
                  C.CATEGORY_WORD: r"\w", C.CATEGORY_NOT_WORD: r"\W"}
    negate, members = False, set()
    for op, arg in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            members.add(chr(arg))
        elif op is C.RANGE:
            members.update(chr(i) for i in range(arg[0], min(arg[1], 127) + 1))
        elif op is C.CATEGORY and arg in categories:
            rx = re.compile(categories[arg])
            members.update(ch for ch in _ASCII if rx.match(ch))
        else:
            return None
    members = _both_cases(members)
    return set(_ASCII) - members if negate else members


def _both_cases(chars: set[str]) -> set[str]:
    return {c for ch in chars for c in (ch, ch.lower(), ch.upper()) if c.isascii()}

