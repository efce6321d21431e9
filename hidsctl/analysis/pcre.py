"""PCRE2 patterns (``<pcre2>``, ``<prematch_pcre2>``, ``*_pcre2``) as Python matchers.

Python's ``re`` runs most PCRE2 patterns as they are, and is the faster engine, so a
pattern is first rewritten for ``re`` (``(?<name>`` becomes ``(?P<name>``, ``\\z`` becomes
``\\Z``, ``\\h`` a class of blanks). Patterns that need what ``re`` lacks (``\\K``,
``\\p{..}``, POSIX ``[[:alpha:]]``, recursion, ``\\Q..\\E``) compile with the ``regex``
package, which implements PCRE's syntax. Like OSSEC's, matching is case-insensitive
(OSSEC compiles with PCRE2_CASELESS so rules keep os_regex's behaviour); ``(?-i)`` in a
pattern turns that off.
"""

from __future__ import annotations

import re

from hidsctl.analysis.patterns import Pattern, PatternError

_NEEDS_REGEX = re.compile(r"\\[KpPXRQEGg]|\[\[:|\(\?[R0-9+&|]|\(\?P?>|\(\?\(|\\[0-9]{3}")
_NAMED_GROUP = re.compile(r"\(\?<(?=[A-Za-z_])")
_NAMED_REF = re.compile(r"\\k[<{]([A-Za-z_]\w*)[>}]")


def to_python(source: str) -> str:
    text = _NAMED_GROUP.sub("(?P<", source)
    text = _NAMED_REF.sub(r"(?P=\1)", text)
    text = text.replace("\\z", "\\Z").replace("\\h", "[ \\t]").replace("\\H", "[^ \\t]")
    return text


def compile_pcre2(source: str, *, negate: bool = False) -> Pattern:
    if source == "":
        raise PatternError("empty pcre2 pattern")
    if not _NEEDS_REGEX.search(source):
        try:
            return Pattern(source, "pcre2", re.compile(to_python(source), re.IGNORECASE),
                           negate)
        except re.error:
            pass  # let the PCRE-compatible engine judge it
        except RecursionError:
            raise PatternError("pcre2 pattern nests too deeply") from None
    import regex  # here: most rulesets need none of it, and it takes a while to import

    try:
        rx = regex.compile(source, regex.VERSION0 | regex.IGNORECASE)
    except regex.error as exc:
        raise PatternError(f"bad pcre2: {exc}") from None
    return Pattern(source, "pcre2", rx, negate)
