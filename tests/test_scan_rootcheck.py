"""hidsctl scan --rootcheck: every check over planted samples in temporary trees, the
system checks run for real inside namespaces the tests create."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, root_only, run_hidsctl
from hidsctl.errors import RuleError
from hidsctl.scan.rootcheck import load_all, patterns, policy, run_checks, system
from hidsctl.scan.settings import RootcheckSettings

def _ossec_fixtures() -> Path:
    # In a git worktree the shared fixtures sit further up than conftest looks.
    for base in (FIXTURES, *(p / "shared" / "fixtures" for p in Path(__file__).resolve().parents)):
        if (base / "ossec-4.3" / "rootcheck").is_dir():
            return base / "ossec-4.3" / "rootcheck"
    return FIXTURES / "ossec-4.3" / "rootcheck"


OSSEC = _ossec_fixtures()


def titles(found) -> list[str]:
    return [r["title"] for r in found]


def config(tmp_path: Path, **table) -> Path:
    lines = ["[scan.rootcheck]"]
    for key, value in table.items():
        lines.append(f"{key.replace('_', '-')} = {json.dumps(value)}")
    path = tmp_path / "rootcheck.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def rootcheck(tmp_path: Path, *extra: str, **table) -> list[dict]:
    proc = run_hidsctl("scan", "--rootcheck", "--state-dir", str(tmp_path / "state"),
                       "--config", str(config(tmp_path, **table)), *extra)
    assert proc.returncode == 0, proc.stderr.decode()
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_planted_rootkit_files_and_trojaned_binary(tmp_path):
    root = tmp_path / "root"
    for relative in ("tmp/kinsing", "usr/bin/bsd-port/knerl", "var/tmp/.psybnc"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text("planted")
    (root / "bin").mkdir()
    (root / "bin" / "ls").write_bytes(b"\x7fELF\x00\x01\x02/usr/include/file.h\x00more\x00")
    (root / "bin" / "ps").write_bytes(b"\x7fELF\x00clean ps binary\x00/proc\x00")
    found = rootcheck(tmp_path, root=str(root), checks=["files", "trojans"])
    assert titles(found) == [
        "Rootkit 'Kinsing miner' detected by the presence of file '/tmp/kinsing'.",
        "Rootkit 'BillGates DDoS bot' detected by the presence of file '/usr/bin/bsd-port/knerl'.",
        "Rootkit 'psyBNC IRC bouncer' detected by the presence of file '/var/tmp/.psybnc'.",
        "Trojaned version of file '/bin/ls' detected. Signature used: "
        "'/dev/ptyr|/usr/include/file\\.h|/usr/lib/libsh|\\.lrk5|/dev/\\.lib' (Generic).",
    ]
    assert found[0]["type"] == "rootcheck" and found[0]["file"] == "/tmp/kinsing"
    assert not (tmp_path / "state" / "syscheck.db").exists()  # --rootcheck alone: no FIM


def test_files_hiding_in_a_dev_tree(tmp_path):
    dev = tmp_path / "dev"
    (dev / "shm").mkdir(parents=True)
    (dev / "shm" / "sem.app").write_text("legitimate")
    (dev / "net").mkdir()
    (dev / "MAKEDEV").write_text("expected")
    (dev / ".rk").mkdir()
    (dev / "net" / "tun0.log").write_text("hidden file")
    os.mkfifo(dev / "initctl-fifo")
    os.symlink("/proc/self/fd", dev / "fd")
    if os.geteuid() == 0:
        os.mknod(dev / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    found = rootcheck(tmp_path, dev=str(dev), checks=["dev"])
    assert sorted(titles(found)) == sorted([
        f"Hidden directory '{dev}/.rk' present on /dev. Possible hidden rootkit.",
        f"File '{dev}/net/tun0.log' present on /dev. Possible hidden file.",
    ])


def test_suid_sgid_and_world_writable_files(tmp_path):
    sysdir = tmp_path / "usr-bin"
    sysdir.mkdir()
    for name, mode in (("allowed", 0o4755), ("backdoor", 0o4755), ("grouped", 0o2755),
                       ("open", 0o666), ("plain", 0o755)):
        (sysdir / name).write_text("#!/bin/sh\n")
        (sysdir / name).chmod(mode)
    os.symlink("backdoor", sysdir / "link-to-backdoor")
    found = rootcheck(tmp_path, system_dirs=[str(sysdir)], suid_allow=[str(sysdir / "allowed")],
                      checks=["suid"])
    owner = "root" if os.geteuid() == 0 else str(os.geteuid())
    assert sorted(titles(found)) == sorted([
        f"File '{sysdir}/backdoor' is owned by {owner} and has the setuid bit set.",
        f"File '{sysdir}/grouped' is owned by {owner} and has the setgid bit set.",
        f"File '{sysdir}/open' is owned by {owner} and has written permissions to anyone.",
    ])
    assert {r["detail"] for r in found} == {"mode -rwsr-xr-x", "mode -rwxr-sr-x", "mode -rw-rw-rw-"}


def test_hidden_process_comparison_with_injected_views():
    alive = {1, 5, 7, 9}
    listed = {1, 5, 9}
    assert list(system.hidden_pids(range(1, 12), alive.__contains__, listed.__contains__)) == [7]
    # A process that exits between the two looks is not reported.
    answers = iter([True, False])
    assert list(system.hidden_pids([3], lambda pid: next(answers), lambda pid: False)) == []


def test_no_hidden_processes_on_this_system():
    found = list(run_checks(RootcheckSettings(checks=["processes"])))
    assert found == []
    assert system.pid_alive(os.getpid()) and not system.pid_alive(system.pid_max() + 1)


def test_hidden_port_comparison_with_injected_views():
    in_use = {22, 8080}
    shown = {22}
    found = system.hidden_ports(range(1, 9000), "tcp", lambda p, proto: p in in_use, lambda: shown)
    assert list(found) == [8080]


NETNS_SCRIPT = """
import socket, subprocess, sys
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
listener = socket.socket()
listener.bind(("127.0.0.1", 4321))
listener.listen()
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", 4322))
if len(sys.argv) > 2:
    subprocess.run(["ip", "link", "set", "lo", "promisc", "on"], check=True)
