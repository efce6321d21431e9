"""Bounded matching: no log line, rule or decoder may stall ``analyze`` or ``logtest``.

Catastrophic patterns either run on RE2 (linear time) or, where RE2 cannot take them, are
interrupted at the per-event budget and reported in a ``notice``. The runs below would take
hours without that (``(a+)+$`` on 34 ``a`` and a ``!`` backtracks 2**34 times); the
subprocess timeout is the bound.
"""

from __future__ import annotations

import configparser
import json
import re
from pathlib import Path

import pytest
import regex

from conftest import invoke_hidsctl, run_hidsctl
from ossec_fixture import OSSEC, OSSEC_CONF
from hidsctl.analysis import linear
from hidsctl.analysis.budget import Guard, OverBudget
from hidsctl.analysis.languages import compile_pattern
from hidsctl.analysis.shapes import find_shapes

EVIL = "a" * 34 + "!"

DECODERS = r"""
<decoder name="evil-decoder">
  <prematch_pcre2>^zz(?=z)(z+)+$</prematch_pcre2>
</decoder>
"""

RULES = r"""
<group name="syslog,">
  <rule id="1" level="0" noalert="1">
    <category>syslog</category>
    <description>syslog template</description>
  </rule>
  <rule id="100004" level="5">
    <if_sid>1</if_sid>
    <match>GOOD LINE</match>
    <description>a good line</description>
  </rule>
  <rule id="100001" level="7">
    <if_sid>1</if_sid>
    <pcre2>(a+)+$</pcre2>
    <description>nested pcre2 repeat</description>
  </rule>
  <rule id="100002" level="7">
    <if_sid>1</if_sid>
    <regex>(\w+)+$</regex>
    <description>nested os_regex repeat</description>
  </rule>
</group>
"""

LOOKAHEAD_RULE = r"""
  <rule id="100003" level="7">
    <if_sid>1</if_sid>
    <pcre2>(?=a)(a+)+$</pcre2>
    <description>nested repeat RE2 cannot run (look-ahead)</description>
  </rule>
</group>
"""


@pytest.fixture
def evil_ruleset(tmp_path):
    (tmp_path / "decoders.xml").write_text(DECODERS)
    (tmp_path / "rules.xml").write_text(RULES)
    return ["--no-default-rules", "--decoders", str(tmp_path / "decoders.xml"), "--rules", str(tmp_path / "rules.xml")]


@pytest.fixture
def lookahead_ruleset(tmp_path):
    (tmp_path / "decoders.xml").write_text(DECODERS)
    (tmp_path / "rules.xml").write_text(RULES.replace("</group>", LOOKAHEAD_RULE))
    return ["--no-default-rules", "--decoders", str(tmp_path / "decoders.xml"), "--rules", str(tmp_path / "rules.xml")]


def log(line, agent="007"):
    return json.dumps({"type": "log", "timestamp": "2026-11-25T13:50:47.000Z",
                       "location": "/var/log/evil.log",
                       "agent": {"id": agent, "name": "web1", "ip": "127.0.0.1"}, "log": line})


def records(stdout: bytes):
    return [json.loads(x) for x in stdout.splitlines()]


# --- the mechanisms ---------------------------------------------------------------------------

def test_nested_repeats_run_on_re2_and_finish():
    for kind, source in (("pcre2", "(a+)+$"), ("regex", r"(\w+)+$"), ("pcre2", r"^(\w+\s?)*$")):
        pattern = compile_pattern(kind, source)
        assert pattern.engine == "re2", source
        assert pattern.search(EVIL) is None
        assert pattern.search(EVIL[:-1]) is not None


def test_quadratic_shapes_keep_short_texts_on_re_and_long_ones_on_re2():
    pattern = compile_pattern("pcre2", r"\S+\[([^\]]+)\]")
    assert pattern.engine == "re2" and [s.kind for s in pattern.shapes] == ["adjacent"]
    assert pattern.captures("x[1.2.3.4]") == (10, ["1.2.3.4"])
    assert pattern.search("[" * 20000) is None  # cubic on re: days
    assert pattern.captures("y" * 300 + "[1.2.3.4]") == (309, ["1.2.3.4"])
    three = compile_pattern("pcre2", r".*a.*b.*c.*d")
    assert three.search("abc" * 42) is None  # quartic on re even at this length


