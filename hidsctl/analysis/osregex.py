"""OSSEC's ``os_regex``, translated once into a Python regular expression.

OSSEC's own small regex language, case-insensitive:

| os_regex | meaning | Python |
|---|---|---|
| ``\\w`` | ``A-Z a-z 0-9 - @ _`` | ``[A-Za-z0-9@_-]`` |
| ``\\d`` / ``\\D`` | digit / not | ``[0-9]`` / ``[^0-9]`` |
| ``\\s`` / ``\\S`` | space / not | ``\\s`` / ``\\S`` |
| ``\\W`` | not ``\\w`` | ``[^A-Za-z0-9@_-]`` |
| ``\\p`` | punctuation ``()*+,-.:;<=>?[]!"'#$%&|{}`` | a class of those |
| ``\\.`` | any character | ``.`` (DOTALL) |
| ``\\t`` | tab | ``\\t`` |
| ``\\$ \\( \\) \\\\ \\| \\<`` … | the character itself | escaped literal |
| ``+`` ``*`` | one or more / zero or more of the previous item | same |
| ``^`` ``$`` | start / end of the text | ``\\A`` / ``\\Z`` |
| ``|`` | either pattern | ``|`` |
| ``( )`` | capture group | capture group |

Every other character is literal (``.``, ``?``, ``[``, ``{`` included).
"""

from __future__ import annotations

import re

from hidsctl.analysis.patterns import Pattern, PatternError

_W = "A-Za-z0-9@_\\-"
_PUNCT = re.escape("()*+,-.:;<=>?[]!\"'#$%&|{}")
_ESCAPES = {
    "w": f"[{_W}]", "W": f"[^{_W}]", "d": "[0-9]", "D": "[^0-9]",
    "s": "\\s", "S": "\\S", "p": f"[{_PUNCT}]", ".": ".", "t": "\\t",
}


def to_python(source: str) -> str:
    out: list[str] = []
    i = 0
    n = len(source)
    depth = 0
    while i < n:
        ch = source[i]
        if ch == "\\":
            if i + 1 >= n:
                raise PatternError("os_regex pattern ends with a lone backslash")
            nxt = source[i + 1]
            out.append(_ESCAPES.get(nxt) or re.escape(nxt))
            i += 2
            continue
        if ch in "+*":
            if not out or out[-1] in ("(", "|", "\\A") or out[-1].endswith(("+", "*")):
                raise PatternError(f"'{ch}' with nothing to repeat at offset {i}")
            out.append(ch)
        elif ch == "^":
            out.append("\\A" if (not out or out[-1] in ("|", "(")) else re.escape(ch))
        elif ch == "$":
            at_end = i + 1 == n or source[i + 1] in "|)"
            out.append("\\Z" if at_end else re.escape(ch))
        elif ch == "|":
            out.append("|")
        elif ch == "(":
            depth += 1
            out.append("(")
        elif ch == ")":
            if depth == 0:
                raise PatternError(f"unbalanced ')' at offset {i}")
            depth -= 1
            out.append(")")
        else:
            out.append(re.escape(ch))
        i += 1
    if depth:
        raise PatternError("unbalanced '(': group is never closed")
    return "".join(out)


def compile_osregex(source: str, *, negate: bool = False) -> Pattern:
    if source == "":
        raise PatternError("empty os_regex pattern")
    try:
        rx = re.compile(to_python(source), re.IGNORECASE | re.DOTALL)
    except re.error as exc:
        raise PatternError(f"bad os_regex: {exc}") from None
    return Pattern(source, "regex", rx, negate)
