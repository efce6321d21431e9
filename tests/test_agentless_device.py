"""``hidsctl agentless`` against a simulated Cisco IOS device (paramiko's server side)."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import paramiko
import pytest

from agentless_sim import Device
from conftest import run_hidsctl
from hidsctl.agentless.expect import Expect
from hidsctl.agentless.failures import CheckFailed
from transport_support import wait_for


@pytest.fixture
def device():
    sim = Device()
    yield sim
    sim.close()


def write_config(tmp_path: Path, device: Device, profile: str = "cisco-ios", **extra) -> Path:
    lines = ["[agentless]", "[[agentless.host]]", 'address = "127.0.0.1"',
             f"port = {device.port}", f'user = "{device.user}"', 'type = "device-config"',
             f'profile = "{profile}"']
    lines += [f"{key.replace('_', '-')} = {json.dumps(value)}" for key, value in extra.items()]
    path = tmp_path / "hidsctl.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def add_host(state: Path, device: Device, enable: str | None = None) -> None:
    secrets = f"{device.password}\n{enable if enable is not None else device.enable}\n"
    result = run_hidsctl("agentless", "add-host", "--enable", "--password-stdin",
                         "--state-dir", str(state), f"{device.user}@127.0.0.1:{device.port}",
                         input=secrets)
    assert result.returncode == 0, result.stderr


def check(config: Path, state: Path, *extra: str) -> tuple[list[dict], str]:
    result = run_hidsctl("agentless", "--once", "--config", str(config), "--state-dir", str(state),
                         *extra, timeout=60)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.decode().splitlines()]
    return records, result.stderr.decode()


def test_changed_line_is_reported_clock_lines_are_not(tmp_path, device):
    state = tmp_path / "state"
    config = write_config(tmp_path, device)
    add_host(state, device)
    first, err = check(config, state, "--accept-new")
    assert first == [], err
    assert "new host key accepted" in err
    assert device.paged == 0  # terminal length 0 was sent

    second, err = check(config, state)  # only the clock lines differ
    assert second == [], err

    device.config_lines[3] = " ip address 192.0.2.99 255.255.255.0"
    third, err = check(config, state)
    assert len(third) == 1, err
    record = third[0]
    assert record["type"] == "log"
    assert record["location"] == "(device-config) admin@127.0.0.1->show running-config"
    assert record["log"].startswith("ossec: agentless: Change detected:\n")
    assert "- ip address 192.0.2.1 255.255.255.0" in record["log"]
    assert "+ ip address 192.0.2.99 255.255.255.0" in record["log"]
    assert "clock" not in record["data"]["diff"] and "Last configuration" not in record["data"]["diff"]
    assert record["agent"]["id"] == "000"


def test_pager_is_answered_when_paging_stays_on(tmp_path, device):
    """A profile without a pager-off command still reads the whole configuration."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    source = Path(__file__).resolve().parent.parent / "hidsctl/agentless/profiles/cisco-ios.toml"
    (profiles / "ios-paged.toml").write_text(
        source.read_text().replace('pager-off = ["terminal length 0"]', "pager-off = []"))
    state = tmp_path / "state"
    config = write_config(tmp_path, device, profile="ios-paged")
    config.write_text(config.read_text().replace(
        "[agentless]\n", f"[agentless]\nprofile-dirs = [{json.dumps(str(profiles))}]\n"))
    add_host(state, device)
    check(config, state, "--accept-new")
    assert device.paged >= 2
    device.config_lines[-3] = " transport input none"
    records, err = check(config, state)
    assert [r["type"] for r in records] == ["log"], err
    diff = records[0]["data"]["diff"]
    assert "+ transport input none" in diff and "More" not in diff and "\b" not in diff


def test_login_prompts_inside_the_shell(tmp_path):
    sim = Device(login_in_shell=True)
    try:
        state = tmp_path / "state"
        config = write_config(tmp_path, sim)
        add_host(state, sim)
        records, err = check(config, state, "--accept-new")
        assert records == [] and "first output of 'show running-config' stored" in err
        sim.password = "changed"
        records, err = check(config, state)
        assert [(r["type"], r["code"]) for r in records] == [("notice", "login_failed")], err
    finally:
        sim.close()


