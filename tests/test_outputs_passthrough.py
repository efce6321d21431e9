"""Outputs are sinks, but records outside the contract (supervise's checkpoints) come back on
stdout, and only once everything before them is on disk."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

from tests.netutil import free_port
from tests.test_alertfiles import alert

CHECKPOINT = {"type": "checkpoint", "queue": "alerts", "offset": 1234}


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hidsctl", *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def send(process: subprocess.Popen, *records: dict) -> None:
    process.stdin.write("".join(json.dumps(r) + "\n" for r in records).encode())
    process.stdin.flush()


def today(hour: int = 0) -> str:
    return datetime.now(timezone.utc).strftime(f"%Y-%m-%dT{hour:02d}:00:00.000Z")


def test_logs_write_passes_a_checkpoint_after_its_alerts_are_written(tmp_path):
    process = start("logs", "write", "--dir", str(tmp_path))
    try:
        send(process, alert(today(), 1), CHECKPOINT)
        assert json.loads(process.stdout.readline()) == CHECKPOINT
        (current,) = (tmp_path / "alerts").glob("*/*/ossec-alerts-*.json")
        assert json.loads(current.read_text())["id"] == alert(today(), 1)["id"]
    finally:
        process.stdin.close()
        assert process.wait(timeout=30) == 0
    assert process.stdout.read() == b""


def test_forward_passes_a_checkpoint_after_its_alerts_are_queued(tmp_path):
    port = free_port()
    process = start("forward", "--to", f"tcp://127.0.0.1:{port}", "--format", "json",
                    "--linger", "0", "--state-dir", str(tmp_path))
    try:
        send(process, alert(today(), 1), alert(today(), 2), CHECKPOINT)
        assert json.loads(process.stdout.readline()) == CHECKPOINT
        segments = list(tmp_path.glob("forward/*/segments/*.seg"))
        assert sum(s.read_bytes().count(b'"type":"alert"') for s in segments) == 2
    finally:
        process.stdin.close()
        assert process.wait(timeout=30) == 0


def test_mail_passes_a_checkpoint_and_consumes_contract_records(tmp_path):
    process = start("mail", "--smtp", f"127.0.0.1:{free_port()}", "--to", "a@example.com",
                    "--linger", "0", "--state-dir", str(tmp_path))
    send(process, {"type": "log", "location": "x", "log": "y"}, alert(today(), 1, level=9),
         CHECKPOINT)
    process.stdin.close()
    assert process.wait(timeout=30) == 0
    assert [json.loads(line) for line in process.stdout.read().splitlines()] == [CHECKPOINT]
