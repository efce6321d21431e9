"""Helpers for the respond tests: a recording script, configs, alerts, running the CLI."""

from __future__ import annotations

import io
import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

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


def respond_at(clock: Callable[[], float], cfg: Path | None, state: Path, *records: dict,
               wait: bool = False) -> tuple[int, list[dict]]:
    """respond's loop (hidsctl/respond/run.py) in this process, timed by ``clock`` instead
    of the wall clock: what the command does once a timeout has run out, without waiting
    for it. Returns (exit code, output records)."""
    from hidsctl import state as state_module
    from hidsctl.options import load_settings
    from hidsctl.respond import run, settings

    options = load_settings(settings.RespondOptions, "respond", cfg, wait=wait or None)
    out = io.BytesIO()
    code = run.run(settings.build(options, cfg), state_module.state_dir(state),
                   stdin=io.BytesIO(lines(*records)), stdout=out, clock=clock)
    return code, [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def past(expires: str) -> Callable[[], float]:
    """A clock that reads a moment after an ``expires`` timestamp of a record."""
    when = datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp()
    return lambda: when + 0.5


def hastened(step: float = 1.0) -> Callable[[], float]:
    """A clock that starts now and moves ``step`` seconds on at every reading, so that a
    timeout of a second runs out within a few turns of respond's loop."""
    now = [time.time()]

    def clock() -> float:
        now[0] += step
        return now[0]

    return clock
