"""Where ``ar`` records for agents go: a FIFO, a Unix socket or a regular file named by
``--route`` (``hidsctl receive --control PATH`` reads it and delivers to the agents).

Each record gets its own open (or connection) and close: a reader that reads a FIFO or a
connection up to end of file (as ``supervise`` does) gets every record at once, a file can
be rotated under us, and a reader that went away is noticed at the next record instead of
silently swallowing it on a stale connection."""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import stat
import time
from pathlib import Path

from hidsctl import records

FIFO_WAIT = 1.0  # seconds to wait for a FIFO's reader


class Router:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.fd: int | None = None
        self.sock: socket.socket | None = None

    def send(self, record: dict) -> str | None:
        """Write one record; None when delivered, else what went wrong."""
        line = records.dumps(record)
        try:
            self._open()
            if self.sock is not None:
                self.sock.sendall(line)
            else:
                assert self.fd is not None  # _open made a socket or a descriptor
                _write_all(self.fd, line)
            return None
        except OSError as exc:
            return _describe(exc, self.path)
        finally:
            self.close()

    def _open(self) -> None:
        if self.fd is not None or self.sock is not None:
            return
        try:
            mode = os.stat(self.path).st_mode
        except FileNotFoundError:
            mode = 0
        if stat.S_ISSOCK(mode):
            self.sock = _connect(self.path)
        elif stat.S_ISFIFO(mode):
            fd = _open_fifo(self.path)
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
            self.fd = fd
        else:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _open_fifo(path: Path) -> int:
    """Open for writing without hanging when nobody reads: a non-blocking open fails at
    once then, so it is tried again for a moment (a reader that reads up to end of file
    opens the FIFO again right after each record)."""
    deadline = time.monotonic() + FIFO_WAIT
    while True:
        try:
            return os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _connect(path: Path) -> socket.socket:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        sock = socket.socket(socket.AF_UNIX, kind | socket.SOCK_CLOEXEC)
        try:
            sock.connect(os.fspath(path))
            return sock
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EPROTOTYPE:
                raise
    raise OSError(errno.EPROTOTYPE, "socket type not supported")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _describe(exc: OSError, path: Path) -> str:
    if exc.errno == errno.ENXIO:
        return f"route {path}: nobody is reading the FIFO"
    if exc.errno == errno.ENOENT and not path.parent.is_dir():
        return f"route {path}: no directory {path.parent}"
    if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
        return f"route {path}: nobody is listening"
    return f"route {path}: {exc.strerror or exc}"
