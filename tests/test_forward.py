"""hidsctl forward to real syslog listeners on loopback, each format read by a parser."""

from __future__ import annotations

import json
import re


from tests.conftest import invoke_hidsctl, run_hidsctl
from tests.netutil import DatagramListener, StreamListener, free_port, make_certificate, server_context
from tests.test_alertfiles import alert
from tests.transport_support import wait_for

# RFC 5424 section 6, as a regular expression over the whole message.
SD_NAME = r'[^\s="\]]{1,32}'
SD_ELEMENT = rf'\[{SD_NAME}(?: {SD_NAME}="(?:[^"\\\]]|\\.)*")*\]'
RFC5424 = re.compile(
    r'^<(?P<pri>\d{1,3})>1 '
    r'(?P<timestamp>-|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})) '
    r'(?P<hostname>[\x21-\x7e]{1,255}) (?P<app>[\x21-\x7e]{1,48}) '
    r'(?P<procid>[\x21-\x7e]{1,128}) (?P<msgid>[\x21-\x7e]{1,32}) '
    rf'(?P<sd>-|(?:{SD_ELEMENT})+)(?: (?P<msg>.*))?$', re.S)
SD_PARAM = re.compile(rf'({SD_NAME})="((?:[^"\\\]]|\\.)*)"')
RFC3164 = re.compile(r'^<(?P<pri>\d{1,3})>(?P<stamp>[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}) '
                     r'(?P<host>\S+) (?P<rest>.*)$', re.S)
CEF_HEADER = re.compile(r'CEF:(?P<version>\d+)\|(?P<fields>(?:(?:[^|\\]|\\.)*\|){6})(?P<ext>.*)$')
CEF_EXTENSION = re.compile(r'(\w+)=((?:[^\\=]|\\.)*?)(?=\s\w+=|$)')
KV_PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def sample() -> dict:
    return dict(alert("2026-11-25T13:50:47.123Z", 7, level=10),
                full_log='Nov 25 13:50:47 web1 sshd[1]: Failed password for "root" | x=y ] \\ end',
                manager={"name": "hids-server"})


def forward(*args: str, records: list[dict], tmp_path, **kwargs):
    lines = "".join(json.dumps(r) + "\n" for r in records)
    result = run_hidsctl("forward", *args, "--state-dir", str(tmp_path), input=lines, **kwargs)
    assert result.returncode == 0, result.stderr
    return result


def test_rfc5424_over_udp_parses_by_the_rfc_grammar(tmp_path):
    listener = DatagramListener()
    try:
        forward("--to", f"udp://127.0.0.1:{listener.port}", "--format", "rfc5424",
                records=[sample()], tmp_path=tmp_path)
        (datagram,) = listener.receive(1)
    finally:
        listener.close()
    match = RFC5424.match(datagram.decode())
    assert match, datagram
    assert int(match["pri"]) == 16 * 8 + 3  # local0, err for level 10
    assert match["timestamp"] == "2026-11-25T13:50:47.123Z"
    assert (match["hostname"], match["app"], match["msgid"]) == ("hids-server", "hidsctl", "alert")
    params = {k: re.sub(r'\\(.)', r'\1', v) for k, v in SD_PARAM.findall(match["sd"])}
    assert params["rule_id"] == "5716" and params["level"] == "10"
    assert params["srcip"] == "203.0.113.9" and params["agent_name"] == "web1"
    assert match["msg"].startswith("Alert Level: 10; Rule: 5716 - sshd: authentication failed.;")
    assert 'Failed password for "root"' in match["msg"]


def test_rfc3164_and_level_and_rule_filters_over_tcp(tmp_path):
    listener = StreamListener()
    low = alert("2026-11-25T13:50:40.000Z", 1, level=3)
    other_rule = dict(alert("2026-11-25T13:50:41.000Z", 2, level=9),
                      rule={"id": "1002", "level": 9, "description": "Unknown problem.", "groups": []})
    try:
        forward("--to", f"tcp://127.0.0.1:{listener.port}", "--format", "rfc3164", "--level", "5",
                "--rule-id", "5716", records=[low, other_rule, sample()], tmp_path=tmp_path)
        lines = listener.lines(1)
    finally:
        listener.close()
    assert len(lines) == 1
    match = RFC3164.match(lines[0].decode())
    assert match and match["stamp"] == "Nov 25 13:50:47" and match["host"] == "hids-server"
    assert match["rest"].startswith("hidsctl: Alert Level: 10; Rule: 5716")


def test_json_over_tcp_is_the_alert_record(tmp_path):
    listener = StreamListener()
    records = [sample(), dict(sample(), id="1795614647.8")]
    try:
        forward("--to", f"tcp://127.0.0.1:{listener.port}", "--format", "json",
                records=records + [{"type": "log", "location": "x", "log": "y"}], tmp_path=tmp_path)
        lines = listener.lines(2)
    finally:
        listener.close()
    assert [json.loads(line) for line in lines] == records


