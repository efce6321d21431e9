"""`hidsctl supervise` setting itself up: directories the service user owns and reaches,
components that cannot run reported instead of restarted, `status` on a narrow terminal,
and socket paths whose directories do not exist yet."""

from __future__ import annotations

import os
import pty
import re
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import invoke_hidsctl, is_root, root_only, run_hidsctl
from test_supervise_e2e import (ATTACKER, NOBODY_OK, alerts, running, sshd_failure, status,
                                wait_for, world)  # noqa: F401 (world is a fixture)

from hidsctl.supervise import dirs

needs_nobody = pytest.mark.skipif(
    not NOBODY_OK, reason="needs root and an interpreter `nobody` can run (CI installs one)")

NOBODY = (65534, 65534, "nobody")


def start(config: Path | None, state: Path, *extra: str, log: Path | None = None
          ) -> subprocess.Popen:
    """supervise in the background, its stderr in a file (beside the state directory)."""
    args = ["--config", str(config)] if config else []
    log = log or state.parent / f"{state.name}.supervise.err"
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "hidsctl", "supervise", *args,
                                 "--state-dir", str(state), "--no-summary", *extra],
                                stdout=subprocess.DEVNULL, stderr=err)
    proc.errfile = log
    return proc


def stderr_of(proc: subprocess.Popen) -> str:
    return proc.errfile.read_text(errors="replace")


def stop(proc: subprocess.Popen) -> str:
    """SIGTERM, wait, and what supervise wrote on stderr."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return stderr_of(proc)


def collect_config(world: Path, extra: str = "") -> Path:
    """world/hidsctl.toml: collect follows world/auth.log (empty) from its start, then
    ``extra``."""
    (world / "auth.log").write_text("")
    config = world / "hidsctl.toml"
    config.write_text(f"""
[collect]
files = ["{world}/auth.log"]
poll-interval = 0.2
from-start = true

{extra}""")
    return config


def local_config(world: Path, extra: str = "") -> Path:
    """collect_config, and scan watching world/watched in realtime."""
    (world / "watched").mkdir()
    (world / "watched" / "app.conf").write_text("listen 80\n")
    return collect_config(world, f"""[scan]
directories = [{{ path = "{world}/watched", realtime = true }}]
{extra}""")


def components(report: dict) -> dict[str, dict]:
    return {c["name"]: c for c in report.get("components", [])}


# --- the local role from a fresh state directory, as root with the service user ----------

@needs_nobody
def test_local_role_fresh_state_hands_dirs_to_the_service_user_and_alerts_reach_logs(world):
    config = local_config(world)
    state = world / "fresh" / "state"  # neither exists yet
    proc = start(config, state, "--role", "local", "--user", "nobody",
                 log=world / "supervise.err")
    stderr = ""
    try:
        report = wait_for(lambda: running(state, {"collect", "scan", "analyze", "logs"}),
                          timeout=60, what="components running")
        users = {name: c["user"] for name, c in components(report).items()}
        assert users == {"collect": "root", "scan": "root", "analyze": "nobody", "logs": "nobody"}
        # the realtime watch is in place once scan says so on stderr (relayed by supervise)
        wait_for(lambda: "scan: hidsctl scan: watching" in stderr_of(proc), timeout=60,
                 what="scan watching")
        with open(world / "auth.log", "a") as log:
            for n in range(12):
                log.write(sshd_failure(n))
        (world / "watched" / "app.conf").write_text("listen 8080\n")
        written = state / "logs" / "alerts" / "alerts.json"
        found = wait_for(lambda: _both_alerts(written), timeout=30,
                         what="the brute-force and integrity alerts in logs/alerts/")
        assert found
        report = status(state)
        assert {name: (c["state"], c["restarts"]) for name, c in components(report).items()} \
            == {name: ("running", 0) for name in users}
    finally:
        stderr = stop(proc)
    st = os.stat(state)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 65534, 0o750)
    assert stat.S_IMODE(os.stat(state.parent).st_mode) == 0o755  # created searchable
    for name in ("analyze", "logs"):
        assert os.stat(state / name).st_uid == 65534, name
    # analyze's compiled rules are cached in its own directory, not in a home it cannot write
    assert [os.stat(p).st_uid for p in (state / "analyze" / "cache").glob("*.cache")] == [65534]
    assert "rule cache" not in stderr, stderr
    assert os.stat(state / "queues").st_uid == 0  # the queues stay the supervisor's
    assert "made group nogroup" in stderr and "logs: " in stderr
    assert "restarting" not in stderr, stderr


def _both_alerts(path: Path) -> bool:
    found = alerts(path)
    brute = [a for a in found if a["rule"]["level"] >= 10 and a["data"].get("srcip") == ATTACKER]
    changed = [a for a in found if a["rule"]["id"] == "550"]
    return bool(brute and changed)


@needs_nobody
def test_server_role_receive_runs_as_the_service_user(world):
    (world / "server.toml").write_text(f"""
