"""Command output, the journal and the ``[collect]`` config, through the real command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from collect_support import Follower, collect_once


def test_command_gives_a_record_per_line_full_command_one_per_run(tmp_path: Path) -> None:
    out, err, code = collect_once("--command", "printf 'one\\ntwo\\n'",
                                  "--full-command", "printf 'tcp 0.0.0.0:22\\ntcp :::80\\n'",
                                  state=tmp_path / "state")
    assert code == 0, err
    lines = [r for r in out if r["format"] == "command"]
    assert [r["log"] for r in lines] == ["ossec: output: 'printf 'one\\ntwo\\n'': one",
                                         "ossec: output: 'printf 'one\\ntwo\\n'': two"]
    assert lines[0]["location"] == "printf 'one\\ntwo\\n'"
    (full,) = [r for r in out if r["format"] == "full_command"]
    assert full["log"] == ("ossec: output: 'printf 'tcp 0.0.0.0:22\\ntcp :::80\\n'':\n"
                           "tcp 0.0.0.0:22\ntcp :::80")


def test_commands_run_every_frequency_and_failures_are_reported(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    config = tmp_path / "hidsctl.toml"
    config.write_text(f"""
[collect]
command = [{{ command = "echo run >> {counter}; wc -l < {counter}", alias = "runs", frequency = 0.3 }}]
full-command = ["echo oops >&2; exit 3"]
frequency = 100
""")
    follower = Follower(tmp_path, "--config", str(config))
    try:
        got = follower.wait_for(4)
        runs = [r["log"] for r in got if r["location"] == "runs"]
        assert runs[:3] == ["ossec: output: 'runs': 1", "ossec: output: 'runs': 2",
                            "ossec: output: 'runs': 3"]
        assert "exited with status 3: oops" in follower.stderr()
    finally:
        assert follower.stop() == 0


def test_config_table_with_per_source_options(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    app = tmp_path / "logs" / "app.log"
    app.write_text("2026 start\n  more\n2026 next\n")
    events = tmp_path / "logs" / "events.json"
    events.write_text('{"a": 1}\n')
    (tmp_path / "logs" / "old.json").write_text('{"old": 1}\n')
    config = tmp_path / "hidsctl.toml"
    config.write_text(f"""
