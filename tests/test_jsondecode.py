"""The JSON decoder (``JSON_Decoder``), ``<field name=>`` rule checks and ``<mitre>`` in
alerts: unit tests of the decoder, then the real ``hidsctl analyze`` and ``logtest``."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from conftest import invoke_hidsctl, run_hidsctl
from hidsctl.analysis.engine import alert_data
from hidsctl.analysis.events import from_log_line
from hidsctl.analysis.jsondecode import MAX_DEPTH, MAX_FIELDS, MAX_INPUT, flatten, json_decoder
from ruleset_support import SYSLOG_TEMPLATE


def decode(text: str, start: int = 0, **options) -> tuple[dict, dict | None]:
    ev = from_log_line(text)
    json_decoder(ev, start, **options)
    return ev.fields, ev.structured


def test_nested_objects_become_dotted_names_and_values_text():
    fields, _ = decode('{"user":{"name":"bob","id":{"uid":0}},"ok":true,"no":false,'
                       '"n":1.50,"big":123456789012345678901234567890}')
    assert fields == {"user.name": "bob", "user.id.uid": "0", "ok": "true", "no": "false",
                      "n": "1.50", "big": "123456789012345678901234567890"}


def test_top_level_ossec_names_fill_those_fields_nested_ones_do_not():
    fields, _ = decode('{"srcip":"203.0.113.9","user":"root","data":"x","a":{"srcip":"1.2.3.4"}}')
    assert fields == {"srcip": "203.0.113.9", "dstuser": "root", "extra_data": "x",
                      "a.srcip": "1.2.3.4"}


def test_arrays_as_json_or_csv():
    fields, shown = decode('{"tags":["a",1,true,null],"objs":[{"k":"v"}],"e":[]}')
    assert fields == {"tags": '["a","1","true","null"]', "objs": '["{\\"k\\":\\"v\\"}"]',
                      "e": "[]"}
    assert shown == {"tags": ["a", "1", "true", "null"], "objs": ['{"k":"v"}'], "e": []}
    fields, shown = decode('{"tags":["a",1,null]}', arrays="csv", null="discard")
    assert fields == {"tags": "a,1"} and shown is None


@pytest.mark.parametrize("mode, expected", [("string", {"n": "null"}), ("empty", {"n": ""}),
                                            ("discard", {})])
def test_null_field_modes(mode, expected):
    assert decode('{"n":null}', null=mode)[0] == expected


@pytest.mark.parametrize("text", [
    '{"a":1', '{"a":1,}', "{'a':1}", '{"a":NaN}', '{"a":Infinity}', '["a",1]', '"just text"',
    "42", "", "   ", "not json at all", '{"a":"\\ud800 unpaired is fine", "b":', '{"a" 1}',
])
def test_malformed_or_non_object_json_decodes_nothing(text):
    assert decode(text) == ({}, None)


def test_trailing_text_after_the_object_is_ignored_and_leading_blanks_skipped():
    assert decode('  {"a":"b"} and more')[0] == {"a": "b"}


def test_offset_starts_the_document_later():
    assert decode('prefix: {"a":"b"}', start=8)[0] == {"a": "b"}
    assert decode('prefix: {"a":"b"}')[0] == {}


def test_hostile_sizes_are_bounded():
    deep = "{" + '"a":{' * (MAX_DEPTH + 5) + '"x":1' + "}" * (MAX_DEPTH + 6)
    assert decode(deep) == ({}, None)
    very_deep = '{"a":' + "[" * 100000 + "]" * 100000 + "}"
    assert decode(very_deep) == ({}, None)          # no RecursionError escapes
    ok_depth = "{" + '"a":{' * (MAX_DEPTH - 2) + '"x":1' + "}" * (MAX_DEPTH - 1)
    assert decode(ok_depth)[0] == {"a." * (MAX_DEPTH - 2) + "x": "1"}
    wide = "{" + ",".join(f'"k{i}":{i}' for i in range(MAX_FIELDS * 3)) + "}"
    assert len(decode(wide)[0]) == MAX_FIELDS
    huge = '{"a":"' + "x" * MAX_INPUT + '"}'
    assert decode(huge) == ({}, None)
    digits = '{"n":' + "9" * 20000 + "}"               # past int()'s digit limit
    assert decode(digits)[0] == {"n": "9" * 20000}


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=20),
                    lambda kids: st.lists(kids, max_size=4)
                    | st.dictionaries(st.text(max_size=8), kids, max_size=4), max_leaves=40))
def test_any_json_value_gives_text_fields_and_a_valid_alert(value):
    fields, shown = decode(json.dumps({"v": value}))
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items())
    data = alert_data(fields, shown)
    json.dumps(data)


def test_flatten_keeps_document_order_for_nested_objects():
    fields, _ = flatten({"a": {"x": "1"}, "b": "2", "c": {"y": "3"}})
    assert list(fields) == ["b", "a.x", "c.y"]


def test_alert_data_nests_dotted_names_and_keeps_typed_fields_flat():
    data = alert_data({"srcip": "1.2.3.4", "user.name": "bob", "user.uid": "0",
                       "srcip.geo": "x", "a": "1", "a.b": "2", "t": '["x"]', "odd..": "3"},
                      {"t": ["x"]})
    assert data == {"srcip": "1.2.3.4", "user": {"name": "bob", "uid": "0"}, "srcip.geo": "x",
                    "a": "1", "a.b": "2", "t": ["x"], "odd..": "3"}


# --- through the real commands ------------------------------------------------------------

DECODERS = """
<decoder name="myapp">
  <program_name>^myapp$</program_name>
  <plugin_decoder>JSON_Decoder</plugin_decoder>
