"""A real OpenSSH sshd on a loopback port, for agentless tests; root only.

It logs in as root: keys come from an AuthorizedKeysFile in the test's tmp dir, and the
password from a copy of /etc/shadow with a known root hash, bind-mounted over /etc/shadow
in a private mount namespace that only this sshd sees (the host's file is never touched).
The privilege separation directory /run/sshd lives on a tmpfs in that namespace too.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Sshd:
    def __init__(self, directory: Path, password: str):
        self.directory = directory
        self.password = password
        directory.mkdir(parents=True, exist_ok=True)
        self.host_key = directory / "host_key"
        self.client_key = directory / "client_key"
        for key in (self.host_key, self.client_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        (directory / "authorized_keys").write_bytes((directory / "client_key.pub").read_bytes())
        self.shadow = directory / "shadow"
        self._write_shadow()
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.start()

    def _write_shadow(self) -> None:
        digest = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=self.password.encode(),
                                capture_output=True, check=True).stdout.decode().strip()
        lines = Path("/etc/shadow").read_text().splitlines()
        lines = [f"root:{digest}:" + line.split(":", 2)[2] if line.startswith("root:") else line
                 for line in lines]
        self.shadow.write_text("\n".join(lines) + "\n")
        self.shadow.chmod(0o600)

    def start(self) -> None:
        for _attempt in range(5):
            self.port = free_port()
            config = self.directory / "sshd_config"
            config.write_text("\n".join([
                f"ListenAddress 127.0.0.1:{self.port}", f"HostKey {self.host_key}",
                "UsePAM no", "PermitRootLogin yes", "PasswordAuthentication yes",
                "KbdInteractiveAuthentication no", "StrictModes no", "PidFile none",
                f"AuthorizedKeysFile {self.directory / 'authorized_keys'}",
                "MaxStartups 50", "LogLevel INFO", ""]))
            log = self.directory / "sshd.log"
            script = (f"mount -t tmpfs none /run && mkdir -m 755 /run/sshd && "
                      f"mount --bind {self.shadow} /etc/shadow && exec {SSHD} -D -e -f {config}")
            self.proc = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                stdout=subprocess.DEVNULL, stderr=open(log, "wb"), start_new_session=True)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                text = log.read_text(errors="replace")
                if "Server listening" in text:
                    return
                if self.proc.poll() is not None:
                    break
                time.sleep(0.02)
            self.stop()
        raise RuntimeError(f"sshd did not start: {(self.directory / 'sshd.log').read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None
