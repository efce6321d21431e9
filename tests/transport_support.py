"""Real ``hidsctl receive`` and ``hidsctl send`` processes on loopback, for the transport
tests and the benchmark."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from hidsctl.transport.keys import KeyFile, keys_path


def wait_for(predicate: Callable[[], object], timeout: float = 30.0, what: str = "condition",
             interval: float = 0.05):
    """The first true value of ``predicate``, polled every ``interval`` seconds; an
    AssertionError naming ``what`` past ``timeout``. The tests' one deadline helper."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent to reap it does not)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def hidsctl_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "hidsctl", *args]


class ReceiveProcess:
    """``hidsctl receive`` with its stdout appended to a file that survives restarts."""

    def __init__(self, workdir: Path, state: Path, *args: str, port: int = 0,
                 stdin=subprocess.DEVNULL):
        self.workdir = workdir
        self.state = state
        self.args = args
        self.port = port
        self.stdin = stdin
        self.out_path = workdir / f"receive-{id(self)}.jsonl"
        self.err_path = workdir / f"receive-{id(self)}.err"
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        err_offset = self.err_path.stat().st_size if self.err_path.exists() else 0
        with open(self.out_path, "ab") as out, open(self.err_path, "ab") as err:
            self.proc = subprocess.Popen(
                hidsctl_argv("receive", "--listen", f"127.0.0.1:{self.port}",
                             "--state-dir", str(self.state), *self.args),
                stdout=out, stderr=err, stdin=self.stdin)
        text = wait_for(lambda: self._listening(err_offset), 30, "receive to listen")
        self.port = int(text)

    def _listening(self, offset: int) -> str | None:
        if self.proc.poll() is not None:
            raise AssertionError(f"receive exited {self.proc.returncode}: {self.stderr()}")
        match = re.search(r"listening on tcp 127\.0\.0\.1:(\d+)", self.stderr()[offset:])
        return match.group(1) if match else None

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace") if self.err_path.exists() else ""

    def listening(self, what: str) -> int:
        match = re.search(rf"listening on {what} \S+:(\d+)", self.stderr())
        assert match, self.stderr()
        return int(match.group(1))

    def records(self) -> list[dict]:
        out = []
        for line in self.out_path.read_bytes().splitlines():
            if line.strip():
                out.append(json.loads(line))  # a torn last line would fail the test: good
        return out

    def of_type(self, kind: str) -> list[dict]:
        return [r for r in self.records() if r.get("type") == kind]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            terminate(self.proc)


class SendProcess:
    """``hidsctl send`` fed through a pipe; its stdout (ar records) goes to a file."""

    def __init__(self, workdir: Path, state: Path, port: int, *args: str, name: str = "send"):
        self.out_path = workdir / f"{name}.jsonl"
        self.err_path = workdir / f"{name}.err"
        with open(self.out_path, "ab") as out, open(self.err_path, "ab") as err:
            self.proc = subprocess.Popen(
                hidsctl_argv("send", "--server", f"127.0.0.1:{port}", "--state-dir", str(state),
                             *args),
                stdin=subprocess.PIPE, stdout=out, stderr=err)

    def write(self, records: list[dict]) -> None:
        data = "".join(json.dumps(r) + "\n" for r in records).encode()
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def close(self, timeout: float = 60) -> int:
        self.proc.stdin.close()
        return self.proc.wait(timeout)

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.out_path.read_bytes().splitlines()
                if line.strip()]

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def stop(self) -> None:
        kill_running(self.proc)


def terminate(proc: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``grace`` seconds."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def kill_running(*procs: subprocess.Popen) -> None:
    """SIGKILL each process that has not exited yet (a test's cleanup), and reap it."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def enroll_keys(server_state: Path, agent_states: dict[str, Path]) -> dict[str, str]:
    """Give each agent (name -> state dir) a key on the server and import it; name -> id."""
    server_state.mkdir(parents=True, exist_ok=True)
    server_keys = KeyFile.open(keys_path(server_state))
    ids = {}
    for name, state in agent_states.items():
        key = server_keys.add(name)
        state.mkdir(parents=True, exist_ok=True)
        agent_keys = KeyFile.open(keys_path(state))
        agent_keys.keys[key.id] = key
        agent_keys.save()
        ids[name] = key.id
    return ids


def log_records(start: int, count: int, text: str = "record", **extra) -> list[dict]:
    return [{"type": "log", "location": "test", "log": f"{text} {n}", "seq": n, **extra}
            for n in range(start, start + count)]


def kill_quietly(*procs) -> None:
    for proc in procs:
        try:
            proc.stop()
        except (OSError, ProcessLookupError):
            pass


def env_without_pythonpath() -> dict:
    return dict(os.environ)


class Proxy:
    """A TCP proxy on loopback that records both directions and can alter the agent's
    stream: ``tamper(body) -> body`` sees each client-to-server frame body once."""

    def __init__(self, target_port: int, tamper=None):
        import socket
        import threading

        self.target_port = target_port
        self.tamper = tamper
        self.client_bytes = bytearray()
        self.server_bytes = bytearray()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.threads: list = []
        self.closed = False
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()

    def _accept(self) -> None:
        import socket
        import threading

        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            for args in ((client, server, True), (server, client, False)):
                thread = threading.Thread(target=self._pump, args=args, daemon=True)
                thread.start()

    def _pump(self, source, sink, from_client: bool) -> None:
        from hidsctl.transport.protocol import FrameReader, frame

        frames = FrameReader(1 << 30)
        try:
            while chunk := source.recv(65536):
                if from_client:
                    self.client_bytes += chunk
                    out = b""
                    for body in frames.feed(chunk):
                        out += frame(self.tamper(body) if self.tamper else body)
                    chunk = out
                else:
                    self.server_bytes += chunk
                if chunk:
                    sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.close()
                except OSError:
                    pass

    def close(self) -> None:
        self.closed = True
        self.listener.close()