[collect]
max-line = 1000
files = [
  {{ location = "{app}", format = "multi-line-regex", multiline-regex = "^2026", alias = "myapp" }},
  {{ location = "{tmp_path}/logs/*.json", format = "json", exclude = ["old.*"] }},
]
""")
    out, err, code = collect_once("--config", str(config), state=tmp_path / "state")
    assert code == 0, err
    assert sorted((r["location"], r["log"]) for r in out) == sorted([
        ("myapp", "2026 start\n  more"), ("myapp", "2026 next"), (str(events), '{"a": 1}')])
    assert [r["data"] for r in out if r["location"] == str(events)] == [{"a": 1}]
    # Sources on the command line replace the config's.
    other = tmp_path / "other.log"
    other.write_text("x\n")
    out, err, code = collect_once("--config", str(config), str(other), state=tmp_path / "s2")
    assert [r["log"] for r in out] == ["x"]


@pytest.mark.parametrize("body, where", [
    ('[collect]\nmax-line = "64k"\n', "[collect] max-line"),
    ('[collect]\nfrom-begining = true\n', "[collect]: unknown key 'from_begining'"),
    ('[collect]\nfiles = [{ location = "/x", fromat = "json" }]\n', "[collect] files[0]: unknown key"),
    ('[collect]\nfiles = [{ location = "/x", format = "xml" }]\n', "[collect] files[0] format"),
    ('[collect]\nfiles = [{ format = "json" }]\n', "[collect] files[0]: missing 'location'"),
    ('[collect]\nfiles = [{ location = "/x", format = "multi-line-regex", '
     'multiline-regex = "(" }]\n', "[collect] files[0] multiline-regex"),
    ('[collect]\ncommand = [{ command = "df", frequency = "often" }]\n',
     "[collect] command[0] frequency"),
    ("[collect\n", "not valid TOML"),
])
def test_broken_config_exits_2_naming_file_and_key(tmp_path: Path, body: str, where: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(body)
    out, err, code = collect_once("--config", str(config), state=tmp_path / "state")
    assert code == 2
    assert out == []
    assert str(config) in err and where in err, err


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    _, err, code = collect_once("--from-start", "--from-end", "x", state=tmp_path / "s")
    assert code == 2 and "exclude each other" in err
    _, err, code = collect_once("--format", "multi-line-regex", "x", state=tmp_path / "s")
    assert code == 2 and "multiline-regex" in err


JOURNALD = "/lib/systemd/systemd-journald"
JOURNALD_CONF = """[Journal]
Storage=volatile
ReadKMsg=no
Audit=no
ForwardToSyslog=no
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
"""


@pytest.fixture
def private_journald(tmp_path: Path):
    """A real systemd-journald in a private mount namespace (tmpfs over its sockets and
    files, its own config), so the test neither needs nor touches the host's journal.
    Yields a command prefix that runs a command inside that namespace."""
    if os.geteuid() != 0 or not os.path.exists(JOURNALD) or not shutil.which("journalctl") \
            or not shutil.which("unshare") or not shutil.which("nsenter"):
        pytest.skip("needs root, systemd-journald, journalctl, unshare and nsenter")
    conf = tmp_path / "journald.conf"
    conf.write_text(JOURNALD_CONF)
    setup = (f"set -e; for d in /run/systemd /run/log; do mkdir -p $d; mount -t tmpfs tmpfs $d; done; "
             f"mkdir -p /run/systemd/journal; mount --bind {conf} /etc/systemd/journald.conf; "
             f"if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal; fi; "
             f"exec {JOURNALD}")
    holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", setup],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    prefix = ["nsenter", "--mount", f"--target={holder.pid}", "--"]
    deadline = time.monotonic() + 10
    while subprocess.run([*prefix, "test", "-S", "/run/systemd/journal/socket"]).returncode:
        if holder.poll() is not None or time.monotonic() > deadline:
            holder.kill()
            pytest.skip(f"cannot start a private journald: {holder.stderr.read().decode()}")
        time.sleep(0.05)
    yield prefix
    holder.terminate()
    holder.wait(timeout=10)


def journal_send(prefix: list[str], tag: str, message: str) -> None:
    subprocess.run([*prefix, "logger", "--journald"], check=True,
                   input=f"MESSAGE={message}\nSYSLOG_IDENTIFIER={tag}\n".encode())


def test_journal_entries_with_cursor_saved(tmp_path: Path, private_journald: list[str]) -> None:
    prefix = private_journald
    tag = "hidsctl-test"
    state = tmp_path / "state"
    match = ["--journal", "--journal-match", f"SYSLOG_IDENTIFIER={tag}"]

    def once() -> list[dict]:
        proc = subprocess.run([*prefix, sys.executable, "-m", "hidsctl", "collect", "--once",
                               "--state-dir", str(state), *match], capture_output=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return [json.loads(line) for line in proc.stdout.splitlines()]

    journal_send(prefix, tag, "first entry")
    out = once()
    assert [r["data"]["MESSAGE"] for r in out] == ["first entry"]
    record = out[0]
    assert record["location"] == "journald" and record["format"] == "journald"
    assert f" {tag}[" in record["log"] and record["log"].endswith(": first entry")
    assert once() == [], "the saved cursor: nothing twice"

    follower = Follower(tmp_path, *match, state=state, prefix=prefix)
    try:
        journal_send(prefix, tag, "second entry")
        journal_send(prefix, "someone-else", "not matched")
        got = follower.wait_for(1)
        assert [r["data"]["MESSAGE"] for r in got] == ["second entry"]
    finally:
        assert follower.stop() == 0
    journal_send(prefix, tag, "third entry")
    assert [r["data"]["MESSAGE"] for r in once()] == ["third entry"]


def test_pipeline_into_head_ends_quietly(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("".join(f"line {i}\n" for i in range(200_000)))
    proc = subprocess.run(f"hidsctl collect --once --state-dir {tmp_path / 's'} {log} | head -3",
                          shell=True, capture_output=True, timeout=60)
    assert proc.returncode == 0
    assert len(proc.stdout.splitlines()) == 3
    assert b"Traceback" not in proc.stderr


def test_strftime_location_names_todays_file(tmp_path: Path) -> None:
    today = tmp_path / time.strftime("app-%Y-%m-%d.log")
    today.write_text("today\n")
    (tmp_path / "app-2001-01-01.log").write_text("long ago\n")
    out, err, code = collect_once(str(tmp_path / "app-%Y-%m-%d.log"), state=tmp_path / "state")
    assert code == 0, err
    assert [(r["location"], r["log"]) for r in out] == [(str(today), "today")]
