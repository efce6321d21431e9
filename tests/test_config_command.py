"""`hidsctl config check | show | import-ossec` through the real command."""

from __future__ import annotations

import tomllib

from conftest import FIXTURES, invoke_hidsctl

OSSEC_CONF = FIXTURES / "ossec-4.3" / "ossec-server.conf"


def test_import_of_ossecs_own_config_passes_check(tmp_path):
    out = tmp_path / "hidsctl.toml"
    result = invoke_hidsctl("config", "import-ossec", str(OSSEC_CONF), "-o", str(out))
    assert result.returncode == 0, result.stderr
    imported = tomllib.loads(out.read_text())
    assert imported["analyze"]["ossec-conf"].endswith("ossec-server.conf")
    assert {"path": "/etc", "check-all": True} in imported["scan"]["directories"]
    assert "/var/log/auth.log" in imported["collect"]["files"]
    assert imported["mail"]["to"] == ["daniel.cid@example.com"]
    assert imported["mail"]["level"] == 7
    assert {r["command"] for r in imported["respond"]["response"]} == {"host-deny", "firewall-drop"}
    assert "192.168.2.1" in imported["respond"]["allow"]
    assert imported["supervise"]["rootcheck"] is True
    check = invoke_hidsctl("config", "check", str(out))
    assert check.returncode == 0, check.stderr
    assert b"OK" in check.stdout


def test_import_covers_remote_syslog_output_and_agentless(tmp_path):
    conf = tmp_path / "ossec.conf"
    conf.write_text("""
<ossec_config>
  <remote><connection>syslog</connection><port>5514</port><allowed-ips>10.1.0.0/16</allowed-ips></remote>
  <remote><connection>secure</connection></remote>
  <syslog_output><server>192.0.2.7</server><port>514</port><format>json</format><level>10</level></syslog_output>
  <agentless><type>ssh_generic_diff</type><frequency>3600</frequency>
    <host>admin@192.0.2.20</host><state>periodic_diff</state>
    <arguments>ls -la /etc; cat /etc/passwd</arguments></agentless>
  <localfile><log_format>command</log_format><command>df -P</command><frequency>360</frequency></localfile>
  <client><server-ip>192.0.2.1</server-ip></client>
  <mystery/>
</ossec_config>
""")
    result = invoke_hidsctl("config", "import-ossec", str(conf))
    assert result.returncode == 0, result.stderr
    imported = tomllib.loads(result.stdout.decode())
    assert imported["receive"]["syslog"] == ["0.0.0.0:5514"]
    assert imported["receive"]["allow"] == ["10.1.0.0/16"]
    assert imported["receive"]["listen"] == ["0.0.0.0:1514"]
    assert imported["forward"] == {"to": ["udp://192.0.2.7:514"], "format": "json", "level": 10}
    host = imported["agentless"]["host"][0]
    assert host["address"] == "192.0.2.20" and host["user"] == "admin"
    assert host["type"] == "ssh_generic_diff"  # OSSEC's name, so locations stay OSSEC's
    assert host["commands"] == ["ls -la /etc", "cat /etc/passwd"]
    assert imported["collect"]["command"] == [{"command": "df -P", "frequency": 360}]
    assert b"<mystery> has no hidsctl counterpart" in result.stderr
    converted = tmp_path / "hidsctl.toml"
    converted.write_bytes(result.stdout)
    check = invoke_hidsctl("config", "check", str(converted))
    assert check.returncode == 0, check.stderr


def test_check_names_file_table_and_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[collect]\nmax-line = "big"\n')
    result = invoke_hidsctl("config", "check", str(bad))
    assert result.returncode == 2
    assert f"{bad}: [collect] max-line: expected an integer".encode() in result.stderr
    bad.write_text("[colect]\n")
    result = invoke_hidsctl("config", "check", str(bad))
    assert result.returncode == 2 and b"unknown table [colect]" in result.stderr


def test_show_prints_the_effective_config(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text('[supervise]\nrole = "server"\n[collect]\nfiles = ["/var/log/x.log"]\n')
    result = invoke_hidsctl("config", "show", str(conf))
    assert result.returncode == 0, result.stderr
    shown = tomllib.loads(result.stdout.decode())
    assert shown["supervise"]["role"] == "server"
    assert shown["collect"]["files"] == ["/var/log/x.log"]
    assert shown["collect"]["max-line"] == 65536