</decoder>
<decoder name="tagged">
  <prematch>^APP: </prematch>
</decoder>
<decoder name="tagged-json">
  <parent>tagged</parent>
  <plugin_decoder offset="after_parent">JSON_Decoder</plugin_decoder>
  <json_null_field>discard</json_null_field>
  <json_array_structure>csv</json_array_structure>
</decoder>
<decoder name="tagged-json">
  <parent>tagged</parent>
  <regex>"ips":["(\\S+)"</regex>
  <order>srcip</order>
</decoder>
"""

RULES = """
<group name="syslog,">""" + SYSLOG_TEMPLATE + """</group>
<group name="myapp,">
  <rule id="100100" level="3">
    <decoded_as>myapp</decoded_as>
    <description>myapp event.</description>
  </rule>
  <rule id="100101" level="10">
    <if_sid>100100</if_sid>
    <field name="user.name">^root$</field>
    <field name="ok" type="osmatch">false</field>
    <description>myapp: root login failed.</description>
    <mitre>
      <id>T1110</id>
      <id>T1078</id>
      <id>T1999.999</id>
    </mitre>
  </rule>
  <rule id="100102" level="5">
    <decoded_as>tagged</decoded_as>
    <field name="tags" type="pcre2" negate="yes">(?i)^benign$</field>
    <description>tagged event.</description>
    <mitre><id>T1548.003</id></mitre>
  </rule>
</group>
"""


@pytest.fixture
def ruleset(tmp_path):
    (tmp_path / "d.xml").write_text(DECODERS)
    (tmp_path / "r.xml").write_text(RULES)
    return ["--decoders", str(tmp_path / "d.xml"), "--rules", str(tmp_path / "r.xml"),
            "--no-default-rules"]


def record(line: str) -> str:
    return json.dumps({"type": "log", "timestamp": "2026-11-25T13:50:47.000Z",
                       "location": "/var/log/myapp.log", "log": line}) + "\n"


def analyze(ruleset, *lines: str, extra=()):
    result = run_hidsctl("analyze", *ruleset, *extra, input="".join(map(record, lines)))
    assert result.returncode == 0, result.stderr
    return [json.loads(x) for x in result.stdout.splitlines()
            if json.loads(x)["type"] == "alert"]


ROOT_FAILED = ('Nov 25 13:50:47 web1 myapp[9]: {"user":{"name":"root","uid":0},"ok":false,'
               '"srcip":"203.0.113.9","tags":["a","b"]}')


def test_field_paths_match_and_alert_has_nested_data_and_mitre(ruleset, tmp_path):
    log_file = tmp_path / "alerts.log"
    (alert,) = analyze(ruleset, ROOT_FAILED, extra=("--alerts-log", str(log_file)))
    assert alert["rule"]["id"] == "100101"
    assert alert["rule"]["mitre"] == {
        "id": ["T1110", "T1078", "T1999.999"],
        "tactic": ["Credential Access", "Defense Evasion", "Persistence",
                   "Privilege Escalation", "Initial Access"],
        "technique": ["Brute Force", "Valid Accounts"]}
    assert alert["data"] == {"user": {"name": "root", "uid": "0"}, "ok": "false",
                             "srcip": "203.0.113.9", "tags": ["a", "b"]}
    assert "Src IP: 203.0.113.9" in log_file.read_text()


def test_field_checks_fail_on_other_values_and_missing_fields(ruleset):
    lines = [ROOT_FAILED.replace('"root"', '"alice"'), ROOT_FAILED.replace("false", "true"),
             'Nov 25 13:50:47 web1 myapp[9]: {"ok":false}',
             'Nov 25 13:50:47 web1 myapp[9]: {"user":{"name":["root"]},"ok":false}',
             'Nov 25 13:50:47 web1 myapp[9]: {"user":{"name":"root"},"ok":false']
    got = [a["rule"]["id"] for a in analyze(ruleset, *lines)]
    assert got == ["100100"] * 5
    assert all("mitre" not in a["rule"] for a in analyze(ruleset, *lines))


def test_offset_options_and_a_regex_continuing_the_plugin(ruleset):
    (alert,) = analyze(ruleset, 'APP: {"tags":["x",null],"n":null,"ips":["10.0.0.7"]} tail')
    assert alert["rule"]["id"] == "100102"
    assert alert["rule"]["mitre"]["technique"] == ["Sudo and Sudo Caching"]
    assert alert["data"] == {"tags": "x", "ips": "10.0.0.7", "srcip": "10.0.0.7"}
    assert analyze(ruleset, 'APP: {"tags":["Benign"]}') == []


def test_logtest_shows_the_dotted_fields(ruleset):
    result = invoke_hidsctl("logtest", *ruleset, input=ROOT_FAILED + "\n")
    assert result.returncode == 0, result.stderr
    assert b"user.name: 'root'" in result.stdout
    assert b"Rule id: '100101'" in result.stdout


@pytest.mark.parametrize("bad, message", [
    ("<field>x</field>", b"<field> needs a name="),
    ('<field name="a" type="glob">x</field>', b"type= must be one of"),
    ("<mitre><id>1110</id></mitre>", b"ATT&CK technique ids"),
    ("<mitre><tactic>TA0006</tactic></mitre>", b"not <tactic>"),
])
def test_bad_field_and_mitre_elements_are_clear_errors(tmp_path, ruleset, bad, message):
    rules = tmp_path / "bad.xml"
    rules.write_text(f'<group name="x,"><rule id="100200" level="3"><match>x</match>{bad}'
                     "<description>d</description></rule></group>")
    result = invoke_hidsctl("rules", "check", "--rules", str(rules), "--decoders",
                            ruleset[1], "--no-default-rules")
    assert result.returncode != 0
    assert message in result.stderr + result.stdout


@pytest.mark.parametrize("bad, message", [
    ("<plugin_decoder>JSON_Decoder</plugin_decoder><json_null_field>drop</json_null_field>",
     b"is not one of string, discard, empty"),
    ('<plugin_decoder offset="after_regex">JSON_Decoder</plugin_decoder>',
     b"after_parent or after_prematch"),
    ('<plugin_decoder offset="after_parent">PF_Decoder</plugin_decoder>', b"JSON_Decoder only"),
])
def test_bad_json_decoder_options_are_clear_errors(tmp_path, bad, message):
    decoders = tmp_path / "bad.xml"
    decoders.write_text(f'<decoder name="x"><prematch>^x</prematch>{bad}</decoder>')
    rules = tmp_path / "r.xml"
    rules.write_text('<group name="x,"><rule id="100200" level="3"><match>x</match>'
                     "<description>d</description></rule></group>")
    result = invoke_hidsctl("rules", "check", "--rules", str(rules), "--decoders", str(decoders),
                            "--no-default-rules")
    assert result.returncode != 0
    assert message in result.stderr + result.stdout


def test_the_technique_table_is_the_bundled_rules_techniques():
    import re

    from conftest import ROOT
    from hidsctl.analysis.mitre import TECHNIQUES

    used = {tid for path in (ROOT / "rules" / "rules").glob("*.xml")
            for tid in re.findall(r"<id>(T\d{4}(?:\.\d{3})?)</id>", path.read_text())}
    assert len(used) >= 40
    assert used == set(TECHNIQUES), (sorted(used - set(TECHNIQUES)), sorted(set(TECHNIQUES) - used))


_BUNDLED = None


def _bundled_engine():
    global _BUNDLED
    if _BUNDLED is None:
        from hidsctl.analysis import ruleset
        from hidsctl.analysis.engine import Engine

        _BUNDLED = Engine(ruleset.load(ruleset.bundled_sources()))
    return _BUNDLED


# Documents each bundled JSON decoder claims, with one key's value left to the test.
JSON_SOURCES = [
    ('{"timestamp":"2026-11-25T13:57:32.118237+0000","event_type":"alert","src_ip":"203.0.113.9",'
     '"dest_ip":"192.0.2.10","alert":', "}"),
    ('{"timestamp":"2026-11-25T13:57:32.118237+0000","event_type":', "}"),
    ('{"t":{"$date":"2026-11-25T13:57:32.118+00:00"},"s":"I","c":"ACCESS","id":20249,'
     '"msg":"Authentication failed","attr":', "}"),
    ('{"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete","verb":"create",'
     '"sourceIPs":["203.0.113.9"],"user":', "}"),
    ('{"Type":"container","Action":"die","Actor":', "}"),
    ('{"time":"2026-11-25T13:57:32.118237Z","type":"response","request":{"path":'
     '"auth/userpass/login/u","remote_address":"203.0.113.9"},"error":', "}"),
    ('{"auth":{"display_name":"token"},"request":', ',"time":"2026-11-25T13:57:32Z","type":"request"}'),
    ('{"reqId":"aBcDeF","level":2,"time":"2026-11-25T13:57:32+00:00","remoteAddr":"203.0.113.9",'
     '"message":', "}"),
    ('{"severity":"ERROR","time":"2026-11-25T13:57:32.118Z","correlation_id":"01JD5Q",'
     '"message":"Rack_Attack","env":', ',"remote_ip":"203.0.113.9"}'),
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.sampled_from(["1", "2", "alert", "x" * 3000, "srcip", "A Network Trojan was detected"])
    | st.text(max_size=12),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(
        st.sampled_from(["severity", "category", "srcip", "user", "remote", "exitCode", "a.b",
                         "", "username", "Attributes"]) | st.text(max_size=6), kids, max_size=4),
    max_leaves=30)


@settings(max_examples=250, deadline=None)
@given(source=st.sampled_from(JSON_SOURCES), value=json_values)
def test_bundled_json_rules_take_any_value_and_give_valid_alerts(source, value):
    from hidsctl import records

    engine = _bundled_engine()
    head, tail = source
    ev = from_log_line(head + json.dumps(value) + tail)
    outcome = engine.process(ev)
    assert ev.decoder.reported in ("suricata-eve", "mongodb", "kubernetes-audit", "docker-event",
                                   "vault-audit", "nextcloud", "gitlab")
    alert = engine.build_alert(outcome.rule, ev) if outcome.rule is not None else None
    if alert is not None:
        assert records.validate(json.loads(json.dumps(alert))) is None


def test_every_technique_the_bundled_rules_name_is_in_the_table():
    """A rule naming an id the table lacks gives alerts with the id alone: keep them in step."""
    import re

    from conftest import ROOT
    from hidsctl.analysis.mitre import TECHNIQUES
    named = set()
    for path in (ROOT / "rules" / "rules").glob("*.xml"):
        named |= set(re.findall(r"<id>\s*(T\d{4}(?:\.\d{3})?)\s*</id>", path.read_text()))
    assert named and named <= set(TECHNIQUES), sorted(named - set(TECHNIQUES))