proc = subprocess.run([sys.executable, "-m", "hidsctl", "scan", "--rootcheck", "--state-dir",
                       sys.argv[1] + "/state", "--config", sys.argv[1] + "/rootcheck.toml"],
                      capture_output=True)
sys.stderr.buffer.write(proc.stderr)
sys.stdout.buffer.write(proc.stdout)
sys.exit(proc.returncode)
"""


def in_new_netns(tmp_path: Path, *extra: str) -> list[dict]:
    proc = subprocess.run(["unshare", "--net", sys.executable, "-c", NETNS_SCRIPT, str(tmp_path),
                           *extra], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    return [json.loads(line) for line in proc.stdout.splitlines()]


@root_only
def test_ports_in_a_network_namespace(tmp_path):
    """Real sockets in a namespace of our own: no false positives with the kernel's own
    tables, and the listening ports reported when the tables shown are emptied."""
    config(tmp_path, checks=["ports"], ports=[4000, 4400])
    assert in_new_netns(tmp_path) == []
    fake = tmp_path / "fakeproc"
    (fake / "net").mkdir(parents=True)
    for name in ("tcp", "udp"):
        (fake / "net" / name).write_text("  sl  local_address rem_address   st\n")
    config(tmp_path, checks=["ports"], ports=[4000, 4400], proc=str(fake))
    assert titles(in_new_netns(tmp_path)) == [
        "Port '4321'(tcp) hidden. Kernel-level rootkit or trojaned version of netstat.",
        "Port '4322'(udp) hidden. Kernel-level rootkit or trojaned version of netstat.",
    ]


@root_only
def test_promiscuous_interface_in_a_network_namespace(tmp_path):
    config(tmp_path, checks=["interfaces"])
    assert in_new_netns(tmp_path) == []
    assert titles(in_new_netns(tmp_path, "promisc")) == ["Interface 'lo' in promiscuous mode."]


POLICY = """
# a test policy
$conf=CONF;
$dirs=DIRS;

[Test - gate passes] [all required] []
f:CONF;

