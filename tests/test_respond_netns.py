"""The bundled scripts for real, inside network namespaces the tests create: an alert
about an attacker's address blocks that address (and only it) until the timeout, also
across a SIGKILL of ``respond``. Nothing outside the namespaces is touched."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import root_only
from respond_helpers import alert, config

pytestmark = [root_only, pytest.mark.root]

PORT = 8022
SERVER_ON_ATTACKER_LINK = "198.18.1.1"   # RFC 2544 benchmark range, inside namespaces only
ATTACKER = "198.18.1.2"
SERVER_ON_OTHER_LINK = "198.18.2.1"
OTHER = "198.18.2.2"
LISTENER = f"""
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", {PORT})); s.listen(16); print("ready", flush=True)
while True:
    c, _ = s.accept(); c.close()
"""


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


class Lab:
    """Three namespaces: the server, an attacker and another client, each client on its
    own veth link to the server."""

    def __init__(self) -> None:
        tag = f"{os.getpid() % 100000}"
        self.server, self.attacker, self.other = (f"hr{n}{tag}" for n in ("s", "a", "o"))
        for ns in (self.server, self.attacker, self.other):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        for client, here, there, veth in ((self.attacker, SERVER_ON_ATTACKER_LINK, ATTACKER, "A"),
                                          (self.other, SERVER_ON_OTHER_LINK, OTHER, "O")):
            a, b = f"hv{veth}s{tag}", f"hv{veth}c{tag}"
            sh("ip", "link", "add", a, "netns", self.server, "type", "veth", "peer", "name", b,
               "netns", client)
            sh("ip", "-n", self.server, "addr", "add", f"{here}/24", "dev", a)
            sh("ip", "-n", client, "addr", "add", f"{there}/24", "dev", b)
            sh("ip", "-n", self.server, "link", "set", a, "up")
            sh("ip", "-n", client, "link", "set", b, "up")
        self.listener = subprocess.Popen(["ip", "netns", "exec", self.server, sys.executable, "-c", LISTENER],
                                         stdout=subprocess.PIPE)
        assert self.listener.stdout.readline().strip() == b"ready"

    def connects(self, client: str, address: str) -> bool:
        probe = (f"import socket,sys\ntry:\n socket.create_connection(('{address}', {PORT}), timeout=1).close()\n"
                 f"except OSError:\n sys.exit(1)")
        return subprocess.run(["ip", "netns", "exec", client, sys.executable, "-c", probe]).returncode == 0

    def attacker_connects(self) -> bool:
        return self.connects(self.attacker, SERVER_ON_ATTACKER_LINK)

    def other_connects(self) -> bool:
        return self.connects(self.other, SERVER_ON_OTHER_LINK)

    def respond(self, cfg: Path, state: Path, *extra: str, env: dict | None = None) -> subprocess.Popen:
        return subprocess.Popen(
            ["ip", "netns", "exec", self.server, sys.executable, "-m", "hidsctl", "respond",
             "--config", str(cfg), "--state-dir", str(state), *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, **(env or {})})

    def close(self) -> None:
        self.listener.kill()
        self.listener.wait()
        for ns in (self.server, self.attacker, self.other):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture
def lab():
    made = Lab()
    try:
        yield made
    finally:
        made.close()


def read_result(process: subprocess.Popen, timeout: float = 30) -> dict:
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, "respond wrote nothing in time"
    line = process.stdout.readline()
    assert line, "respond exited early"
    return json.loads(line)


def brute_force_config(tmp_path: Path, command: str, timeout: int) -> Path:
    return config(tmp_path / "hidsctl.toml", f"""
[[respond.response]]
command = "{command}"
location = "local"
rules_id = ["5712"]
timeout = {timeout}
""")


@pytest.mark.parametrize("backend", ["nft", "iptables"])
def test_firewall_drop_blocks_the_attacker_until_the_timeout(lab, tmp_path, backend):
    cfg = brute_force_config(tmp_path, "firewall-drop", timeout=5)
    assert lab.attacker_connects() and lab.other_connects()
    process = lab.respond(cfg, tmp_path / "state", "--wait", env={"HIDSCTL_FIREWALL": backend})
    process.stdin.write(json.dumps(alert(ATTACKER)).encode() + b"\n")
    process.stdin.close()
    result = read_result(process)
    assert (result["status"], result["srcip"], result["command"]) == ("ran", ATTACKER, "firewall-drop"), result
    assert not lab.attacker_connects()
    assert lab.other_connects()
    undone = read_result(process)
    assert (undone["status"], undone["srcip"]) == ("undone", ATTACKER), undone
    assert process.wait(30) == 0
    assert lab.attacker_connects()


def test_firewall_drop_undone_on_time_after_respond_is_killed(lab, tmp_path):
    cfg = brute_force_config(tmp_path, "firewall-drop", timeout=5)
    first = lab.respond(cfg, tmp_path / "state")
    first.stdin.write(json.dumps(alert(ATTACKER)).encode() + b"\n")
    first.stdin.flush()
    assert read_result(first)["status"] == "ran"
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert not lab.attacker_connects()  # the block outlives the process
    assert lab.other_connects()
    second = lab.respond(cfg, tmp_path / "state", "--wait")
    second.stdin.close()
    undone = read_result(second)
    assert (undone["status"], undone["srcip"]) == ("undone", ATTACKER), undone
    assert second.wait(30) == 0
    assert lab.attacker_connects()


def test_route_null_blackholes_replies_to_the_attacker(lab, tmp_path):
    cfg = brute_force_config(tmp_path, "route-null", timeout=4)
    process = lab.respond(cfg, tmp_path / "state", "--wait")
    process.stdin.write(json.dumps(alert(SERVER_ON_OTHER_LINK)).encode() + b"\n")
    process.stdin.write(json.dumps(alert(ATTACKER)).encode() + b"\n")
    process.stdin.close()
    own = read_result(process)
    assert (own["status"], own["reason"]) == ("skipped", "allow-listed")  # the server's own address
    assert read_result(process)["status"] == "ran"
    assert not lab.attacker_connects()
    assert lab.other_connects()
    assert read_result(process)["status"] == "undone"
    assert process.wait(30) == 0
    assert lab.attacker_connects()


def in_namespace(lab: Lab, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", lab.server, *argv], capture_output=True, text=True)


@pytest.mark.parametrize("script", ["firewall-drop", "route-null"])
def test_scripts_are_idempotent_for_ipv4_and_ipv6(lab, script):
    from hidsctl.resources import scripts_dir

    path = str(scripts_dir() / script)
    for address in ("198.51.100.7", "2001:db8::7"):
        for action in ("add", "add", "delete", "delete"):
            done = in_namespace(lab, path, action, "-", address, "1.1", "5712", "000", "-")
            assert done.returncode == 0, done.stderr
    listing = in_namespace(lab, "nft", "list", "ruleset").stdout + in_namespace(lab, "ip", "-6", "route").stdout
    assert "198.51.100.7" not in listing and "2001:db8::7" not in listing


def test_firewall_drop_nft_state_and_ipv6(lab):
    from hidsctl.resources import scripts_dir

    path = str(scripts_dir() / "firewall-drop")
    assert in_namespace(lab, path, "add", "-", "2001:db8::9").returncode == 0
    assert "2001:db8::9" in in_namespace(lab, "nft", "list", "set", "inet", "hidsctl", "drop6").stdout
    assert in_namespace(lab, path, "delete", "-", "2001:db8::9").returncode == 0
    assert "2001:db8::9" not in in_namespace(lab, "nft", "list", "set", "inet", "hidsctl", "drop6").stdout
