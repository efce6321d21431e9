"""Pattern shapes that make a backtracking engine slow, found in the parse tree.

A backtracking engine (Python's ``re``, the ``regex`` package, PCRE) tries every way a
pattern can split the text. Two shapes make the number of ways explode:

- ``nested``: a repeated group whose body holds a variable repeat and nothing that every
  iteration must contain outside it, other than characters that repeat also takes:
  ``(a+)+``, ``(\\w+\\s?)*``. A text that almost matches costs time exponential in its
  length (``(a+)+$`` on 34 ``a`` and a ``b`` runs for minutes).
- ``alternation``: a repeated alternation whose alternatives can start with the same
  character: ``(a|aa)+``, ``(\\w|\\d)*``; also exponential.
- ``adjacent``: two unbounded repeats in one sequence that can take the same character,
  with nothing between them that could not: ``\\S+\\[[^]]+``; a run of that character costs
  time quadratic in its length (a log line of 65,000 ``[``: seconds).

Characters are approximated as a bit mask over ASCII plus one flag for "some non-ASCII
character"; the analysis errs towards finding a shape, never towards missing one of the
forms above.
"""

from __future__ import annotations

from re import _constants as C  # type: ignore[attr-defined]
from typing import Any, Callable, Iterator, NamedTuple

_ALL_ASCII = (1 << 128) - 1
_MAXREPEAT = C.MAXREPEAT
_REPEATS = (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None))
_ZERO_WIDTH = (C.AT, C.ASSERT, C.ASSERT_NOT)


class Shape(NamedTuple):
    kind: str      # "nested", "alternation" or "adjacent"
    detail: str    # one phrase for humans

    @property
    def exponential(self) -> bool:
        return self.kind in ("nested", "alternation")


class Chars(NamedTuple):
    """A set of characters: a bit per ASCII character (0-127) and one per class of the
    others (128: spaces, 129: digits, 130: other word characters, 131: the rest), set
    when the set holds some character of that class."""
    mask: int

    def __and__(self, other: "Chars") -> "Chars":
        return Chars(self.mask & other.mask)

    def __or__(self, other: "Chars") -> "Chars":
        return Chars(self.mask | other.mask)

    def __bool__(self) -> bool:
        return bool(self.mask)


_SPACE, _DIGIT, _WORD, _REST = (1 << 128, 1 << 129, 1 << 130, 1 << 131)
_NON_ASCII = _SPACE | _DIGIT | _WORD | _REST
NONE = Chars(0)
ANY = Chars(_ALL_ASCII | _NON_ASCII)


def find_shapes(items: Any, ignorecase: bool) -> list[Shape]:
    """The slow shapes of a parsed stdlib pattern (``re._parser.parse``)."""
    found: list[Shape] = []
    _walk(list(items), ignorecase, found)
    unique: list[Shape] = []
    for shape in found:
        if shape not in unique:
            unique.append(shape)
    return unique


def _walk(seq: list[Any], ic: bool, found: list[Shape]) -> None:
    """Check every sequence and repeat in ``seq``, nested ones included."""
    _adjacent(_flatten(seq), ic, found)
    for op, av in seq:
        if op in _REPEATS:
            low, high, body = av
            body = list(body)
            if high > 1 and high != low:
                _nested(body, ic, found)
            _walk(body, ic, found)
        elif op is C.SUBPATTERN:
            _walk(list(av[-1]), ic, found)
        elif op is C.BRANCH:
            for alt in av[1]:
                _walk(list(alt), ic, found)
        elif op in (C.ASSERT, C.ASSERT_NOT):
            _walk(list(av[1]), ic, found)
        elif op is getattr(C, "ATOMIC_GROUP", None):
            _walk(list(av), ic, found)


def _nested(body: list[Any], ic: bool, found: list[Shape]) -> None:
    """A repeated ``body``: exponential when iterations can split a text in many ways."""
    for inner in _inner_repeats(body):
        taken = _chars_of(list(inner[1][2]), ic)
        others = _mandatory(body, ic, skip=inner)
        if all(o & taken for o in others):
            found.append(Shape("nested", "a repeated group holds a repeat that nothing "
                               "separates from the next iteration (like (a+)+)"))
            return
    for branch in _top_branches(body):
        starts = [_prefix(list(alt), ic) for alt in branch[1][1]]
        for i, a in enumerate(starts):
            if any(_overlap(a, b) for b in starts[i + 1:]):
                found.append(Shape("alternation", "a repeated alternation whose "
                                   "alternatives can start alike (like (a|aa)+)"))
                return


