"""Running a real, following ``hidsctl collect`` in tests and reading what it wrote."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from transport_support import wait_for

# Short intervals, so tests of following and rotation stay fast.
FAST = ["--poll-interval", "0.1", "--rotate-wait", "0.5", "--multiline-timeout", "0.3"]


class Follower:
    """``hidsctl collect`` following sources, stdout and stderr going to files."""

    def __init__(self, workdir: Path, *args: str, state: Path | None = None,
                 prefix: list[str] | None = None):
        self.workdir = workdir
        self.state = state or workdir / "state"
        self.out_path = workdir / f"out-{time.monotonic_ns()}.jsonl"
        self.err_path = self.out_path.with_suffix(".err")
        self.out = open(self.out_path, "wb")
        self.err = open(self.err_path, "wb")
        argv = [*(prefix or []), sys.executable, "-m", "hidsctl", "collect",
                "--state-dir", str(self.state), *FAST, *args]
        self.proc = subprocess.Popen(argv, stdout=self.out, stderr=self.err,
                                     stdin=subprocess.DEVNULL)
        self.wait_ready()

    def wait_ready(self) -> None:
        """Wait until the process has placed its files: it then waits for events (its
        first select comes after the first round over every source)."""
        wait_for(lambda: self.running() and in_epoll_wait(self.proc.pid), 15, "collect to start")

    def running(self) -> bool:
        """True while collect runs; its stderr in the assertion once it has ended."""
        assert self.proc.poll() is None, self.stderr()
        return True

    def committed(self, path: Path) -> int | None:
        """The offset saved for the file now at ``path``, None before one is saved."""
        st = path.stat()
        with sqlite3.connect(f"file:{self.state / 'collect.db'}?mode=ro", uri=True,
                             timeout=5) as db:
            row = db.execute("SELECT pos FROM files WHERE path = ? AND dev = ? AND ino = ?",
                             (str(path), st.st_dev, st.st_ino)).fetchone()
        return None if row is None else row[0]

    def wait_committed(self, path: Path, pos: int, timeout: float = 15) -> None:
        """Wait until collect has saved offset ``pos`` for ``path``."""
        wait_for(lambda: self.running() and self.committed(path) == pos, timeout,
                 f"offset {pos} of {path} to be saved")

    def records(self) -> list[dict]:
        """The records written so far (not a line still being written)."""
        data = self.out_path.read_bytes()
        complete = data[:data.rfind(b"\n") + 1]
        return [json.loads(line) for line in complete.splitlines()]

    def logs(self) -> list[str]:
        return [r["log"] for r in self.records()]

    def wait_for(self, count: int, timeout: float = 15) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.records()
            if len(got) >= count or time.monotonic() > deadline:
                return got
            assert self.proc.poll() is None, self.stderr()
            time.sleep(0.05)

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=15)
        self.out.close()
        self.err.close()
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def in_epoll_wait(pid: int) -> bool:
    """Whether the process sleeps in epoll_wait (where the kernel says it waits)."""
    try:
        return Path(f"/proc/{pid}/wchan").read_text() in ("do_epoll_wait", "ep_poll")
    except OSError:
        return False


def append(path: Path, *lines: str) -> None:
    with open(path, "a") as handle:
        handle.write("".join(f"{line}\n" for line in lines))


def collect_once(*args: str, state: Path) -> tuple[list[dict], str, int]:
    proc = subprocess.run([sys.executable, "-m", "hidsctl", "collect", "--once",
                           "--state-dir", str(state), *args],
                          capture_output=True, timeout=60)
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    return out, proc.stderr.decode(errors="replace"), proc.returncode


def exactly_once(expected: list[str], got: list[str]) -> None:
    """Every expected line once, nothing else, in order per file."""
    missing = [line for line in expected if line not in got]
    assert not missing, f"lost {len(missing)} lines, first {missing[:3]}"
    repeated = sorted({line for line in got if got.count(line) > 1})
    assert not repeated, f"repeated {len(repeated)} lines, first {repeated[:3]}"
    assert sorted(got) == sorted(expected)


def drop_read_access() -> list[str]:
    """A prefix that runs a command unable to read files it has no permission for, even
    as root (without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH)."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def terminate(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
