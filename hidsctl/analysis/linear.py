"""RE2, a linear-time engine, for the patterns a backtracking engine would run slowly.

RE2 cannot backtrack catastrophically: its time grows with the text's length, whatever the
pattern. It is slower than Python's ``re`` on short log lines (about 0.9 us a search against
0.4 us), so only patterns with a slow shape (see :mod:`shapes`) run on it. A pattern is
rewritten for RE2 from ``re``'s own parse tree, so both engines read it alike, with
Python's meaning kept: ``\\w``, ``\\d`` and ``\\s`` are Unicode classes as in ``re``, and
``$`` also matches before a final newline (those texts go to ``re``). What RE2 has no
form for (look-around, back-references, possessive repeats, ``\\b`` on non-ASCII text)
keeps the pattern, or that text, on ``re``, where the per-event budget bounds it.
"""

from __future__ import annotations

from re import _constants as C  # type: ignore[attr-defined]
from typing import Any, Callable

import re2

_MAXREPEAT = C.MAXREPEAT
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a pattern RE2 refuses stays on re; nothing to print

# Python's Unicode classes, written out for RE2 (whose own are ASCII-only).
_SPACES = "".join(f"\\x{{{c:x}}}" for c in range(0x3001) if chr(c).isspace())
_CLASS = {
    C.CATEGORY_DIGIT: "\\p{Nd}",
    C.CATEGORY_NOT_DIGIT: "\\P{Nd}",
    C.CATEGORY_WORD: "\\p{L}\\p{N}_",
    C.CATEGORY_SPACE: _SPACES,
}
_NEGATED = {C.CATEGORY_NOT_WORD: C.CATEGORY_WORD, C.CATEGORY_NOT_SPACE: C.CATEGORY_SPACE}
_FLAG_LETTERS = ((2, "i"), (16, "s"))  # re.IGNORECASE, re.DOTALL
_REFUSED_FLAGS = 8 | 64 | 256 | 4  # MULTILINE, VERBOSE leftovers, ASCII, LOCALE


class Unsupported(Exception):
    """The pattern has a part RE2 has no form for."""


class Translation:
    def __init__(self) -> None:
        self.ascii_only = False   # \b or \B: RE2's are ASCII, so only for ASCII text
        self.dollar = False       # Python's $: a text ending in a newline goes to re


def translate(items: Any, flags: int) -> tuple[str, Translation]:
    """RE2 syntax for a parsed stdlib pattern; Unsupported when there is none."""
    if flags & _REFUSED_FLAGS:
        raise Unsupported("flags")
    info = Translation()
    prefix = "".join(f"(?{letter})" for bit, letter in _FLAG_LETTERS if flags & bit)
    return prefix + _sequence(list(items), info), info


def _sequence(seq: list, info: Translation) -> str:
    return "".join(_item(op, av, info) for op, av in seq)


def _item(op: Any, av: Any, info: Translation) -> str:
    if op is C.LITERAL:
        return _char(av)
    if op is C.NOT_LITERAL:
        return f"[^{_char(av)}]"
    if op is C.ANY:
        return "."
    if op is C.IN:
        return _class(av)
    if op is C.AT:
        return _at(av, info)
    if op is C.BRANCH:
        return "(?:" + "|".join(_sequence(list(alt), info) for alt in av[1]) + ")"
    if op is C.SUBPATTERN:
        group, add, remove, body = av
        if (add | remove) & _REFUSED_FLAGS:
            raise Unsupported("flags")
        inner = _sequence(list(body), info)
        if group is not None:
            return f"({inner})"
        on = "".join(letter for bit, letter in _FLAG_LETTERS if add & bit)
        off = "".join(letter for bit, letter in _FLAG_LETTERS if remove & bit)
        return f"(?{on}{'-' + off if off else ''}:{inner})"
    if op in (C.MAX_REPEAT, C.MIN_REPEAT):
        low, high, body = av
        return f"(?:{_sequence(list(body), info)}){_count(low, high)}" + \
            ("?" if op is C.MIN_REPEAT else "")
    raise Unsupported(str(op))  # look-around, references, possessive and atomic forms


