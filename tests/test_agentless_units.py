"""Agentless pieces without a network: output parsers, diffs, profiles, config, stores."""

from __future__ import annotations

import json
import re

import pytest

from conftest import invoke_hidsctl
from hidsctl.agentless import device, diff, integrity, profiles, settings
from hidsctl.agentless.credentials import Credential, CredentialStore, parse_target
from hidsctl.errors import ConfigError, StateError, UsageError


def test_gnu_listing_keeps_any_file_name():
    output = (b"12\t644\t0\t0\troot\troot\t1790000000.123\t77\t/etc/a b\0"
              b"3\t4755\t1000\t1000\tbob\tbob\t1790000001.9\t78\t/etc/x\ny\0")
    files = integrity.parse_listing(output, "linux")
    assert files["/etc/a b"] == {"size": 12, "mode": "100644", "uid": "0", "gid": "0",
                                 "uname": "root", "gname": "root", "mtime": 1790000000, "inode": 77}
    assert files["/etc/x\ny"]["mode"] == "104755"


def test_bsd_listing_has_the_whole_mode():
    output = b"5\t100600\t0\t0\troot\twheel\t1790000000\t9\t/etc/master.passwd\ngarbage\n"
    files = integrity.parse_listing(output, "bsd")
    assert list(files) == ["/etc/master.passwd"]
    assert files["/etc/master.passwd"]["mode"] == "100600"
    assert files["/etc/master.passwd"]["gname"] == "wheel"


def test_hash_outputs_gnu_escaped_and_bsd():
    gnu = (b"sha256 gnu\n" + b"ab" * 32 + b"  /etc/plain\n"
           b"\\" + b"cd" * 32 + b"  /etc/new\\nline\\\\x\n")
    algorithm, hashes = integrity.parse_hashes(gnu)
    assert algorithm == "sha256"
    assert hashes == {"/etc/plain": "ab" * 32, "/etc/new\nline\\x": "cd" * 32}
    bsd = b"md5 bsd\n" + b"ef" * 16 + b" /etc/rc.conf\n"
    assert integrity.parse_hashes(bsd) == ("md5", {"/etc/rc.conf": "ef" * 16})
    assert integrity.parse_hashes(b"none none\n") == (None, {})


def test_hash_command_falls_back_in_order():
    command = integrity.hash_command("linux", ["/etc", "/it's"])
    assert command.index("sha256sum") < command.index("sha1sum") < command.index("md5sum")
    assert "'/it'\"'\"'s'" in command


def test_compare_reports_only_within_the_checked_directories():
    old = {"/etc/a": {"size": 1, "sha256": "x"}, "/etc/gone": {"size": 1},
           "/usr/other": {"size": 1}}
    new = {"/etc/a": {"size": 2, "sha256": "y"}, "/etc/new": {"size": 1}}
    changes = integrity.compare(old, new, ["/etc"])
    assert [(c.event, c.path, c.changed) for c in changes] == [
        ("modified", "/etc/a", ["size", "sha256"]), ("added", "/etc/new", []),
        ("deleted", "/etc/gone", [])]


def test_alert_text_is_ossec_wording_and_bounded():
    old = "".join(f"line {n}\n" for n in range(40))
    new = "".join(f"line {n}!\n" for n in range(40))
    text = diff.alert_text(diff.unified(old, new, "show run"))
    lines = text.split("\n")
    assert lines[0] == "ossec: agentless: Change detected:"
    assert len(lines) == 1 + diff.MAX_ALERT_LINES + 1
    assert lines[-1].startswith("More changes..")


def test_device_output_is_cleaned_of_echo_pager_and_escapes():
    raw = "show run\r\nhostname R1\r\n\x08\x08\x08\x08   \x08\x08\x08\x08interface X\r\n\x1b[7mend\x1b[m\r\n"
    assert device.clean(raw, "show run") == "hostname R1\ninterface X\nend\n"


def test_bundled_profiles_recognise_their_prompts():
    loaded = profiles.load_all()
    ios, asa = loaded["cisco-ios"], loaded["cisco-asa"]
    assert ios.user_prompt.search("\r\nUser Access Verification\r\n\r\nrouter-1>").group("name") == "router-1"
    assert ios.privileged_prompt.search("x\r\nR1(config-if)#")
    assert not ios.privileged_prompt.search("banner motd #\r\nmore text")
    user, privileged = ios.prompts_for("R1")
    assert privileged.search("\r\nR1#") and not privileged.search("\r\nR2#")
    assert asa.more.search("<--- More --->")
    assert ios.is_volatile("ntp clock-period 17208655") and not ios.is_volatile("ntp server 192.0.2.1")
    assert asa.is_volatile("Cryptochecksum:0a1b2c")
    assert loaded["generic"].user_prompt.search("\r\nadmin@switch$ ")


def test_bad_profile_names_the_file_and_key(tmp_path):
    (tmp_path / "broken.toml").write_text("more = '(unclosed'\n")
    with pytest.raises(ConfigError, match=r"broken\.toml: more: bad regular expression"):
        profiles.load_all([tmp_path])
    (tmp_path / "broken.toml").write_text("moar = 'x'\n")
    with pytest.raises(ConfigError, match="unknown key 'moar'"):
        profiles.load_all([tmp_path])


