"""alerts.log text layout of one alert record."""

from hidsctl.alerttext import format_alert, syscheck_text

SSH_ALERT = {
    "type": "alert", "timestamp": "2026-11-25T13:50:47.123Z", "id": "1795614647.42",
    "rule": {"id": "5716", "level": 5, "description": "sshd: authentication failed.",
             "groups": ["syslog", "sshd", "authentication_failed"], "firedtimes": 1},
    "agent": {"id": "000", "name": "web1", "ip": "127.0.0.1"},
    "decoder": {"name": "sshd"},
    "data": {"srcip": "203.0.113.9", "dstuser": "root", "srcport": "52144"},
    "full_log": "Nov 25 13:50:47 web1 sshd[811]: Failed password for root from 203.0.113.9 "
                "port 52144 ssh2",
    "location": "/var/log/auth.log",
}


def test_local_alert_has_ossec_layout():
    assert format_alert(SSH_ALERT) == (
        "** Alert 1795614647.42: - syslog,sshd,authentication_failed,\n"
        "2026 Nov 25 13:50:47 web1->/var/log/auth.log\n"
        "Rule: 5716 (level 5) -> 'sshd: authentication failed.'\n"
        "Src IP: 203.0.113.9\n"
        "Src Port: 52144\n"
        "User: root\n"
        "Nov 25 13:50:47 web1 sshd[811]: Failed password for root from 203.0.113.9 port 52144 ssh2\n"
        "\n")


def test_agent_alert_names_agent_and_mail_flag():
    alert = dict(SSH_ALERT, agent={"id": "002", "name": "db1", "ip": "10.0.0.2"},
                 rule=dict(SSH_ALERT["rule"], mail=True), data={})
    lines = format_alert(alert).splitlines()
    assert lines[0] == "** Alert 1795614647.42: mail  - syslog,sshd,authentication_failed,"
    assert lines[1] == "2026 Nov 25 13:50:47 (db1) 10.0.0.2->/var/log/auth.log"
    assert lines[3].startswith("Nov 25 13:50:47 web1 sshd")


def test_integrity_alert_without_full_log_gets_syscheck_lines():
    alert = {
        "type": "alert", "timestamp": "2026-11-25T01:02:03.000Z", "id": "1795568523.7",
        "rule": {"id": "550", "level": 7, "description": "Integrity checksum changed.",
                 "groups": ["ossec", "syscheck"]},
        "agent": {"id": "000", "name": "web1"}, "location": "syscheck",
        "syscheck": {"path": "/etc/passwd", "event": "modified", "size_before": "1012",
                     "size_after": "1050", "sha256_before": "aa", "sha256_after": "bb",
                     "diff": "1c1\n< a\n---\n> b"},
    }
    text = format_alert(alert)
    assert "Integrity checksum changed for: '/etc/passwd'\nSize changed from '1012' to '1050'\n" \
        "What changed:\n1c1\n< a\n---\n> b\nOld sha256sum was: 'aa'\nNew sha256sum is : 'bb'\n" in text
    assert syscheck_text({"path": "/x", "event": "added"}) == \
        "New file '/x' added to the file system."
