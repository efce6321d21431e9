"""``hidsctl agentless`` against a real OpenSSH sshd on loopback: key and password login,
remote file integrity, command output diffs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from agentless_sshd import Sshd
from conftest import root_only, run_hidsctl

pytestmark = [root_only, pytest.mark.skipif(not shutil.which("unshare") or not os.path.exists("/usr/sbin/sshd"),
                                            reason="needs sshd and unshare")]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = Sshd(tmp_path_factory.mktemp("sshd"), password="s3cret-Pw")
    yield server
    server.stop()


def config_file(tmp_path: Path, sshd: Sshd, **host) -> Path:
    lines = ["[agentless]", "[[agentless.host]]", 'address = "127.0.0.1"', f"port = {sshd.port}",
             'user = "root"']
    lines += [f"{key.replace('_', '-')} = {json.dumps(value)}" for key, value in host.items()]
    path = tmp_path / "hidsctl.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def check(config: Path, state: Path, *extra: str) -> tuple[list[dict], str]:
    result = run_hidsctl("agentless", "--once", "--config", str(config), "--state-dir", str(state),
                         *extra)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.decode().splitlines()], result.stderr.decode()


def test_integrity_with_key_login(tmp_path, sshd):
    remote = tmp_path / "remote"
    (remote / "sub").mkdir(parents=True)
    (remote / "kept.conf").write_text("unchanged\n")
    (remote / "changed.conf").write_text("PermitRootLogin no\n")
    (remote / "removed.conf").write_text("bye\n")
    (remote / "sub" / "mode.sh").write_text("#!/bin/sh\n")
    (remote / "sub" / "a name with spaces\nand a newline").write_text("odd\n")
    state = tmp_path / "state"
    config = config_file(tmp_path, sshd, type="linux-integrity", directories=[str(remote)],
                         identity_file=str(sshd.client_key))

    records, err = check(config, state, "--accept-new")
    assert records == [], err
    assert "baseline of 5 files stored" in err

    (remote / "changed.conf").write_text("PermitRootLogin yes\n")
    (remote / "removed.conf").unlink()
    (remote / "added.conf").write_text("new\n")
    (remote / "sub" / "mode.sh").chmod(0o4755)
    records, err = check(config, state)
    by_path = {r["path"]: r for r in records}
    assert sorted(by_path) == sorted(str(remote / n) for n in
                                     ("added.conf", "changed.conf", "removed.conf", "sub/mode.sh")), err
    for record in records:
        assert record["type"] == "syscheck"
        assert record["location"] == "(linux-integrity) root@127.0.0.1->syscheck"
        assert record["agent"]["id"] == "000"
    changed = by_path[str(remote / "changed.conf")]
    assert changed["event"] == "modified" and "sha256" in changed["changed"]
    assert changed["old"]["sha256"] != changed["new"]["sha256"]
    assert by_path[str(remote / "added.conf")]["event"] == "added"
    assert by_path[str(remote / "added.conf")]["new"]["uname"] == "root"
    assert by_path[str(remote / "removed.conf")]["event"] == "deleted"
    mode = by_path[str(remote / "sub/mode.sh")]
    assert mode["changed"] == ["mode"] and mode["new"]["mode"] == "104755"

    records, err = check(config, state)
    assert records == [], err  # the baseline moved on


def test_diff_with_password_login(tmp_path, sshd):
    watched = tmp_path / "watched.txt"
    watched.write_text("one\ntwo\nthree\n")
    state = tmp_path / "state"
    result = run_hidsctl("agentless", "add-host", "--password-stdin", "--state-dir", str(state),
                         f"root@127.0.0.1:{sshd.port}", input=sshd.password + "\n")
    assert result.returncode == 0, result.stderr
    assert (state / "agentless-credentials.json").stat().st_mode & 0o777 == 0o600
    command = f"cat {watched}"
    config = config_file(tmp_path, sshd, type="ssh_generic_diff", commands=[command, "echo steady"])

    records, err = check(config, state, "--accept-new")
    assert records == [], err
    watched.write_text("one\n2\nthree\n")
    records, err = check(config, state)
    assert len(records) == 1, err
    record = records[0]
    assert record["type"] == "log"
    assert record["location"] == f"(ssh_generic_diff) root@127.0.0.1->{command}"
    assert record["log"] == "ossec: agentless: Change detected:\n-two\n+2"
    assert "-two\n+2\n" in record["data"]["diff"]
    records, err = check(config, state)
    assert records == [], err


def test_wrong_password_is_login_failed(tmp_path, sshd):
    state = tmp_path / "state"
    run_hidsctl("agentless", "add-host", "--password-stdin", "--state-dir", str(state),
                f"root@127.0.0.1:{sshd.port}", input="not-the-password\n", check=True)
    config = config_file(tmp_path, sshd, type="diff", commands=["true"])
    records, err = check(config, state, "--accept-new")
    assert [(r["type"], r["code"]) for r in records] == [("notice", "login_failed")]
    assert "authentication failed (password)" in err


def test_no_credential_says_what_to_do(tmp_path, sshd):
    state = tmp_path / "state"
    config = config_file(tmp_path, sshd, type="diff", commands=["true"])
    records, err = check(config, state, "--accept-new")
    assert [r["code"] for r in records] == ["login_failed"]
    assert "hidsctl agentless add-host root@127.0.0.1" in err
