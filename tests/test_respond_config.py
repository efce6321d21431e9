"""The [respond] model: ossec.conf import, escalation steps, value validation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import FIXTURES
from hidsctl.errors import ConfigError
from hidsctl.respond import accounts, engine, ossec, settings, values
from respond_helpers import alert, respond

OSSEC_SERVER_CONF = Path(os.environ.get("HIDSCTL_OSSEC_FIXTURE", FIXTURES / "ossec-4.3")) / "ossec-server.conf"

AGENT_AND_SERVER_CONF = """<?xml version="1.0"?>
<ossec_config>
  <global>
    <white_list>192.0.2.1</white_list>
    <white_list>2001:db8:ffff::/48</white_list>
  </global>
  <command>
    <name>firewall-drop</name>
    <executable>firewall-drop.sh</executable>
    <expect>srcip</expect>
    <timeout_allowed>yes</timeout_allowed>
  </command>
  <command>
    <name>restart-ossec</name>
    <executable>restart-ossec.sh</executable>
    <expect></expect>
  </command>
</ossec_config>
<ossec_config>
  <active-response>
    <repeated_offenders>10,20</repeated_offenders>
  </active-response>
  <active-response>
    <command>firewall-drop</command>
    <location>defined-agent</location>
    <agent_id>12</agent_id>
    <rules_id>5712, 5720</rules_id>
    <rules_group>authentication_failures,|sshd</rules_group>
    <timeout>300</timeout>
  </active-response>
  <active-response>
    <disabled>yes</disabled>
    <command>firewall-drop</command>
    <location>all</location>
    <level>3</level>
  </active-response>
