"""OSSEC's ``os_match``: literal strings, case-insensitive.

``a|b`` is either literal; ``^x`` anchors at the start, ``x$`` at the end, ``^x$`` means the
whole text; a leading ``!`` negates the whole pattern. There are no other special
characters: everything else, backslash included, is literal.
"""

from __future__ import annotations

import re

from hidsctl.analysis.patterns import Pattern


def to_python(source: str) -> str:
    alternatives = []
    for alt in source.split("|"):
        start = alt.startswith("^")
        if start:
            alt = alt[1:]
        end = alt.endswith("$")
        if end:
            alt = alt[:-1]
        alternatives.append(("\\A" if start else "") + re.escape(alt) + ("\\Z" if end else ""))
    return "|".join(alternatives)


def compile_osmatch(source: str, *, negate: bool = False) -> Pattern:
    text = source
    if text.startswith("!"):
        negate = not negate
        text = text[1:]
    # An empty pattern (``<program_name />``) matches anything, as OSSEC's does.
    return Pattern(source, "match", re.compile(to_python(text), re.IGNORECASE | re.DOTALL), negate)
