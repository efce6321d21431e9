"""``command`` and ``full_command`` sources: a shell command run every ``frequency``
seconds. Entries read ``ossec: output: 'NAME': …`` as OSSEC writes them, so the rules that
watch command output (disk space, listening ports, logins) keep working."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from hidsctl import records
from hidsctl.collect.emit import Emitter
from hidsctl.collect.settings import CommandSource
from hidsctl.diagnostics import logger

log = logger("collect")
OUTPUT_LIMIT = 16 << 20  # bytes kept from one run; the rest is counted and reported


class CommandRunner:
    def __init__(self, source: CommandSource, writer: records.RecordWriter, max_line: int):
        self.source = source
        self.emitter = Emitter(writer, source.name,
                               "full_command" if source.full else "command", max_line)
        self.next_run = time.monotonic()
        self.proc: subprocess.Popen | None = None
        self.out = bytearray()
        self.err = bytearray()
        self.dropped = 0

    def due(self, now: float) -> bool:
        return self.proc is None and now >= self.next_run

    def start(self) -> list[int]:
        """Start a run; the descriptors to watch for its output."""
        self.next_run = time.monotonic() + self.source.frequency
        self.out.clear()
        self.err.clear()
        self.dropped = 0
        try:
            self.proc = subprocess.Popen(
                ["/bin/sh", "-c", self.source.command], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            log.warning(f"command {self.source.command!r}: cannot run: {exc.strerror}")
            return []
        fds = [self.proc.stdout.fileno(), self.proc.stderr.fileno()]  # type: ignore[union-attr]
        for fd in fds:
            os.set_blocking(fd, False)
        return fds

    def readable(self, fd: int) -> bool:
        """Read from one of the run's pipes; True at its end."""
        assert self.proc is not None
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return False
        if not data:
            return True
        stdout = fd == self.proc.stdout.fileno()  # type: ignore[union-attr]
        buffer = self.out if stdout else self.err
        room = OUTPUT_LIMIT - len(buffer)
        buffer += data[:max(room, 0)]
        if stdout and room < len(data):
            self.dropped += len(data) - max(room, 0)
        return False

    def finish(self) -> None:
        """The run's output has ended: wait for it and write its entries."""
        assert self.proc is not None
        status = self.proc.wait()
        self.proc.stdout.close()  # type: ignore[union-attr]
        self.proc.stderr.close()  # type: ignore[union-attr]
        self.proc = None
        self.emit(bytes(self.out))
        if status != 0 and not self.out:
            reason = bytes(self.err).decode("utf-8", "replace").strip().splitlines()
            log.warning(f"command {self.source.command!r} exited with status {status}"
                 + (f": {reason[0]}" if reason else ""))
        if self.dropped:
            log.warning(f"command {self.source.command!r}: output over {OUTPUT_LIMIT} bytes; "
                 f"{self.dropped} bytes dropped")

    def run_once(self) -> None:
        """Run to completion (for --once)."""
        fds = self.start()
        open_fds = set(fds)
        import selectors

        with selectors.DefaultSelector() as selector:
            for fd in fds:
                selector.register(fd, selectors.EVENT_READ)
            while open_fds:
                for key, _ in selector.select():
                    if self.readable(key.fd):
                        selector.unregister(key.fd)
                        open_fds.discard(key.fd)
        if self.proc is not None:
            self.finish()

    def stop(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except OSError:
                pass
            self.proc.wait()
            self.proc = None

    def emit(self, output: bytes) -> None:
        head = f"ossec: output: '{self.source.name}':"
        text = output.decode("utf-8", "replace")
        if self.source.full:
            body = text.rstrip("\n")
            if body:
                self.emitter.entry(f"{head}\n{body}")
            return
        stamp = None
        for line in text.splitlines():
            if line:
                stamp = stamp or records.now()
                self.emitter.entry(f"{head} {line}", timestamp=stamp)

