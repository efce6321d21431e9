"""Rules are definitions, read-only once loaded; what analysis learns from events is the
engine's CorrelationState; generated code shows its own lines in tracebacks."""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest

from hidsctl.analysis import ruleset as rs
from hidsctl.analysis.correlation import INDEX_KEY_LIMIT, INDEX_LIMIT, LIST_LIMIT, SWEEP_EVERY
from hidsctl.analysis.engine import Engine
from hidsctl.analysis.events import from_log_line, from_record
from ruleset_support import SSHD_DECODERS, SYSLOG_TEMPLATE, sshd_rules

DECODERS = SSHD_DECODERS + """<decoder name="web">
  <prematch>^\\d+.\\d+.\\d+.\\d+ - </prematch>
  <regex>^(\\S+) - - [\\S+ \\S+] "\\w+ (\\S+) \\S+" (\\d+) </regex>
  <order>srcip, url, id</order>
</decoder>
"""

RULES = """
<group name="syslog,">""" + SYSLOG_TEMPLATE + sshd_rules() + """  <rule id="130" level="6">
    <if_sid>1</if_sid>
    <decoded_as>web</decoded_as>
    <id>^4</id>
    <url>/admin</url>
    <description>web 4xx on admin</description>
  </rule>
</group>
"""

FAILED = "Dec  3 10:00:{s:02d} web sshd[1]: Failed password for root from {ip} port 22 ssh2"


def load(tmp_path: Path, extra: str = "") -> rs.Ruleset:
    (tmp_path / "d.xml").write_text(DECODERS)
    (tmp_path / "r.xml").write_text(RULES)
    files = [tmp_path / "r.xml"]
    if extra:
        (tmp_path / "local.xml").write_text(extra)
        files.append(tmp_path / "local.xml")
    return rs.load(rs.RulesetSources([tmp_path / "d.xml"], files, [tmp_path]))


def failed(n: int, ip: str = "192.0.2.7") -> dict:
    return {"type": "log", "timestamp": f"2026-12-03T10:{n // 60:02d}:{n % 60:02d}Z",
            "agent": {"id": "001", "name": "web", "ip": "10.0.0.1"},
            "location": "/var/log/auth.log", "log": FAILED.format(s=n % 60, ip=ip)}


def fired(engine: Engine, records: list[dict]) -> list[tuple[int, int]]:
    out = []
    for record in records:
        outcome = engine.process_record(record)
        if outcome is not None and outcome.alert is not None:
            out.append((outcome.rule.id, outcome.firedtimes))
    return out


def test_rules_are_read_only_once_loaded(tmp_path):
    rule = load(tmp_path).tree.by_id[102]
    with pytest.raises(AttributeError, match="rule 102 is read-only"):
        rule.frequency = 0
    assert rule.search_key == "sid 101"


def test_engines_on_one_ruleset_keep_their_own_state(tmp_path):
    rules = load(tmp_path)
    first, second = Engine(rules), Engine(rules)
    assert fired(first, [failed(n) for n in range(4)]) == [(101, 1), (101, 2), (101, 3),
                                                            (102, 1)]
    # The second engine has seen nothing: no counts, no events to correlate with.
    assert fired(second, [failed(n) for n in range(2)]) == [(101, 1), (101, 2)]
    first.reset()
    assert fired(first, [failed(10)]) == [(101, 1)]


def test_overwrite_replaces_the_definition_where_the_rule_stands(tmp_path):
    rules = load(tmp_path, '<group name="local,"><rule id="102" level="12" frequency="4" '
                           'timeframe="60" overwrite="yes"><if_matched_sid>101</if_matched_sid>'
                           '<same_source_ip /><description>slower brute force</description>'
                           '</rule></group>')
    rule = rules.tree.by_id[102]
    assert (rule.level, rule.frequency, rule.description) == (12, 4, "slower brute force")
    assert rules.tree.first_node[102].rule is rule
    got = fired(Engine(rules), [failed(n) for n in range(6)])
    assert got[-1] == (102, 1) and len(got) == 6  # the 6th event, not the 4th


