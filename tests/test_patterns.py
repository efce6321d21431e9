"""The three pattern languages against OSSEC's documented semantics."""

from __future__ import annotations

import pytest

from hidsctl.analysis.languages import compile_pattern
from hidsctl.analysis.patterns import PatternError


def match(kind, pattern, text):
    return compile_pattern(kind, pattern).test(text)


@pytest.mark.parametrize("pattern,text,expected", [
    ("Failed password", "sshd: failed PASSWORD for root", True),   # case-insensitive
    ("^sshd", "sshd[1]: x", True),
    ("^sshd", "x sshd", False),
    ("ssh2$", "port 22 ssh2", True),
    ("ssh2$", "ssh2 port", False),
    ("^exact$", "exact", True),
    ("^exact$", "exactly", False),
    ("foo|bar", "xx bar xx", True),
    ("!foo", "bar", True),               # leading ! negates
    ("!foo", "foo", False),
    ("a.b", "axb", False),               # no regex: '.' is literal
    ("a\\d", "a\\d", True),              # backslash is literal too
])
def test_os_match(pattern, text, expected):
    assert match("match", pattern, text) is expected


@pytest.mark.parametrize("pattern,text,expected", [
    (r"^Failed \S+ for \w+ from \d+.\d+", "failed password for root from 10.0", True),
    (r"\w+@\w+", "user-1@host_2", True),          # \w includes - @ _
    (r"\d+\p\d+", "12:34", True),                 # \p is punctuation
    (r"a\.c", "a-c", True),                       # \. is any character
    (r"a.c", "abc", False),                       # a plain . is literal
    (r"x\(y\)", "x(y)", True),
    (r"\s\S+\s", " word ", True),
    (r"^a|^b", "b..", True),
    (r"end$", "the end", True),
    (r"1+2", "1112", True),
    (r"\W\D", "!x", True),
])
def test_os_regex(pattern, text, expected):
    assert match("regex", pattern, text) is expected


def test_os_regex_captures_and_offsets():
    pat = compile_pattern("regex", r"for (\S+) from (\S+) port")
    end, groups = pat.captures("Failed password for root from 1.2.3.4 port 22")
    assert groups == ["root", "1.2.3.4"]
    assert end == len("Failed password for root from 1.2.3.4 port")


@pytest.mark.parametrize("bad", ["(unclosed", "a)", "+x", "trailing\\"])
def test_os_regex_rejects_broken_patterns(bad):
    with pytest.raises(PatternError):
        compile_pattern("regex", bad)


@pytest.mark.parametrize("pattern,text,expected", [
    (r"^Accepted \S+ for (\S+)", "accepted password for root", True),  # caseless, as OSSEC
    (r"(?<user>\w+) logged", "bob logged in", True),                   # PCRE named group
    (r"\d{3}-\d{4}", "555-1234", True),
    (r"foo\Kbar", "foobar", True),                                     # \K via regex
    (r"[[:digit:]]+", "abc123", True),                                 # POSIX class
    (r"\p{Lu}x", "Ax", True),                                          # Unicode property
    (r"(?>a+)b", "aaab", True),                                        # atomic group
    (r"^\S+?$", "a b", False),
])
def test_pcre2(pattern, text, expected):
    assert match("pcre2", pattern, text) is expected


def test_pcre2_unset_groups_are_skipped_like_ossec():
    pat = compile_pattern("pcre2", r"^from (\S+)$|^by (\S+)$")
    assert pat.captures("by alice")[1] == ["alice"]


def test_pcre2_errors_are_pattern_errors():
    with pytest.raises(PatternError):
        compile_pattern("pcre2", "(unbalanced")


# --- the cheap tests analysis runs before a regex search -------------------------------------