[receive]
listen = ["127.0.0.1:0"]
[collect]
files = ["{world}/server.log"]
[scan]
directories = ["{world}"]
""")
    (world / "server.log").write_text("")
    state = world / "server"
    proc = start(world / "server.toml", state, "--role", "server", "--user", "nobody")
    try:
        report = wait_for(lambda: running(state, {"receive", "analyze", "logs"}), timeout=60,
                          what="receive running")
        receive = components(report)["receive"]
        assert receive["user"] == "nobody"
        # it says so once its state (keys, agents' status) is open and it listens
        wait_for(lambda: "receive: hidsctl receive: listening" in stderr_of(proc), timeout=60,
                 what="receive listening")
        receive = components(status(state))["receive"]
        assert (receive["state"], receive["restarts"]) == ("running", 0), receive
    finally:
        stop(proc)
    assert os.stat(state / "receive").st_uid == 65534


# --- components that cannot run -----------------------------------------------------------

def test_agent_without_a_key_stops_with_the_message_and_no_restart_loop(world):
    state = world / "agent"
    proc = start(None, state, "--role", "agent")
    try:
        code = proc.wait(timeout=60)
    finally:
        stderr = stop(proc)
    assert code == 2, stderr
    assert "no agent key" in stderr and "the agent role needs it" in stderr
    assert "restarting" not in stderr
    result = invoke_hidsctl("status", "--state-dir", str(state))
    assert result.returncode == 1
    message = result.stderr.decode()
    assert message.count("\n") == 1 and "send cannot run: no agent key" in message


@root_only
def test_a_non_essential_component_with_a_config_error_fails_once_and_status_says_why(world):
    config = local_config(world, "[mail]\nbogus-key = 1\n")
    state = world / "state"
    proc = start(config, state, "--role", "local", "--user", "nobody" if NOBODY_OK else "root")
    try:
        report = wait_for(lambda: (r := status(state)) and
                          components(r).get("mail", {}).get("state") == "failed" and r,
                          timeout=60, what="mail failed")
        mail = components(report)["mail"]
        assert mail["restarts"] == 0 and "unknown key 'bogus_key'" in mail["last_error"]
        wait_for(lambda: running(state, {"collect", "scan", "analyze", "logs"}), timeout=60,
                 what="the rest running")
        table = _status_on_a_terminal(state, columns=80)
        lines = table.splitlines()
        assert lines and max(len(line) for line in lines) <= 80, table
        for name in ("collect", "scan", "analyze", "logs", "mail"):
            assert any(line.startswith(name + " ") for line in lines), (name, table)
        assert "failed" in table and "unknown key" in " ".join(lines)
        time.sleep(1)
        assert components(status(state))["mail"]["restarts"] == 0  # not in a loop
        # a runtime crash is still restarted, and says how it ended
        logs = components(status(state))["logs"]
        os.kill(logs["pid"], signal.SIGKILL)
        report = wait_for(lambda: (r := status(state)) and
                          components(r)["logs"]["restarts"] == 1 and
                          components(r)["logs"]["state"] == "running" and r,
                          timeout=60, what="logs restarted")
        assert components(report)["logs"]["last_error"] == "killed by SIGKILL"
        # the config fixed, SIGHUP starts the failed component again
        config.write_text(config.read_text().replace("bogus-key = 1",
                                                     'to = ["root@localhost"]'))
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: running(state, {"mail"}), timeout=60, what="mail running after SIGHUP")
    finally:
        stderr = stop(proc)
    assert "mail stays down" in stderr


def _status_on_a_terminal(state: Path, columns: int) -> str:
    """`hidsctl status` with its stdout on a pseudo-terminal COLUMNS wide, ANSI stripped."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "LINES": "50", "TERM": "xterm"}
    proc = subprocess.Popen([sys.executable, "-m", "hidsctl", "status", "--state-dir",
                             str(state)], stdout=slave, stderr=subprocess.PIPE, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=30) == 0, proc.stderr.read()
    text = b"".join(chunks).decode().replace("\r\n", "\n")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


@needs_nobody
def test_a_named_user_that_cannot_reach_the_state_dir_is_refused_in_one_line(world):
    private = world / "private"
    private.mkdir(mode=0o700)
    config = local_config(world)
    proc = start(config, private / "state", "--role", "local", "--user", "nobody")
    code = proc.wait(timeout=60)
    stderr = stop(proc)
    assert code == 1
    error = [line for line in stderr.splitlines() if "error" in line]
    assert len(error) == 1 and f"{private} is not searchable" in error[0], stderr
    assert "Traceback" not in stderr


@needs_nobody
def test_the_default_user_that_cannot_reach_the_state_dir_falls_back_to_root(world):
    private = world / "private"
    private.mkdir(mode=0o700)
    config = local_config(world)
    state = private / "state"
    proc = start(config, state, "--role", "local", log=world / "supervise.err")
    try:
        report = wait_for(lambda: running(state, {"collect", "scan", "analyze", "logs"}),
                          timeout=60, what="components running")
        assert {c["user"] for c in report["components"]} == {"root"}
    finally:
        stderr = stop(proc)
    default_user = "hidsctl" if _user_exists("hidsctl") else "nobody"  # as supervise picks
    assert f"warning: user '{default_user}' cannot reach {state}" in stderr
    assert f"{private} is not searchable" in stderr


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