def test_the_guard_interrupts_re():
    slow = re.compile(r"(a+)+$")
    with Guard(20) as guard:
        guard.event = 1
        with pytest.raises(OverBudget):
            slow.search("a" * 30 + "!")
        guard.event = 0


def test_the_guard_interrupts_the_regex_package():
    slow = regex.compile(r"(?<=z)(a|aa)+$")
    with Guard(20) as guard:
        guard.event = 1
        with pytest.raises(OverBudget):
            slow.search("z" + "a" * 60 + "!")
        guard.event = 0


def test_the_guard_leaves_the_time_between_events_alone():
    slow = re.compile(r"(a+)+$")
    with Guard(5):
        # No event under analysis: the search runs to its end, however long.
        assert slow.search("a" * 20 + "!") is None


def test_shapes():
    def kinds(source):
        return {s.kind for s in find_shapes(re._parser.parse(source, re.I), True)}
    assert kinds("(a+)+$") == {"nested"}
    assert kinds(r"(\w+\s?)*$") == {"nested"}
    assert kinds("(a|aa)+b") == {"alternation"}
    assert kinds(r"reject: \S+ from \S+\[([^\]]+)\]") == {"adjacent"}
    for fine in (r"(\S+\s+)+$", "(a+b)+", "(ab|ac)+", r"(%20|%0[9ad])+", r"^\s*\S+ : ",
                 r"Failed \S+ for (\S+) from (\S+) port (\d+)", r"(\d+\.){3}\d+"):
        assert kinds(fine) == set(), fine


# --- RE2 reads a pattern as re does -------------------------------------------------------

def _sample_lines() -> list[str]:
    lines = []
    for folder in (Path(__file__).parent / "rules", OSSEC / "tests"):
        for ini in sorted(folder.glob("*.ini")) if folder.is_dir() else []:
            parser = configparser.RawConfigParser(strict=False)
            parser.read(ini)
            for section in parser.sections():
                lines += [v for k, v in parser.items(section) if k.startswith("log ")]
    # Non-ASCII texts take RE2's Unicode path: classes must still read as re's.
    extra = [line.replace(" ", "\u2003", 2).replace("a", "\u00e9", 1) for line in lines[::7]]
    extra += ["x\u0663\u0664 y", "caf\u00e9 \u00a0bar\n", "line\n", "A\u212a b"]
    return lines + extra


def _bundled_and_fixture_sources():
    from hidsctl.analysis import ruleset
    sources = [ruleset.bundled_sources()]
    if OSSEC_CONF.is_file():
        sources.append(ruleset.sources_from_ossec_conf(OSSEC_CONF))
    return sources


@pytest.mark.slow
def test_re2_reads_every_ruleset_pattern_as_re_does():
    from hidsctl.analysis import ruleset
    seen: dict[tuple, object] = {}
    for sources in _bundled_and_fixture_sources():
        loaded = ruleset.load(sources)
        for node in loaded.decoders.with_program + loaded.decoders.without_program:
            for dec in [node.decoder, *node.children]:
                for pat in (dec.prematch, dec.regex, dec.program_name):
                    if pat is not None:
                        seen[(pat.source, pat.kind)] = pat
        for rule in loaded.tree.rules():
            for pat in rule.patterns.values():
                seen[(pat.source, pat.kind)] = pat
    lines = list(dict.fromkeys(_sample_lines()))  # a line seen twice tells nothing new
    programs = {(p.rx.pattern, p.rx.flags): p.rx for p in seen.values()
                if isinstance(p.rx, re.Pattern)}  # one check per distinct compiled pattern
    compared = 0
    for rx in programs.values():
        fast = linear.searcher(re._parser.parse(rx.pattern, rx.flags), rx.flags,
                               fallback=lambda text: pytest.fail("fell back on ASCII text"))
        if fast is None:
            continue
        for line in lines:
            want = rx.search(line)
            try:
                got = fast(line)
            except pytest.fail.Exception:
                assert not line.isascii() or line.endswith("\n")
                continue
            compared += 1
            assert (want is None) == (got is None), (rx.pattern, line)
            if want is not None:
                assert (want.end(), want.groups()) == (got.end(), tuple(got.groups())), \
                    (rx.pattern, line)
    assert compared > 10000


