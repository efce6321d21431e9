"""The supervisor's control socket: ``hidsctl status`` asks, the supervisor answers JSON."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Any, Callable

import orjson

from hidsctl.errors import HidsError, StateError

MAX_REQUEST = 4096


class ControlServer(threading.Thread):
    """Answers each connection with the status document, as one JSON line."""

    def __init__(self, path: Path, status: Callable[[], dict[str, Any]]):
        super().__init__(name="control", daemon=True)
        self.path = path
        self.status = status
        if path.exists() or path.is_symlink():
            path.unlink()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.bind(str(path))
        except OSError as exc:  # a path over the 107 bytes a socket address holds, say
            self.sock.close()
            raise StateError(f"cannot create the control socket {path}: "
                             f"{exc.strerror or exc}") from None
        os.chmod(path, 0o660)  # root and the hidsctl group; status shows no secrets
        self.sock.listen(16)
        self.running = True

    def run(self) -> None:
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(MAX_REQUEST)
                    conn.sendall(orjson.dumps(self.status()) + b"\n")
                except OSError:
                    continue

    def stop(self) -> None:
        self.running = False
        try:
            self.sock.close()
        finally:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass


def query(path: Path, timeout: float = 5.0) -> dict[str, Any]:
    """Ask a running supervisor for its status."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
        sock.sendall(b"status\n")
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except FileNotFoundError:
        raise HidsError(f"no supervisor is running here (no control socket {path})") from None
    except ConnectionRefusedError:
        raise HidsError(f"the supervisor is not answering on {path}") from None
    except socket.timeout:
        raise HidsError(f"the supervisor did not answer on {path} within {timeout}s") from None
    finally:
        sock.close()
    try:
        return orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError:
        raise HidsError(f"unreadable answer from the supervisor on {path}") from None