def test_wrong_enable_password_is_a_clear_error(tmp_path, device):
    state = tmp_path / "state"
    config = write_config(tmp_path, device, timeout=5)
    add_host(state, device, enable="wrong")
    records, err = check(config, state, "--accept-new")
    assert len(records) == 1
    notice = records[0]
    assert notice["type"] == "notice" and notice["component"] == "agentless"
    assert notice["code"] == "enable_failed"
    assert "wrong enable password" in notice["message"]
    assert "wrong enable password" in err


def test_changed_host_key_is_refused_and_reported(tmp_path, device):
    state = tmp_path / "state"
    config = write_config(tmp_path, device)
    add_host(state, device)
    check(config, state, "--accept-new")
    device.host_key = paramiko.ECDSAKey.generate()
    shows = device.shows
    records, err = check(config, state, "--accept-new")  # --accept-new never covers a change
    assert [(r["type"], r["code"]) for r in records] == [("notice", "hostkey_changed")]
    assert "CHANGED" in err
    assert device.shows == shows  # no login to an impostor


def test_unknown_host_needs_accept_new(tmp_path, device):
    state = tmp_path / "state"
    config = write_config(tmp_path, device)
    add_host(state, device)
    records, err = check(config, state)
    assert [r["code"] for r in records] == ["hostkey_unknown"]
    assert "--accept-new" in err


def test_device_that_stops_answering_times_out(tmp_path, device):
    state = tmp_path / "state"
    config = write_config(tmp_path, device, timeout=2)
    add_host(state, device)
    device.hang_on_show = True
    records, err = check(config, state, "--accept-new")  # the device would hang for an hour
    assert [r["code"] for r in records] == ["timeout"]
    assert "no prompt after 'show running-config' within 2s" in records[0]["message"]


def test_unreachable_host_is_a_notice(tmp_path, device):
    state = tmp_path / "state"
    port = device.port
    device.close()
    config = write_config(tmp_path, device)
    records, err = check(config, state)
    assert [r["code"] for r in records] == ["unreachable"]
    assert f"admin@127.0.0.1:{port}" in err


def stored_outputs(state: Path) -> int:
    """How many command outputs agentless has stored (it logs the first one, then stores it)."""
    try:
        with sqlite3.connect(f"file:{state / 'agentless.db'}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT count(*) FROM outputs").fetchone()[0]
    except sqlite3.Error:  # not made yet
        return 0


def test_sigterm_ends_the_loop(tmp_path, device):
    state = tmp_path / "state"
    config = write_config(tmp_path, device, interval=3600)
    add_host(state, device)
    proc = subprocess.Popen([sys.executable, "-m", "hidsctl", "agentless", "--accept-new",
                             "--config", str(config), "--state-dir", str(state)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: stored_outputs(state), 30, "the first output stored")
        assert device.shows == 1
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert b"first output" in err


def test_device_that_talks_without_end_is_given_up(device):
    """Output without a prompt is bounded: past the limit the check fails, nothing grows."""
    device.flood_on_show = True
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # the simulator's own key
    client.connect("127.0.0.1", device.port, device.user, device.password,
                   look_for_keys=False, allow_agent=False, timeout=10)
    try:
        channel = client.get_transport().open_session(timeout=10)
        channel.get_pty()
        channel.invoke_shell()
        shell = Expect(channel, max_output=1 << 20)
        shell.expect([re.compile(r"R1>")], 10, "the prompt")
        shell.sendline("enable")
        shell.expect([re.compile(r"Password: ")], 10, "the enable password prompt")
        shell.sendline(device.enable)
        shell.expect([re.compile(r"R1#")], 10, "the privileged prompt")
        shell.sendline("show running-config")
        with pytest.raises(CheckFailed) as failed:
            shell.expect([re.compile(r"R1#")], 60, "the prompt after the configuration")
    finally:
        client.close()
    assert failed.value.code == "unexpected_output"
    assert "over 1 MiB of output without a prompt" in failed.value.message
