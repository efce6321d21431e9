"""hidsctl mail against a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hidsctl.outputs.mail import Mailer, MailSettings
from tests.conftest import invoke_hidsctl, run_hidsctl
from tests.netutil import Inbox, free_port, make_certificate, server_context, smtp_server
from tests.test_alertfiles import FakeClock, alert


@pytest.fixture
def inbox():
    box = Inbox()
    port = free_port()
    controller = smtp_server(port, box)
    box.port = port
    yield box
    controller.stop()


def lines(*records: dict) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def text(message) -> str:
    return message.get_payload(decode=True).decode().replace("\r\n", "\n")


def test_mail_sends_filtered_alerts_with_rule_agent_location_and_log(tmp_path, inbox):
    low = alert("2026-11-25T13:50:46.000Z", 1, level=3)
    high = dict(alert("2026-11-25T13:50:47.000Z", 2, level=10),
                agent={"id": "004", "name": "db1", "ip": "10.0.0.4"})
    result = run_hidsctl("mail", "--smtp", f"127.0.0.1:{inbox.port}", "--to", "soc@example.com",
                         "--level", "7", "--sender", "hids@example.com", "--state-dir", str(tmp_path),
                         input=lines(low, {"type": "log", "location": "x", "log": "y"}, high))
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["To"] == "soc@example.com" and message["From"] == "hids@example.com"
    assert message["Subject"] == "[hidsctl] db1 level 10: sshd: authentication failed."
    body = text(message)
    assert "Received From: (db1) 10.0.0.4->/var/log/auth.log" in body
    assert 'Rule: 5716 fired (level 10) -> "sshd: authentication failed."' in body
    assert "Src IP: 203.0.113.9" in body and "User: root" in body
    assert "Failed password for root (2)" in body
    assert "(1)" not in body  # the level-3 alert stayed below --level


def test_rule_id_and_group_filters(tmp_path, inbox):
    other = dict(alert("2026-11-25T13:50:47.000Z", 3), rule={
        "id": "31101", "level": 5, "description": "Web 400 error.", "groups": ["web"]})
    result = run_hidsctl("mail", "--smtp", f"127.0.0.1:{inbox.port}", "--to", "a@example.com",
                         "--level", "0", "--group", "web", "--state-dir", str(tmp_path),
                         input=lines(alert("2026-11-25T13:50:47.000Z", 1), other))
    assert result.returncode == 0, result.stderr
    assert [m["Subject"] for m in inbox.messages] == ["[hidsctl] web1 level 5: Web 400 error."]


def mailer(tmp_path, port, clock, **options) -> Mailer:
    options.setdefault("level", 0)
    settings = MailSettings(to=["soc@example.com"], smtp=f"127.0.0.1:{port}", **options)
    return Mailer(settings, tmp_path / "mail", now=clock)


def test_alerts_close_together_share_one_message(tmp_path, inbox):
    clock = FakeClock("2026-11-25T10:00:00")
    box = mailer(tmp_path, inbox.port, clock, group_window=5)
    box.handle(alert("2026-11-25T10:00:00.000Z", 1))
    clock.value += 2
    box.handle(alert("2026-11-25T10:00:02.000Z", 2))
    box.tick()
    assert inbox.messages == []  # still inside the window
    clock.value += 4
    box.tick()
    clock.value += 30
    box.handle(alert("2026-11-25T10:00:36.000Z", 3))
    clock.value += 6
    box.tick()
    box.close()
    assert [m["Subject"] for m in inbox.messages] == [
        "[hidsctl] 2 alerts (highest level 5) from web1",
        "[hidsctl] web1 level 5: sshd: authentication failed."]
    assert text(inbox.messages[0]).count("--END OF NOTIFICATION") == 2


def test_hourly_cap_holds_alerts_back_and_sends_a_summary(tmp_path, inbox):
    clock = FakeClock("2026-11-25T10:00:00")
    box = mailer(tmp_path, inbox.port, clock, group_window=0, max_per_hour=2)
    for n in range(1, 6):
        box.handle(alert("2026-11-25T10:00:00.000Z", n))
        clock.value += 60
        box.tick()
    assert len(inbox.messages) == 2
    clock.set("2026-11-25T11:00:05")
    box.tick()
    box.close()
    assert len(inbox.messages) == 3
    summary = inbox.messages[2]
    assert summary["Subject"] == "[hidsctl] hourly mail limit reached: 3 alerts held back"
    body = text(summary)
    assert "      3  5716     5      sshd: authentication failed." in body
    assert all(f"Failed password for root ({n})" in body for n in (3, 4, 5))


def test_smtp_down_then_up_loses_nothing(tmp_path):
    port = free_port()
    alerts = [alert("2026-11-25T10:00:00.000Z", n, level=8) for n in range(1, 4)]
    args = ["--smtp", f"127.0.0.1:{port}", "--to", "soc@example.com", "--group-window", "0",
            "--state-dir", str(tmp_path)]
    down = run_hidsctl("mail", *args, "--linger", "0", input=lines(*alerts[:2]))
    assert down.returncode == 0, down.stderr
    assert b"queued" in down.stderr

    # A running mailer whose server comes up while it waits: it retries and delivers.
    process = subprocess.Popen([sys.executable, "-m", "hidsctl", "mail", *args, "--linger", "30"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdin.write(lines(alerts[2]).encode())
    process.stdin.flush()
    assert b"queued on disk, retrying" in process.stderr.readline()  # it found the server down
    box = Inbox()
    controller = smtp_server(port, box)
    try:
        process.stdin.close()
        assert process.wait(timeout=40) == 0
    finally:
        controller.stop()
    bodies = "".join(text(m) for m in box.messages)
    assert all(f"Failed password for root ({n})" in bodies for n in (1, 2, 3))
    assert sum(text(m).count("--END OF NOTIFICATION") for m in box.messages) == 3


def test_starttls_and_login(tmp_path):
    cert, key = make_certificate(tmp_path)
    box = Inbox()
    port = free_port()

    def authenticator(server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult
        ok = auth_data.login == b"hids" and auth_data.password == b"s3cret"
        return AuthResult(success=ok, auth_data=auth_data)

    controller = smtp_server(port, box, tls_context=server_context(cert, key),
                             require_starttls=True, authenticator=authenticator, auth_required=True)
    (tmp_path / "pw").write_text("s3cret\n")
    try:
        result = run_hidsctl("mail", "--smtp", f"127.0.0.1:{port}", "--to", "soc@example.com",
                             "--tls", "starttls", "--ca-file", str(cert), "--user", "hids",
                             "--password-file", str(tmp_path / "pw"), "--state-dir", str(tmp_path),
                             input=lines(alert("2026-11-25T10:00:00.000Z", 1, level=9)))
    finally:
        controller.stop()
    assert result.returncode == 0, result.stderr
    assert len(box.messages) == 1 and box.logins == ["hids"]


def test_daily_report_of_top_rules_agents_and_sources(tmp_path, inbox):
    clock = FakeClock("2026-11-24T10:00:00")
    box = mailer(tmp_path, inbox.port, clock, level=15, daily_report=True, group_window=0)
    for n in range(3):
        box.handle(alert("2026-11-24T10:00:00.000Z", n))
    box.handle(dict(alert("2026-11-24T11:00:00.000Z", 9), data={"srcip": "198.51.100.7"}))
    box.tick()
    assert inbox.messages == []  # level 15: no alert mail, and the day is not over
    clock.set("2026-11-25T00:00:01")
    box.tick()
    box.close()
    assert [m["Subject"] for m in inbox.messages] == ["[hidsctl] daily report 2026-11-24: 4 alerts"]
    body = text(inbox.messages[0])
    assert "Top rules:" in body and "      4  5716     5      sshd: authentication failed." in body
    assert "      4  000 web1" in body
    assert "      3  203.0.113.9\n      1  198.51.100.7" in body


def test_mail_without_recipient_is_a_usage_error(tmp_path):
    result = invoke_hidsctl("mail", "--state-dir", str(tmp_path), input="")
    assert result.returncode == 2
    assert b"--to" in result.stderr


def test_mail_settings_from_config(tmp_path, inbox):
    config = tmp_path / "hidsctl.toml"
    config.write_text(f'[mail]\nto = ["ops@example.com"]\nsmtp = "127.0.0.1:{inbox.port}"\n'
                      'level = 5\nmax-per-hour = 3\n')
    result = run_hidsctl("mail", "--config", str(config), "--state-dir", str(tmp_path),
                         input=lines(alert("2026-11-25T10:00:00.000Z", 1)))
    assert result.returncode == 0, result.stderr
    assert inbox.messages[0]["To"] == "ops@example.com"