[Test - root login allowed {PCI_DSS: 2.2}] [any] [https://example.org/ssh]
f:$conf -> !r:^# && r:PermitRootLogin\\s+yes;

[Test - commented out only, must not fire] [any] []
f:$conf -> !r:^# && r:Banner;

[Test - no MaxAuthTries line at all] [any] []
f:$conf -> !r:MaxAuthTries;

[Test - has a MaxAuthTries line, must not fire] [any] []
f:$conf -> !r:PermitRootLogin;

[Test - version older than 2.0] [any] []
f:$conf -> r:^Version && >:Version 2.0;

[Test - exact line] [any] []
f:$conf -> x11forwarding yes;

[Test - all: file present and none missing] [all] []
f:CONF;
f:!MISSING;

[Test - none: nothing there] [none] []
f:MISSING;

[Test - web shell in a directory] [any] []
d:$dirs -> .php$ -> r:eval\\(base64_decode;

[Test - a process runs] [any] []
p:r:sleep 31337;

[Test - command output] [any] []
c:echo audit-marker -> r:^audit-marker$;

[Test - registry, never on Linux] [any] []
r:HKEY_LOCAL_MACHINE\\Software -> Key;
"""


def write_policy(tmp_path: Path, gate: str) -> Path:
    conf = tmp_path / "sshd_config"
    conf.write_text("# Banner /etc/issue\nPermitRootLogin yes\nVersion 1.9\nX11Forwarding yes\n")
    web = tmp_path / "www" / "site"
    web.mkdir(parents=True)
    (web / "index.php").write_text("<?php echo 'hi'; ?>\n")
    (web / "up.php").write_text("<?php eval(base64_decode($_POST['x'])); ?>\n")
    (web / "notes.txt").write_text("eval(base64_decode(\n")
    text = (POLICY.replace("$conf=CONF", f"$conf={conf}").replace("$dirs=DIRS", f"$dirs={tmp_path / 'www'}")
            .replace("f:CONF", f"f:{gate}").replace("MISSING", str(tmp_path / "missing")))
    path = tmp_path / "test_rcl.txt"
    path.write_text(text)
    return path


def test_policy_checks_pass_and_fail(tmp_path):
    path = write_policy(tmp_path, str(tmp_path / "sshd_config"))
    sleeper = subprocess.Popen(["sleep", "31337"])
    try:
        found = rootcheck(tmp_path, policies=[str(path)], checks=["policies"])
    finally:
        sleeper.kill()
        sleeper.wait()
    conf = tmp_path / "sshd_config"
    assert [r["check"] for r in found] == [
        "Test - root login allowed {PCI_DSS: 2.2}",
        "Test - no MaxAuthTries line at all",
        "Test - version older than 2.0",
        "Test - exact line",
        "Test - all: file present and none missing",
        "Test - none: nothing there",
        "Test - web shell in a directory",
        "Test - a process runs",
        "Test - command output",
    ]
    first = found[0]
    assert first["title"] == (f"System Audit: Test - root login allowed {{PCI_DSS: 2.2}}. "
                              f"File: {conf}. Reference: https://example.org/ssh .")
    assert first["policy"] == "test_rcl" and first["file"] == str(conf)
    assert first["detail"] == "PermitRootLogin yes"
    assert found[6]["file"] == str(tmp_path / "www" / "site" / "up.php")


def test_a_failing_required_check_stops_the_policy(tmp_path):
    path = write_policy(tmp_path, str(tmp_path / "missing-gate"))
    assert rootcheck(tmp_path, policies=[str(path)], checks=["policies"]) == []


def test_broken_policy_is_a_config_error_naming_the_line(tmp_path):
    bad = tmp_path / "bad_rcl.txt"
    bad.write_text("[Title] [sometimes] []\nf:/etc/passwd;\n")
    proc = run_hidsctl("scan", "--rootcheck", "--state-dir", str(tmp_path / "s"), "--config",
                       str(config(tmp_path, policies=[str(bad)], checks=["policies"])))
    assert proc.returncode == 2
    assert f"{bad}:1: unknown condition 'sometimes'".encode() in proc.stderr
    with pytest.raises(RuleError, match="unknown variable"):
        bad.write_text("[T] [any] []\nf:$nowhere;\n")
        policy.load(bad)


def test_os_regex_translation():
    regex = patterns.compile_regex(r"^PermitRootLogin\s+yes\.*$")
    assert regex.search("permitrootlogin   YES # trailing")
    assert not regex.search("#PermitRootLogin yes")
    assert patterns.compile_regex(r"a.b").search("a.b") and not patterns.compile_regex(r"a.b").search("axb")
    assert patterns.compile_regex(r"a\.b").search("axb")
    assert patterns.compile_regex(r"\d+\p\w+").search("2026-x@y")
    assert patterns.compile_regex(r"\$\(").search("$(")
    assert patterns.compile_regex(r"foo|^bar").search("bar baz")


def test_ossec_rootcheck_files_load(tmp_path):
    settings = RootcheckSettings(rootkit_files=str(OSSEC / "rootkit_files.txt"),
                                 rootkit_trojans=str(OSSEC / "rootkit_trojans.txt"),
                                 policies=sorted(str(p) for p in OSSEC.glob("*_rcl.txt")))
    files, trojans, policies = load_all(settings)
    assert len(files) > 250 and len(trojans) > 60
    assert {p.name for p in policies} == {"cis_debian_linux_rcl", "system_audit_rcl"}
    assert all(p.checks for p in policies)
    # They also run over a test root without error.
    root = tmp_path / "root"
    shutil.copytree(OSSEC, root / "etc", dirs_exist_ok=True)
    (root / "tmp").mkdir()
    (root / "tmp" / "mcliZokhb").write_text("planted")
    found = list(run_checks(RootcheckSettings(rootkit_files=settings.rootkit_files,
                                              rootkit_trojans=settings.rootkit_trojans,
                                              root=str(root), checks=["files", "trojans"])))
    assert titles(found) == ["Rootkit 'Bash door' detected by the presence of file '/tmp/mcliZokhb'."]


def test_bundled_rootcheck_files_load():
    files, trojans, policies = load_all(RootcheckSettings())
    assert files and trojans
    assert {p.name for p in policies} >= {"ssh_hardening_rcl", "linux_hardening_rcl"}
    for loaded in policies:
        assert loaded.checks[0].required  # each gates itself on the host it fits