def test_anchored_literal_prefixes_and_first_characters():
    p = compile_pattern("pcre2", "^nouveau ")
    assert (p.literals, p.exact, p.anchored) == (("nouveau ",), True, True)
    p = compile_pattern("regex", "^Failed \\S+ for|^error: PAM")
    assert p.anchored and p.literals == ("failed ", "error: pam") and not p.exact
    assert p.first == frozenset("FfEe")
    assert compile_pattern("pcre2", "^\\d+ \\S+").first == frozenset("0123456789")
    assert compile_pattern("pcre2", "^[^a-z]").first.isdisjoint("abcXYZ")
    assert compile_pattern("pcre2", "telnetd").first is None           # not anchored
    assert compile_pattern("pcre2", "^(?:a|\\w*)").first is None        # may start anywhere


def _fixture_patterns_and_texts():
    from ossec_fixture import OSSEC, OSSEC_CONF, ossec_ruleset

    if not OSSEC_CONF.is_file():
        pytest.skip("OSSEC fixture not found")
    from hidsctl.analysis.events import from_log_line
    from hidsctl.analysis.ruletests import read_cases

    loaded = ossec_ruleset()
    patterns = []
    for node in loaded.decoders.with_program + loaded.decoders.without_program:
        for dec in [node.decoder, *node.children]:
            patterns += [p for p in (dec.prematch, dec.regex) if p is not None]
    for rule in loaded.tree.rules():
        patterns += rule.patterns.values()
    texts = set()
    for path in sorted((OSSEC / "tests").glob("*.ini")):
        for case in read_cases(path):
            ev = from_log_line(case.log)
            texts.update([ev.log, ev.full_log] + list(ev.fields.values()))
    return patterns, sorted(texts)


def test_prefilters_never_reject_what_the_pattern_matches():
    """Over every pattern of OSSEC's ruleset and every text its tests produce: a match
    implies the required literal (or prefix) and the first character; an exact literal
    test gives the search's own answer."""
    patterns, texts = _fixture_patterns_and_texts()
    checked = 0
    for pat in patterns:
        if pat.literals is None and pat.first is None:
            continue
        for text in texts:
            found = pat.search(text) is not None
            low = text.lower()
            if pat.literals is not None:
                if pat.anchored:
                    has = low.startswith(pat.literals)
                else:
                    has = any(lit in low for lit in pat.literals)
                assert has or not found, (pat, text)
                if pat.exact:
                    assert has == found, (pat, text)
            if pat.first is not None and found and text[:1].isascii():
                assert text[:1] in pat.first, (pat, text)
            checked += 1
    assert checked > 100_000


@pytest.mark.parametrize("source", [r"(a+)+$", r"\S+\[[^]]+\]", r"^(\w+)=(\w+)(\s+\w+)*x$"])
def test_a_slow_pattern_from_the_rule_cache_searches_as_the_loaded_one(source, monkeypatch):
    """The compiled-ruleset cache keeps a slow pattern's RE2 translations: the restored
    pattern builds its RE2 searchers from them without parsing the pattern again, and
    finds what the loaded one finds."""
    import io

    from hidsctl.analysis import patterns, rulecache

    loaded = compile_pattern("pcre2", source)
    assert loaded.engine == "re2"
    buffer = io.BytesIO()
    rulecache._Pickler(buffer).dump(loaded)

    def no_parse(rx):
        raise AssertionError("parsed again")

    monkeypatch.setattr(patterns, "_parse", no_parse)
    restored = rulecache._Unpickler(io.BytesIO(buffer.getvalue())).load()
    assert restored.engine == "re2"

    def plain(linear):
        translated, slow = linear
        return [t and (t[0], vars(t[1])) for t in translated], slow

    assert plain(restored.linear) == plain(loaded.linear)
    texts = ["a" * 40 + "!", "a" * 200, "x[" * 100 + "]", "k=v" + " w" * 80 + "x",
             "k=v w x", "[]", "é" * 130 + "[ü]", ""]
    for text in texts:
        for name in ("search", "exists"):
            want, got = getattr(loaded, name)(text), getattr(restored, name)(text)
            assert (want is None) == (got is None), (source, text, name)
            if name == "search" and want is not None:
                assert want.group(0) == got.group(0) and want.groups() == got.groups()
