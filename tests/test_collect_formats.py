"""``hidsctl collect`` formats, limits and record shape, through the real command."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from collect_support import Follower, append, collect_once

from hidsctl import records


def test_syslog_records_carry_location_agent_and_each_line(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_bytes(b"Nov 25 13:50:47 web1 sshd[811]: Failed password for root\n\n"
                    b"crlf line\r\n"
                    b'quote " and \\ backslash and \x01 control\n'
                    b"no newline at the end")
    out, err, code = collect_once(str(log), state=tmp_path / "state")
    assert code == 0, err
    assert [r["log"] for r in out] == [
        "Nov 25 13:50:47 web1 sshd[811]: Failed password for root", "crlf line",
        'quote " and \\ backslash and \x01 control', "no newline at the end"]
    for record in out:
        assert records.validate(record) is None
        assert record["type"] == "log"
        assert record["location"] == str(log)
        assert record["agent"] == {"id": "000", "name": socket.gethostname(), "ip": "127.0.0.1"}
        records.parse_timestamp(record["timestamp"])
        assert "format" not in record and "truncated" not in record


def test_fast_path_keeps_every_line_of_a_large_file(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    # Runs of lines that need no escaping, quotes only, backslashes, tabs and non-ASCII,
    # each long enough to fill whole read blocks, then all mixed.
    kinds = ["plain", 'a "quoted" word', "back\\slash", "tab\there", "caf\u00e9 \u2603"]
    lines = [f"line {i} {kind}" for kind in kinds for i in range(20_000)]
    lines += [f"line {i} " + "é\"x\\\t" * (i % 7) for i in range(20_000)]
    log.write_text("\n".join(lines) + "\n")
    out, err, code = collect_once(str(log), state=tmp_path / "state")
    assert code == 0, err
    assert [r["log"] for r in out] == lines


def test_json_lines_put_their_fields_in_data(tmp_path: Path) -> None:
    log = tmp_path / "app.json"
    log.write_text('{"user": "alice", "action": "login", "n": 3, "ok": true}\n'
                   "not json at all\n"
                   "[1, 2]\n")
    out, err, code = collect_once("--format", "json", str(log), state=tmp_path / "state")
    assert code == 0, err
    assert len(out) == 3
    assert out[0]["data"] == {"user": "alice", "action": "login", "n": 3, "ok": True}
    assert out[0]["log"] == '{"user": "alice", "action": "login", "n": 3, "ok": true}'
    assert out[0]["format"] == "json"
    assert "data" not in out[1] and out[1]["log"] == "not json at all"
    assert "data" not in out[2]


def test_multi_line_fixed_count(tmp_path: Path) -> None:
    log = tmp_path / "multi.log"
    log.write_text("a1\na2\na3\nb1\nb2\nb3\nc1\n")
    out, err, code = collect_once("--format", "multi-line:3", str(log), state=tmp_path / "s1")
    assert code == 0, err
    assert [r["log"] for r in out] == ["a1\na2\na3", "b1\nb2\nb3", "c1"]
    assert all(r["format"] == "multi-line" for r in out)
    out, err, code = collect_once("--format", "multi-line", "--lines", "2", str(log),
                                  state=tmp_path / "s2")
    assert [r["log"] for r in out] == ["a1\na2", "a3\nb1", "b2\nb3", "c1"]


TRACE = """\
2026-11-25 13:50:47 ERROR request failed
Traceback (most recent call last):
  File "app.py", line 3, in <module>
    main()
ValueError: boom
2026-11-25 13:50:48 INFO next request
2026-11-25 13:50:49 WARN slow
  detail line
