"""Every stage passes a supervisor's checkpoint through, after what came before it."""

from __future__ import annotations

import json

import pytest

from conftest import invoke_hidsctl, run_hidsctl

CHECKPOINT = {"type": "checkpoint", "queue": "q", "offset": 42}
ALERT = {"type": "alert", "timestamp": "2026-11-25T13:00:00.000Z", "id": "1.1",
         "rule": {"id": "5716", "level": 5, "groups": ["sshd"], "description": "x"},
         "agent": {"id": "000", "name": "h", "ip": "127.0.0.1"}, "data": {},
         "full_log": "x", "location": "/var/log/auth.log"}
LOG = {"type": "log", "location": "/var/log/auth.log",
       "log": "Nov 25 13:00:00 h sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2"}


def feed(*records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def stdout_records(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@pytest.mark.parametrize("args", [
    ["analyze"],
    ["respond"],
    ["logs", "write", "--dir", "{tmp}/logs"],
    ["mail", "--smtp", "127.0.0.1:9", "--to", "a@example.org", "--linger", "0"],
    ["forward", "--to", "udp://127.0.0.1:9", "--linger", "0"],
])
def test_stage_echoes_checkpoints_in_order(tmp_path, args):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = run_hidsctl(*args, "--state-dir", str(tmp_path / "state"),
                         input=feed(LOG, ALERT, CHECKPOINT), timeout=120)
    assert result.returncode == 0, result.stderr
    out = stdout_records(result)
    assert out[-1] == CHECKPOINT
    assert out.count(CHECKPOINT) == 1


def test_send_echoes_checkpoints_once_records_are_queued(tmp_path):
    server, agent = tmp_path / "server", tmp_path / "agent"
    assert invoke_hidsctl("keys", "add", "a1", "--state-dir", str(server)).returncode == 0
    key = invoke_hidsctl("keys", "export", "001", "--state-dir", str(server)).stdout.split()[-1]
    assert invoke_hidsctl("keys", "import", key.decode(), "--state-dir", str(agent)).returncode == 0
    result = run_hidsctl("send", "--server", "127.0.0.1:9", "--drain-timeout", "0",
                         "--state-dir", str(agent), input=feed(LOG, CHECKPOINT), timeout=60)
    assert result.returncode == 0, result.stderr
    assert stdout_records(result) == [CHECKPOINT]
    segments = list((agent / "send-queue" / "segments").glob("*.seg"))
    queued = b"".join(p.read_bytes() for p in segments)
    assert b"Failed password" in queued and b"checkpoint" not in queued
