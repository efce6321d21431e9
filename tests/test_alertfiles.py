"""Alert files: dated tree, rotation by record day and by a moved clock, gzip, seal chain."""

from __future__ import annotations

import gzip
import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from hidsctl.outputs.alertfiles import AlertFiles, verify
from tests.conftest import invoke_hidsctl, run_hidsctl


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def alert(stamp: str, n: int = 1, level: int = 5) -> dict:
    return {"type": "alert", "timestamp": stamp, "id": f"{int(epoch(stamp[:19]))}.{n}",
            "rule": {"id": "5716", "level": level, "description": "sshd: authentication failed.",
                     "groups": ["syslog", "sshd", "authentication_failed"]},
            "agent": {"id": "000", "name": "web1", "ip": "127.0.0.1"},
            "data": {"srcip": "203.0.113.9", "dstuser": "root"},
            "full_log": f"Nov 20 10:00:00 web1 sshd[1]: Failed password for root ({n})",
            "location": "/var/log/auth.log"}


class FakeClock:
    def __init__(self, when: str):
        self.value = epoch(when)

    def __call__(self) -> float:
        return self.value

    def set(self, when: str) -> None:
        self.value = epoch(when)


def day_dir(root: Path) -> Path:
    return root / "alerts" / "2026" / "Nov"


def test_alerts_filed_by_their_own_utc_day_and_closed_when_a_later_day_arrives(tmp_path):
    clock = FakeClock("2026-11-20T12:00:00")
    files = AlertFiles(tmp_path, now=clock)
    files.handle(alert("2026-11-20T23:59:59.900Z", 1))
    files.handle(alert("2026-11-20T10:00:00.000+00:00", 2))
    files.tick()
    assert (day_dir(tmp_path) / "ossec-alerts-20.log").read_text().count("** Alert") == 2
    assert (tmp_path / "alerts" / "alerts.json").resolve() == day_dir(tmp_path) / "ossec-alerts-20.json"

    files.handle(alert("2026-11-21T00:00:00.100Z", 3))
    assert not (day_dir(tmp_path) / "ossec-alerts-20.log").exists()
    with gzip.open(day_dir(tmp_path) / "ossec-alerts-20.json.gz") as packed:
        assert [json.loads(line)["id"].split(".")[1] for line in packed] == ["1", "2"]
    with gzip.open(day_dir(tmp_path) / "ossec-alerts-20.log.gz", "rt") as packed:
        assert packed.read().startswith("** Alert ")
    files.close()
    assert (day_dir(tmp_path) / "ossec-alerts-21.log").exists()  # today by the clock: still open
    result = verify(tmp_path)
    seals, problems = result.seals, result.problems
    assert [s.path for s in seals] == ["2026/Nov/ossec-alerts-20.log.gz", "2026/Nov/ossec-alerts-20.json.gz"]
    assert problems == []


def test_wall_clock_midnight_closes_the_day_without_a_new_alert(tmp_path):
    clock = FakeClock("2026-11-20T23:59:00")
    files = AlertFiles(tmp_path, archives=True, now=clock)
    files.handle(alert("2026-11-20T23:59:00.000Z"))
    files.handle({"type": "log", "timestamp": "2026-11-20T23:59:01.000Z", "location": "x", "log": "y"})
    files.tick()
    assert (day_dir(tmp_path) / "ossec-alerts-20.log").exists()
    clock.set("2026-11-21T00:00:01")
    files.tick()
    assert (day_dir(tmp_path) / "ossec-alerts-20.log.gz").exists()
    archive = tmp_path / "archives" / "2026" / "Nov" / "ossec-archive-20.json.gz"
    with gzip.open(archive) as packed:
        assert [json.loads(line)["type"] for line in packed] == ["alert", "log"]
    files.close()
    assert verify(tmp_path).problems == []


def test_late_alert_for_a_sealed_day_opens_a_new_part(tmp_path):
    clock = FakeClock("2026-11-22T08:00:00")
    files = AlertFiles(tmp_path, now=clock)
    files.handle(alert("2026-11-20T10:00:00.000Z", 1))
    files.handle(alert("2026-11-21T10:00:00.000Z", 2))
    files.handle(alert("2026-11-20T11:00:00.000Z", 3))  # late
    files.close()
    names = sorted(p.name for p in day_dir(tmp_path).iterdir())
    assert names == ["ossec-alerts-20-1.json.gz", "ossec-alerts-20-1.log.gz",
                     "ossec-alerts-20.json.gz", "ossec-alerts-20.log.gz",
                     "ossec-alerts-21.json.gz", "ossec-alerts-21.log.gz"]
    assert verify(tmp_path).problems == []


