"""Enrollment over TLS with a password and a pinned certificate fingerprint."""

from __future__ import annotations

import re

from conftest import run_hidsctl
from hidsctl.transport.keys import KeyFile, keys_path
from transport_support import ReceiveProcess, SendProcess, log_records, wait_for


def test_enroll_with_password_and_fingerprint_then_send(tmp_path):
    server = ReceiveProcess(tmp_path, tmp_path / "server", "--enroll", "127.0.0.1:0",
                            "--enroll-password", "s3cret")
    try:
        port = server.listening("enroll tls")
        fingerprint = re.search(r"fingerprint (SHA256:[0-9A-F:]+)", server.stderr()).group(1)
        where = f"127.0.0.1:{port}"

        wrong = run_hidsctl("send", "--enroll", where, "--password", "guess", "--name", "web1",
                            "--state-dir", str(tmp_path / "a1"))
        assert wrong.returncode == 1 and b"wrong password" in wrong.stderr
        assert not KeyFile.open(keys_path(tmp_path / "a1")).keys

        other = "SHA256:" + ":".join(["AB"] * 32)
        pinned_wrong = run_hidsctl("send", "--enroll", where, "--password", "s3cret",
                                   "--fingerprint", other, "--name", "web1",
                                   "--state-dir", str(tmp_path / "a1"))
        assert pinned_wrong.returncode == 1 and b"does not match" in pinned_wrong.stderr
        assert not KeyFile.open(keys_path(tmp_path / "a1")).keys

        good = run_hidsctl("send", "--enroll", where, "--password", "s3cret", "--fingerprint",
                           fingerprint.lower().replace("sha256:", ""), "--name", "web1",
                           "--state-dir", str(tmp_path / "a1"))
        assert good.returncode == 0, good.stderr
        agent_key = next(iter(KeyFile.open(keys_path(tmp_path / "a1")).keys.values()))
        server_keys = KeyFile.open(keys_path(tmp_path / "server"))
        assert server_keys.by_name("web1") == agent_key

        again = run_hidsctl("send", "--enroll", where, "--password", "s3cret", "--name", "web1",
                            "--state-dir", str(tmp_path / "a2"))
        assert again.returncode == 1 and b"already exists" in again.stderr

        agent = SendProcess(tmp_path, tmp_path / "a1", server.port)
        agent.write(log_records(0, 5))
        assert agent.close() == 0
        logs = wait_for(lambda: len(server.of_type("log")) == 5 and server.of_type("log"))
        assert logs[0]["agent"]["name"] == "web1"
        assert [n for n in server.of_type("notice") if n["code"] == "enroll_denied"]
    finally:
        server.stop()


def test_options_of_the_other_mode_are_refused(tmp_path):
    """Enrolling sends nothing and sending enrolls nothing: a misplaced option is an error."""
    state = tmp_path / "agent"
    sending = run_hidsctl("send", "--name", "web1", "--state-dir", str(state), input=b"")
    assert sending.returncode == 2 and b"--name: only with --enroll" in sending.stderr
    enrolling = run_hidsctl("send", "--enroll", "127.0.0.1:1", "--server", "127.0.0.1:1",
                            "--keepalive", "5", "--state-dir", str(state))
    assert enrolling.returncode == 2
    assert b"--enroll takes no --server, --keepalive" in enrolling.stderr
    assert not keys_path(state).exists()  # refused before anything was asked or stored