def _adjacent(flat: list[Any], ic: bool, found: list[Shape]) -> None:
    """Two unbounded repeats in sequence that can share a run of one character."""
    for i, (op, av) in enumerate(flat):
        if op not in _REPEATS or av[1] != _MAXREPEAT:
            continue
        common = _chars_of(list(av[2]), ic)
        for op2, av2 in flat[i + 1:]:
            if op2 in _ZERO_WIDTH:
                continue
            if op2 in _REPEATS:
                chars = _chars_of(list(av2[2]), ic)
                if av2[1] == _MAXREPEAT and chars & common:
                    found.append(Shape("adjacent", "two unbounded repeats in a row can take "
                                       "the same characters (like \\S+\\[[^]]+)"))
                    return
                if av2[0] == 0:
                    continue  # may be skipped: what follows it is adjacent too
                common = common & chars
            elif op2 in (C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN):
                common = common & _atom(op2, av2, ic)
            else:
                break  # an alternation or a reference: not followed further
            if not common:
                break


def unbounded_repeats(items: Any) -> int:
    """How many unbounded repeats a parsed pattern has: with the search's own start, a bound
    on the degree of the polynomial a quadratic shape's cost grows with."""
    count = 0
    for op, av in items:
        if op in _REPEATS:
            count += (av[1] == _MAXREPEAT) + unbounded_repeats(av[2])
        elif op is C.SUBPATTERN:
            count += unbounded_repeats(av[-1])
        elif op is C.BRANCH:
            count += sum(unbounded_repeats(alt) for alt in av[1])
        elif op in (C.ASSERT, C.ASSERT_NOT):
            count += unbounded_repeats(av[1])
    return count


# --- the parts of a parse tree ---------------------------------------------------------------

def _flatten(seq: list[Any]) -> list[Any]:
    """``seq`` with groups opened up, so a group's first item follows what precedes it."""
    out = []
    for op, av in seq:
        if op is C.SUBPATTERN:
            out.extend(_flatten(list(av[-1])))
        else:
            out.append((op, av))
    return out


def _inner_repeats(seq: list[Any]) -> Iterator[Any]:
    """Variable repeats that can take more than one character, anywhere inside ``seq``."""
    for item in seq:
        op, av = item
        if op in _REPEATS:
            if av[1] > 1 and av[1] != av[0]:
                yield item
            yield from _inner_repeats(list(av[2]))
        elif op is C.SUBPATTERN:
            yield from _inner_repeats(list(av[-1]))
        elif op is C.BRANCH:
            for alt in av[1]:
                yield from _inner_repeats(list(alt))


def _top_branches(seq: list[Any]) -> Iterator[Any]:
    for item in _flatten(seq):
        if item[0] is C.BRANCH:
            yield item


def _mandatory(seq: list[Any], ic: bool, skip: Any) -> list[Chars]:
    """Character sets of the parts every match of ``seq`` must contain, ``skip`` aside."""
    out: list[Chars] = []
    for item in seq:
        op, av = item
        if item is skip:
            continue
        if op in (C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN):
            out.append(_atom(op, av, ic))
        elif op is C.SUBPATTERN:
            out += _mandatory(list(av[-1]), ic, skip)
        elif op in _REPEATS:
            if av[0] >= 1:
                out += _mandatory(list(av[2]), ic, skip)
        elif op is C.BRANCH:
            holding = [alt for alt in av[1] if _holds(list(alt), skip)]
            if holding:  # only the alternative that holds the repeat goes with it
                out += _mandatory(list(holding[0]), ic, skip)
                continue
            firsts = [_first(list(alt), ic) for alt in av[1]]
            known = [f for f in firsts if f is not None]
            if len(known) == len(firsts):
                union = NONE
                for f in known:
                    union = union | f
                out.append(union)
    return out


def _prefix(seq: list[Any], ic: bool) -> list[Chars] | None:
    """The character sets of the single characters an alternative starts with, in order
    (at least the set of its first character); None when it can match nothing at all."""
    out: list[Chars] = []
    for op, av in _flatten(seq):
        if op in (C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN):
            out.append(_atom(op, av, ic))
            continue
        if op in _ZERO_WIDTH and out:
            continue
        break
    if out:
        return out
    first = _first(seq, ic)
    return None if first is None else [first]


def _overlap(a: list[Chars] | None, b: list[Chars] | None) -> bool:
    """Whether two alternatives can start with the same characters (an alternative that can
    be empty overlaps any other)."""
    if a is None or b is None:
        return True
    return all(x & y for x, y in zip(a, b))