def test_restart_continues_an_open_day_and_closes_days_left_behind(tmp_path):
    clock = FakeClock("2026-11-20T12:00:00")
    files = AlertFiles(tmp_path, now=clock)
    files.handle(alert("2026-11-20T10:00:00.000Z", 1))
    files.close()
    files = AlertFiles(tmp_path, now=clock)
    files.handle(alert("2026-11-20T11:00:00.000Z", 2))
    files.close()
    assert (day_dir(tmp_path) / "ossec-alerts-20.log").read_text().count("** Alert") == 2
    clock.set("2026-11-23T00:00:00")
    AlertFiles(tmp_path, now=clock).close()  # down over midnight: closed at the next start
    assert (day_dir(tmp_path) / "ossec-alerts-20.log.gz").exists()


def write_three_days(directory: Path) -> None:
    lines = "".join(json.dumps(alert(f"2026-11-{d}T10:00:00.000Z", d)) + "\n" for d in (20, 21, 22))
    result = run_hidsctl("logs", "write", "--dir", str(directory), input=lines)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""


def verify_cli(directory: Path) -> subprocess.CompletedProcess:
    return invoke_hidsctl("logs", "verify", "--dir", str(directory))


def test_verify_intact_end_to_end(tmp_path):
    write_three_days(tmp_path)
    result = verify_cli(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert b"6 sealed files over 3 days intact" in result.stdout


@pytest.mark.parametrize("damage, kind", [
    ("modify", "modified"), ("truncate", "truncated"), ("remove", "missing")])
def test_verify_names_the_damaged_day(tmp_path, damage, kind):
    write_three_days(tmp_path)
    target = day_dir(tmp_path) / "ossec-alerts-21.log.gz"
    if damage == "modify":
        text = gzip.decompress(target.read_bytes()).replace(b"root", b"toor")
        target.write_bytes(gzip.compress(text))
    elif damage == "truncate":
        target.write_bytes(target.read_bytes()[:-12])
    else:
        target.unlink()
    result = verify_cli(tmp_path)
    assert result.returncode == 1
    assert f"2026-11-21 {kind}: alerts/2026/Nov/ossec-alerts-21.log.gz".encode() in result.stdout
    assert b"2026-11-20" not in result.stdout.splitlines()[0]
    assert f"2026-11-21 {kind}".encode() in result.stderr


def test_verify_detects_an_edited_checksum_file(tmp_path):
    write_three_days(tmp_path)
    checksums = tmp_path / "alerts" / "checksums"
    lines = checksums.read_text().splitlines(keepends=True)
    checksums.write_text("".join(lines[:2] + lines[4:]))  # day 21 dropped from the chain
    result = verify_cli(tmp_path)
    assert result.returncode == 1
    assert b"2026-11-21 unsealed" in result.stdout
    assert b"2026-11-22 chain-broken" in result.stdout


def test_a_close_interrupted_by_a_crash_is_finished_or_redone(tmp_path):
    clock = FakeClock("2026-11-20T12:00:00")
    files = AlertFiles(tmp_path, now=clock)
    files.handle(alert("2026-11-20T10:00:00.000Z", 1))
    files.handle(alert("2026-11-21T10:00:00.000Z", 2))
    files.close()
    directory = day_dir(tmp_path)
    # Crash after sealing day 20 but before removing its plain file: restore the plain file.
    (directory / "ossec-alerts-20.log").write_bytes(gzip.decompress(
        (directory / "ossec-alerts-20.log.gz").read_bytes()))
    # Crash after gzipping day 21 but before sealing it: a stray gzip beside the open file.
    (directory / "ossec-alerts-21.log.gz").write_bytes(gzip.compress(b"partial"))
    (directory / "ossec-alerts-21.json.gz.tmp").write_bytes(b"half")
    clock.set("2026-11-22T00:00:05")
    AlertFiles(tmp_path, now=clock).close()
    names = sorted(p.name for p in directory.iterdir())
    assert names == ["ossec-alerts-20.json.gz", "ossec-alerts-20.log.gz",
                     "ossec-alerts-21.json.gz", "ossec-alerts-21.log.gz"]
    with gzip.open(directory / "ossec-alerts-21.log.gz", "rt") as packed:
        assert "Failed password for root (2)" in packed.read()
    result = verify(tmp_path)
    seals, problems = result.seals, result.problems
    assert problems == [] and len(seals) == 4


def test_one_writer_per_directory(tmp_path):
    files = AlertFiles(tmp_path, now=FakeClock("2026-11-20T12:00:00"))
    try:
        result = run_hidsctl("logs", "write", "--dir", str(tmp_path), input="")
        assert result.returncode == 1 and b"alert files in" in result.stderr
    finally:
        files.close()