def test_correlation_memory_is_bounded(tmp_path):
    engine = Engine(load(tmp_path))
    # More sources than an index keeps, and more events than a list keeps, in one window.
    records = [failed(n % 60, f"198.51.{n // 250}.{n % 250}") for n in range(LIST_LIMIT + 200)]
    records += [failed(59) for _ in range(2 * INDEX_KEY_LIMIT)]  # a quarter correlate
    fired(engine, records)
    target = engine.state.lists["sid 101"]
    assert len(target.events) == LIST_LIMIT
    (index,) = target.indexes.values()
    assert len(index) <= LIST_LIMIT
    assert max(len(bucket) for bucket in index.values()) == INDEX_KEY_LIMIT
    seen = target.events[-1][1]
    # Only what searches read: no record, no decoded fields beyond those compared.
    assert seen.values == {} and seen.log is None and seen.full_log.endswith("ssh2")


def source(n: int) -> str:
    """The n-th of many distinct source addresses."""
    return f"198.{18 + n // 65536}.{n // 256 % 256}.{n % 256}"


def index_of(engine: Engine) -> tuple[int, dict]:
    target = engine.state.lists["sid 101"]
    (index,) = target.indexes.values()
    return target.seq, index


def test_an_index_holds_no_more_events_than_its_searches_reach(tmp_path):
    engine = Engine(load(tmp_path))
    # Six failures from each of 4000 sources in turn, all in one window: far more events
    # than an index reaches back, none of them old by time.
    fired(engine, [failed(n % 60, source(n % 4000)) for n in range(24000)])
    seq, index = index_of(engine)
    assert len(index) <= LIST_LIMIT
    assert sum(len(bucket) for bucket in index.values()) <= INDEX_LIMIT + SWEEP_EVERY
    assert min(s for bucket in index.values() for s, _ in bucket) > seq - INDEX_LIMIT \
        - SWEEP_EVERY


def test_an_index_forgets_sources_gone_quiet_past_the_timeframe(tmp_path):
    engine = Engine(load(tmp_path))
    fired(engine, [failed(n % 60, source(n)) for n in range(2000)])
    assert len(index_of(engine)[1]) == 2000
    # Five minutes later one source goes on: the others' events are past every timeframe.
    fired(engine, [failed(300 + n % 60) for n in range(SWEEP_EVERY)])
    _, index = index_of(engine)
    assert list(index) == [("192.0.2.7",)]
    assert len(index[("192.0.2.7",)]) == INDEX_KEY_LIMIT


TEN_FROM_ONE = ('<group name="local,"><rule id="102" level="10" frequency="8" timeframe="60" '
                'overwrite="yes"><if_matched_sid>101</if_matched_sid><same_source_ip />'
                '<description>ten failures from one source</description></rule></group>')


@pytest.mark.parametrize("others, correlates", [(LIST_LIMIT + 100, True),
                                                (INDEX_LIMIT - 100, True),
                                                (INDEX_LIMIT, False)])
def test_an_index_search_reaches_past_the_list_up_to_its_limit(tmp_path, others, correlates):
    engine = Engine(load(tmp_path, TEN_FROM_ONE))
    fired(engine, [failed(n) for n in range(9)])
    # 1900 other sources (fewer than an index keeps, none failing ten times) crowd one
    # source's nine failures out of the list, all within the timeframe.
    fired(engine, [failed(n % 60, source(n % 1900)) for n in range(others)])
    last = fired(engine, [failed(59)])
    assert last == ([(102, 1)] if correlates else [(101, others + 10)])


def test_a_traceback_in_generated_rule_code_shows_the_generated_line(tmp_path):
    engine = Engine(load(tmp_path))
    ev = from_log_line('192.0.2.1 - - [03/Dec/2026:10:00:00 +0000] "GET /admin HTTP/1.1" 404 0')
    engine.decoders.decode(ev)
    assert ev.decoder.reported == "web"
    ev.fields = None  # type: ignore[assignment]  # what a broken decoder could leave
    with pytest.raises(AttributeError) as caught:
        engine.match(ev)
    text = "".join(traceback.format_exception(caught.value))
    lines = text.splitlines()
    frame = max(n for n, line in enumerate(lines) if '"<hidsctl rules ' in line)
    source = lines[frame + 1]
    assert "f.get('id')" in source and "# R" in source


def test_a_traceback_in_a_generated_key_shows_the_generated_line(tmp_path):
    engine = Engine(load(tmp_path))
    fired(engine, [failed(1)])
    ev = from_record(failed(2))
    engine.decoders.decode(ev)
    ev.fields = None  # type: ignore[assignment]
    with pytest.raises(AttributeError) as caught:
        engine.state.record(engine.ruleset.tree.by_id[101], ev)
    text = "".join(traceback.format_exception(caught.value))
    assert '"<same_* key srcip>", line 3' in text and "k = (f.get('srcip'),)" in text
