"""One supervised component: its process, its pipes to the queues, restarts with backoff."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from hidsctl.backoff import Backoff
from hidsctl.queue import DurableQueue, tail_records
from hidsctl.supervise.pipes import Counters, Drainer, Feeder, keep_types


@dataclass
class ComponentSpec:
    """What to run and how it is wired."""

    name: str
    argv: list[str]
    inputs: list[str] = field(default_factory=list)  # queue names it reads
    output: str | None = None  # queue name its kept records go to
    keep: tuple[str, ...] = ()  # record types kept from its stdout (all when empty)
    privileged: bool = False  # keeps root; others run as the unprivileged user
    source: bool = False  # produces records from the world, not from queues
    reloads_on_sighup: bool = False  # reloads config and rules in place, keeping its state
    dedupe: bool = False  # a log source that may repeat its last lines after a SIGKILL
    # Flat alert files the supervisor appends each alert to once it is in the queue, so a
    # component killed mid-batch never writes an alert twice: alerts.json, alerts.log.
    alerts_json: Path | None = None
    alerts_log: Path | None = None
    env: dict[str, str] = field(default_factory=dict)


USAGE_ERROR = 2  # hidsctl's exit code for a configuration or usage error


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class Component:
    """A running component: restarts after a crash with exponential backoff."""

    STABLE_AFTER = 60.0  # running this long resets the backoff

    def __init__(self, spec: ComponentSpec, queues: dict[str, DurableQueue], log,
                 user: tuple[int, int, str] | None):
        self.spec = spec
        self.queues = queues
        self.log = log
        self.user = user  # (uid, gid, name) to run as, None for the supervisor's own
        self.counters = Counters()
        self.process: subprocess.Popen | None = None
        self.state = "starting"
        self.restarts = 0
        self.started_at = 0.0
        self.next_start = 0.0
        self.backoff = Backoff(0.5, 30.0)
        self.stopping = False
        self.feed_stop = threading.Event()
        self.feeder: Feeder | None = None
        self.drainer: Drainer | None = None
        self.stderr_thread: threading.Thread | None = None
        self.last_line = ""  # the last line it wrote on stderr
        self.last_error = ""  # why it last stopped: that line, else its exit code

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        spec = self.spec
        inputs = {name: self.queues[name] for name in spec.inputs}
        output = self.queues[spec.output] if spec.output else None
        offsets = {name: self._resume_offset(name, queue, output) for name, queue in inputs.items()}
        kwargs: dict = {}
        if self.user is not None:
            uid, gid, _ = self.user
            kwargs.update(user=uid, group=gid, extra_groups=[])
        env = {**os.environ, **spec.env}
        try:
            self.process = subprocess.Popen(
                spec.argv, stdin=subprocess.PIPE if inputs else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True,
                **kwargs)
        except OSError as exc:  # retried with backoff like a crash
            self.last_error = f"cannot start: {exc}"
            self.log(f"{spec.name}: {self.last_error}")
            self.process = None
            self.restarts += 1
            self.state = "restarting"
            self.next_start = time.monotonic() + self.backoff.next()
            return
        self.started_at = time.monotonic()
        self.state = "running"
        self.last_line = ""
        self.feed_stop = threading.Event()
        tail = tail_records(output) if spec.dedupe and output is not None else None
        assert self.process.stdout is not None  # opened with PIPE above
        self.drainer = Drainer(spec.name, self.process.stdout, output, inputs, self.counters,
                               keep_types(*spec.keep), lambda q, o: None, dedupe_tail=tail,
                               mirror=self._mirror if spec.alerts_json or spec.alerts_log else None)
        self.drainer.start()
        if inputs:
            assert self.process.stdin is not None  # a PIPE when there are inputs
            self.feeder = Feeder(spec.name, self.process.stdin, inputs, offsets, self.counters,
                                 self.feed_stop)
            self.feeder.start()
        else:
            self.feeder = None
        self.stderr_thread = threading.Thread(target=self._relay_stderr, daemon=True,
                                              name=f"stderr-{spec.name}")
        self.stderr_thread.start()
        self.log(f"{spec.name}: started (pid {self.process.pid}"
                 f"{', as ' + self.user[2] if self.user else ''})")

    def _mirror(self, lines: list[bytes]) -> None:
        alerts = [line for line in lines if b'"type":"alert"' in line]
        if not alerts:
            return
        if self.spec.alerts_json is not None:
            _append_synced(self.spec.alerts_json, b"".join(line + b"\n" for line in alerts))
        if self.spec.alerts_log is not None:
            import orjson

            from hidsctl.alerttext import format_alert

            text = "".join(format_alert(orjson.loads(line)) for line in alerts)
            _append_synced(self.spec.alerts_log, text.encode("utf-8", "replace"))

    def _resume_offset(self, name: str, queue: DurableQueue, output: DurableQueue | None) -> int:
        committed = queue.committed(self.spec.name)
        fallback = committed if committed is not None else queue.start_offset()
        if output is not None:
            return output.source_offset(f"{self.spec.name}:{name}", fallback)
        return fallback

    def _relay_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for raw in self.process.stderr:
            text = raw.decode("utf-8", "replace").rstrip()
            if text:
                self.last_line = text[:500]
                self.log(f"{self.spec.name}: {text}")

    def poll(self) -> None:
        """Called by the supervisor loop: notice exits, restart when due, flush idle output."""
        if self.process is None:
            if not self.stopping and self.state != "failed" and \
                    time.monotonic() >= self.next_start:
                self.start()
            return
        if self.drainer is not None:
            self.drainer.tick()
            self.drainer.flush_if_idle(self.caught_up())
        code = self.process.poll()
        if code is None:
            if time.monotonic() - self.started_at > self.STABLE_AFTER:
                self.backoff.reset()
            return
        self._reap()
        if self.stopping:
            self.state = "stopped"
            return
        self.last_error = self.last_line.removeprefix("hidsctl: error: ") or _describe_exit(code)
        if code == USAGE_ERROR:
            # A configuration or usage error (a missing key, a bad option) comes back on
            # every restart: report it and wait for a fix and a SIGHUP.
            self.state = "failed"
            self.log(f"{self.spec.name}: stopped on a configuration error, not restarted: "
                     f"{self.last_error}")
            return
        self.restarts += 1
        self.state = "restarting"
        wait = self.backoff.next()
        self.next_start = time.monotonic() + wait
        self.log(f"{self.spec.name}: exited with code {code}; restarting in {wait:.1f}s")

    def _reap(self) -> None:
        self.feed_stop.set()
        if self.feeder is not None:
            self.feeder.join(timeout=2)
        if self.drainer is not None:
            self.drainer.join(timeout=5)
        if self.stderr_thread is not None:  # its last words, before they are reported
            self.stderr_thread.join(timeout=1)
        if self.process is not None:
            for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
                try:
                    if pipe:
                        pipe.close()
                except OSError:
                    pass
        self.process = None

    def caught_up(self) -> bool:
        """True when every input record has been fed and its checkpoint came back."""
        if self.feeder is None or self.process is None:
            return True
        for name, queue in self.feeder.inputs.items():
            # a record left to feed; not end_offset(), which counts the offset markers
            # other consumers' appends leave behind, and that are never fed
            if queue.read(self.feeder.offsets[name], max_items=1):
                return False
            if (queue.committed(self.spec.name) or 0) < self.feeder.offsets[name]:
                return False
        return True

    def signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signum)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait, then SIGKILL; outputs drained into the queue."""
        self.stopping = True
        if self.process is None:
            self.state = "stopped"
            return
        self.feed_stop.set()
        if self.feeder is not None:
            self.feeder.join(timeout=2)
        if self.process.stdin:
            try:
                self.process.stdin.close()
            except OSError:
                pass
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait()
        self._reap()
        self.state = "stopped"

    def status(self) -> dict:
        pid = self.process.pid if self.process is not None else None
        uptime = time.monotonic() - self.started_at if self.process is not None else 0.0
        return {
            "name": self.spec.name, "state": self.state, "pid": pid,
            "user": self.user[2] if self.user else _current_user(),
            "uptime": round(uptime, 1), "restarts": self.restarts,
            "inputs": self.spec.inputs, "output": self.spec.output,
            **self.counters.as_dict(), "last_error": self.last_error,
        }


def _append_synced(path: Path, data: bytes) -> None:
    # Not through a symbolic link: the file may sit in the alert tree the unprivileged
    # `logs` owns, and root must not append to wherever a link planted there points.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o644)
    with open(fd, "ab") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _current_user() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())