# --- through the real commands ------------------------------------------------------------------

def test_analyze_evil_lines_on_re2_finish_and_good_lines_alert(evil_ruleset):
    text = "\n".join([log(EVIL), log("GOOD LINE one!"), log(EVIL + "\u00e9!"),
                      log("GOOD LINE two!")])
    result = run_hidsctl("analyze", *evil_ruleset, input=text + "\n", timeout=120)
    assert result.returncode == 0, result.stderr
    out = records(result.stdout)
    assert [r["rule"]["id"] for r in out if r["type"] == "alert"] == ["100004", "100004"]
    assert not [r for r in out if r["type"] == "notice"]


def test_analyze_reports_an_event_past_its_budget_and_goes_on(lookahead_ruleset):
    text = "\n".join([log(EVIL), log("GOOD LINE one!"), log("zz" + "z" * 40 + "!"),
                      log("GOOD LINE two!")])
    result = run_hidsctl("analyze", "--event-budget", "20", *lookahead_ruleset,
                         input=text + "\n", timeout=120)
    assert result.returncode == 0, result.stderr
    out = records(result.stdout)
    assert [r["type"] for r in out] == ["notice", "alert", "notice", "alert"]
    rule_notice, decoder_notice = out[0], out[2]
    for notice in (rule_notice, decoder_notice):
        assert notice["component"] == "analyze" and notice["code"] == "over_budget"
        assert notice["location"] == "/var/log/evil.log"
        assert notice["agent"]["id"] == "007"
        assert "20 ms budget" in notice["message"]
    assert "rule 100003 (" in rule_notice["message"]
    assert "rules.xml:" in rule_notice["message"] and "(?=a)(a+)+$" in rule_notice["message"]
    assert "decoder 'evil-decoder' (" in decoder_notice["message"]
    assert "decoders.xml:2" in decoder_notice["message"]
    assert [r["rule"]["id"] for r in out if r["type"] == "alert"] == ["100004", "100004"]
    assert b"record 1: " in result.stderr and b"record 3: " in result.stderr


def test_analyze_workers_report_notices_but_file_only_alerts(lookahead_ruleset, tmp_path):
    alerts_json = tmp_path / "alerts.json"
    text = "\n".join([log(EVIL, agent="001"), log("GOOD LINE!", agent="002"),
                      log(EVIL, agent="003"), log("GOOD LINE!", agent="004")])
    result = run_hidsctl("analyze", "--workers", "2", "--event-budget", "20",
                         "--alerts-json", str(alerts_json), *lookahead_ruleset,
                         input=text + "\n", timeout=120)
    assert result.returncode == 0, result.stderr
    out = records(result.stdout)
    assert sorted(r["type"] for r in out) == ["alert", "alert", "notice", "notice"]
    filed = [json.loads(x) for x in alerts_json.read_text().splitlines()]
    assert [r["type"] for r in filed] == ["alert", "alert"]