def test_cef_over_tls_with_a_test_certificate(tmp_path):
    cert, key = make_certificate(tmp_path)
    listener = StreamListener(context=server_context(cert, key))
    try:
        forward("--to", f"tls://127.0.0.1:{listener.port}", "--format", "cef",
                "--ca-file", str(cert), records=[sample()], tmp_path=tmp_path)
        lines = listener.lines(1)
    finally:
        listener.close()
    assert len(lines) == 1
    text = lines[0].decode()
    assert RFC3164.match(text)
    header = CEF_HEADER.search(text)
    assert header and header["version"] == "0"
    fields = re.findall(r'((?:[^|\\]|\\.)*)\|', header["fields"])
    assert fields[0:2] == ["hidsctl", "hidsctl"] and fields[3:] == [
        "5716", "sshd: authentication failed.", "10"]
    extension = {k: re.sub(r'\\(.)', r'\1', v) for k, v in CEF_EXTENSION.findall(header["ext"])}
    assert extension["src"] == "203.0.113.9" and extension["duser"] == "root"
    assert extension["msg"] == sample()["full_log"]
    assert extension["cs1Label"] == "location" and extension["cs1"] == "/var/log/auth.log"


def test_tls_refuses_a_server_it_cannot_verify(tmp_path):
    cert, key = make_certificate(tmp_path)
    listener = StreamListener(context=server_context(cert, key))
    try:
        result = forward("--to", f"tls://127.0.0.1:{listener.port}", "--format", "json",
                         "--linger", "0", records=[sample()], tmp_path=tmp_path)
    finally:
        listener.close()
    assert b"CERTIFICATE_VERIFY_FAILED" in result.stderr and b"queued" in result.stderr


def test_kv_for_splunk_over_udp(tmp_path):
    listener = DatagramListener()
    try:
        forward("--to", f"udp://127.0.0.1:{listener.port}", "--format", "kv",
                records=[sample()], tmp_path=tmp_path)
        (datagram,) = listener.receive(1)
    finally:
        listener.close()
    pairs = {k: re.sub(r'\\(.)', r'\1', v[1:-1]) if v.startswith('"') else v
             for k, v in KV_PAIR.findall(datagram.decode().split("hidsctl: ", 1)[1])}
    assert pairs["rule_id"] == "5716" and pairs["level"] == "10"
    assert pairs["groups"] == "syslog,sshd,authentication_failed"
    assert pairs["srcip"] == "203.0.113.9" and pairs["full_log"] == sample()["full_log"]


def octet_frames(data: bytes) -> list[bytes]:
    """Split RFC 6587 octet-counted frames: LENGTH SP MESSAGE ..."""
    frames = []
    while data:
        length, _, rest = data.partition(b" ")
        if not length.isdigit() or len(rest) < int(length):
            break
        frames.append(rest[: int(length)])
        data = rest[int(length):]
    return frames


def test_octet_counting_framing(tmp_path):
    listener = StreamListener()
    try:
        forward("--to", f"tcp://127.0.0.1:{listener.port}", "--format", "rfc5424",
                "--framing", "octet", records=[sample(), sample()], tmp_path=tmp_path)
        wait_for(lambda: len(octet_frames(listener.data)) >= 2, 10, "two frames")
    finally:
        listener.close()
    frames = octet_frames(listener.data)
    assert len(frames) == 2 and all(RFC5424.match(f.decode()) for f in frames)


def test_tcp_server_down_then_up_loses_nothing(tmp_path):
    port = free_port()
    records = [dict(sample(), id=f"1795614647.{n}") for n in range(5)]
    args = ["--to", f"tcp://127.0.0.1:{port}", "--format", "json"]
    down = forward(*args, "--linger", "0", records=records[:3], tmp_path=tmp_path)
    assert b"queued" in down.stderr and down.stdout == b""
    listener = StreamListener(port)
    try:
        forward(*args, records=records[3:], tmp_path=tmp_path)
        lines = listener.lines(5)
    finally:
        listener.close()
    assert [json.loads(line)["id"] for line in lines] == [r["id"] for r in records]


def test_queue_bound_drops_the_oldest_and_says_how_many(tmp_path):
    port = free_port()
    records = [dict(sample(), id=f"1795614647.{n}", full_log="x" * 400) for n in range(300)]
    args = ["--to", f"tcp://127.0.0.1:{port}", "--format", "json", "--queue-size", "16384"]
    down = forward(*args, "--linger", "0", records=records, tmp_path=tmp_path)
    notices = [json.loads(line) for line in down.stdout.splitlines()]
    assert notices and {n["type"] for n in notices} == {"notice"}
    assert {n["code"] for n in notices} == {"dropped"}
    dropped = sum(n["count"] for n in notices)
    assert 0 < dropped < 300
    listener = StreamListener(port)
    try:
        forward(*args, records=[], tmp_path=tmp_path)
        lines = listener.lines(300 - dropped, timeout=5)
    finally:
        listener.close()
    ids = [json.loads(line)["id"] for line in lines]
    assert len(ids) == 300 - dropped
    assert ids == [r["id"] for r in records[dropped:]]  # the newest survive, in order


def test_bad_destination_is_a_usage_error(tmp_path):
    result = invoke_hidsctl("forward", "--to", "http://x:1", "--state-dir", str(tmp_path), input="")
    assert result.returncode == 2 and b"udp://" in result.stderr
