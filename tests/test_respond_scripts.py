"""The bundled scripts' own checks, and host-deny / disable-account on temporary files
(never the host's /etc/hosts.deny or users)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import root_only
from hidsctl.resources import scripts_dir

SCRIPTS = ["firewall-drop", "host-deny", "route-null", "disable-account"]


def script(name: str, *args: str, env: dict | None = None, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([str(scripts_dir() / name), *args], input=stdin, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=30)


@pytest.mark.parametrize("name", SCRIPTS)
@pytest.mark.parametrize("value", ["1.2.3.4; rm -rf /", "$(id)", "a\nb", "x" * 300, "fe80::1%$(id)", "-"])
def test_scripts_validate_their_input_again(tmp_path, name, value):
    args = ["add", value, "-"] if name == "disable-account" else ["add", "-", value]
    done = script(name, *args, env={"HIDSCTL_HOSTS_DENY": str(tmp_path / "deny"),
                                    "HIDSCTL_ACCOUNT_ROOT": str(tmp_path)})
    assert done.returncode == 2, done
    assert "invalid" in done.stderr
    assert not (tmp_path / "deny").exists()


@pytest.mark.parametrize("name", ["firewall-drop", "host-deny", "route-null"])
@pytest.mark.parametrize("value", ["255.255.255.255", "224.0.0.1", "0.0.0.0", "::", "ff02::1",
                                   "169.254.0.1", "fe80::1", "240.0.0.1", "127.0.0.1"])
def test_scripts_refuse_addresses_that_name_no_host(tmp_path, name, value):
    done = script(name, "add", "-", value, env={"HIDSCTL_HOSTS_DENY": str(tmp_path / "deny")})
    assert done.returncode == 2, done
    assert "not a host address" in done.stderr
    assert not (tmp_path / "deny").exists()


def test_disable_account_refuses_system_accounts(tmp_path):
    root = passwd_root(tmp_path)
    with open(root / "etc" / "passwd", "a") as handle:
        handle.write("daemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n")
    (root / "etc" / "login.defs").write_text("UID_MIN 2000\n")
    cases = [("daemon", {}, 2000), ("mallory", {}, 2000), ("daemon", {"HIDSCTL_UID_MIN": "1000"}, 1000),
             ("mallory", {"HIDSCTL_UID_MIN": "1600", "HIDSCTL_SYSTEM_USERS": "daemon,bob"}, 1600)]
    for user, env, limit in cases:
        done = script("disable-account", "add", user, "-", env={"HIDSCTL_ACCOUNT_ROOT": str(root), **env})
        assert done.returncode == 1, done
        assert f"system account (uid {1 if user == 'daemon' else 1500} below UID_MIN {limit})" in done.stderr
    assert "mallory:$6$salt$hash:" in (root / "etc" / "shadow").read_text()


@pytest.mark.parametrize("name", SCRIPTS)
def test_scripts_refuse_unknown_actions(name):
    done = script(name, "frobnicate", "bob", "192.0.2.1")
    assert done.returncode == 2 and "unknown action" in done.stderr


@pytest.mark.parametrize("name", ["firewall-drop", "route-null", "disable-account"])
def test_missing_tool_is_a_clear_error(tmp_path, name):
    python = Path(os.path.realpath(subprocess.check_output(["python3", "-c", "import sys; print(sys.executable)"], text=True).strip()))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python3").symlink_to(python)
    # PATH without the tools; arlib also looks in the sbin directories, so hide those too
    args = ["add", "bob", "-"] if name == "disable-account" else ["add", "-", "192.0.2.1"]
    code = ("import sys, runpy, arlib\narlib.SBIN = ()\nsys.argv = [%r] + %r\n"
            "runpy.run_path(%r, run_name='__main__')" % (name, args, str(scripts_dir() / name)))
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("bob:x:1500:1500::/home/bob:/bin/sh\n")
    done = subprocess.run([str(bindir / "python3"), "-c", code], capture_output=True, text=True,
                          env={"PATH": str(bindir), "PYTHONPATH": str(scripts_dir()),
                               "HIDSCTL_FIREWALL": "nft", "HIDSCTL_ACCOUNT_ROOT": str(tmp_path)})
    assert done.returncode == 1, done
    assert "not found; install" in done.stderr


def test_scripts_read_wazuh_json_from_stdin(tmp_path):
    deny = tmp_path / "hosts.deny"
    message = {"version": 1, "command": "add",
               "parameters": {"alert": {"data": {"srcip": "2001:db8::4"}}, "extra_args": []}}
    done = script("host-deny", env={"HIDSCTL_HOSTS_DENY": str(deny)}, stdin=json.dumps(message))
    assert done.returncode == 0, done.stderr
    assert deny.read_text() == "ALL: [2001:db8::4]\n"


def test_host_deny_is_idempotent_and_keeps_other_lines(tmp_path):
    deny = tmp_path / "hosts.deny"
    deny.write_text("# local policy\nsshd: 192.0.2.200")  # no final newline
    env = {"HIDSCTL_HOSTS_DENY": str(deny)}
    for action, address in [("add", "192.0.2.1"), ("add", "192.0.2.1"), ("add", "2001:db8::1"),
                            ("delete", "192.0.2.1"), ("delete", "192.0.2.1")]:
        assert script("host-deny", action, "-", address, env=env).returncode == 0
    assert deny.read_text() == "# local policy\nsshd: 192.0.2.200\nALL: [2001:db8::1]\n"


def passwd_root(tmp_path: Path) -> Path:
    """A throwaway root with its own etc/passwd and etc/shadow: usermod --root changes
    these, never the host's accounts."""
    etc = tmp_path / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nmallory:x:1500:1500::/home/m:/bin/sh\n")
    (etc / "shadow").write_text("root:*:19000:0:99999:7:::\nmallory:$6$salt$hash:19000:0:99999:7:::\n")
    (etc / "group").write_text("root:x:0:\nmallory:x:1500:\n")
    (etc / "gshadow").write_text("root:*::\nmallory:!::\n")
    return tmp_path


