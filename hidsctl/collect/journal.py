"""The systemd journal, read through ``journalctl -o json``; the cursor of the last entry
written is saved with the file offsets, so a restart resumes after it.

Each entry's ``log`` is a syslog line (``Nov 25 13:50:47 host sshd[811]: message``), so
OSSEC decoders read journal entries as they read /var/log/auth.log; ``data`` holds the
entry's own fields."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from typing import Any

import orjson

from hidsctl import records
from hidsctl.collect.emit import Emitter
from hidsctl.collect.settings import JournalSource
from hidsctl.diagnostics import logger

log = logger("collect")
CURSOR_NAME = "journal"
LOCATION = "journald"


class JournalReader:
    def __init__(self, source: JournalSource, writer: records.RecordWriter, max_line: int,
                 cursor: str | None, *, follow: bool, from_start: bool):
        self.source = source
        self.emitter = Emitter(writer, LOCATION, "journald", max_line)
        self.cursor = cursor
        self.follow = follow
        self.from_start = from_start
        self.proc: subprocess.Popen | None = None
        self.carry = b""
        self.restart_at = 0.0

    @staticmethod
    def available() -> bool:
        return shutil.which("journalctl") is not None

    def command(self) -> list[str]:
        argv = ["journalctl", "--output=json", "--no-pager", "--quiet"]
        if self.follow:
            argv.append("--follow")
        if self.cursor:
            argv += [f"--after-cursor={self.cursor}", "--no-tail"]
        elif self.from_start:
            argv.append("--no-tail")
        else:
            argv.append("--lines=0")
        return argv + list(self.source.matches)

    def start(self) -> int | None:
        """Start journalctl; its output descriptor, or None when it cannot run."""
        try:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            log.warning(f"journal: cannot run journalctl: {exc.strerror}")
            return None
        fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        os.set_blocking(fd, False)
        return fd

    def readable(self) -> bool:
        """Read what journalctl wrote; True when it has exited."""
        assert self.proc is not None
        try:
            data = os.read(self.proc.stdout.fileno(), 1 << 20)  # type: ignore[union-attr]
        except BlockingIOError:
            return False
        if not data:
            self.stopped()
            return True
        data = self.carry + data
        last = data.rfind(b"\n")
        self.carry = data[last + 1:]
        for line in data[:last + 1].split(b"\n")[:-1]:
            self.entry(line)
        return False

    def stopped(self) -> None:
        assert self.proc is not None
        status = self.proc.wait()
        error = self.proc.stderr.read().decode("utf-8", "replace").strip()  # type: ignore[union-attr]
        self.proc.stdout.close()  # type: ignore[union-attr]
        self.proc.stderr.close()  # type: ignore[union-attr]
        self.proc = None
        if status != 0:
            log.warning(f"journal: journalctl exited with status {status}"
                 + (f": {error.splitlines()[0]}" if error else ""))
        self.restart_at = time.monotonic() + 10.0

    def run_once(self) -> None:
        if self.start() is None:
            return
        assert self.proc is not None
        os.set_blocking(self.proc.stdout.fileno(), True)  # type: ignore[union-attr]
        while not self.readable():
            pass

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()
            self.proc.stdout.close()  # type: ignore[union-attr]
            self.proc.stderr.close()  # type: ignore[union-attr]
            self.proc = None

    def entry(self, line: bytes) -> None:
        try:
            fields = orjson.loads(line)
        except orjson.JSONDecodeError:
            return
        if not isinstance(fields, dict):
            return
        cursor = fields.get("__CURSOR")
        epoch = _epoch(fields.get("__REALTIME_TIMESTAMP"))
        data = {key: _text(value) for key, value in fields.items() if not key.startswith("__")}
        self.emitter.entry(syslog_line(data, epoch), data=data,
                           timestamp=records.format_timestamp(epoch))
        if isinstance(cursor, str):
            self.cursor = cursor


def syslog_line(fields: dict[str, Any], epoch: float) -> str:
    stamp = time.strftime("%b %e %H:%M:%S", time.localtime(epoch))
    host = fields.get("_HOSTNAME") or records.local_agent()["name"]
    ident = fields.get("SYSLOG_IDENTIFIER") or fields.get("_COMM") or "journal"
    pid = fields.get("SYSLOG_PID") or fields.get("_PID")
    tag = f"{ident}[{pid}]" if pid else str(ident)
    return f"{stamp} {host} {tag}: {fields.get('MESSAGE') or ''}"


def _epoch(value: Any) -> float:
    try:
        return int(value) / 1e6
    except (TypeError, ValueError):
        return time.time()


def _text(value: Any) -> Any:
    """Binary journal fields come as arrays of byte values."""
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        return bytes(v & 0xFF for v in value).decode("utf-8", "replace")
    return value
