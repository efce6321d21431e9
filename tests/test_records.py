"""The record contract: reading, reporting bad lines, writing, time and agents."""

from __future__ import annotations

import io

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from hidsctl import records


def read_all(data: bytes) -> tuple[list[dict], records.RecordReader, str]:
    err = io.StringIO()
    reader = records.RecordReader(io.BytesIO(data), stderr=err)
    return list(reader), reader, err.getvalue()


def test_good_records_pass_and_bad_lines_are_reported_by_number():
    data = b"\n".join([
        b'{"type":"log","location":"/var/log/x","log":"a"}',
        b"not json",
        b"[1, 2]",
        b'{"no":"type"}',
        b"\xff\xfe{}",
        b'{"type":"custom","anything":1}',
        b'{"type":"log","location":"x"}',
        b'{"type":"syscheck","path":"/etc/x","event":"renamed"}',
        b'{"type":"log","location":"x","log":"last"}',
    ])
    out, reader, err = read_all(data)
    assert [r.get("log") for r in out] == ["a", None, "last"]
    assert out[1] == {"type": "custom", "anything": 1}
    assert reader.stats.bad == 6
    assert err.splitlines()[0].startswith("line 2: not valid JSON (")
    assert err.splitlines()[1:] == [
        "line 3: not a JSON object but list",
        "line 4: missing 'type'",
        "line 5: not valid UTF-8 (byte 0)",
        "line 7: log record without 'log'",
        "line 8: field event: invalid enum value 'renamed'",
    ]


def test_overlong_line_is_skipped_without_buffering_it_whole():
    big = b'{"type":"x","v":"' + b"a" * (records.MAX_LINE + 10) + b'"}'
    out, reader, err = read_all(big + b'\n{"type":"ok"}\n' + big)
    assert out == [{"type": "ok"}]
    assert err.count("longer than") == 2
    assert "line 1:" in err and "line 3:" in err


def test_last_line_without_newline_is_read():
    out, _, _ = read_all(b'{"type":"a"}\n{"type":"b"}')
    assert [r["type"] for r in out] == ["a", "b"]


def test_blank_lines_are_ignored_and_not_errors():
    out, reader, err = read_all(b'\n\n{"type":"a"}\n   \n')
    assert len(out) == 1 and reader.stats.bad == 0 and err == ""


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=20))
def test_arbitrary_bytes_never_crash_the_reader(chunks):
    data = b"\n".join(chunks)
    out, reader, _ = read_all(data)
    assert all(isinstance(r, dict) and isinstance(r.get("type"), str) for r in out)
    assert len(out) + reader.stats.bad <= data.count(b"\n") + 1


def test_writer_round_trip_and_pass_through():
    buffer = io.BytesIO()
    writer = records.RecordWriter(buffer)
    record = records.make("log", location="/x", log="hello\u00e9")
    writer.write(record)
    writer.write_raw(b'{"type":"other"}')
    writer.flush()
    lines = buffer.getvalue().splitlines()
    assert orjson.loads(lines[0]) == record
    assert lines[1] == b'{"type":"other"}'


def test_make_fills_common_fields():
    record = records.make("log", location="/x", log="y")
    assert record["agent"]["id"] == "000"
    assert set(record["agent"]) == {"id", "name", "ip"}
    assert records.parse_timestamp(record["timestamp"]) > 1.7e9
    assert records.validate(record) is None


@pytest.mark.parametrize("text,epoch", [
    ("2026-11-25T13:50:47.123Z", 1795614647.123),
    ("2026-11-25T13:50:47+00:00", 1795614647.0),
    ("2026-11-25T14:50:47.000+01:00", 1795614647.0),
    ("2026-11-25T13:50:47.123+0000", 1795614647.123),
])
def test_timestamps(text, epoch):
    assert records.parse_timestamp(text) == pytest.approx(epoch)


def test_format_timestamp_is_rfc3339_utc():
    assert records.format_timestamp(1795614647.123) == "2026-11-25T13:50:47.123Z"


def test_agent_ids_are_zero_padded():
    assert records.agent_id(1) == "001"
    assert records.agent_id("042") == "042"
    with pytest.raises(ValueError):
        records.agent_id("x1")


# --- the schemas ------------------------------------------------------------------------------

