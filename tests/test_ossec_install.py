"""An OSSEC install loads as it is: ``--ossec-conf <root>/etc/ossec.conf`` finds rules under
``<root>/rules`` and decoders under ``<root>/etc``, ``--rules`` adds to that base as OSSEC's
local_rules.xml does, a file named twice loads once, and ``config import-ossec`` gives a
config that ``config check`` loads and ``analyze -c`` runs. The install is a copy of OSSEC's
fixture laid out as ``/var/ossec`` in a temp dir."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest

from conftest import invoke_hidsctl, run_hidsctl
from ossec_fixture import OSSEC, OSSEC_CONF, needs_ossec

pytestmark = needs_ossec

FAILED = ("Nov 25 13:50:47 web1 sshd[811]: Failed password for root from 203.0.113.9 "
          "port 52144 ssh2")
LOCAL_RULES = """<group name="local,">
  <rule id="100100" level="10">
    <if_sid>5716</if_sid>
    <user>root</user>
    <description>root password guessed at</description>
  </rule>
</group>
"""


def install(tmp_path: Path, conf_text: str | None = None) -> Path:
    """OSSEC's fixture as an installed /var/ossec; returns its etc/ossec.conf."""
    root = tmp_path / "var" / "ossec"
    shutil.copytree(OSSEC / "rules", root / "rules")
    (root / "etc").mkdir(parents=True)
    shutil.copy(OSSEC / "decoder.xml", root / "etc" / "decoder.xml")
    conf = root / "etc" / "ossec.conf"
    conf.write_text(conf_text if conf_text is not None else OSSEC_CONF.read_text())
    return conf


def log(line: str) -> str:
    return json.dumps({"type": "log", "timestamp": "2026-11-25T13:50:47Z",
                       "location": "/var/log/auth.log", "log": line}) + "\n"


def rule_ids(stdout: bytes) -> list[str]:
    return [json.loads(x)["rule"]["id"] for x in stdout.splitlines()]


def test_analyze_and_logtest_load_an_installed_ossec(tmp_path):
    conf = install(tmp_path)
    result = run_hidsctl("analyze", "--ossec-conf", str(conf), input=log(FAILED))
    assert result.returncode == 0, result.stderr.decode()
    assert rule_ids(result.stdout) == ["5716"]
    result = invoke_hidsctl("logtest", "--ossec-conf", str(conf), "-q", "-U", "5716:5:sshd",
                            input=FAILED + "\n")
    assert result.returncode == 0, result.stderr.decode()


def test_a_source_checkout_loads_from_etc_rules(tmp_path):
    checkout = tmp_path / "ossec-hids"
    shutil.copytree(OSSEC / "rules", checkout / "etc" / "rules")
    shutil.copy(OSSEC / "decoder.xml", checkout / "etc" / "decoder.xml")
    shutil.copy(OSSEC_CONF, checkout / "etc" / "ossec.conf")
    result = invoke_hidsctl("logtest", "--ossec-conf", str(checkout / "etc" / "ossec.conf"),
                            "-q", "-U", "5716:5:sshd", input=FAILED + "\n")
    assert result.returncode == 0, result.stderr.decode()


def test_a_missing_rule_file_names_where_it_was_looked_for(tmp_path):
    conf = install(tmp_path)
    (conf.parent.parent / "rules" / "pam_rules.xml").unlink()
    result = invoke_hidsctl("analyze", "--ossec-conf", str(conf), input="")
    assert result.returncode == 2
    err = result.stderr.decode()
    assert "'pam_rules.xml' not found" in err
    assert str(conf.parent.parent / "rules" / "pam_rules.xml") in err


def test_rules_add_to_the_conf_ruleset_like_local_rules(tmp_path):
    conf = install(tmp_path)
    local = tmp_path / "my_rules.xml"
    local.write_text(LOCAL_RULES)
    result = run_hidsctl("analyze", "--ossec-conf", str(conf), "--rules", str(local),
                         input=log(FAILED))
    assert result.returncode == 0, result.stderr.decode()
    assert rule_ids(result.stdout) == ["100100"]


def test_rules_add_to_the_bundled_ruleset_and_no_default_rules_drops_it(tmp_path):
    local = tmp_path / "local_rules.xml"
    local.write_text(LOCAL_RULES)
    result = invoke_hidsctl("logtest", "--rules", str(local), "-q", "-U", "100100:10:sshd",
                            input=FAILED + "\n")
    assert result.returncode == 0, result.stderr.decode()
    alone = invoke_hidsctl("logtest", "--rules", str(local), "--no-default-rules",
                           input=FAILED + "\n")
    assert alone.returncode == 2
    assert b"if_sid 5716 names no rule loaded before it" in alone.stderr
    both = run_hidsctl("analyze", "--ossec-conf", str(OSSEC_CONF), "--no-default-rules",
                       input="")
    assert both.returncode == 2 and b"--no-default-rules" in both.stderr


def test_a_file_named_twice_loads_once(tmp_path):
    conf = install(tmp_path)
    root = conf.parent.parent
    # the conf, its rules dir and its decoder file together; local_rules.xml is in the
    # conf's own list and named again
    result = invoke_hidsctl("rules", "check", "--ossec-conf", str(conf),
                            "--rules", str(root / "rules"),
                            "--rules", str(root / "rules" / "local_rules.xml"),
                            "--decoders", str(root / "etc" / "decoder.xml"))
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert b"duplicate" not in result.stdout
    # the same file twice, once through a symlink
    local = tmp_path / "local.xml"
    local.write_text(LOCAL_RULES)
    (tmp_path / "alias.xml").symlink_to(local)
    result = invoke_hidsctl("logtest", "--rules", str(local), "--rules", str(tmp_path / "alias.xml"),
                            "-q", "-U", "100100:10:sshd", input=FAILED + "\n")
    assert result.returncode == 0, result.stderr.decode()


