"""Helpers for the respond tests: a recording script, configs, alerts, running the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import run_hidsctl

RECORDER = """#!/bin/sh
# Records its arguments (one call per line) and its stdin, then exits with $REC_EXIT.
dir=$(dirname "$0")
printf '%s\\n' "$*" >> "$dir/calls"
cat >> "$dir/stdin"
exit "${REC_EXIT:-0}"
"""


def recorder(directory: Path, name: str = "rec", body: str = RECORDER) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / name
    script.write_text(body)
    script.chmod(0o755)
    return script


def calls(directory: Path) -> list[str]:
    path = directory / "calls"
    return path.read_text().splitlines() if path.exists() else []


def config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def rec_config(tmp_path: Path, response: str = 'level = 7\ntimeout = 600', expect: str = '["srcip"]',
               extra: str = "", script: Path | None = None) -> Path:
    script = script or recorder(tmp_path / "bin")
    return config(tmp_path / "hidsctl.toml", f"""
[respond]
{extra}

[[respond.command]]
name = "rec"
executable = "{script}"
expect = {expect}

[[respond.response]]
command = "rec"
{response}
""")


def alert(srcip: object = "203.0.113.9", *, rule_id: object = "5712", level: int = 10,
          agent: str = "000", groups: list[str] | None = None, **data: object) -> dict:
    fields = {"srcip": srcip, **data} if srcip is not None else dict(data)
    return {"type": "alert", "timestamp": "2026-11-25T13:50:47.123Z", "id": "1795614647.42",
            "rule": {"id": rule_id, "level": level, "description": "sshd brute force",
                     "groups": groups or ["syslog", "sshd", "authentication_failures"]},
            "agent": {"id": agent, "name": "web1", "ip": "127.0.0.1"},
            "data": fields, "full_log": "Failed password for root from 203.0.113.9"}


def lines(*records: dict) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def respond(cfg: Path | None, state: Path, *records: dict, args: tuple[str, ...] = (),
            env: dict | None = None, timeout: float = 60):
    """Run ``hidsctl respond``; returns (exit code, output records, stderr text)."""
    argv = ["respond", "--state-dir", str(state), *args]
    if cfg is not None:
        argv += ["--config", str(cfg)]
    environ = {**os.environ, **env} if env else None
    done = run_hidsctl(*argv, input=lines(*records), env=environ, timeout=timeout)
    out = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return done.returncode, out, done.stderr.decode()
