"""OSSEC's pattern languages as rootcheck files use them, compiled to Python regexes.

OS_Regex (``r:``): ``\\w \\d \\s \\t \\p \\W \\D \\S`` classes, ``\\.`` for any character,
``+``/``*`` after a class, ``^``, ``$``, ``|``; every other character is literal.
Matching is case-insensitive, as in OSSEC.

A content condition is several patterns joined by `` && ``; each is ``r:REGEX``,
``<:TEXT`` / ``>:TEXT`` (the text sorts before / after the line, as strcmp), or plain
text compared with the whole line (case-insensitive); a ``!`` in front negates it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

_PUNCT = re.escape("()*+,-.:;<=>?[]!\"'#$%&|{}")
_CLASSES = {
    "w": r"[A-Za-z0-9@_\-]", "W": r"[^A-Za-z0-9@_\-]",
    "d": r"[0-9]", "D": r"[^0-9]",
    "s": r"\s", "S": r"\S",
    "t": r"\t", "p": f"[{_PUNCT}]",
    ".": r".",
}


def translate(pattern: str) -> str:
    """An OS_Regex pattern as a Python regular expression (to use with re.IGNORECASE)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            i += 2
            if nxt in _CLASSES:
                out.append(_CLASSES[nxt])
                if i < n and pattern[i] in "+*":
                    out.append(pattern[i])
                    i += 1
            else:
                out.append(re.escape(nxt))
            continue
        if char in "^$|":
            out.append(char)
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def compile_regex(pattern: str, *, multiline: bool = False) -> re.Pattern[str]:
    flags = re.IGNORECASE | (re.MULTILINE if multiline else 0)
    return re.compile(translate(pattern), flags)


@dataclass(frozen=True)
class Condition:
    """One ``&&``-joined part of a content pattern."""

    negated: bool
    test: Callable[[str], bool]
    text: str


def compile_condition(text: str) -> list[Condition]:
    """A content pattern such as ``!r:^# && r:PermitRootLogin\\s+yes``."""
    conditions = []
    for part in text.split(" && "):
        part = part.strip()
        negated = part.startswith("!")
        if negated:
            part = part[1:]
        conditions.append(Condition(negated, _test(part), part))
    return conditions


def _test(part: str) -> Callable[[str], bool]:
    kind = part[:2].lower()
    value = part[2:]
    if kind == "r:":
        regex = compile_regex(value)
        return lambda line: regex.search(line) is not None
    if kind == "<:":
        return lambda line: value < line
    if kind == ">:":
        return lambda line: value > line
    if kind == "=:":
        part = value
    lowered = part.lower()
    return lambda line: line.lower() == lowered


def line_matches(conditions: list[Condition], line: str) -> bool:
    for condition in conditions:
        if condition.test(line) == condition.negated:
            return False
    return True


def lines_match(conditions: list[Condition], lines) -> tuple[bool, str | None]:
    """Whether content (an iterable of lines) satisfies the pattern, and the line that did.

    With at least one positive part, some line must satisfy every part. When every part
    is negated (``!r:/tmp``), the pattern means "no line has it": true only when every
    line satisfies the negations.
    """
    all_negated = all(c.negated for c in conditions)
    for line in lines:
        line = line.rstrip("\r\n")
        matched = line_matches(conditions, line)
        if all_negated:
            if not matched:
                return False, line
        elif matched:
            return True, line
    return all_negated, None