def test_decoder_rule_and_list_names_resolve_from_the_install_root(tmp_path):
    """<decoder>, <decoder_dir>, <rule_dir> and <list> named as OSSEC 4.x names them."""
    conf = install(tmp_path, """<ossec_config>
  <rules>
    <decoder>etc/decoder.xml</decoder>
    <decoder_dir>etc/decoders</decoder_dir>
    <include>rules_config.xml</include>
    <include>syslog_rules.xml</include>
    <include>sshd_rules.xml</include>
    <rule_dir>etc/rules</rule_dir>
    <list>etc/lists/blocked-hosts</list>
  </rules>
</ossec_config>
""")
    etc = conf.parent
    (etc / "decoders").mkdir()
    (etc / "decoders" / "shop.xml").write_text(
        '<decoder name="shopd">\n  <program_name>^shopd</program_name>\n</decoder>\n'
        '<decoder name="shopd-refund">\n  <parent>shopd</parent>\n'
        '  <regex>^refund by (\\S+)</regex>\n  <order>user</order>\n</decoder>\n')
    (etc / "rules").mkdir()
    (etc / "rules" / "local.xml").write_text("""<group name="local,">
  <rule id="100200" level="8">
    <if_sid>5716</if_sid>
    <list field="srcip" lookup="address_match_key">etc/lists/blocked-hosts</list>
    <description>failed login from a blocked host</description>
  </rule>
  <rule id="100201" level="6">
    <decoded_as>shopd</decoded_as>
    <description>refund</description>
  </rule>
</group>
""")
    (etc / "lists").mkdir()
    (etc / "lists" / "blocked-hosts").write_text("203.0.113.9:bad\n")
    refund = "Nov 25 13:50:48 web1 shopd[12]: refund by alice"
    result = run_hidsctl("analyze", "--ossec-conf", str(conf),
                         input=log(FAILED) + log(refund))
    assert result.returncode == 0, result.stderr.decode()
    assert rule_ids(result.stdout) == ["100200", "100201"]


def test_import_check_and_analyze_with_the_imported_config(tmp_path):
    conf = install(tmp_path)
    toml = tmp_path / "hidsctl.toml"
    result = invoke_hidsctl("config", "import-ossec", str(conf), "-o", str(toml))
    assert result.returncode == 0, result.stderr.decode()
    assert b"does not load" not in result.stderr
    imported = tomllib.loads(toml.read_text())
    assert imported["analyze"]["ossec-conf"] == str(conf.resolve())
    assert imported["logtest"]["ossec-conf"] == str(conf.resolve())
    check = invoke_hidsctl("config", "check", str(toml))
    assert check.returncode == 0, check.stderr.decode()
    result = run_hidsctl("analyze", "-c", str(toml), input=log(FAILED))
    assert result.returncode == 0, result.stderr.decode()
    assert rule_ids(result.stdout) == ["5716"]

    # a rule file gone: the import warns, the check fails as analyze would, naming it
    (conf.parent.parent / "rules" / "sshd_rules.xml").unlink()
    result = invoke_hidsctl("config", "import-ossec", str(conf), "-o", str(toml))
    assert result.returncode == 0
    assert b"ruleset does not load" in result.stderr and b"sshd_rules.xml" in result.stderr
    check = invoke_hidsctl("config", "check", str(toml))
    assert check.returncode == 2
    assert b"sshd_rules.xml" in check.stderr
    assert invoke_hidsctl("analyze", "-c", str(toml), input="").returncode == 2


def test_config_check_reports_a_broken_rule_file(tmp_path):
    bad = tmp_path / "bad_rules.xml"
    bad.write_text('<group name="x"><rule id="100300" level="3"><if_sid>99999</if_sid>'
                   '</rule></group>')
    toml = tmp_path / "hidsctl.toml"
    toml.write_text(f'[analyze]\nrules = ["{bad}"]\n')
    check = invoke_hidsctl("config", "check", str(toml))
    assert check.returncode == 2
    assert b"bad_rules.xml:1" in check.stderr and b"if_sid 99999" in check.stderr


@pytest.mark.parametrize("conf,root", [
    ("/var/ossec/etc/ossec.conf", "/var/ossec"),
    ("/src/ossec-hids/etc/ossec.conf", "/src/ossec-hids"),
    ("/srv/ruleset/ossec-server.conf", "/srv/ruleset"),
])
def test_the_install_root_comes_from_the_conf_location(conf, root):
    from hidsctl.analysis.ruleset import OssecLayout

    layout = OssecLayout.of(Path(conf))
    assert layout.root == Path(root)
    bare = layout.candidates("sshd_rules.xml", bare_under="rules")
    assert bare[0] == Path(root) / "rules" / "sshd_rules.xml"
    assert Path(root) / "etc" / "rules" / "sshd_rules.xml" in bare  # a source checkout
    assert layout.candidates("etc/decoder.xml")[0] == Path(root) / "etc" / "decoder.xml"
    # inside OSSEC's chroot, "/rules/x.xml" is <root>/rules/x.xml
    assert Path(root) / "rules" / "x.xml" in layout.candidates("/rules/x.xml")