# --- socket paths ---------------------------------------------------------------------------

def test_receive_control_socket_creates_its_directory(tmp_path):
    control = tmp_path / "x" / "nonexistent" / "dir" / "ar.sock"
    proc = subprocess.Popen([sys.executable, "-m", "hidsctl", "receive", "--listen",
                             "127.0.0.1:0", "--control", str(control), "--state-dir",
                             str(tmp_path / "state")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        wait_for(lambda: control.exists() or proc.poll() is not None, timeout=30,
                 what="the control socket")
        assert stat.S_ISSOCK(os.stat(control).st_mode)
        assert stat.S_IMODE(os.stat(control.parent).st_mode) == 0o755
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_receive_control_socket_that_cannot_be_made_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    for path, problem in ((blocker / "ar.sock", "Not a directory"),
                          (tmp_path / ("d" * 120) / "ar.sock", "path too long")):
        result = run_hidsctl("receive", "--listen", "127.0.0.1:0", "--control", str(path),
                             "--state-dir", str(tmp_path / "state"), timeout=30)
        err = result.stderr.decode()
        assert result.returncode == 1, err
        assert "Traceback" not in err and problem in err
        assert [line for line in err.splitlines() if "error" in line] == \
            [line for line in err.splitlines() if line.startswith("hidsctl: error: --control")]


def test_supervise_control_socket_path_too_long_is_one_line():
    with tempfile.TemporaryDirectory() as base:
        state = Path(base) / ("s" * 110)
        result = run_hidsctl("supervise", "--role", "agent", "--state-dir", str(state),
                             "--no-summary", "--user", "root" if is_root() else "", timeout=60)
    err = result.stderr.decode()
    assert result.returncode == 1 and "Traceback" not in err, err
    assert "control socket" in err.splitlines()[-1]


def test_a_second_supervisor_on_the_same_state_dir_is_refused_in_one_line(tmp_path):
    from hidsctl.state import ExclusiveLock

    state = tmp_path / "state"
    state.mkdir()
    with ExclusiveLock(state / "supervise.lock", "held by this test"):
        result = run_hidsctl("supervise", "--role", "agent", "--state-dir", str(state),
                             "--no-summary", timeout=60)
    err = result.stderr.decode()
    assert result.returncode == 1 and "Traceback" not in err, err
    assert "in use by another hidsctl process" in err.splitlines()[-1]
    assert not (state / "supervise.sock").exists()


# --- unit: who may reach what ---------------------------------------------------------------

def _stat(uid: int, gid: int, mode: int) -> os.stat_result:
    return os.stat_result((stat.S_IFDIR | mode, 0, 0, 2, uid, gid, 0, 0, 0, 0))


def test_may_follows_owner_then_group_then_others():
    assert dirs.may(_stat(65534, 0, 0o700), NOBODY, 0o1)
    assert not dirs.may(_stat(0, 0, 0o750), NOBODY, 0o1)
    assert dirs.may(_stat(0, 65534, 0o750), NOBODY, 0o1)
    assert not dirs.may(_stat(0, 65534, 0o705), NOBODY, 0o1)  # group bits win over others'
    assert dirs.may(_stat(0, 0, 0o751), NOBODY, 0o1)
    assert dirs.may(_stat(0, 0, 0o700), (0, 0, "root"), 0o7)


@root_only
def test_unreachable_parent_names_the_first_private_directory(tmp_path):
    base = Path(tempfile.mkdtemp(prefix="hidsctl-dirs-"))
    try:
        base.chmod(0o755)
        (base / "open" / "private" / "deep").mkdir(parents=True)
        (base / "private").mkdir()
        (base / "open" / "private").chmod(0o700)
        assert dirs.unreachable_parent(base / "open" / "private" / "deep" / "x", NOBODY) == \
            base / "open" / "private"
        assert dirs.unreachable_parent(base / "open" / "file", NOBODY) is None
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=True)


@root_only
def test_ensure_owned_hands_over_the_tree_but_not_hard_links_or_link_targets(tmp_path):
    outside = tmp_path / "secret"
    outside.write_text("root's\n")
    own = tmp_path / "component"
    own.mkdir(mode=0o700)
    (own / "keys").write_text("k\n")
    os.link(outside, own / "hardlink")
    (own / "symlink").symlink_to(outside)
    messages: list[str] = []
    dirs.ensure_owned(own, NOBODY, messages.append, "receive")
    assert os.stat(own).st_uid == 65534 and os.stat(own / "keys").st_uid == 65534
    assert os.stat(outside).st_uid == 0  # neither the hard link nor the symlink's target
    assert os.lstat(own / "symlink").st_uid == 65534
    assert len(messages) == 1 and "handed to nobody" in messages[0]
    messages.clear()
    dirs.ensure_owned(own, NOBODY, messages.append, "receive")
    assert messages == []  # nothing to fix the second time


def test_make_dirs_sets_modes_despite_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        assert dirs.make_dirs(tmp_path / "a" / "b", 0o750)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "a").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(tmp_path / "a" / "b").st_mode) == 0o750
    assert not dirs.make_dirs(tmp_path / "a" / "b", 0o750)