"""


def test_multi_line_regex_joins_stack_traces(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(TRACE)
    out, err, code = collect_once("--format", "multi-line-regex", "--multiline-regex",
                                  r"^\d{4}-\d\d-\d\d ", str(log), state=tmp_path / "state")
    assert code == 0, err
    assert [r["log"] for r in out] == [
        "2026-11-25 13:50:47 ERROR request failed\nTraceback (most recent call last):\n"
        '  File "app.py", line 3, in <module>\n    main()\nValueError: boom',
        "2026-11-25 13:50:48 INFO next request",
        "2026-11-25 13:50:49 WARN slow\n  detail line"]


def test_multi_line_regex_flushes_after_idle_when_following(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    follower = Follower(tmp_path, "--format", "multi-line-regex", "--multiline-regex",
                        r"^\d{4}-", str(log))
    try:
        append(log, "2026-11-25 first", "  continued")
        got = follower.wait_for(1)
        assert [r["log"] for r in got] == ["2026-11-25 first\n  continued"]
        append(log, "2026-11-25 second")
        got = follower.wait_for(2)
        assert got[1]["log"] == "2026-11-25 second"
    finally:
        assert follower.stop() == 0


ACCESS = ('203.0.113.9 - bob [25/Nov/2026:13:50:47 +0000] "GET /admin.php?id=1 HTTP/1.1" 404 '
          '512 "-" "curl/8.0"')
APACHE_ERROR = ("[Wed Nov 25 13:50:47.123456 2026] [core:error] [pid 811:tid 1] "
                "[client 203.0.113.9:52144] AH00126: Invalid URI in request")
NGINX_ERROR = ('2026/11/25 13:50:47 [error] 811#811: *5 open() "/srv/x" failed (2: No such '
               'file or directory), client: 203.0.113.9, server: web1, request: "GET /x HTTP/1.1"')


def test_apache_and_nginx_access_and_error_logs(tmp_path: Path) -> None:
    apache = tmp_path / "apache.log"
    apache.write_text(f"{ACCESS}\n{APACHE_ERROR}\nsomething else\n")
    nginx = tmp_path / "nginx.log"
    nginx.write_text(f"{ACCESS}\n{NGINX_ERROR}\n")
    config = tmp_path / "hidsctl.toml"
    config.write_text(f'[collect]\nfiles = [{{ location = "{apache}", format = "apache" }},\n'
                      f'         {{ location = "{nginx}", format = "nginx" }}]\n')
    out, err, code = collect_once("--config", str(config), state=tmp_path / "state")
    assert code == 0, err
    by_log = {(r["location"], r["log"]): r for r in out}
    assert len(out) == 5
    access = by_log[(str(apache), ACCESS)]
    assert access["format"] == "apache"
    assert access["data"] == {"log_type": "access", "srcip": "203.0.113.9", "user": "bob",
                              "method": "GET", "url": "/admin.php?id=1", "protocol": "HTTP/1.1",
                              "status": "404", "bytes": "512", "user_agent": "curl/8.0"}
    error = by_log[(str(apache), APACHE_ERROR)]["data"]
    assert error["log_type"] == "error" and error["level"] == "error"
    assert error["srcip"] == "203.0.113.9" and error["pid"] == "811"
    assert "data" not in by_log[(str(apache), "something else")]
    assert by_log[(str(nginx), ACCESS)]["format"] == "nginx"
    error = by_log[(str(nginx), NGINX_ERROR)]["data"]
    assert error["srcip"] == "203.0.113.9" and error["level"] == "error"


def test_long_lines_are_cut_and_flagged_never_dropped(tmp_path: Path) -> None:
    log = tmp_path / "long.log"
    log.write_bytes(b"short\n" + b"x" * 5000 + b"\n" + "é".encode() * 200 + b"\nafter\n")
    out, err, code = collect_once("--max-line", "100", str(log), state=tmp_path / "state")
    assert code == 0, err
    assert [r["log"] for r in out] == ["short", "x" * 100, "é" * 50, "after"]
    assert [r.get("truncated", False) for r in out] == [False, True, True, False]


def test_long_line_growing_while_followed_is_cut_once(tmp_path: Path) -> None:
    log = tmp_path / "long.log"
    log.write_text("")
    follower = Follower(tmp_path, "--max-line", "1000", str(log))
    try:
        with open(log, "a") as handle:
            for _ in range(5):
                handle.write("y" * 800)
                handle.flush()
        append(log, "", "next")
        got = follower.wait_for(2)
        assert [r["log"] for r in got] == ["y" * 1000, "next"]
        assert got[0]["truncated"] is True
    finally:
        assert follower.stop() == 0


def test_invalid_utf8_is_replaced(tmp_path: Path) -> None:
    log = tmp_path / "bin.log"
    log.write_bytes(b"ok \xc3\xa9\n\xff\xfe bad \xc3\n\xe2\x82 cut\n")
    for fmt in ("syslog", "json", "multi-line:1"):
        out, err, code = collect_once("--format", fmt, str(log), state=tmp_path / fmt)
        assert code == 0, err
        assert [r["log"] for r in out] == ["ok é", "\ufffd\ufffd bad \ufffd", "\ufffd cut"]
        json.dumps(out)