def _count(low: int, high: int) -> str:
    if high == _MAXREPEAT:
        return {0: "*", 1: "+"}.get(low, f"{{{low},}}")
    if (low, high) == (0, 1):
        return "?"
    return f"{{{low}}}" if low == high else f"{{{low},{high}}}"


def _char(code: int) -> str:
    ch = chr(code)
    return ch if ch.isascii() and ch.isalnum() else f"\\x{{{code:x}}}"


def _class(items: Any) -> str:
    items = list(items)
    negate = bool(items) and items[0][0] is C.NEGATE
    if negate:
        items = items[1:]
    if len(items) == 1 and items[0][0] is C.CATEGORY and items[0][1] in _NEGATED:
        # \W or \S alone: the complement of the written-out class
        inner = _CLASS[_NEGATED[items[0][1]]]
        return f"[{inner}]" if negate else f"[^{inner}]"
    parts = []
    for op, av in items:
        if op is C.LITERAL:
            parts.append(_char(av))
        elif op is C.RANGE:
            parts.append(f"{_char(av[0])}-{_char(av[1])}")
        elif op is C.CATEGORY and av in _CLASS:
            parts.append(_CLASS[av])
        else:
            raise Unsupported("class")  # \W or \S among other members
    return f"[{'^' if negate else ''}{''.join(parts)}]"


def _at(code: Any, info: Translation) -> str:
    if code in (C.AT_BEGINNING, C.AT_BEGINNING_STRING):
        return "\\A"
    if code is C.AT_END_STRING:
        return "\\z"
    if code is C.AT_END:
        info.dollar = True
        return "\\z"
    if code in (C.AT_BOUNDARY, C.AT_NON_BOUNDARY):
        info.ascii_only = True
        return "\\b" if code is C.AT_BOUNDARY else "\\B"
    raise Unsupported(str(code))


# --- matching --------------------------------------------------------------------------------

class Match:
    """The part of ``re.Match`` the analysis uses, over RE2's spans of an ASCII text."""

    __slots__ = ("_text", "_spans")

    def __init__(self, text: str, spans: list):
        self._text = text
        self._spans = spans

    def start(self, group: int = 0) -> int:
        return self._spans[group][0]

    def end(self, group: int = 0) -> int:
        return self._spans[group][1]

    def span(self, group: int = 0) -> tuple[int, int]:
        return tuple(self._spans[group])

    def group(self, group: int = 0) -> str | None:
        start, end = self._spans[group]
        return None if start < 0 else self._text[start:end]

    def groups(self) -> tuple:
        text = self._text
        return tuple(None if s < 0 else text[s:e] for s, e in self._spans[1:])


def _binding_match(rx: Any):
    """(Match, UNANCHORED) of the wrapper's C++ binding, or None when it has other names.

    The wrapper's own search costs 4 us (a generator and offset tables per call); the
    binding's Match on the encoded text 0.5 us."""
    match = getattr(getattr(rx, "_regexp", None), "Match", None)
    anchor = getattr(getattr(getattr(getattr(re2, "_re2", None), "RE2", None), "Anchor", None),
                     "UNANCHORED", None)
    return None if match is None or anchor is None else (match, anchor)


def searcher(items: Any, flags: int, fallback: Callable) -> Callable | None:
    """``search(text)`` on RE2 for a parsed pattern, texts RE2 cannot take handed to
    ``fallback``; None when RE2 cannot run the pattern."""
    try:
        source, info = translate(items, flags)
        rx = re2.compile(source, _OPTIONS)
    except (Unsupported, re2.error):
        return None
    wrapper_search = rx.search
    binding = _binding_match(rx)
    dollar, ascii_only = info.dollar, info.ascii_only

    def search(text: str):
        if dollar and text[-1:] == "\n":
            return fallback(text)
        if text.isascii():
            if binding is None:
                return wrapper_search(text)
            data = text.encode("ascii")
            spans = binding[0](binding[1], data, 0, len(data))
            return None if spans[0][0] < 0 else Match(text, spans)
        if ascii_only:
            return fallback(text)
        try:
            return wrapper_search(text)  # converts the offsets of a non-ASCII text
        except UnicodeEncodeError:  # a lone surrogate: not UTF-8
            return fallback(text)

    search.re2_source = source  # type: ignore[attr-defined]
    return search
