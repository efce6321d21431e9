"""The fast paths of reading and pre-decoding give what the general code gives.

Pre-decoding answers most lines with one compiled pattern, log records of the usual form
are checked without msgspec's convert, and a record timestamp whose second was seen before
skips parsing: each is held here against the code it stands in for, on generated input.
"""

from __future__ import annotations

from datetime import datetime, timezone

import msgspec
from hypothesis import example, given, settings, strategies as st

from hidsctl import records, schemas
from hidsctl.analysis.predecode import decode_header, predecode

# Pieces of every header form, and the characters their separator checks look at.
PIECES = ["Dec 29 10:00:01 ", "Dec  9 10:00:01  ", "2015 Dec 29 10:00:01 ",
          "2007-06-14T15:48:55-04:00 ", "2009-05-22T09:36:46.214994-07:00 ",
          "2015-04-16 21:51:02,805 ", "Mon Jan  1 10:00:00 2015 1 ", "01/02-10:11:12.123456  ",
          "01/02/2015-10:11:12.123456  ", "[Tue Sep 30 11:30:13.262255 2014] ",
          "[T2015 1234.56.78 12:34:56 x] ", "1420070400.123    456 ", "host", "prog", "sshd",
          "[123]", "[ID 702911 auth.notice] ", ": ", " ", "  ", ":", "|a:b ", "[", "]", "é",
          "\n", "-", "user(pam)", "x@y/z.", "0", "²"]


def _key(text: str) -> tuple[str, str | None, str | None, str | None]:
    h = predecode(text)
    return h.log, h.hostname, h.program_name, h.timestamp


def _reference(text: str) -> tuple[str, str | None, str | None, str | None]:
    h = decode_header(text)
    return h.log, h.hostname, h.program_name, h.timestamp


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(PIECES) | st.text(max_size=3), max_size=8).map("".join))
@example("Dec 29 10:00:01  prog: message")        # the extra space taken once, never undone
@example("Dec 29 10:00:01 host: message")         # no host (Solaris)
@example("Dec 29 10:00:01 host prog[12] [ID 1 a.b] message")
@example("Dec 29 10:00:01 host prog|a:b x: message")  # AIX
@example("Dec 29 10:00:01 host prog:x")          # not a program: no header fields
@example("Dec 29 10:00:01 host prog[1²]: x")
def test_predecode_fast_path_is_the_separator_checks(text):
    if text.startswith("<"):
        text = " " + text  # a leading <PRI> is stripped before either runs
    assert _key(text) == _reference(text)


def test_predecode_common_header():
    assert _key("Dec 29 10:00:01 web1 sshd[42]: Accepted password") == (
        "Accepted password", "web1", "sshd", "Dec 29 10:00:01")
    assert _key("<13>Dec 29 10:00:01 web1 su: [ID 702911 auth.notice] 'su root' failed") == (
        "'su root' failed", "web1", "su", "Dec 29 10:00:01")
    assert _key("plain text, no header") == ("plain text, no header", None, None, None)


AGENT_IDS = st.sampled_from(["000", "001", "12345678901234567", "0x1", "", "001\n", "١٢٣"])
VALUES = (st.none() | st.text(max_size=4) | st.integers() | st.booleans()
          | st.lists(st.integers(), max_size=1) | st.dictionaries(st.text(max_size=2),
                                                                   st.integers(), max_size=1))
AGENTS = st.none() | VALUES | st.fixed_dictionaries(
    {}, optional={"id": AGENT_IDS | VALUES, "name": VALUES, "ip": VALUES, "os": VALUES})
GOOD = st.fixed_dictionaries(
    {"type": st.just("log"), "location": st.text(max_size=4), "log": st.text(max_size=4)},
    optional={"timestamp": st.none() | st.text(max_size=4),
              "agent": st.fixed_dictionaries({}, optional={"id": st.sampled_from(["000", "001"]),
                                                        "name": st.text(max_size=2)})})
FIELDS = st.sampled_from(["timestamp", "agent", "location", "log", "data", "truncated",
                          "format", "origin"])


@settings(max_examples=2000, deadline=None)
@given(GOOD, st.dictionaries(FIELDS, VALUES | AGENTS, max_size=2),
       st.lists(FIELDS, max_size=1))
def test_log_record_check_agrees_with_the_schema(record, changes, removed):
    """A usual record with up to two fields set to anything and one maybe removed."""
    record.update(changes)
    for name in removed:
        record.pop(name, None)
    try:
        msgspec.convert(record, schemas.LogRecord)
        expected = None
    except msgspec.ValidationError as exc:
        expected = records.schema_problem("log", str(exc))
    assert records.validate(record) == expected


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=0, max_value=253370764799), st.integers(0, 999))
def test_timestamp_of_a_second_seen_before(second, millis):
    text = datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + \
        f".{millis:03d}Z"
    first = records.parse_timestamp(text)
    again = records.parse_timestamp(text[:20] + f"{999 - millis:03d}Z")
    assert first == datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    assert records.parse_timestamp(text) == first
    assert again == (second * 1000 + 999 - millis) / 1000
