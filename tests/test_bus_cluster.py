"""hidsctl on a three-node NATS cluster: replicated streams, a node SIGKILLed while an
agent sends and a group analyses; every record lands once, every alert once."""

from __future__ import annotations

import subprocess
import threading
import time

import orjson
import pytest

from conftest import run_hidsctl
from hidsctl.bus.address import parse
from hidsctl.bus.client import SyncBus
from nats_support import nats_cluster  # noqa: F401  (fixture)
from transport_support import (ReceiveProcess, SendProcess, enroll_keys, hidsctl_argv,
                               kill_quietly, wait_for)

pytestmark = pytest.mark.slow


def sshd(n: int) -> dict:
    return {"type": "log", "location": "/var/log/auth.log", "seq": n,
            "timestamp": f"2026-12-03T10:{n // 60 % 60:02d}:{n % 60:02d}Z",
            "log": f"Dec  3 10:00:00 h sshd[{n}]: Failed password for root from "
                   f"203.0.113.{n % 50} port 22 ssh2"}


def read(bus: SyncBus):
    try:  # the client may still be failing over from the killed node
        return bus.messages()
    except Exception:
        return None


def cluster_ready(bus: SyncBus) -> bool:
    try:
        bus.ensure_stream(4, replicas=3)
        return True
    except Exception:
        return False  # JetStream's meta leader is still being elected


def test_a_node_killed_mid_stream_loses_and_repeats_nothing(tmp_path, nats_cluster):  # noqa: F811
    address = nats_cluster.address("IN")
    bus = SyncBus(parse(address), "test")
    wait_for(lambda: cluster_ready(bus), 60, "a JetStream cluster")
    info = bus.call(bus.js.stream_info("IN"))
    assert info.config.num_replicas == 3
    ids = enroll_keys(tmp_path / "server", {"web1": tmp_path / "web1"})
    server = ReceiveProcess(tmp_path, tmp_path / "server", "--to", address)
    agent = SendProcess(tmp_path, tmp_path / "web1", server.port, "--drain-timeout", "90",
                        name="web1")
    done = threading.Event()
    written = [0]

    def feed() -> None:
        while not done.is_set():
            agent.write([sshd(n) for n in range(written[0], written[0] + 20)])
            written[0] += 20
            time.sleep(0.02)

    members: list[subprocess.Popen] = []
    for n in range(2):  # analysing while the node dies (R3 assets need all nodes to be made)
        with open(tmp_path / f"member{n}.err", "wb") as err:
            members.append(subprocess.Popen(hidsctl_argv(
                "analyze", "--from", address, "--group", "g", "--to",
                nats_cluster.address("ALERTS"), "--lease-ttl", "2",
                "--snapshot-interval", "0.5"), stdout=subprocess.DEVNULL, stderr=err))
    wait_for(lambda: all("member " in (tmp_path / f"member{n}.err").read_text()
                         for n in range(2)), 60, "members running")
    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        def stored() -> int:
            try:
                return bus.call(bus.js.stream_info("IN"), timeout=10).state.messages
            except Exception:
                return 0
        wait_for(lambda: stored() > 200, 60, "records in the stream")
        nats_cluster.nodes[0].kill()  # whichever node receive or the test talk to
        wait_for(lambda: stored() > written[0] - 20 and stored() > 600, 90,
                 "records after the kill")
        done.set()
        feeder.join()
        assert agent.close(120) == 0
        total = written[0]
        wait_for(lambda: stored() >= total, 90, "every record")
        stream = wait_for(lambda: read(bus), 60, "the stream read")
        logs = [orjson.loads(m.data) for m in stream]
        logs = [r for r in logs if r["type"] == "log"]
        expected_alerts = {}  # per partition: what one analyze process gives on its input
        for subject in {m.subject for m in stream}:
            text = b"".join(m.data + b"\n" for m in stream if m.subject == subject)
            result = run_hidsctl("analyze", input=text)
            expected_alerts[subject.replace("IN.", "ALERTS.")] = [
                orjson.loads(line) for line in result.stdout.splitlines()]
        expected_count = sum(len(v) for v in expected_alerts.values())
        alerts_bus = SyncBus(parse(nats_cluster.address("ALERTS")), "test")
        try:
            def alerts() -> int:
                try:
                    return alerts_bus.call(alerts_bus.js.stream_info("ALERTS"),
                                           timeout=10).state.messages
                except Exception:
                    return 0
            try:
                wait_for(lambda: alerts() >= expected_count, 120, "every alert")
            except AssertionError:
                raise AssertionError(f"{alerts()} of {expected_count}: " + "".join(
                    (tmp_path / f"member{n}.err").read_text() for n in range(2))) from None
            replicas = alerts_bus.call(alerts_bus.js.stream_info("ALERTS")).config.num_replicas
            got = {}
            for msg in wait_for(lambda: read(alerts_bus), 60, "the alerts read"):
                got.setdefault(msg.subject, []).append(orjson.loads(msg.data))
        finally:
            alerts_bus.close()
    finally:
        done.set()
        kill_quietly(agent, server)
        for proc in members:
            proc.kill()
            proc.wait()
        bus.close()
    assert sorted(r["seq"] for r in logs) == list(range(total)), "each record exactly once"
    assert all(r["agent"]["id"] == ids["web1"] for r in logs)
    assert replicas == 3  # the output stream is as replicated as the input
    assert got == {k: v for k, v in expected_alerts.items() if v}
    errors = "".join((tmp_path / f"member{n}.err").read_text() for n in range(2))
    assert "Traceback" not in errors, errors
