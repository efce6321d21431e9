"""``hidsctl analyze``, ``logtest`` and ``rules`` end to end with small rulesets."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from conftest import invoke_hidsctl, run_hidsctl
from ruleset_support import SSHD_DECODERS, SYSLOG_TEMPLATE, sshd_rules

DECODERS = """
<!-- a comment before everything -->""" + SSHD_DECODERS + """<decoder name="web">
  <prematch_pcre2>^\\d+\\.\\d+\\.\\d+\\.\\d+ - </prematch_pcre2>
  <pcre2>^(\\S+) - - \\[[^\\]]+\\] "\\w+ (\\S+) [^"]*" (\\d+) </pcre2>
  <order>srcip, url, id</order>
</decoder>
"""

RULES = """
<var name="BAD">failure|error</var>
<group name="syslog,">""" + SYSLOG_TEMPLATE + sshd_rules("    <group>authentication_failed,</group>\n") + """  <rule id="103" level="0">
    <if_sid>101</if_sid>
    <srcip>10.0.0.0/8</srcip>
    <description>ignore the lab network</description>
  </rule>
  <rule id="110" level="3">
    <if_sid>1</if_sid>
    <regex>$BAD</regex>
    <description>something bad</description>
  </rule>
  <rule id="120" level="4">
    <if_sid>1</if_sid>
    <pcre2>^[A-Z]{3} \\d+$</pcre2>
    <description>a pcre2 rule</description>
  </rule>
  <rule id="130" level="6">
    <if_sid>1</if_sid>
    <decoded_as>web</decoded_as>
    <id_pcre2>^4</id_pcre2>
    <url>/admin</url>
    <description>web 4xx on admin</description>
  </rule>
</group>
<group name="ossec,">
  <rule id="7" level="0" noalert="1">
    <category>ossec</category>
    <description>ossec template</description>
  </rule>
  <rule id="550" level="7">
    <category>ossec</category>
    <decoded_as>syscheck_integrity_changed</decoded_as>
    <description>Integrity checksum changed.</description>
    <group>syscheck,</group>
  </rule>
  <rule id="554" level="5">
    <category>ossec</category>
    <decoded_as>syscheck_new_entry</decoded_as>
    <description>File added to the system.</description>
    <group>syscheck,</group>
  </rule>
