"""receive --to nats://…: agents' records land in a real JetStream stream, once each."""

from __future__ import annotations

import threading
import time

import orjson
import pytest

from conftest import invoke_hidsctl, run_hidsctl
from hidsctl.bus import partition
from hidsctl.bus.address import parse
from hidsctl.bus.client import SyncBus
from nats_support import nats_server  # noqa: F401  (fixture)
from transport_support import (ReceiveProcess, SendProcess, enroll_keys, kill_quietly,
                               log_records, wait_for)

pytestmark = pytest.mark.slow


def stream_records(bus: SyncBus, kind: str = "log") -> list[tuple[str, str, dict]]:
    """(subject, Nats-Msg-Id, record) of every message of that type in the stream."""
    out = []
    for msg in bus.messages():
        record = orjson.loads(msg.data)
        if record["type"] == kind:
            out.append((msg.subject, (msg.headers or {}).get("Nats-Msg-Id"), record))
    return out


def test_records_land_on_the_agents_partition_once_even_across_receiver_kills(
        tmp_path, nats_server):  # noqa: F811
    states = {"web1": tmp_path / "web1", "db1": tmp_path / "db1"}
    ids = enroll_keys(tmp_path / "server", states)
    address = nats_server.address("IN")
    server = ReceiveProcess(tmp_path, tmp_path / "server", "--to", address, "--partitions", "4")
    web = SendProcess(tmp_path, states["web1"], server.port, "--drain-timeout", "60",
                      name="web1")
    db = SendProcess(tmp_path, states["db1"], server.port, "--drain-timeout", "60", name="db1")
    bus = SyncBus(parse(address), "test")
    done = threading.Event()
    written = [0]

    def feed() -> None:  # both agents keep sending until the receiver was killed twice
        while not done.is_set():
            web.write(log_records(written[0], 20, "web"))
            db.write(log_records(written[0], 20, "db"))
            written[0] += 20
            time.sleep(0.02)

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        for _ in range(2):  # SIGKILL mid-stream: batches stored but not acked are resent
            seen = len(stream_records(bus))
            wait_for(lambda seen=seen: len(stream_records(bus)) > seen + 100, 60,
                     "records in the stream")
            server.kill()
            server.start()
        done.set()
        feeder.join()
        assert web.close(90) == 0 and db.close(90) == 0
        total = written[0]
        wait_for(lambda: len(stream_records(bus)) >= 2 * total, 60, "every record")
        got = stream_records(bus)
        assert server.records() == []  # nothing on stdout: the bus has it all
    finally:
        done.set()
        kill_quietly(web, db, server)
        bus.close()
    for name, text in (("web1", "web"), ("db1", "db")):
        agent = ids[name]
        mine = [(s, m, r) for s, m, r in got if r["agent"]["id"] == agent]
        assert sorted(r["seq"] for _, _, r in mine) == list(range(total)), "each exactly once"
        assert [r["seq"] for _, _, r in mine] == list(range(total)), "in the agent's order"
        assert {s for s, _, _ in mine} == {partition.subject("IN", partition.partition_of(agent, 4))}
        assert all(r["log"].startswith(text) for _, _, r in mine)
        assert len({m for _, m, _ in mine}) == total
        assert all(m.startswith(f"{agent}.") for _, m, _ in mine)


def test_receive_refuses_a_bad_bus_address_before_listening(tmp_path):
    result = invoke_hidsctl("receive", "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path),
                            "--to", "nats://127.0.0.1:4222")
    assert result.returncode == 2
    assert b"no stream name" in result.stderr and b"Traceback" not in result.stderr


def test_receive_says_when_nats_is_unreachable(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_hidsctl("receive", "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path),
                         "--to", f"nats://127.0.0.1:{port}/IN", timeout=60)
    assert result.returncode == 1
    assert b"cannot connect to NATS" in result.stderr and b"Traceback" not in result.stderr
    assert b"connection refused" in result.stderr


def _frame_body(sock) -> bytes:
    import struct

    def exactly(size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = sock.recv(size - len(data))
            assert chunk, "receive closed the connection"
            data += chunk
        return data
    return exactly(struct.unpack(">I", exactly(4))[0])


def send_batch(port: int, agent: str, key: bytes, stream: bytes, first: int,
               lines: list[bytes]) -> None:
    """One connection of a hand-driven agent: handshake, one batch, wait for its ack."""
    import socket

    from hidsctl.transport import protocol

    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        handshake = protocol.AgentHandshake(agent, key)
        sock.sendall(protocol.frame(handshake.start()))
        session = handshake.finish(_frame_body(sock))
        sock.sendall(protocol.frame(session.seal(protocol.DATA,
                                                 protocol.encode_batch(stream, first, lines))))
        while True:
            kind, _ = session.open(_frame_body(sock))
            if kind == protocol.ACK:
                return


def test_a_batch_resent_to_another_receiver_lands_once(tmp_path, nats_server):  # noqa: F811
    """Two receivers share the agents' keys (behind a load balancer) but no state: an agent
    whose ack was lost sends the batch again to the other one; the message ids, derived
    from the agent's own stream and sequence, keep the stream free of the repeat."""
    import shutil

    from hidsctl.transport.keys import KeyFile, keys_path

    ids = enroll_keys(tmp_path / "a", {"web1": tmp_path / "web1"})
    (tmp_path / "b").mkdir()
    shutil.copy(keys_path(tmp_path / "a"), keys_path(tmp_path / "b"))
    agent = ids["web1"]
    key = KeyFile.open(keys_path(tmp_path / "web1")).get(agent).derived()
    address = nats_server.address("IN")
    first = ReceiveProcess(tmp_path, tmp_path / "a", "--to", address)
    second = ReceiveProcess(tmp_path, tmp_path / "b", "--to", address)
    bus = SyncBus(parse(address), "test")
    stream = bytes(range(16))
    lines = [orjson.dumps({"type": "log", "location": "t", "log": f"r{n}", "seq": n})
             for n in range(15)]
    try:
        send_batch(first.port, agent, key, stream, 0, lines[:10])
        send_batch(second.port, agent, key, stream, 0, lines)  # 0-9 again, then 10-14
        send_batch(first.port, agent, key, stream, 5, lines[5:])  # and once more
        wait_for(lambda: len(stream_records(bus)) >= 15, 30, "the records")
        got = stream_records(bus)
    finally:
        kill_quietly(first, second)
        bus.close()
    assert [r["seq"] for _, _, r in got] == list(range(15))
    assert [m for _, m, _ in got] == [f"{agent}.{stream.hex()}.{n}" for n in range(15)]