def _holds(seq: list[Any], target: Any) -> bool:
    for item in seq:
        if item is target:
            return True
        op, av = item
        if op in _REPEATS and _holds(list(av[2]), target):
            return True
        if op is C.SUBPATTERN and _holds(list(av[-1]), target):
            return True
        if op is C.BRANCH and any(_holds(list(alt), target) for alt in av[1]):
            return True
    return False


def _first(seq: list[Any], ic: bool) -> Chars | None:
    """Characters a non-empty match of ``seq`` can start with; None when it can be empty."""
    chars = NONE
    for op, av in seq:
        if op in _ZERO_WIDTH:
            continue
        if op in (C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN):
            return chars | _atom(op, av, ic)
        if op is C.SUBPATTERN:
            sub = _first(list(av[-1]), ic)
            if sub is None:
                return None
            return chars | sub
        if op in _REPEATS:
            sub = _first(list(av[2]), ic)
            if sub is None:
                return None
            chars = chars | sub
            if av[0] >= 1:
                return chars
            continue
        if op is C.BRANCH:
            union = chars
            for alt in av[1]:
                sub = _first(list(alt), ic)
                if sub is None:
                    return None
                union = union | sub
            return union
        return ANY  # a reference: anything
    return None


def _chars_of(seq: list[Any], ic: bool) -> Chars:
    """Every character some part of ``seq`` can take."""
    chars = NONE
    for op, av in seq:
        if op in (C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN):
            chars = chars | _atom(op, av, ic)
        elif op is C.SUBPATTERN:
            chars = chars | _chars_of(list(av[-1]), ic)
        elif op in _REPEATS:
            chars = chars | _chars_of(list(av[2]), ic)
        elif op is C.BRANCH:
            for alt in av[1]:
                chars = chars | _chars_of(list(alt), ic)
        elif op in (C.GROUPREF, getattr(C, "GROUPREF_EXISTS", None)):
            chars = ANY
    return chars


def _atom(op: Any, av: Any, ic: bool) -> Chars:
    if op is C.LITERAL:
        return Chars(_literal(av, ic))
    if op is C.NOT_LITERAL:
        return Chars((_ALL_ASCII & ~_literal(av, ic)) | _NON_ASCII)
    if op is C.ANY:
        return ANY
    return _class(av, ic)


def _literal(code: int, ic: bool) -> int:
    if code >= 128:
        ch = chr(code)
        return _SPACE if ch.isspace() else _DIGIT if ch.isdecimal() else \
            _WORD if ch.isalnum() else _REST
    mask = 1 << code
    if ic:
        ch = chr(code)
        for variant in (ch.lower(), ch.upper()):
            if variant.isascii():
                mask |= 1 << ord(variant)
    return mask


def _ascii(test: Callable[[str], Any]) -> int:
    return sum(1 << c for c in range(128) if test(chr(c)))


# Each category as (ASCII mask, the classes of other characters it covers whole).
_CATEGORIES = {
    C.CATEGORY_DIGIT: (_ascii(str.isdecimal), _DIGIT),
    C.CATEGORY_WORD: (_ascii(lambda c: c.isalnum() or c == "_"), _DIGIT | _WORD),
    C.CATEGORY_SPACE: (_ascii(str.isspace), _SPACE),
}
for _plain, _negated in ((C.CATEGORY_DIGIT, C.CATEGORY_NOT_DIGIT),
                         (C.CATEGORY_WORD, C.CATEGORY_NOT_WORD),
                         (C.CATEGORY_SPACE, C.CATEGORY_NOT_SPACE)):
    _mask, _whole = _CATEGORIES[_plain]
    _CATEGORIES[_negated] = (_ALL_ASCII & ~_mask, _NON_ASCII & ~_whole)


def _class(items: Any, ic: bool) -> Chars:
    negate = False
    ascii_mask, whole, partial = 0, 0, 0
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            bits = _literal(av, ic)
            ascii_mask |= bits & _ALL_ASCII
            partial |= bits & _NON_ASCII
        elif op is C.RANGE:
            low, high = av
            for code in range(low, min(high, 127) + 1):
                ascii_mask |= _literal(code, ic)
            if high >= 128:
                partial |= _NON_ASCII
        elif op is C.CATEGORY and av in _CATEGORIES:
            mask, covered = _CATEGORIES[av]
            ascii_mask |= mask
            whole |= covered
        else:
            return ANY
    if negate:
        # A class of other characters covered whole is absent from the complement; one
        # covered in part is still present.
        return Chars((_ALL_ASCII & ~ascii_mask) | (_NON_ASCII & ~whole))
    return Chars(ascii_mask | whole | partial)