</ossec_config>
"""


def test_import_translates_blocks_to_the_toml_shape(tmp_path):
    path = tmp_path / "ossec.conf"
    path.write_text(AGENT_AND_SERVER_CONF)
    got = ossec.import_respond(path)
    assert got["allow"] == ["192.0.2.1", "2001:db8:ffff::/48"]
    assert got["repeated_offenders"] == [10, 20]
    assert got["command"][0] == {"name": "firewall-drop", "executable": "firewall-drop",
                                 "expect": ["srcip"], "timeout_allowed": True}
    assert got["command"][1]["executable"] == "restart-ossec.sh"  # not bundled: kept as named
    assert got["response"][0] == {"command": "firewall-drop", "location": "defined-agent",
                                  "agent_id": "12", "rules_id": ["5712", "5720"],
                                  "rules_group": ["authentication_failures", "sshd"], "timeout": 300}
    assert got["response"][1]["disabled"] is True


def test_imported_config_builds_and_drops_unknown_scripts(tmp_path, capsys):
    path = tmp_path / "ossec.conf"
    path.write_text(AGENT_AND_SERVER_CONF)
    built = settings.build(settings.RespondOptions(ossec_conf=path))
    assert "restart-ossec" not in built.commands and "restart-ossec.sh" in capsys.readouterr().err
    assert built.repeated_offenders == (10, 20)
    (response,) = built.responses  # the disabled one is left out
    assert (response.location, response.agent_id, response.timeout) == ("defined-agent", "012", 300)
    assert response.rules_id == {"5712", "5720"}


@pytest.mark.skipif(not OSSEC_SERVER_CONF.exists(), reason="OSSEC fixture not present")
def test_import_of_ossecs_example_server_conf():
    built = settings.build(settings.RespondOptions(ossec_conf=OSSEC_SERVER_CONF))
    assert {"host-deny", "firewall-drop", "disable-account"} <= set(built.commands)
    assert [(r.command, r.location, r.level, r.timeout) for r in built.responses] == [
        ("host-deny", "local", 7, 600), ("firewall-drop", "local", 7, 600)]
    assert any(str(n) == "192.168.2.190/32" for n in built.allow)


def test_respond_reads_an_ossec_conf(tmp_path):
    path = tmp_path / "ossec.conf"
    path.write_text(AGENT_AND_SERVER_CONF.replace("<agent_id>12</agent_id>", "")
                    .replace("defined-agent", "server"))
    code, out, err = respond(None, tmp_path / "state", alert("192.0.2.1"), alert(agent="009"),
                             args=("--ossec-conf", str(path), "--route", str(tmp_path / "r")),
                             env={"HIDSCTL_FIREWALL": "none"})
    assert code == 0, err
    # allow-listed by <white_list>; the other runs here (location server) and fails on the
    # bogus backend this test forces, so no firewall is touched
    assert [(r["status"], r.get("reason", "")[:12]) for r in out] == [
        ("skipped", "allow-listed"), ("failed", "exit code 2")]


@pytest.mark.parametrize("text", ["<ossec_config><command>", "<ossec_config><command><executable>x"
                                  "</executable></command></ossec_config>"])
def test_broken_ossec_conf_is_a_config_error(tmp_path, text):
    path = tmp_path / "ossec.conf"
    path.write_text(text)
    with pytest.raises(ConfigError):
        settings.build(settings.RespondOptions(ossec_conf=path))
    code, _, err = respond(None, tmp_path / "state", args=("--ossec-conf", str(path)))
    assert code == 2 and "ossec.conf" in err


def test_bad_repeated_offenders_in_ossec_conf(tmp_path):
    path = tmp_path / "ossec.conf"
    path.write_text("<ossec_config><active-response><repeated_offenders>10,x</repeated_offenders>"
                    "</active-response></ossec_config>")
    with pytest.raises(ConfigError, match="repeated_offenders"):
        ossec.import_respond(path)


def test_missing_ossec_conf_exit_2(tmp_path):
    code, _, err = respond(None, tmp_path / "state", args=("--ossec-conf", str(tmp_path / "none")))
    assert code == 2 and "not found" in err


@pytest.mark.parametrize("offences, expected", [(1, 600), (2, 1800), (3, 3600), (4, 7200), (9, 7200)])
def test_escalation_steps(offences, expected):
    assert engine.escalated(600, offences, (30, 60, 120)) == expected


def test_no_escalation_without_steps_or_timeout():
    assert engine.escalated(600, 5, ()) == 600
    assert engine.escalated(0, 5, (30,)) == 0


@pytest.mark.parametrize("given, expected", [
    ("203.0.113.9", "203.0.113.9"), ("2001:DB8::1", "2001:db8::1"), ("::ffff:192.0.2.5", "192.0.2.5"),
    ("1.2.3.4; rm -rf /", None), ("$(id)", None), ("01.2.3.4", None), ("fe80::1%eth0", None),
    ("0.0.0.0", "0.0.0.0"), ("ff02::1", "ff02::1"), ("x" * 100, None), (None, None), (1234, None),
])
def test_srcip_validation(given, expected):
    assert values.srcip(given) == expected


@pytest.mark.parametrize("given, ok", [
    ("alice", True), ("svc_backup-01", True), ("HOST$", True), ("a.b", True),
    ("-rf", False), (".x", False), ("a b", False), ("a/b", False), ("é", False), ("a" * 33, False),
    ("a\n", False), ("", False), (None, False),
])
def test_user_validation(given, ok):
    assert (values.user(given) is not None) is ok


@pytest.mark.parametrize("address, kind", [
    ("255.255.255.255", "broadcast"), ("224.0.0.1", "multicast"), ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"), ("0.10.0.1", "reserved"),
    ("240.0.0.1", "reserved"), ("::5", "reserved"), ("fec0::1", "reserved"),
    ("169.254.0.1", "link-local"), ("fe80::1", "link-local"),
    ("10.0.0.5", None), ("172.16.0.1", None), ("192.168.0.1", None), ("100.64.0.1", None),
    ("fd12::1", None), ("2001:db8::1", None), ("203.0.113.9", None), ("8.8.8.8", None),
    ("127.0.0.1", None), ("::1", None),  # loopback: the allow-list's, always on it
])
def test_not_a_host(address, kind):
    assert values.not_a_host(address) == kind


def test_uid_min_from_login_defs(tmp_path):
    defs = tmp_path / "login.defs"
    assert accounts.uid_min(defs) == 1000  # missing file
    defs.write_text("#UID_MIN 5\nUID_MAX 60000\n")
    assert accounts.uid_min(defs) == 1000  # commented out
    defs.write_text("UID_MIN  500\nSYS_UID_MIN 100\n")
    assert accounts.uid_min(defs) == 500
    defs.write_text("UID_MIN lots\n")
    assert accounts.uid_min(defs) == 1000


def test_response_matching_is_or_of_level_ids_groups():
    response = settings.Response(command="x", level=10, rules_id=frozenset({"100"}),
                                 rules_group=frozenset({"web"}))
    assert response.matches({"id": "1", "level": 12})
    assert response.matches({"id": "100", "level": 1})
    assert response.matches({"id": 100, "level": 1})
    assert response.matches({"id": "2", "level": 1, "groups": ["web", "x"]})
    assert not response.matches({"id": "1000", "level": 9, "groups": ["webx"]})
    assert not response.matches({"id": "1", "level": "12"})