</group>
"""


@pytest.fixture
def ruleset(tmp_path):
    (tmp_path / "decoders.xml").write_text(DECODERS)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "0010-local.xml").write_text(RULES)
    return ["--decoders", str(tmp_path / "decoders.xml"), "--rules", str(rules),
            "--no-default-rules"]


def log(line, ts="2026-11-25T13:50:47.000Z", agent="000"):
    return json.dumps({"type": "log", "timestamp": ts, "location": "/var/log/auth.log",
                       "agent": {"id": agent, "name": "web1", "ip": "127.0.0.1"}, "log": line})


def alerts(stdout: bytes):
    return [json.loads(x) for x in stdout.splitlines() if json.loads(x)["type"] == "alert"]


FAILED = "Nov 25 13:50:{s:02d} web1 sshd[811]: Failed password for root from {ip} port 52144 ssh2"


def test_alert_record_shape(ruleset):
    result = run_hidsctl("analyze", *ruleset, input=log(FAILED.format(s=47, ip="203.0.113.9")))
    assert result.returncode == 0, result.stderr
    (alert,) = alerts(result.stdout)
    assert alert["rule"] == {"id": "101", "level": 5, "description": "sshd: authentication failed.",
                             "groups": ["syslog", "authentication_failed"], "mail": False,
                             "firedtimes": 1}
    assert alert["decoder"] == {"name": "sshd", "parent": "sshd"}
    assert alert["data"] == {"dstuser": "root", "srcip": "203.0.113.9"}
    assert alert["predecoder"] == {"hostname": "web1", "program_name": "sshd",
                                   "timestamp": "Nov 25 13:50:47"}
    assert alert["location"] == "/var/log/auth.log"
    assert alert["id"].startswith("1795614647.")
    assert alert["agent"]["id"] == "000"


def test_frequency_counts_as_ossec_and_follows_record_time(ruleset):
    # frequency="2": OSSEC fires on the 4th event (frequency + 2) within the timeframe.
    lines = [log(FAILED.format(s=i, ip="203.0.113.9"), ts=f"2026-11-25T13:50:{i:02d}.000Z")
             for i in range(4)]
    result = run_hidsctl("analyze", *ruleset, input="\n".join(lines))
    assert [a["rule"]["id"] for a in alerts(result.stdout)] == ["101", "101", "101", "102"]
    # the same four spread over more than the 60 s timeframe never correlate
    lines = [log(FAILED.format(s=i, ip="203.0.113.9"), ts=f"2026-11-25T13:{50 + i}:00.000Z")
             for i in range(4)]
    result = run_hidsctl("analyze", *ruleset, input="\n".join(lines))
    assert [a["rule"]["id"] for a in alerts(result.stdout)] == ["101"] * 4


def test_same_source_ip_keeps_sources_apart(ruleset):
    # Two sources interleaved: a source's own 4th event fires, never a mix of both. As in
    # OSSEC, a firing also marks the newest listed event, and a search stops at a marked
    # event, so nothing in that list correlates again until the mark leaves the timeframe.
    lines = [log(FAILED.format(s=i, ip=f"203.0.113.{i % 2}"), ts=f"2026-11-25T13:50:{i:02d}.000Z")
             for i in range(12)]
    result = run_hidsctl("analyze", *ruleset, input="\n".join(lines))
    ids = [a["rule"]["id"] for a in alerts(result.stdout)]
    assert ids == ["101"] * 6 + ["102"] + ["101"] * 5
    assert alerts(result.stdout)[6]["data"]["srcip"] == "203.0.113.0"
    brute = alerts(result.stdout)[6]
    assert brute["data"]["srcip"] == "203.0.113.0"
    assert len(brute["previous_output"].splitlines()) == 3


def test_cidr_rule_and_level_zero_silence(ruleset):
    result = run_hidsctl("analyze", *ruleset, input=log(FAILED.format(s=1, ip="10.1.2.3")))
    assert alerts(result.stdout) == []


def test_min_level_and_passthrough_order(ruleset):
    records = [json.dumps({"type": "ar", "command": "firewall-drop", "action": "add"}),
               log("Nov 25 13:50:47 web1 cron[1]: an error happened"),
               json.dumps({"type": "custom", "x": 1}),
               log(FAILED.format(s=2, ip="203.0.113.9"))]
    result = run_hidsctl("analyze", *ruleset, "--min-level", "4", input="\n".join(records))
    out = [json.loads(x) for x in result.stdout.splitlines()]
    assert [o["type"] for o in out] == ["ar", "custom", "alert"]
    assert out[2]["rule"]["id"] == "101"


def test_bad_input_between_good_records(ruleset):
    good = log(FAILED.format(s=3, ip="203.0.113.9")).encode()
    data = b"\n".join([good, b"garbage {", b'"a string"', b"\xff\xfe not utf-8",
                       b"x" * (1 << 20 + 1), b'{"no":"type"}', good]) + b"\n"
    result = run_hidsctl("analyze", *ruleset, input=data)
    assert result.returncode == 0
    assert len(alerts(result.stdout)) == 2
    err = result.stderr.decode()
    for n in (2, 3, 4, 5, 6):
        assert f"line {n}:" in err


def test_integrity_and_status_records_become_ossec_events(ruleset, tmp_path):
    records = [
        json.dumps({"type": "syscheck", "path": "/etc/passwd", "event": "modified",
                    "changed": ["size", "sha256"], "old": {"size": 10, "sha256": "aa"},
                    "new": {"size": 12, "sha256": "bb"}}),
        json.dumps({"type": "syscheck", "path": "/etc/new", "event": "added",
                    "new": {"size": 1}}),
    ]
    out = tmp_path / "alerts.json"
    result = run_hidsctl("analyze", *ruleset, "--alerts-json", str(out), input="\n".join(records))
    first, second = alerts(result.stdout)
    assert first["rule"]["id"] == "550"
    assert first["full_log"].splitlines() == [
        "Integrity checksum changed for: '/etc/passwd'", "Size changed from '10' to '12'",
        "Old sha256sum was: 'aa'", "New sha256sum is : 'bb'"]
    assert first["syscheck"]["size_before"] == 10 and first["syscheck"]["sha256_after"] == "bb"
    assert first["syscheck"]["changed_attributes"] == ["size", "sha256"]
    assert second["rule"]["id"] == "554"
    assert [json.loads(x)["rule"]["id"] for x in out.read_text().splitlines()] == ["550", "554"]


def test_alerts_log_layout(ruleset, tmp_path):
    out = tmp_path / "alerts.log"
    run_hidsctl("analyze", *ruleset, "--alerts-log", str(out),
                input=log(FAILED.format(s=47, ip="203.0.113.9")))
    text = out.read_text()
    assert text.startswith("** Alert 1795614647.")
    assert "Rule: 101 (level 5) -> 'sshd: authentication failed.'" in text
    assert "Src IP: 203.0.113.9" in text


def test_logtest_json_and_expectation(ruleset):
    line = FAILED.format(s=1, ip="203.0.113.9")
    result = invoke_hidsctl("logtest", *ruleset, "--json", input=line + "\n")
    doc = json.loads(result.stdout)
    assert doc["decoder"] == {"name": "sshd", "parent": "sshd"}
    assert doc["data"] == {"dstuser": "root", "srcip": "203.0.113.9"}
    assert doc["rule"]["id"] == "101" and doc["alert"] is True
    assert doc["predecoder"]["program_name"] == "sshd"
    assert invoke_hidsctl("logtest", *ruleset, "-q", "-U", "101:5:sshd",
                          input=line + "\n").returncode == 0
    assert invoke_hidsctl("logtest", *ruleset, "-q", "-U", "101:5:other",
                          input=line + "\n").returncode == 1
    text = invoke_hidsctl("logtest", *ruleset, input=line + "\n").stdout.decode()
    assert "**Phase 1: Completed pre-decoding." in text
    assert "       srcip: '203.0.113.9'" in text
    assert "       Rule id: '101'" in text
    nomatch = json.loads(invoke_hidsctl("logtest", *ruleset, "--json", input="hello world\n").stdout)
    assert nomatch["rule"] is None and nomatch["alert"] is False and nomatch["decoder"] is None


def test_rules_check_reports_every_error_with_file_and_line(tmp_path, ruleset):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.xml").write_text("""<group name="x,">
  <rule id="1" level="0"><category>syslog</category><description>t</description></rule>
  <rule id="200" level="3">
    <if_sid>9999</if_sid>
    <description>dangling</description>
  </rule>
  <rule id="201" level="3">
    <regex>(unclosed</regex>
    <description>bad pattern</description>
  </rule>
  <rule id="1" level="3">
    <match>x</match>
    <description>duplicate</description>
  </rule>
  <rule id="202" level="3">
    <match>x</match>
    <bogus>y</bogus>
    <description>unknown option warns</description>
  </rule>
</group>
""")
    result = invoke_hidsctl("rules", "check", "--rules", str(bad), "--decoders",
                            ruleset[1], "--no-default-rules")
    out = result.stdout.decode()
    assert result.returncode == 1
    assert "a.xml:3: rule 200" in out and "if_sid 9999" in out
    assert "a.xml:8: rule 201: <regex>: unbalanced" in out
    assert "a.xml:11: rule 1: duplicate rule id 1" in out
    assert "warning:" in out and "<bogus>" in out
    good = invoke_hidsctl("rules", "check", *ruleset)
    assert good.returncode == 0 and b": OK" in good.stdout


def test_analyze_refuses_a_broken_ruleset(tmp_path, ruleset):
    bad = tmp_path / "broken.xml"
    bad.write_text('<group name="x"><rule id="5" level="3"><if_sid>7</if_sid>'
                   '<match>x</match></group>')
    result = invoke_hidsctl("analyze", "--rules", str(bad), "--decoders", ruleset[1],
                            "--no-default-rules", input="")
    assert result.returncode == 2
    assert b"broken.xml:1" in result.stderr


def test_rules_list_json(ruleset):
    result = invoke_hidsctl("rules", "list", *ruleset, "--json", "--group", "authentication_failed")
    rows = [json.loads(x) for x in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["101"]
    assert rows[0]["source"].endswith("0010-local.xml:12")


def test_rules_test_runs_ini_cases(ruleset, tmp_path):
    ini = tmp_path / "local.ini"
    ini.write_text("[failed]\nlog 1 pass = " + FAILED.format(s=1, ip="203.0.113.9") +
                   "\nlog 2 fail = " + FAILED.format(s=1, ip="10.0.0.1") +
                   "\nrule = 101\nalert = 5\ndecoder = sshd\n")
    result = invoke_hidsctl("rules", "test", *ruleset, str(ini), "--json")
    doc = json.loads(result.stdout)
    assert result.returncode == 0
    assert doc["total"] == 2 and doc["passed"] == 2


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_engine_never_crashes_on_arbitrary_bytes(data):

    engine = _engine()
    line = data.decode("utf-8", "replace")
    outcome = engine.process(_event(line))
    assert outcome.rule is None or outcome.rule.id >= 1


_ENGINE = None


def _engine():
    global _ENGINE
    if _ENGINE is None:
        import tempfile
        from pathlib import Path

        from hidsctl.analysis import ruleset as rs
        from hidsctl.analysis.engine import Engine

        tmp = Path(tempfile.mkdtemp())
        (tmp / "d.xml").write_text(DECODERS)
        (tmp / "r.xml").write_text(RULES)
        _ENGINE = Engine(rs.load(rs.RulesetSources([tmp / "d.xml"], [tmp / "r.xml"], [tmp])))
    return _ENGINE


def _event(line):
    from hidsctl.analysis.events import from_log_line

    return from_log_line(line)


def test_workers_partition_by_agent_and_merge_whole_records(ruleset, tmp_path):
    records = []
    for i in range(200):
        agent = f"{i % 4:03d}"
        # one source per agent, one event per agent per minute: nothing correlates
        records.append(log(FAILED.format(s=i % 60, ip=f"203.0.113.{i % 4}"),
                           ts=f"2026-11-25T{10 + i // 60:02d}:{i % 60:02d}:00.000Z", agent=agent))
        if i % 50 == 0:
            records.append(json.dumps({"type": "custom", "n": i}))
    out = tmp_path / "alerts.json"
    result = run_hidsctl("analyze", *ruleset, "--workers", "2", "--alerts-json", str(out),
                         input="\n".join(records))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert [x["n"] for x in lines if x["type"] == "custom"] == [0, 50, 100, 150]
    got = sorted((a["agent"]["id"], a["full_log"]) for a in lines if a["type"] == "alert")
    single = run_hidsctl("analyze", *ruleset, input="\n".join(records))
    want = sorted((a["agent"]["id"], a["full_log"]) for a in alerts(single.stdout))
    assert got == want and len(got) == 200
    assert len(out.read_text().splitlines()) == 200
