"""send and receive as real processes on loopback: delivery, stamping, restarts,
active-response routing and connectivity."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import struct
import subprocess
import termios
import threading
import time

import pytest

from conftest import run_hidsctl
from transport_support import (ReceiveProcess, SendProcess, enroll_keys, kill_quietly,
                               log_records, wait_for)


@pytest.fixture
def link(tmp_path):
    """A server state with agents web1 and db1 whose keys are imported on their side."""
    states = {"web1": tmp_path / "web1", "db1": tmp_path / "db1"}
    ids = enroll_keys(tmp_path / "server", states)
    return tmp_path, ids, states


def test_records_arrive_intact_and_stamped_with_the_key_identity(link):
    tmp, ids, states = link
    server = ReceiveProcess(tmp, tmp / "server")
    try:
        forged = {"id": "000", "name": "the-server", "ip": "10.9.9.9"}
        web = SendProcess(tmp, states["web1"], server.port, name="web1")
        web.write(log_records(0, 50, "from web", agent=forged, timestamp="2026-01-02T03:04:05.678Z"))
        db = SendProcess(tmp, states["db1"], server.port, name="db1")
        db.write(log_records(0, 30, "from db", agent={"id": ids["web1"], "name": "web1"}))
        assert web.close() == 0 and db.close() == 0
        logs = wait_for(lambda: len(server.of_type("log")) == 80 and server.of_type("log"))
    finally:
        server.stop()
    by_text = {r["log"]: r for r in logs}
    web_record = by_text["from web 7"]
    assert web_record["agent"] == {"id": ids["web1"], "name": "web1", "ip": "127.0.0.1"}
    assert web_record["timestamp"] == "2026-01-02T03:04:05.678Z"  # records keep their time
    assert web_record["location"] == "test" and web_record["seq"] == 7
    assert all(by_text[f"from db {n}"]["agent"]["id"] == ids["db1"] for n in range(30))
    statuses = server.of_type("agent_status")
    assert {s["agent"]["id"] for s in statuses if s["status"] == "connected"} == set(ids.values())


@pytest.mark.slow
def test_server_killed_and_restarted_while_the_agent_sends_loses_and_repeats_nothing(link):
    tmp, ids, states = link
    server = ReceiveProcess(tmp, tmp / "server")
    agent = SendProcess(tmp, states["web1"], server.port, "--drain-timeout", "60", name="web1")
    chunk = 20
    kills_done = threading.Event()
    written = [0]

    def feed() -> None:  # keeps sending until the server has been killed three times
        while not kills_done.is_set():
            agent.write(log_records(written[0], chunk))
            written[0] += chunk
            time.sleep(0.02)

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        for _ in range(3):  # SIGKILL mid-stream, each time after more records arrived
            seen = len(server.of_type("log"))
            wait_for(lambda: len(server.of_type("log")) > seen + 100, 60)
            server.kill()
            time.sleep(0.3)
            server.start()  # same port, same state directory
        kills_done.set()
        feeder.join()
        assert agent.close(90) == 0
        total = written[0]
        wait_for(lambda: len(server.of_type("log")) >= total, 60, "every record")
        server.stop()  # the agent has drained and gone: a repeat would be written by now
        seqs = [r["seq"] for r in server.of_type("log")]
    finally:
        kills_done.set()
        kill_quietly(agent, server)
    assert sorted(seqs) == list(range(total)), "every record exactly once"


def test_an_ar_record_reaches_the_targeted_agent_only(link):
    tmp, ids, states = link
    control = tmp / "control.sock"
    server = ReceiveProcess(tmp, tmp / "server", "--control", str(control))
    web = SendProcess(tmp, states["web1"], server.port, name="web1")
    db = SendProcess(tmp, states["db1"], server.port, name="db1")
    try:
        wait_for(lambda: len(server.of_type("agent_status")) == 2, 30, "both agents connected")
        import socket
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(control))
            for target, srcip in ((ids["db1"], "203.0.113.5"), ("all", "203.0.113.6")):
                sock.sendall(json.dumps({"type": "ar", "command": "firewall-drop",
                                         "action": "add", "srcip": srcip,
                                         "target": target}).encode() + b"\n")
        wait_for(lambda: len(db.records()) == 2 and len(web.records()) == 1, 30, "commands")
    finally:
        kill_quietly(web, db, server)
    assert [r["srcip"] for r in db.records()] == ["203.0.113.5", "203.0.113.6"]
    assert [r["srcip"] for r in web.records()] == ["203.0.113.6"]
    assert all(r["type"] == "ar" and r["command"] == "firewall-drop" for r in db.records())
    assert not server.of_type("ar"), "routed commands are not written on the server's stdout"


def unread(fd: int) -> int:
    """Bytes in the pipe behind ``fd`` that its reader has not read yet."""
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]


def test_ar_for_a_disconnected_agent_is_held_until_it_connects(link):
    tmp, ids, states = link
    fifo = tmp / "control.fifo"
    os.mkfifo(fifo)
    server = ReceiveProcess(tmp, tmp / "server", "--control", str(fifo))
    try:
        with open(fifo, "wb") as control:  # a writer that comes and goes
            control.write(json.dumps({"type": "ar", "command": "disable-account",
                                      "action": "add", "user": "mallory",
                                      "target": ids["web1"]}).encode() + b"\n")
            control.flush()
            # read by receive before web1 connects: it has to hold the command
            wait_for(lambda: unread(control.fileno()) == 0, 30, "receive to read the FIFO")
        web = SendProcess(tmp, states["web1"], server.port, name="web1")
        wait_for(lambda: web.records(), 30, "held command")
        assert web.records()[0]["user"] == "mallory"
    finally:
        kill_quietly(web, server)


def test_agents_list_and_show_and_the_disconnected_status(link):
    tmp, ids, states = link
    config = tmp / "hidsctl.toml"
    config.write_text("[receive]\ndisconnect-time = 2\n")
    server = ReceiveProcess(tmp, tmp / "server", "--config", str(config))
    try:
        web = SendProcess(tmp, states["web1"], server.port, "--keepalive", "30", name="web1")
        web.write(log_records(0, 3))
        wait_for(lambda: len(server.of_type("log")) == 3)

        def listed() -> dict:
            rows = json.loads(run_hidsctl("agents", "list", "--json", "--state-dir",
                                          str(tmp / "server")).stdout)
            return {row["id"]: row for row in rows}

        # the status store is flushed about once a second
        by_id = wait_for(lambda: (rows := listed())[ids["web1"]]["status"] == "active" and rows)
        assert by_id[ids["web1"]]["version"] and by_id[ids["web1"]]["os"]
        assert by_id[ids["db1"]]["status"] == "never_connected"
        shown = json.loads(run_hidsctl("agents", "show", ids["web1"], "--json", "--state-dir",
                                       str(tmp / "server")).stdout)
        assert shown["ip"] == "127.0.0.1" and shown["hostname"]
        web.proc.send_signal(19)  # SIGSTOP: the agent goes silent without closing
        status = wait_for(lambda: [s for s in server.of_type("agent_status")
                                   if s["status"] == "disconnected"], 30, "disconnect")
        assert status[0]["agent"]["id"] == ids["web1"]
        web.proc.send_signal(18)
    finally:
        kill_quietly(web, server)
    missing = run_hidsctl("agents", "show", "042", "--state-dir", str(tmp / "server"))
    assert missing.returncode == 2 and b"no agent with id 042" in missing.stderr


def test_udp_mode_delivers_stamped_records_and_commands(link):
    tmp, ids, states = link
    server = ReceiveProcess(tmp, tmp / "server", "--udp", "127.0.0.1:0", "--control", "-",
                            stdin=subprocess.PIPE)
    try:
        udp_port = server.listening("udp")
        agent = SendProcess(tmp, states["web1"], udp_port, "--udp", name="web1")
        agent.write(log_records(0, 500, "over udp", agent={"id": "000"}))
        logs = wait_for(lambda: len(server.of_type("log")) == 500 and server.of_type("log"))
        server.proc.stdin.write(json.dumps({"type": "ar", "command": "firewall-drop",
                                            "action": "add", "srcip": "192.0.2.1",
                                            "target": ids["web1"]}).encode() + b"\n")
        server.proc.stdin.flush()
        wait_for(lambda: agent.records(), 30, "command over udp")
        assert agent.close() == 0
    finally:
        kill_quietly(agent, server)
    assert sorted(r["seq"] for r in logs) == list(range(500))
    assert {r["agent"]["id"] for r in logs} == {ids["web1"]}
    assert agent.records()[0]["srcip"] == "192.0.2.1"


def test_records_queued_while_the_server_is_away_survive_sigkill_of_send(link):
    tmp, ids, states = link
    with socket.socket() as placeholder:  # a port nothing listens on yet
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    agent = SendProcess(tmp, states["web1"], port, name="web1")
    agent.write(log_records(0, 300))
    segments = states["web1"] / "send-queue" / "segments"
    wait_for(lambda: sum(f.read_bytes().count(b"\n") for f in segments.glob("*.seg")) == 300,
             30, "records queued on disk")
    agent.proc.kill()  # SIGKILL, with nothing delivered
    agent.proc.wait()
    server = ReceiveProcess(tmp, tmp / "server", port=port)
    try:
        assert run_hidsctl("send", "--server", f"127.0.0.1:{port}", "--state-dir",
                           str(states["web1"]), input=b"").returncode == 0
        logs = wait_for(lambda: len(server.of_type("log")) == 300 and server.of_type("log"))
    finally:
        server.stop()
    assert sorted(r["seq"] for r in logs) == list(range(300))


def test_a_full_queue_drops_the_oldest_and_says_how_many(link):
    tmp, ids, states = link
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    lines = "".join(json.dumps(r) + "\n" for r in log_records(0, 2000, "x" * 100))
    away = run_hidsctl("send", "--server", f"127.0.0.1:{port}", "--queue-size", "40000",
                       "--drain-timeout", "0", "--state-dir", str(states["web1"]), input=lines)
    assert away.returncode == 0
    server = ReceiveProcess(tmp, tmp / "server", port=port)
    try:
        assert run_hidsctl("send", "--server", f"127.0.0.1:{port}", "--state-dir",
                           str(states["web1"]), input=b"").returncode == 0
        notices = wait_for(lambda: [n for n in server.of_type("notice") if n["code"] == "dropped"])
        logs = server.of_type("log")
    finally:
        server.stop()
    dropped = sum(n["count"] for n in notices)
    assert notices[0]["component"] == "send" and notices[0]["agent"]["id"] == ids["web1"]
    assert dropped > 0 and dropped + len(logs) == 2000
    seqs = [r["seq"] for r in logs]
    assert seqs == list(range(2000 - len(logs), 2000)), "the newest are kept, in order"


def test_send_fails_over_to_the_next_server(link):
    tmp, ids, states = link
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        dead = placeholder.getsockname()[1]
    server = ReceiveProcess(tmp, tmp / "server")
    try:
        agent = SendProcess(tmp, states["web1"], dead, "--server", f"127.0.0.1:{server.port}",
                            name="web1")
        agent.write(log_records(0, 100))
        assert agent.close() == 0
        logs = wait_for(lambda: len(server.of_type("log")) == 100 and server.of_type("log"))
    finally:
        server.stop()
    assert sorted(r["seq"] for r in logs) == list(range(100))
    assert f"127.0.0.1:{dead}" in agent.stderr()  # the first server was tried and reported


def test_sigterm_while_sending_exits_0_without_a_traceback(link):
    tmp, ids, states = link
    server = ReceiveProcess(tmp, tmp / "server")
    try:
        for run in range(5):
            agent = SendProcess(tmp, states["web1"], server.port, name=f"web1-{run}")
            stop = threading.Event()

            def feed() -> None:  # acknowledgements keep coming until the very end
                n = 0
                while not stop.is_set():
                    try:
                        agent.write(log_records(n, 20))
                    except (BrokenPipeError, ValueError):
                        return
                    n += 20
                    time.sleep(0.005)

            before = len(server.of_type("log"))
            feeder = threading.Thread(target=feed)
            feeder.start()
            try:
                wait_for(lambda: len(server.of_type("log")) > before + 200, 30, "records flowing")
                agent.proc.terminate()
                code = agent.proc.wait(30)
            finally:
                stop.set()
                feeder.join()
                kill_quietly(agent)
            stderr = agent.stderr()
            assert code == 0, stderr
            assert "Traceback" not in stderr and "Exception in" not in stderr, stderr
    finally:
        server.stop()


def test_send_shutdown_leaves_no_commit_for_the_closed_worker(tmp_path):
    """A commit scheduled just before the end must not reach the worker after it shut down
    (asyncio.run still turns the loop while closing: that was a traceback on SIGTERM)."""
    import asyncio

    from hidsctl.transport import agent as agent_module

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: every connect is refused
    port = closed.getsockname()[1]
    settings = agent_module.SendSettings(server=[f"127.0.0.1:{port}"], drain_timeout=0.1)
    agent = agent_module.Agent(settings, tmp_path, None, {})  # type: ignore[arg-type]
    write_commit = agent._write_commit

    def slow_commit(offset: int) -> None:  # a slow disk: the end outlasts the commit timer
        time.sleep(agent.commit_interval + 0.1)
        write_commit(offset)

    agent._write_commit = slow_commit
    errors: list[dict] = []
    read_end, write_end = os.pipe()

    async def main() -> int:
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: errors.append(context))
        running = asyncio.create_task(agent.run(os.fdopen(read_end, "rb")))
        await asyncio.sleep(0.1)
        agent.acknowledge(0, 0)  # commits at once, in the worker
        agent.acknowledge(0, 0)  # schedules the next commit
        os.close(write_end)  # end of input: run() ends while that commit is pending
        return await running

    try:
        assert asyncio.run(main()) == 0
    finally:
        closed.close()
        agent.queue.close()
    assert errors == []
