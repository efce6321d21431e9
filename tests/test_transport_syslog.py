"""receive --syslog: real ``logger`` over UDP and TCP, RFC 3164 and 5424, allow-list."""

from __future__ import annotations

import shutil
import socket
import subprocess

import pytest

from hidsctl.transport.syslog import OctetStream, parse_message
from transport_support import ReceiveProcess, wait_for

pytestmark = pytest.mark.skipif(not shutil.which("logger"), reason="needs util-linux logger")


def test_logger_messages_arrive_as_log_records(tmp_path):
    server = ReceiveProcess(tmp_path, tmp_path / "state", "--syslog", "127.0.0.1:0",
                            "--allow", "127.0.0.1/32")
    try:
        port = str(server.listening("syslog tcp\\+udp"))
        base = ["logger", "-n", "127.0.0.1", "-P", port, "-t", "sshd"]
        subprocess.run(base + ["-d", "--rfc3164", "udp classic message"], check=True)
        subprocess.run(base + ["-T", "--rfc3164", "tcp classic message"], check=True)
        subprocess.run(base + ["-T", "--octet-count", "--rfc5424", "tcp modern message"],
                       check=True)
        subprocess.run(base + ["-d", "--rfc5424", "udp modern message"], check=True)
        # a device outside the allow-list: the same loopback, another source address
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.2", 0))
            sock.sendto(b"<13>Nov 25 10:00:00 rogue app: denied message", ("127.0.0.1", int(port)))
        logs = wait_for(lambda: len(server.of_type("log")) >= 4 and server.of_type("log"))
        denied = wait_for(lambda: [n for n in server.of_type("notice")
                                   if n["code"] == "syslog_denied"])
        assert denied[0]["location"] == "127.0.0.2"
        logs = server.of_type("log")
    finally:
        server.stop()
    by_text = {r["log"].split(": ", 1)[-1]: r for r in logs}
    assert set(by_text) == {"udp classic message", "tcp classic message",
                            "tcp modern message", "udp modern message"}
    for record in logs:
        assert record["location"] == "127.0.0.1" and record["agent"]["id"] == "000"
        assert record["origin"] == {"kind": "syslog", "ip": "127.0.0.1"}
        assert " sshd" in record["log"]
    modern = by_text["tcp modern message"]
    assert modern["data"]["syslog_format"] == "rfc5424" and modern["data"]["app_name"] == "sshd"
    assert modern["log"][:3] in ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug",
                                 "Sep", "Oct", "Nov", "Dec")
    assert by_text["udp classic message"]["data"]["facility"] == 1  # logger's default user.notice


def test_syslog_without_an_allow_list_is_a_usage_error(tmp_path):
    from conftest import run_hidsctl
    result = run_hidsctl("receive", "--listen", "127.0.0.1:0", "--syslog", "127.0.0.1:0",
                         "--state-dir", str(tmp_path))
    assert result.returncode == 2 and b"--allow" in result.stderr


def test_octet_counting_and_newline_framing_mix():
    stream = OctetStream()
    assert stream.feed(b"11 <13>hello a") == [b"<13>hello a"]
    assert stream.feed(b"<13>plain line\n5 ab") == [b"<13>plain line"]
    assert stream.feed(b"cde") == [b"ab\ncde"[0:0] + b"abcde"]


def test_rfc5424_is_rewritten_for_the_predecoder():
    text, data = parse_message(b"<34>1 2026-11-25T10:20:30.000Z web1 su 42 ID47 "
                               b"[exampleSDID@32473 iut=\"3\"] 'su root' failed on /dev/pts/8")
    assert text == "Nov 25 10:20:30 web1 su[42]: 'su root' failed on /dev/pts/8"
    assert data["facility"] == 4 and data["severity"] == 2 and data["msgid"] == "ID47"
    assert data["structured_data"] == '[exampleSDID@32473 iut="3"]'
