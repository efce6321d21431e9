"""Bad peers against a real ``hidsctl receive``: each is rejected while good agents keep
flowing, and what travels on the wire reveals no record."""

from __future__ import annotations

import os
import socket
import struct
import threading
import time

import pytest

from hidsctl.transport import protocol
from transport_support import (Proxy, ReceiveProcess, SendProcess, enroll_keys, kill_quietly,
                               log_records, wait_for)


def server_closes(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def hello_and_welcome(sock: socket.socket, agent: str) -> tuple[bytes, bytes]:
    nonce = os.urandom(protocol.NONCE_LEN)
    sock.sendall(protocol.frame(protocol.hello(agent, nonce)))
    length = struct.unpack(">I", _exactly(sock, 4))[0]
    return nonce, _exactly(sock, length)


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "server closed the connection"
        data += chunk
    return data


@pytest.fixture
def setup(tmp_path):
    states = {"web1": tmp_path / "web1", "db1": tmp_path / "db1"}
    ids = enroll_keys(tmp_path / "server", states)
    config = tmp_path / "receive.toml"
    config.write_text("[receive]\nhandshake-timeout = 1\nread-timeout = 1\nlog-interval = 0\n")
    server = ReceiveProcess(tmp_path, tmp_path / "server", "--config", str(config))
    yield tmp_path, ids, states, server
    server.stop()


def test_captured_traffic_reveals_no_record_and_replaying_it_adds_nothing(setup):
    tmp, ids, states, server = setup
    proxy = Proxy(server.port)
    agent = SendProcess(tmp, states["web1"], proxy.port, name="web1")
    try:
        agent.write(log_records(0, 200, "Failed password for root from 203.0.113.77"))
        assert agent.close() == 0
        wait_for(lambda: len(server.of_type("log")) == 200)
    finally:
        kill_quietly(agent)
        proxy.close()
    captured = bytes(proxy.client_bytes) + bytes(proxy.server_bytes)
    assert len(proxy.client_bytes) > 500
    for text in (b"Failed password", b"203.0.113.77", b"location", b"test", b'"log"'):
        assert text not in captured

    with connect(server.port) as sock:  # the whole captured session, replayed
        sock.sendall(bytes(proxy.client_bytes))
        server_closes(sock)
    rejections = lambda: [n for n in server.of_type("notice")  # noqa: E731
                          if n["code"] == "peer_rejected"]
    wait_for(lambda: rejections() and "bad_tag" in server.stderr(), 30, "the replay rejected")
    assert len(server.of_type("log")) == 200
    assert rejections()[-1]["reason"] == "bad_tag"


def test_bad_peers_are_rejected_while_good_agents_keep_flowing(setup):
    tmp, ids, states, server = setup
    flipped = threading.Event()

    def flip_one_byte(body: bytes) -> bytes:
        if not flipped.is_set() and protocol.parse_header(body).kind == protocol.DATA:
            flipped.set()
            return body[:-5] + bytes([body[-5] ^ 0x01]) + body[-4:]
        return body

    proxy = Proxy(server.port, tamper=flip_one_byte)
    web = SendProcess(tmp, states["web1"], server.port, name="web1")
    db = SendProcess(tmp, states["db1"], proxy.port, name="db1")  # its stream is tampered with
    stop = threading.Event()

    def feed(agent: SendProcess) -> None:
        for start in range(0, 1000, 20):
            agent.write(log_records(start, 20))
            time.sleep(0.02)

    feeders = [threading.Thread(target=feed, args=(a,)) for a in (web, db)]
    for thread in feeders:
        thread.start()
    try:
        wait_for(lambda: len(server.of_type("log")) > 50)
        web_id = ids["web1"]

        # a wrong key: the handshake answers, but nothing sealed under the guess opens
        with connect(server.port) as sock:
            nonce, welcome = hello_and_welcome(sock, web_id)
            wrong = os.urandom(32)
            nonce_s = welcome[3 + len(web_id):3 + len(web_id) + protocol.NONCE_LEN]
            a2s, _ = protocol.session_keys(wrong, web_id, nonce, nonce_s)
            forged = protocol.Channel(a2s, web_id)
            forged.counter = 0
            sock.sendall(protocol.frame(forged.seal(protocol.DATA, protocol.encode_batch(
                os.urandom(16), 0, [b'{"type":"log","location":"x","log":"forged"}']))))
            assert server_closes(sock) == b""

        # an unknown agent is told so and dropped
        with connect(server.port) as sock:
            sock.sendall(protocol.frame(protocol.hello("777", os.urandom(32))))
            reply = server_closes(sock)
            assert protocol.parse_header(reply[4:]).kind == protocol.REJECT

        # an oversized frame is refused from its length prefix alone
        with connect(server.port) as sock:
            sock.sendall(struct.pack(">I", 0x7FFFFFFF) + b"x" * 100)
            assert server_closes(sock) == b""

        # a truncated frame: the length promises more than ever comes
        with connect(server.port) as sock:
            sock.sendall(struct.pack(">I", 1000) + protocol.hello(web_id, os.urandom(32))[:20])
            assert server_closes(sock) == b""  # dropped after the read timeout

        # a truncated message inside a valid frame
        with connect(server.port) as sock:
            hello_and_welcome(sock, web_id)
            sock.sendall(protocol.frame(protocol.header(protocol.DATA, web_id) + b"\0" * 10))
            assert server_closes(sock) == b""

        # random bytes
        with connect(server.port) as sock:
            sock.sendall(struct.pack(">I", 4096) + b"\x07" + os.urandom(4095))
            assert server_closes(sock) == b""

        # a peer that connects and says nothing
        with connect(server.port) as sock:
            assert server_closes(sock) == b""

        for thread in feeders:
            thread.join()
        assert web.close() == 0 and db.close() == 0
        wait_for(lambda: len(server.of_type("log")) >= 2000, 60, "all good records")
        time.sleep(0.3)
    finally:
        stop.set()
        kill_quietly(web, db)
        proxy.close()
    assert flipped.is_set()
    logs = server.of_type("log")
    for name in ("web1", "db1"):
        seqs = sorted(r["seq"] for r in logs if r["agent"]["id"] == ids[name])
        assert seqs == list(range(1000)), f"{name}: every record exactly once"
    assert not [r for r in logs if r["log"] == "forged"]
    # the hellos sent under web1's id never displaced its live session
    assert web.stderr().count(": connected") == 1, web.stderr()
    stderr = server.stderr()
    for code in ("bad_tag", "unknown_agent", "oversized", "slow", "bad_frame", "timeout"):
        assert code in stderr, code


def flood_hellos(port: int, agent: str, stop: threading.Event, sent: list[int],
                 source: str = "127.0.0.2") -> None:
    """Hellos as fast as one thread can open connections, from another loopback address."""
    linger = struct.pack("ii", 1, 0)  # reset on close: no TIME_WAIT to run out of ports
    while not stop.is_set() and sent[0] < 500000:  # bounded, should stop never come
        sock = socket.socket()
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            sock.bind((source, 0))
            sock.connect(("127.0.0.1", port))
            sent[0] += 1
            sock.sendall(protocol.frame(protocol.hello(agent, os.urandom(protocol.NONCE_LEN))))
        except OSError:
            time.sleep(0.01)
        finally:
            sock.close()


def test_hello_flood_is_limited_per_source_and_noticed(tmp_path):
    states = {"web1": tmp_path / "web1"}
    ids = enroll_keys(tmp_path / "server", states)
    config = tmp_path / "receive.toml"
    config.write_text("[receive]\nhello-rate = 20\nhello-burst = 20\nlog-interval = 0\n")
    server = ReceiveProcess(tmp_path, tmp_path / "server", "--config", str(config))
    stop, sent = threading.Event(), [0]
    flooder = threading.Thread(target=flood_hellos, args=(server.port, ids["web1"], stop, sent))
    flooder.start()
    agent = None
    try:
        wait_for(lambda: sent[0] > 500, 60, "the flood to start")
        agent = SendProcess(tmp_path, states["web1"], server.port, name="web1")  # from 127.0.0.1
        agent.write(log_records(0, 10))
        wait_for(lambda: len(server.of_type("log")) == 10, 60, "the agent's records")
        wait_for(lambda: [n for n in server.of_type("notice") if n["code"] == "hello_flood"],
                 30, "a hello_flood notice")
    finally:
        stop.set()
        flooder.join()
        kill_quietly(agent)
        server.stop()
    floods = [n for n in server.of_type("notice") if n["code"] == "hello_flood"]
    assert {n["location"] for n in floods} == {"127.0.0.2"}  # never the agent's address
    assert all(n["component"] == "receive" and n["count"] > 0 for n in floods)
    assert "hellos refused over the handshake rate limit (20/s)" in floods[0]["message"]
    refused = sum(n["count"] for n in floods)
    assert refused <= sent[0] - 20  # the burst went through: a limit, not a ban
    statuses = server.of_type("agent_status")
    assert [s["status"] for s in statuses] == ["connected"], statuses
    assert "127.0.0.2: " in server.stderr() and "Traceback" not in server.stderr()


def test_hello_limiter_buckets_per_source(monkeypatch):
    from hidsctl.transport import links

    now = [100.0]
    monkeypatch.setattr(links.time, "monotonic", lambda: now[0])
    limiter = links.HelloLimiter(rate=2, burst=3)
    assert [limiter.admit("192.0.2.1") for _ in range(5)] == [True, True, True, False, False]
    assert limiter.admit("192.0.2.2")  # another source has its own bucket
    assert limiter.spent("192.0.2.1") and not limiter.spent("192.0.2.2")
    now[0] += 0.5  # one hello's worth refilled
    assert [limiter.admit("192.0.2.1") for _ in range(2)] == [True, False]
    assert limiter.take_refused() == {"192.0.2.1": 4}
    assert limiter.take_refused() == {}
    assert all(links.HelloLimiter(rate=0, burst=0).admit("192.0.2.1") for _ in range(100))


def test_hello_limiter_table_is_bounded(monkeypatch):
    from hidsctl.transport import links

    now = [0.0]
    monkeypatch.setattr(links.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(links.HelloLimiter, "MAX_SOURCES", 100)
    limiter = links.HelloLimiter(rate=1, burst=5)
    for n in range(250):
        assert limiter.admit(f"10.0.{n // 256}.{n % 256}")
    assert len(limiter.sources) <= 100  # all busy: the table starts over
    limiter = links.HelloLimiter(rate=1, burst=5)
    for n in range(100):
        limiter.admit(f"10.1.0.{n}")
    now[0] += 9
    for _ in range(5):
        limiter.admit("10.1.0.0")  # spent: kept
    now[0] += 1  # the others have refilled and are forgotten when room is needed
    limiter.admit("192.0.2.9")
    assert set(limiter.sources) == {"10.1.0.0", "192.0.2.9"}