@root_only
def test_disable_account_locks_and_unlocks_idempotently(tmp_path):
    root = passwd_root(tmp_path)
    env = {"HIDSCTL_ACCOUNT_ROOT": str(root)}
    shadow = root / "etc" / "shadow"
    for _ in range(2):
        done = script("disable-account", "add", "mallory", "-", env=env)
        assert done.returncode == 0, done.stderr
    assert "mallory:!$6$salt$hash:" in shadow.read_text()
    for _ in range(2):
        assert script("disable-account", "delete", "mallory", "-", env=env).returncode == 0
    assert "mallory:$6$salt$hash:" in shadow.read_text()


@root_only
def test_disable_account_refuses_uid_0_and_unknown_users(tmp_path):
    root = passwd_root(tmp_path)
    env = {"HIDSCTL_ACCOUNT_ROOT": str(root)}
    refused = script("disable-account", "add", "root", "-", env=env)
    assert refused.returncode == 1 and "uid 0" in refused.stderr
    unknown = script("disable-account", "add", "nobody2", "-", env=env)
    assert unknown.returncode == 1 and "no user" in unknown.stderr
    assert "root:*:" in (root / "etc" / "shadow").read_text()


@root_only
def test_respond_disables_an_account_end_to_end(tmp_path, monkeypatch):
    from respond_helpers import alert, config, hastened, respond_at

    root = passwd_root(tmp_path / "root")
    cfg = config(tmp_path / "hidsctl.toml", """
[[respond.response]]
command = "disable-account"
rules_id = ["5712"]
timeout = 1
""")
    monkeypatch.setenv("HIDSCTL_ACCOUNT_ROOT", str(root))
    code, out = respond_at(hastened(), cfg, tmp_path / "state", alert(None, dstuser="mallory"),
                           wait=True)
    assert code == 0, out
    assert [(r["status"], r["user"]) for r in out] == [("ran", "mallory"), ("undone", "mallory")]
    assert "mallory:$6$salt$hash:" in (root / "etc" / "shadow").read_text()
