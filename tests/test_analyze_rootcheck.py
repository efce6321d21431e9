"""Rootcheck findings are remembered per agent: rule 510 (and its children) alert once per
finding, across runs with a state directory, across ``--workers``, and in the partition
state ``analyze --group`` snapshots; a new finding, or one back after being forgotten,
alerts again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import invoke_hidsctl, run_hidsctl
from hidsctl.analysis.findings import Findings
from hidsctl.analysis.run import AnalyzeSettings, new_engine
from hidsctl.bus.snapshot import Codec, capture, install

CHECKPOINT = {"type": "checkpoint", "queue": "events", "offset": 1}


def scan(tmp_path: Path, root: Path) -> bytes:
    """The records a real ``hidsctl scan --rootcheck`` makes of ``root``."""
    conf = tmp_path / "rootcheck.toml"
    conf.write_text(f'[scan.rootcheck]\nroot = "{root}"\nchecks = ["files"]\n')
    proc = run_hidsctl("scan", "--rootcheck", "--state-dir", str(tmp_path / "scan"),
                       "--config", str(conf))
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.count(b'"rootcheck"') >= 1
    return proc.stdout


def plant(root: Path, *relatives: str) -> None:
    for relative in relatives:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text("planted")


def analyze(records: bytes, *args: str) -> list[dict]:
    proc = run_hidsctl("analyze", *args, input=records)
    assert proc.returncode == 0, proc.stderr.decode()
    return [r for r in map(json.loads, proc.stdout.splitlines()) if r["type"] == "alert"]


def files_of(alerts: list[dict]) -> list[str]:
    return sorted(a["data"]["filename"] for a in alerts)


def rootcheck(title: str, agent: str = "001", ts: str = "2026-12-03T10:00:00Z",
              **extra) -> dict:
    return {"type": "rootcheck", "timestamp": ts, "title": title,
            "agent": {"id": agent, "name": f"host{agent}", "ip": "192.0.2.1"}, **extra}


def feed(*records: dict) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def test_a_scan_seen_again_alerts_nothing_and_a_new_finding_alerts(tmp_path):
    root, state = tmp_path / "root", str(tmp_path / "state")
    plant(root, "tmp/kinsing", "usr/bin/bsd-port/knerl")
    first = scan(tmp_path, root)
    assert files_of(analyze(first, "--state-dir", state)) == ["/tmp/kinsing",
                                                               "/usr/bin/bsd-port/knerl"]
    assert analyze(scan(tmp_path, root), "--state-dir", state) == []  # a restart between
    plant(root, "var/tmp/.psybnc")
    alerts = analyze(scan(tmp_path, root), "--state-dir", state)
    assert files_of(alerts) == ["/var/tmp/.psybnc"]
    assert alerts[0]["rule"]["id"] == "202000" and alerts[0]["rule"]["level"] == 12
    # without a state directory a run remembers only what it saw itself
    assert len(analyze(first + first)) == 2
    assert len(analyze(first)) == 2


def test_workers_share_the_findings_of_many_agents(tmp_path):
    state = str(tmp_path / "state")
    records = feed(*[rootcheck(f"Interface 'eth{n}' in promiscuous mode.", f"{a:03d}")
                     for a in range(8) for n in range(3)])
    assert len(analyze(records, "--workers", "3", "--state-dir", state)) == 24
    assert analyze(records, "--workers", "2", "--state-dir", state) == []
    assert analyze(records, "--state-dir", state) == []
    other = feed(rootcheck("Interface 'eth0' in promiscuous mode.", "100"))
    assert len(analyze(other, "--workers", "2", "--state-dir", state)) == 1


def test_detail_is_evidence_the_agent_and_file_are_identity(tmp_path):
    state = str(tmp_path / "state")
    title = "System Audit: SSH hardening: root can log in. File: /etc/ssh/sshd_config."
    first = feed(rootcheck(title, detail="PermitRootLogin yes"),
                 rootcheck(title, agent="002", detail="PermitRootLogin yes"),
                 rootcheck("Something odd.", file="/tmp/a"),
                 rootcheck("Something odd.", file="/tmp/b"))
    assert len(analyze(first, "--state-dir", state)) == 4
    again = feed(rootcheck(title, detail="PermitRootLogin  yes # changed"),
                 rootcheck("Something odd.", file="/tmp/b"))
    assert analyze(again, "--state-dir", state) == []


def test_a_finding_gone_longer_than_the_forget_time_alerts_again(tmp_path):
    state = str(tmp_path / "state")
    title = "Rootkit 'Kinsing miner' detected by the presence of file '/tmp/kinsing'."
    day = lambda d: f"2026-12-{d:02d}T10:00:00Z"  # noqa: E731
    assert len(analyze(feed(rootcheck(title, ts=day(1))), "--state-dir", state)) == 1
    # seen every day: never forgotten
    for d in (2, 3, 4):
        assert analyze(feed(rootcheck(title, ts=day(d))), "--state-dir", state) == []
    # gone for three days (the default forgets after two): new again
    assert len(analyze(feed(rootcheck(title, ts=day(7))), "--state-dir", state)) == 1
    assert analyze(feed(rootcheck(title, ts=day(30))), "--state-dir", state,
                   "--rootcheck-forget", "0") == []
    bad = invoke_hidsctl("analyze", "--rootcheck-forget", "soon", input=b"")
    assert bad.returncode == 2 and b"--rootcheck-forget" in bad.stderr


def test_a_kill_before_the_checkpoint_repeats_the_alert_instead_of_losing_it(tmp_path):
    """Supervised (checkpoints seen), sightings are written only once a checkpoint is
    echoed: analyze killed after alerting but before that is fed the batch again and must
    alert again."""
    state = str(tmp_path / "state")
    finding = rootcheck("Rootkit 'X' detected by the presence of file '/tmp/x'.")
    proc = subprocess.Popen([sys.executable, "-m", "hidsctl", "analyze", "--state-dir", state],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(feed(CHECKPOINT, finding))
        proc.stdin.flush()
        lines = [json.loads(proc.stdout.readline()) for _ in range(2)]
        assert [r["type"] for r in lines] == ["checkpoint", "alert"]
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    replay = analyze(feed(CHECKPOINT, finding, CHECKPOINT), "--state-dir", state)
    assert len(replay) == 1  # not lost; and now written, after the checkpoint
    assert analyze(feed(finding), "--state-dir", state) == []


def test_bounds(tmp_path):
    table = Findings(tmp_path / "rootcheck.db", forget=100.0, per_agent=3)
    for n in range(5):
        assert table.sighting("001", f"f{n}", 1000.0 + n)
    assert table.sighting("002", "f0", 1000.0)
    table.commit()
    assert table.held("001") == ["f2", "f3", "f4"]  # the ones seen longest ago went
    assert not table.sighting("001", "f4", 1050.0)
    assert table.sighting("001", "f3", 1200.0)  # last seen 197 s ago: forgotten
    table.added = 10**6  # prune now
    table.commit()
    assert table.held("001") == ["f3"] and table.held("002") == []
    table.close()


@pytest.fixture
def engine():
    return new_engine(AnalyzeSettings())


def test_the_findings_travel_with_a_partition_snapshot(engine):
    codec = Codec(engine)
    seen = rootcheck("Interface 'eth0' in promiscuous mode.")

    def rules(records) -> list[str]:
        out = [engine.process_record(dict(r)) for r in records]
        return [o.alert["rule"]["id"] for o in out if o is not None and o.alert is not None]

    install(engine, codec.fresh())
    assert rules([seen]) == ["202003"]
    blob = codec.dumps(capture(engine), 1)
    install(engine, codec.fresh())  # another partition has not seen it
    assert rules([seen]) == ["202003"]
    _, state = codec.loads(blob)  # a successor restores the first partition
    install(engine, state)
    assert rules([seen]) == []
    assert rules([rootcheck("Interface 'eth1' in promiscuous mode.")]) == ["202003"]
