"""Command output, the journal and the ``[collect]`` config, through the real command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from collect_support import Follower, append, collect_once


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


def journald_running() -> bool:
    return shutil.which("journalctl") is not None and shutil.which("logger") is not None \
        and os.path.exists("/run/systemd/journal/socket")


@pytest.mark.skipif(not journald_running(), reason="no running systemd journal")
def test_journal_entries_with_cursor_saved(tmp_path: Path) -> None:
    tag = f"hidsctl-test-{os.getpid()}-{time.monotonic_ns()}"
    state = tmp_path / "state"
    match = f"SYSLOG_IDENTIFIER={tag}"
    subprocess.run(["logger", "-t", tag, "first entry"], check=True)
    time.sleep(0.5)
    out, err, code = collect_once("--journal", "--journal-match", match, state=state)
    assert code == 0, err
    assert [r["data"]["MESSAGE"] for r in out] == ["first entry"]
    assert out[0]["location"] == "journald" and f" {tag}[" in out[0]["log"]
    follower = Follower(tmp_path, "--journal", "--journal-match", match, state=state)
    try:
        subprocess.run(["logger", "-t", tag, "second entry"], check=True)
        got = follower.wait_for(1)
        assert [r["data"]["MESSAGE"] for r in got] == ["second entry"]
    finally:
        assert follower.stop() == 0


def test_pipeline_into_head_ends_quietly(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("".join(f"line {i}\n" for i in range(200_000)))
    proc = subprocess.run(f"hidsctl collect --once --state-dir {tmp_path / 's'} {log} | head -3",
                          shell=True, capture_output=True, timeout=60)
    assert proc.returncode == 0
    assert len(proc.stdout.splitlines()) == 3
    assert b"Traceback" not in proc.stderr