AGENT = {"id": "001", "name": "web1", "ip": "10.0.0.1"}
GOOD_RECORDS = {
    "log": {"location": "/var/log/auth.log", "log": "x", "data": {"k": {"nested": [1]}},
            "truncated": False, "format": "json"},
    "syscheck": {"path": "/etc/passwd", "event": "modified", "changed": ["size", "uid"],
                 "old": {"size": 1, "mode": "100644", "uid": 0, "uname": "root", "mtime": 1},
                 "new": {"size": 2, "mode": "100644", "uid": "0", "mtime": 1.5}, "diff": "d",
                 "location": "syscheck"},
    "rootcheck": {"title": "t", "detail": "d", "file": "/f", "policy": "p", "check": "c"},
    "alert": {"id": "1.2", "rule": {"id": "5716", "level": 5, "groups": ["a"], "description": "d",
                                    "firedtimes": 1, "mail": False, "pci_dss": ["10.2.4"],
                                    "mitre": {"id": ["T1110", "T9999"], "tactic": ["Credential Access"],
                                              "technique": ["Brute Force"]}},
              "manager": {"name": "m"}, "decoder": {"name": "sshd", "parent": "sshd"},
              "data": {"srcip": "1.2.3.4", "srcport": 22, "win": {"system": {"x": 1}}},
              "full_log": "l", "location": "loc", "predecoder": {"hostname": "h"},
              "previous_output": "p", "syscheck": {"path": "/x", "size_before": "1",
                                                   "changed_attributes": ["size"]}},
    "ar": {"command": "firewall-drop", "action": "add", "srcip": "1.2.3.4", "timeout": 60,
           "alert": {"anything": [1]}},
    "ar_result": {"status": "ran", "exit_code": 0, "offences": 1, "output": "o"},
    "agent_status": {"status": "connected", "version": None, "last_keepalive": "t"},
    "notice": {"component": "collect", "message": "m", "code": "dropped", "count": 3},
}


@pytest.mark.parametrize("rtype", sorted(GOOD_RECORDS))
def test_each_type_passes_its_schema_with_unknown_fields_kept(rtype):
    record = {"type": rtype, "timestamp": "2026-11-25T13:50:47.123Z", "agent": AGENT,
              "origin": {"by": "receive"}, **GOOD_RECORDS[rtype]}
    out, reader, err = read_all(orjson.dumps(record))
    assert out == [record] and err == ""  # the record as parsed, unknown fields and all
    assert records.SCHEMAS[rtype].__struct_config__.tag == rtype


@pytest.mark.parametrize("record, problem", [
    ({"type": "alert", "rule": {"id": "1", "level": 3}, "data": ["x"]},
     "field data: expected object, got array"),
    ({"type": "alert", "rule": {"id": 1, "level": 3}}, "field rule.id: expected str, got int"),
    ({"type": "alert", "rule": {"id": "1", "level": "3"}}, "field rule.level: expected int, got str"),
    ({"type": "alert", "rule": {"id": "1", "level": 3.0}}, "field rule.level: expected int, got float"),
    ({"type": "alert", "rule": {"id": "1", "level": 3, "groups": ["a", None]}},
     "field rule.groups[1]: expected str, got null"),
    ({"type": "alert", "rule": {"id": "1", "level": 3, "mitre": {"id": "T1110"}}},
     "field rule.mitre.id: expected array, got str"),
    ({"type": "alert", "rule": {"level": 3}}, "alert record without 'rule.id'"),
    ({"type": "alert"}, "alert record without 'rule'"),
    ({"type": "alert", "rule": {"id": "1", "level": 3}, "manager": "m"},
     "field manager: expected object, got str"),
    ({"type": "alert", "rule": {"id": "1", "level": 3}, "data": {"srcip": ["1.2.3.4"]}},
     "field data.srcip: expected int | float | str, got array"),
    ({"type": "alert", "rule": {"id": "1", "level": 3}, "agent": {"id": 1}},
     "field agent.id: expected str, got int"),
    ({"type": "syscheck", "path": "/x", "event": "modified", "changed": "size"},
     "field changed: expected array, got str"),
    ({"type": "syscheck", "path": "/x", "event": "modified", "new": {"size": "1"}},
     "field new.size: expected int, got str"),
    ({"type": "syscheck", "path": "/x", "event": "renamed"},
     "field event: invalid enum value 'renamed'"),
    ({"type": "log", "location": "x", "log": "y", "data": []}, "field data: expected object, got array"),
    ({"type": "ar", "command": "c", "action": "add", "timeout": "9"},
     "field timeout: expected int, got str"),
    ({"type": "notice", "component": "c", "message": 1}, "field message: expected str, got int"),
    ({"type": "custom", "agent": []}, "field agent: expected object, got array"),
    ({"type": "custom", "timestamp": 5}, "field timestamp: expected str, got int"),
    ({"type": ""}, "missing 'type'"),
    ({"type": 5}, "missing 'type'"),
])
def test_wrong_types_are_reported_by_path(record, problem):
    assert records.validate(record) == problem
    out, reader, err = read_all(b'{"type":"ok"}\n' + orjson.dumps(record) + b'\n{"type":"ok"}')
    assert len(out) == 2 and reader.stats.bad == 1
    assert err == f"line 2: {problem}\n"


def test_a_hostile_value_in_a_report_stays_one_short_line():
    record = {"type": "syscheck", "path": "/x", "event": "\n\x1b[31mforged line " + "x" * 5000}
    problem = records.validate(record)
    assert problem.startswith("field event: invalid enum value '\\n\\x1b[31mforged line")
    assert problem.isprintable() and len(problem) <= records.MAX_PROBLEM + 3


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+01:00",
                                   "1969-12-31T23:59:59Z", "not a time"])
def test_timestamps_out_of_range_fall_back_to_the_wall_clock(stamp):
    import time

    before = time.time()
    assert before <= records.record_time({"timestamp": stamp}) <= time.time()
