"""RE2, a linear-time engine, for the patterns a backtracking engine would run slowly.

RE2 cannot backtrack catastrophically: its time grows with the text's length, whatever the
pattern. It is slower than Python's ``re`` on log lines (on OSSEC's ruleset and test lines
1.5-7 us a search against 0.3-4 us, captures costing it most), so only patterns with a slow
shape (see :mod:`shapes`) run on it. A pattern is rewritten for RE2 from ``re``'s own parse
tree, so both engines read it alike, with Python's meaning kept: ``\\w``, ``\\d`` and
``\\s`` are Unicode classes as in ``re``, and ``$`` also matches before a final newline
(those texts go to ``re``). What RE2 has no form for (look-around, back-references,
possessive repeats, ``\\b`` on non-ASCII text) keeps the pattern, or that text, on ``re``,
where the per-event budget bounds it.
"""

from __future__ import annotations

from re import _constants as C  # type: ignore[attr-defined]
from typing import Any, Callable, Optional

import re2

Search = Callable[[str], Any]  # a pattern's search: a match object or None

_MAXREPEAT = C.MAXREPEAT


def _options(ascii_text: bool, capture: bool) -> Any:
    options = re2.Options()
    options.log_errors = False  # a pattern RE2 refuses stays on re; nothing to print
    if ascii_text:
        options.encoding = re2.Options.Encoding.LATIN1  # a byte a character: smaller automata
    # Without captures RE2 answers from its DFA alone; a rule only asks whether it matched.
    options.never_capture = not capture
    return options


_OPTIONS = {(a, c): _options(a, c) for a in (False, True) for c in (False, True)}

# Python's Unicode classes, written out for RE2 (whose own are ASCII-only)...
_SPACES = "".join(f"\\x{{{c:x}}}" for c in range(0x3001) if chr(c).isspace())
_UNICODE_CLASS = {
    C.CATEGORY_DIGIT: "\\p{Nd}",
    C.CATEGORY_NOT_DIGIT: "\\P{Nd}",
    C.CATEGORY_WORD: "\\p{L}\\p{N}_",
    C.CATEGORY_SPACE: _SPACES,
}
_NEGATED = {C.CATEGORY_NOT_WORD: C.CATEGORY_WORD, C.CATEGORY_NOT_SPACE: C.CATEGORY_SPACE}


def _ascii_members(test: Callable[[str], Any]) -> list[int]:
    return [c for c in range(128) if test(chr(c))]


# ... and what they hold of ASCII, for the program that runs on ASCII texts.
_WORD = _ascii_members(lambda c: c.isalnum() or c == "_")
_ASCII_CLASS = {
    C.CATEGORY_DIGIT: _ascii_members(str.isdecimal),
    C.CATEGORY_WORD: _WORD,
    C.CATEGORY_SPACE: _ascii_members(str.isspace),
}
for _plain, _negated in ((C.CATEGORY_DIGIT, C.CATEGORY_NOT_DIGIT),
                         (C.CATEGORY_WORD, C.CATEGORY_NOT_WORD),
                         (C.CATEGORY_SPACE, C.CATEGORY_NOT_SPACE)):
    _ASCII_CLASS[_negated] = [c for c in range(128) if c not in _ASCII_CLASS[_plain]]
_FLAG_LETTERS = ((2, "i"), (16, "s"))  # re.IGNORECASE, re.DOTALL
_REFUSED_FLAGS = 8 | 64 | 256 | 4  # MULTILINE, VERBOSE leftovers, ASCII, LOCALE


class Unsupported(Exception):
    """The pattern has a part RE2 has no form for."""


class Translation:
    def __init__(self, ascii_text: bool, ignorecase: bool, dollar: bool = False) -> None:
        self.ascii = ascii_text    # written for ASCII texts only (Latin-1 mode)
        self.ignorecase = ignorecase
        self.dollar = dollar       # Python's $: a text ending in a newline goes to re

    def __reduce__(self) -> tuple[type[Translation], tuple[bool, bool, bool]]:
        # For the ruleset cache: made again through __init__ (a mypyc-compiled class pickles
        # no other way).
        return (Translation, (self.ascii, self.ignorecase, self.dollar))


def translate(items: Any, flags: int, *, ascii_text: bool) -> tuple[str, Translation]:
    """RE2 syntax for a parsed stdlib pattern, for ASCII texts or for any; Unsupported when
    there is none."""
    if flags & _REFUSED_FLAGS:
        raise Unsupported("flags")
    info = Translation(ascii_text, bool(flags & 2) or _scoped_ignorecase(items))
    prefix = "".join(f"(?{letter})" for bit, letter in _FLAG_LETTERS if flags & bit)
    return prefix + _sequence(list(items), info), info


