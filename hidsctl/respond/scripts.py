"""Runs one active-response script: an argument list (never a shell), the Wazuh 4 style
JSON message on stdin, a time limit, and its output captured up to a bound."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import orjson

MAX_OUTPUT = 4096  # bytes of a script's output kept in the ar_result
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class ScriptResult:
    exit_code: int | None  # None when it could not start or was killed at the time limit
    output: str
    problem: str | None = None  # why it failed: "exit code 1", "timed out after 60s", ...

    @property
    def ok(self) -> bool:
        return self.problem is None


def arguments(action: str, user: str, srcip: str, alert_id: str, rule_id: str, agent: str,
              filename: str) -> list[str]:
    """OSSEC's layout: ACTION USER SRCIP ALERT_ID RULE_ID AGENT FILENAME, ``-`` when empty."""
    return [action] + [value or "-" for value in (user, srcip, alert_id, rule_id, agent, filename)]


def message(action: str, program: Path, alert: dict) -> bytes:
    """What Wazuh 4's execd writes to a script's stdin."""
    return orjson.dumps({
        "version": 1,
        "origin": {"name": socket.gethostname(), "module": "hidsctl-respond"},
        "command": action,
        "parameters": {"extra_args": [], "alert": alert, "program": str(program)},
    }, option=orjson.OPT_APPEND_NEWLINE)


def command_line(path: Path) -> list[str]:
    """How to start the script: directly when executable, else through the interpreter its
    first line names (package data can lose its execute bit on installation)."""
    if os.access(path, os.X_OK):
        return [str(path)]
    try:
        with open(path, "rb") as handle:
            first = handle.readline(256)
    except OSError:
        return [str(path)]
    if first.startswith(b"#!"):
        if b"python" in first:
            return [sys.executable, str(path)]
        return ["/bin/sh", str(path)]
    return [str(path)]


def run(path: Path, args: list[str], stdin: bytes, time_limit: float,
        extra_env: dict[str, str] | None = None) -> ScriptResult:
    env = {**os.environ, **(extra_env or {})}
    env["PATH"] = f"{env.get('PATH', '')}:{SBIN_PATH}".lstrip(":")
    # stdin from a file: a script that never reads it cannot block us past the time limit
    with tempfile.TemporaryFile() as given, tempfile.TemporaryFile() as output:
        given.write(stdin)
        given.seek(0)
        try:
            process = subprocess.Popen(
                command_line(path) + args, stdin=given, stdout=output,
                stderr=subprocess.STDOUT, env=env, close_fds=True, start_new_session=True)
        except OSError as exc:
            return ScriptResult(None, "", f"cannot run {path}: {exc.strerror or exc}")
        try:
            code = process.wait(timeout=time_limit)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            return ScriptResult(None, _read(output), f"timed out after {time_limit:g}s")
        text = _read(output)
    if code != 0:
        return ScriptResult(code, text, f"exit code {code}" if code > 0 else f"killed by signal {-code}")
    return ScriptResult(code, text)


def _kill_group(process: subprocess.Popen) -> None:
    """The script and anything it started: it ran in its own session."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _read(handle) -> str:
    handle.seek(0)
    data = handle.read(MAX_OUTPUT + 1)
    text = data[:MAX_OUTPUT].decode("utf-8", "replace")
    return text + "…" if len(data) > MAX_OUTPUT else text