def test_event_budget_from_the_config(lookahead_ruleset, tmp_path):
    config = tmp_path / "hidsctl.toml"
    config.write_text("[analyze]\nevent-budget = 30\n")
    result = run_hidsctl("analyze", "--config", str(config), *lookahead_ruleset,
                         input=log(EVIL) + "\n", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "30 ms budget" in records(result.stdout)[0]["message"]
    bad = invoke_hidsctl("analyze", "--event-budget", "0", *lookahead_ruleset, input="")
    assert bad.returncode == 2
    assert bad.stderr.decode().count("\n") == 1 and b"--event-budget" in bad.stderr


def test_logtest_reports_a_line_past_its_budget_and_goes_on(lookahead_ruleset):
    lines = f"{EVIL}\nGOOD LINE one!\n"
    result = run_hidsctl("logtest", "--event-budget", "20", *lookahead_ruleset, input=lines,
                         timeout=120)
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    assert "**Analysis stopped: " in text and "rule 100003" in text
    assert "Rule id: '100004'" in text
    result = run_hidsctl("logtest", "--json", "--event-budget", "20", *lookahead_ruleset,
                         input=lines, timeout=120)
    first, second = records(result.stdout)
    assert first["notice"]["code"] == "over_budget" and first["rule"] is None
    assert first["notice"]["location"] == "stdin"
    assert second["rule"]["id"] == "100004"


def test_logtest_evil_lines_on_re2(evil_ruleset):
    result = run_hidsctl("logtest", "--json", *evil_ruleset,
                         input=f"{EVIL}\nGOOD LINE!\n", timeout=120)
    assert result.returncode == 0, result.stderr
    first, second = records(result.stdout)
    assert first["rule"] is None and "notice" not in first
    assert second["rule"]["id"] == "100004"


POSTFIX = ("Nov 25 13:50:47 mail postfix/smtpd[2210]: NOQUEUE: reject: RCPT from {host}: 554 "
           "5.7.1 <x@example.net>: Relay access denied; from=<a@example.org> to=<x@example.net>")


def test_bundled_postfix_decoder_takes_a_line_of_brackets_in_its_stride():
    lines = [POSTFIX.format(host="unknown" + "[" * 65000), POSTFIX.format(host="[" * 65000),
             POSTFIX.format(host="unknown[203.0.113.7]")]
    result = run_hidsctl("logtest", "--json", input="\n".join(lines) + "\n", timeout=120)
    assert result.returncode == 0, result.stderr
    out = records(result.stdout)
    assert [r.get("notice") for r in out] == [None, None, None]
    assert out[2]["decoder"]["name"] == "postfix-reject"
    assert out[2]["data"]["srcip"] == "203.0.113.7"


def test_bundled_patterns_have_no_slow_shape():
    from hidsctl.analysis import ruleset
    loaded = ruleset.load(ruleset.bundled_sources())
    dec = [n.decoder for n in loaded.decoders.with_program if n.decoder.name == "postfix-reject"]
    assert dec and dec[0].regex.shapes == [] and dec[0].regex.engine == "re"
    result = invoke_hidsctl("rules", "check")
    assert result.returncode == 0
    assert b"warning" not in result.stdout, result.stdout


def test_rules_check_warns_of_slow_shapes(lookahead_ruleset):
    result = invoke_hidsctl("rules", "check", *lookahead_ruleset)
    assert result.returncode == 0, result.stdout
    warnings = [line for line in result.stdout.decode().splitlines()
                if line.startswith("warning: ")]
    assert len(warnings) == 4, warnings
    text = "\n".join(warnings)
    assert "rules.xml:12: rule 100001 <pcre2> pcre2 '(a+)+$'" in text
    assert "rule 100002 <regex> os_regex '(\\\\w+)+$'" in text
    assert "rule 100003" in text and "only the event budget bounds it" in text
    assert "decoders.xml:2: decoder 'evil-decoder' <prematch>" in text
    as_json = json.loads(invoke_hidsctl("rules", "check", "--json", *lookahead_ruleset).stdout)
    assert len(as_json["warnings"]) == 4


@pytest.mark.parametrize("source", [
    r"(?i)x[^a]+y", r"\W+(\w+)", r"[\W\d]+z", r"\bfoo\b", r"(a+)+$", r"(?i)(?-i:A)b+",
    r"(\s+)(\S+)", r"[^\s\[]+\[([^\]]+)\]", r"(?s)a.+b", r"a.+b", r"(\d+)\D+(\d+)$",
    r"(?i)caf\u00e9+", r"([a-z\u00e0-\u00ff]+)+!",
])
def test_re2_reads_tricky_patterns_as_re_does(source):
    texts = ["xAby", "xaby", "!! word", "3a!z", "a foo b", "foobar", "aaaa", "aaaa\n", "Abbb",
             "ab", "  spaced  \u2003out", "a\nb", "12 - 34", "12 - 34\n", "CAF\u00c9\u00c9",
             "\u00e9\u00e8!", "x\u0663 y", "caf\u00e9 [x] y[1.2]"]
    for flags in (0, re.IGNORECASE):
        rx = re.compile(source, flags)
        fast = linear.searcher(re._parser.parse(source, rx.flags), rx.flags, fallback=rx.search)
        assert fast is not None
        for text in texts:
            want, got = rx.search(text), fast(text)
            assert (want is None) == (got is None), (source, flags, text)
            if want is not None:
                assert (want.end(), want.groups()) == (got.end(), tuple(got.groups()))