def _scoped_ignorecase(items: Any) -> bool:
    for op, av in items:
        if op is C.SUBPATTERN and (av[1] & 2 or _scoped_ignorecase(av[-1])):
            return True
        if op in (C.MAX_REPEAT, C.MIN_REPEAT) and _scoped_ignorecase(av[2]):
            return True
        if op is C.BRANCH and any(_scoped_ignorecase(alt) for alt in av[1]):
            return True
    return False


def _sequence(seq: list[Any], info: Translation) -> str:
    return "".join(_item(op, av, info) for op, av in seq)


def _item(op: Any, av: Any, info: Translation) -> str:
    if op is C.LITERAL:
        return _char(av, info)
    if op is C.NOT_LITERAL:
        return f"[^{_char(av, info)}]"
    if op is C.ANY:
        return "."
    if op is C.IN:
        return _class(av, info)
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


def _char(code: int, info: Translation) -> str:
    if info.ascii and code >= 128:
        # Never in an ASCII text, but case folding could bring one there (K, the Kelvin
        # sign, matches k): the Unicode program has the rules for that.
        raise Unsupported("non-ASCII character")
    ch = chr(code)
    return ch if ch.isascii() and ch.isalnum() else f"\\x{{{code:x}}}"


def _class(items: Any, info: Translation) -> str:
    items = list(items)
    negate = bool(items) and items[0][0] is C.NEGATE
    if negate:
        items = items[1:]
    if info.ascii:
        return _ascii_class(items, negate, info)
    if len(items) == 1 and items[0][0] is C.CATEGORY and items[0][1] in _NEGATED:
        # \W or \S alone: the complement of the written-out class
        inner = _UNICODE_CLASS[_NEGATED[items[0][1]]]
        return f"[{inner}]" if negate else f"[^{inner}]"
    parts = []
    for op, av in items:
        if op is C.LITERAL:
            parts.append(_char(av, info))
        elif op is C.RANGE:
            parts.append(f"{_char(av[0], info)}-{_char(av[1], info)}")
        elif op is C.CATEGORY and av in _UNICODE_CLASS:
            parts.append(_UNICODE_CLASS[av])
        else:
            raise Unsupported("class")  # \W or \S among other members
    return f"[{'^' if negate else ''}{''.join(parts)}]"


def _ascii_class(items: list[Any], negate: bool, info: Translation) -> str:
    """A class written as the ASCII characters it holds. Negation stays RE2's, so that
    case folding applies before it, as in re (``(?i)[^a]`` holds neither a nor A)."""
    members: set[int] = set()
    for op, av in items:
        if op is C.LITERAL:
            _char(av, info)  # refuses a non-ASCII one
            members.add(av)
        elif op is C.RANGE:
            low, high = av
            if high >= 128 and info.ignorecase:
                raise Unsupported("non-ASCII range")
            members.update(range(low, min(high, 127) + 1))
        elif op is C.CATEGORY and av in _ASCII_CLASS:
            members.update(_ASCII_CLASS[av])
        else:
            raise Unsupported("class")
    if not members:
        raise Unsupported("class without ASCII members")
    codes = sorted(members)
    runs: list[tuple[int, int]] = []
    start = prev = codes[0]
    for code in codes[1:]:
        if code == prev + 1:
            prev = code
        else:
            runs.append((start, prev))
            start = prev = code
    runs.append((start, prev))
    body = "".join(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}"
                   for a, b in runs)
    return f"[{'^' if negate else ''}{body}]"


def _at(code: Any, info: Translation) -> str:
    if code in (C.AT_BEGINNING, C.AT_BEGINNING_STRING):
        return "\\A"
    if code is C.AT_END_STRING:
        return "\\z"
    if code is C.AT_END:
        info.dollar = True
        return "\\z"
    if code in (C.AT_BOUNDARY, C.AT_NON_BOUNDARY):
        if not info.ascii:
            raise Unsupported("Unicode word boundary")  # RE2's \b knows ASCII words only
        return "\\b" if code is C.AT_BOUNDARY else "\\B"
    raise Unsupported(str(code))


# --- matching --------------------------------------------------------------------------------

