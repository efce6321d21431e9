"""logs write --from nats://…/ALERTS --group …: alert files fed from the bus, resuming
where a killed writer left off."""

from __future__ import annotations

import gzip
import json
import signal
import subprocess

import orjson
import pytest

from conftest import invoke_hidsctl
from hidsctl.bus import partition
from hidsctl.bus.address import parse
from hidsctl.bus.client import SyncBus
from nats_support import nats_server  # noqa: F401  (fixture)
from transport_support import hidsctl_argv, kill_running, wait_for

pytestmark = pytest.mark.slow


def alert(n: int) -> dict:
    agent = f"{n % 5 + 1:03d}"
    return {"type": "alert", "timestamp": f"2026-12-03T10:{n // 60 % 60:02d}:{n % 60:02d}Z",
            "id": f"1796292000.{n}", "rule": {"id": "5716", "level": 5,
                                              "description": "sshd: authentication failed.",
                                              "groups": ["sshd"], "firedtimes": n},
            "agent": {"id": agent, "name": f"h{agent}", "ip": "10.0.0.1"},
            "manager": {"name": "m"}, "full_log": f"line {n}", "location": "/var/log/auth.log"}


def publish(bus: SyncBus, alerts: list[dict]) -> None:
    for rec in alerts:
        bus.publish(partition.subject("ALERTS", partition.partition_of(rec["agent"]["id"], 4)),
                    orjson.dumps(rec))


def pending(bus: SyncBus) -> int:
    info = bus.call(bus.js.consumer_info("ALERTS", "files"))
    return info.num_pending + info.num_ack_pending


def read(directory, suffix: str) -> str:
    """The alert files of that kind, gzipped (sealed on restart) or open, concatenated."""
    text = ""
    for path in sorted(directory.glob(f"alerts/*/*/ossec-alerts-*{suffix}*")):
        if not path.name.endswith((suffix, suffix + ".gz")):
            continue  # a gzip being made
        text += (gzip.decompress(path.read_bytes()) if path.name.endswith(".gz")
                 else path.read_bytes()).decode()
    return text


def written(directory) -> list[dict]:
    """Whole lines only: the writer may be mid-line while the test polls."""
    whole = read(directory, ".json").rpartition("\n")[0]
    return [json.loads(line) for line in whole.splitlines() if line.strip()]


def start(tmp_path, address: str) -> subprocess.Popen:
    with open(tmp_path / "logs.err", "ab") as err:
        return subprocess.Popen(hidsctl_argv("logs", "write", "--from", address, "--group",
                                             "files", "--dir", str(tmp_path / "out")),
                                stdout=subprocess.DEVNULL, stderr=err)


def test_alert_files_get_every_alert_once_across_a_killed_writer(tmp_path, nats_server):  # noqa: F811
    address = nats_server.address("ALERTS")
    bus = SyncBus(parse(address), "test")
    bus.ensure_stream(4)
    proc = start(tmp_path, address)
    try:
        publish(bus, [alert(n) for n in range(300)])
        # A kill while a batch is written writes that batch again (docs/scale-out.md):
        # killed once the first alerts are written and acknowledged.
        wait_for(lambda: len(written(tmp_path / "out")) == 300 and pending(bus) == 0, 60,
                 "the first alerts written and acknowledged")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        publish(bus, [alert(n) for n in range(300, 500)])
        proc = start(tmp_path, address)
        # Distinct ids: while the restart seals the first day's file, its plain and its
        # gzip both exist for a moment and would count the first 300 twice.
        wait_for(lambda: len({a["id"] for a in written(tmp_path / "out")}) == 500, 60,
                 "every alert")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        kill_running(proc)
        bus.close()
    got = written(tmp_path / "out")
    assert sorted(a["id"] for a in got) == sorted(f"1796292000.{n}" for n in range(500))
    assert "Traceback" not in (tmp_path / "logs.err").read_text()
    log = read(tmp_path / "out", ".log")
    assert log.count("Rule: 5716") == 500  # the OSSEC-layout log too


def test_from_without_group_is_a_usage_error(tmp_path):
    result = invoke_hidsctl("logs", "write", "--from", "nats://127.0.0.1:1/A", "--dir",
                            str(tmp_path))
    assert result.returncode == 2 and b"--from and --group go together" in result.stderr


def test_records_written_before_a_lost_ack_are_not_written_again(tmp_path, nats_server):  # noqa: F811
    """The writer died after its files and position were on disk but before the server had
    its ack: the server delivers those records again, and the position skips them."""
    address = nats_server.address("ALERTS")
    bus = SyncBus(parse(address), "test")
    bus.ensure_stream(4)
    publish(bus, [alert(n) for n in range(50)])
    order = [orjson.loads(m.data)["id"] for m in bus.messages()]
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / ".bus-position-ALERTS-files").write_text("20\n")
    proc = start(tmp_path, address)
    try:
        wait_for(lambda: len(written(tmp_path / "out")) >= 30, 60, "the rest written")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        kill_running(proc)
        bus.close()
    assert [a["id"] for a in written(tmp_path / "out")] == order[20:]
