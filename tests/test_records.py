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