class Match:
    """The part of ``re.Match`` the analysis uses, over RE2's spans of an ASCII text."""

    __slots__ = ("_text", "_spans")

    def __init__(self, text: str, spans: list[tuple[int, int]]):
        self._text = text
        self._spans = spans

    def start(self, group: int = 0) -> int:
        return self._spans[group][0]

    def end(self, group: int = 0) -> int:
        return self._spans[group][1]

    def group(self, group: int = 0) -> str | None:
        start, end = self._spans[group]
        return None if start < 0 else self._text[start:end]

    def groups(self) -> tuple[str | None, ...]:
        text = self._text
        return tuple([None if s < 0 else text[s:e] for s, e in self._spans[1:]])


def _binding_match(rx: Any) -> tuple[Any, Any] | None:
    """(Match, UNANCHORED) of the wrapper's C++ binding, or None when it has other names.

    The wrapper's own search costs 4 us (a generator and offset tables per call); the
    binding's Match on the encoded text 0.5 us."""
    match = getattr(getattr(rx, "_regexp", None), "Match", None)
    anchor = getattr(getattr(getattr(getattr(re2, "_re2", None), "RE2", None), "Anchor", None),
                     "UNANCHORED", None)
    return None if match is None or anchor is None else (match, anchor)


# RE2 syntax of a parsed pattern for ASCII texts and for any (None: none), as translations()
# gives them; the compiled-ruleset cache keeps them, so a start skips parsing again.
Translated = tuple[Optional[tuple[str, Translation]], Optional[tuple[str, Translation]]]


def translations(items: Any, flags: int) -> Translated:
    """The pattern's RE2 syntax for ASCII texts and for any text."""
    found: list[tuple[str, Translation] | None] = []
    for ascii_text in (True, False):
        try:
            found.append(translate(items, flags, ascii_text=ascii_text))
        except Unsupported:
            found.append(None)
    return found[0], found[1]


def _compile(translated: tuple[str, Translation] | None, *,
             capture: bool) -> tuple[Any, Any]:
    """(compiled ASCII program, Translation) or (None, None) when RE2 cannot run it."""
    if translated is None:
        return None, None
    source, info = translated
    try:
        return re2.compile(source.encode("ascii"), _OPTIONS[True, capture]), info
    except (re2.error, UnicodeEncodeError):
        return None, None


def searcher(items: Any, flags: int, fallback: Search, *,
             capture: bool = True) -> Search | None:
    """``search(text)`` on RE2 for a parsed pattern (see translated_searcher)."""
    return translated_searcher(translations(items, flags), fallback, capture=capture)


def translated_searcher(translated: Translated, fallback: Search, *,
                        capture: bool = True) -> Search | None:
    """``search(text)`` on RE2 for a pattern's translations, texts RE2 cannot take handed
    to ``fallback``; None when RE2 cannot run the pattern.

    Two programs: one in Latin-1 mode with classes cut to ASCII, for ASCII texts (most log
    lines; its automata are a fraction of the Unicode one's), and one with Python's
    Unicode classes for the others, compiled when the first such text comes. Without
    ``capture``, a match has no groups (and costs less)."""
    options = _OPTIONS[False, capture]
    ascii_rx, info = _compile(translated[0], capture=capture)
    unicode_source, unicode_info = translated[1] or (None, None)
    if ascii_rx is None:
        if unicode_source is None:
            return None
        try:  # the only program: compiled now, so a pattern RE2 refuses stays on re
            unicode_rx = re2.compile(unicode_source, options)
        except re2.error:
            return None
        unicode_programs = [unicode_rx.search]
    else:
        unicode_programs = []
    binding = _binding_match(ascii_rx) if ascii_rx is not None else None
    translation = info if info is not None else unicode_info
    assert translation is not None  # ascii_rx or unicode_source exists, each with its info
    dollar = translation.dollar

    def unicode_search(text: str) -> Any:
        if not unicode_programs:
            try:
                unicode_programs.append(re2.compile(unicode_source, options).search)
            except re2.error:
                unicode_programs.append(fallback)
        try:
            return unicode_programs[0](text)  # the wrapper converts a non-ASCII text's offsets
        except UnicodeEncodeError:  # a lone surrogate: not UTF-8
            return fallback(text)

    def search(text: str) -> Any:
        if dollar and text[-1:] == "\n":
            return fallback(text)
        if binding is not None and text.isascii():
            data = text.encode("ascii")
            spans = binding[0](binding[1], data, 0, len(data))
            return None if spans[0][0] < 0 else Match(text, spans)
        if unicode_source is None:
            return fallback(text)
        return unicode_search(text)
    return search