def write(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_host_tables_are_checked(tmp_path):
    good = write(tmp_path, """
[agentless]
interval = 600
[[agentless.host]]
address = "10.0.0.1"
user = "root"
type = "ssh_integrity_check_linux"
directories = ["/etc/", "/usr/bin"]
[[agentless.host]]
address = "10.0.0.2"
user = "admin"
type = "ssh_pixconfig_diff"
identity-file = "~/.ssh/id"
interval = 60
""")
    loaded, hosts = settings.load(good)
    assert hosts[0].directories == ("/etc", "/usr/bin") and hosts[0].interval == 600
    assert hosts[0].location("syscheck") == "(ssh_integrity_check_linux) root@10.0.0.1->syscheck"
    assert hosts[1].profile == "cisco-asa" and hosts[1].interval == 60
    assert not hosts[1].identity_file.startswith("~")

    cases = {
        'type = "telnet"': "type 'telnet' is not one of",
        'type = "linux-integrity"': "needs directories",
        'type = "diff"\ncommands = "ls"': "commands: expected a list",
        'type = "diff"\ncommands = ["ls"]\nprofile = "cisco-ios"': "profile is for device types",
        'type = "diff"\ncommands = ["ls"]\nport = 70000': "port 70000 is out of range",
        'type = "diff"\ncommands = ["ls"]\npasword = "x"': "unknown key 'pasword'",
    }
    for body, message in cases.items():
        path = write(tmp_path, f'[[agentless.host]]\naddress = "h"\nuser = "u"\n{body}\n')
        with pytest.raises(ConfigError, match=re.escape(message)) as info:
            settings.load(path)
        assert "[agentless.host #1]" in str(info.value)


def test_unknown_profile_is_a_config_error_before_any_connection(tmp_path):
    path = write(tmp_path, '[[agentless.host]]\naddress = "192.0.2.1"\nuser = "u"\n'
                           'type = "device-config"\nprofile = "juniper"\n')
    result = invoke_hidsctl("agentless", "--once", "--config", str(path), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 2
    assert b"unknown profile 'juniper'" in result.stderr


def test_targets():
    assert parse_target("root@10.0.0.1") == ("root", "10.0.0.1", None)
    assert parse_target("admin@sw1:2222") == ("admin", "sw1", 2222)
    assert parse_target("a@b@host") == ("a@b", "host", None)
    assert parse_target("root@[2001:db8::1]") == ("root", "2001:db8::1", None)
    for bad in ("host", "@host", "user@", "u@h:99999"):
        with pytest.raises(UsageError):
            parse_target(bad)


def test_credential_store_refuses_a_readable_file(tmp_path):
    store = CredentialStore(tmp_path)
    store.add("root@h", Credential("pw", None))
    assert store.lookup("root", "h", 22) == Credential("pw", None)
    assert store.lookup("root", "h", 2222) == Credential("pw", None)  # port-less entry fits all
    store.path.chmod(0o644)
    with pytest.raises(StateError, match="readable by others"):
        store.load()


def test_add_list_remove_from_the_command_line(tmp_path):
    state = tmp_path / "state"
    config = write(tmp_path, '[[agentless.host]]\naddress = "sw1"\nuser = "admin"\n'
                             'type = "device-config"\n')
    result = invoke_hidsctl("agentless", "add-host", "--enable", "--password-stdin", "--state-dir",
                            str(state), "--config", str(config), "admin@sw1", input="pw\nen\n")
    assert result.returncode == 0, result.stderr
    assert b"warning" not in result.stderr
    result = invoke_hidsctl("agentless", "add-host", "--password-stdin", "--state-dir", str(state),
                            "--config", str(config), "root@elsewhere", input="pw2\n")
    assert b"not among the [[agentless.host]] tables" in result.stderr
    stored = json.loads((state / "agentless-credentials.json").read_text())
    assert stored == {"admin@sw1": {"password": "pw", "enable_password": "en"},
                      "root@elsewhere": {"password": "pw2"}}

    listing = invoke_hidsctl("agentless", "list", "--json", "--config", str(config), "--state-dir", str(state))
    rows = json.loads(listing.stdout)
    assert rows == [
        {"host": "admin@sw1", "check": "device-config", "interval": 3600.0, "password": True,
         "enable": True, "host_key": None},
        {"host": "root@elsewhere", "check": None, "interval": None, "password": True,
         "enable": False, "host_key": None}]
    assert b"pw" not in listing.stdout

    assert invoke_hidsctl("agentless", "remove", "--state-dir", str(state), "root@elsewhere").returncode == 0
    again = invoke_hidsctl("agentless", "remove", "--state-dir", str(state), "root@elsewhere")
    assert again.returncode == 1 and b"nothing stored for root@elsewhere" in again.stderr
    assert list(json.loads((state / "agentless-credentials.json").read_text())) == ["admin@sw1"]


def test_password_stdin_needs_the_enable_line(tmp_path):
    result = invoke_hidsctl("agentless", "add-host", "--enable", "--password-stdin", "--state-dir",
                            str(tmp_path), "admin@sw1", input="pw\n")
    assert result.returncode == 2 and b"second line" in result.stderr


def test_options_of_the_checks_are_refused_with_a_subcommand(tmp_path):
    """`agentless --once list` would list and never check: say so instead of ignoring it."""
    config = write(tmp_path, '[[agentless.host]]\naddress = "sw1"\nuser = "admin"\n'
                             'type = "device-config"\n')
    result = invoke_hidsctl("agentless", "--once", "--concurrency", "2", "list", "--state-dir",
                            str(tmp_path / "s"), "--config", str(config))
    assert result.returncode == 2
    assert b"--once, --concurrency: not an option of agentless list" in result.stderr
    result = invoke_hidsctl("agentless", "--config", str(config), "remove", "--state-dir",
                            str(tmp_path / "s"), "admin@sw1")
    assert result.returncode == 2 and b"--config: not an option of agentless remove" in result.stderr
    # the config given before the subcommand is the one list reads
    listing = invoke_hidsctl("agentless", "--config", str(config), "list", "--json", "--state-dir",
                             str(tmp_path / "s"))
    assert listing.returncode == 0, listing.stderr
    assert [row["host"] for row in json.loads(listing.stdout)] == ["admin@sw1"]
