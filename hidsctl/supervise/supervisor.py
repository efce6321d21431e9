"""The supervisor: start a topology's components, keep them running, stop them cleanly.

It owns every queue (so components never need write access to each other's data), runs the
components as separate processes (dropping root for those that do not need it), restarts
what dies with backoff, answers ``hidsctl status`` on a Unix socket, reloads on SIGHUP and
drains the pipeline on SIGTERM.
"""

from __future__ import annotations

import os
import pwd
import signal
import stat
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from hidsctl import config as config_module
from hidsctl.errors import ConfigError, SourceLocation, StateError
from hidsctl.queue import DurableQueue
from hidsctl.supervise import control, topology
from hidsctl.supervise.component import Component, ComponentSpec, ensure_owned


class Supervisor:
    def __init__(self, settings: topology.SuperviseSettings, config_path: Path | None,
                 state: Path, log: Callable[[str], None] | None = None,
                 fixed_topology: topology.Topology | None = None):
        self.settings = settings
        self.config_path = config_path
        self.state = state
        self.log = log or _stderr_log
        self.queues: dict[str, DurableQueue] = {}
        self.components: dict[str, Component] = {}
        self.stop_requested = threading.Event()
        self.reload_requested = threading.Event()
        self.started = time.time()
        self.control: control.ControlServer | None = None
        self.fifo_threads: list[threading.Thread] = []
        self.user = _unprivileged_user(settings.user)
        self.fixed_topology = fixed_topology  # tests wire their own components

    # --- setup ------------------------------------------------------------------------

    def _load_topology(self) -> topology.Topology:
        if self.fixed_topology is not None:
            return self.fixed_topology
        config = config_module.load(self.config_path)
        return topology.build(self.settings, config, self.config_path, self.state)

    def setup(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True, mode=0o750)
        self.topology = self._load_topology()
        queues_dir = self.state / "queues"
        queues_dir.mkdir(exist_ok=True, mode=0o750)
        for name in self.topology.queues:
            self.queues[name] = DurableQueue(queues_dir / name, writer=True,
                                             max_bytes=self.settings.queue_max_bytes)
        for fifo, queue in self.topology.fifos.items():
            self._open_fifo(queues_dir / fifo, self.queues[queue])
        if self.user is not None and any(not s.privileged for s in self.topology.components):
            try:
                _check_user_can_run(self.user)
            except StateError as exc:
                if self.settings.user:  # asked for by name: a broken setup, say so
                    raise
                # The default user cannot run this interpreter (one installed under a
                # private home, say): keep running, without privilege separation.
                self.log(f"supervise: warning: {exc.message}; running every component as root")
                self.user = None
        for spec in self.topology.components:
            self._prepare(spec)
            self.components[spec.name] = Component(spec, self.queues, self.log,
                                                   None if spec.privileged else self.user)
        self.control = control.ControlServer(self.state / "supervise.sock", self.status)
        self.control.start()

    def _prepare(self, spec: ComponentSpec) -> None:
        """Create and hand over what an unprivileged component writes, before it starts."""
        user = None if spec.privileged else self.user
        for path in _state_dirs(spec.argv):
            ensure_owned(path, user)
        for path in _output_dirs(spec.argv):
            ensure_owned(path, user)
        for path in (spec.alerts_json, spec.alerts_log):
            if path is not None:  # written by the supervisor itself, as root
                path.parent.mkdir(parents=True, exist_ok=True)

    def _open_fifo(self, path: Path, queue: DurableQueue) -> None:
        """A FIFO whose lines become queue records (respond routes commands to agents here)."""
        if path.exists() and not stat.S_ISFIFO(path.stat().st_mode):
            path.unlink()
        if not path.exists():
            os.mkfifo(path, 0o660)

        def pump() -> None:
            while not self.stop_requested.is_set():
                with open(path, "rb") as handle:  # blocks until a writer opens it
                    lines = [line.rstrip(b"\n") for line in handle if line.strip()]
                    if lines:
                        queue.append(lines)

        thread = threading.Thread(target=pump, daemon=True, name=f"fifo-{path.name}")
        thread.start()
        self.fifo_threads.append(thread)

    # --- running ----------------------------------------------------------------------

    def run(self, on_tick: Callable[["Supervisor"], None] | None = None) -> int:
        self.setup()
        signal.signal(signal.SIGTERM, lambda *_: self.stop_requested.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop_requested.set())
        signal.signal(signal.SIGHUP, lambda *_: self.reload_requested.set())
        for component in self.components.values():  # sources last: consumers are ready first
            if not component.spec.source:
                component.start()
        for component in self.components.values():
            if component.spec.source:
                component.start()
        self.log(f"supervise: role {self.settings.role} running "
                 f"{', '.join(self.components)}")
        last_prune = time.monotonic()
        while not self.stop_requested.is_set():
            for component in self.components.values():
                component.poll()
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self.reload()
            if time.monotonic() - last_prune > 30:
                self._prune()
                last_prune = time.monotonic()
            if on_tick:
                on_tick(self)
            self.stop_requested.wait(0.2)
        self.shutdown()
        return 0

    def _prune(self) -> None:
        for queue in self.queues.values():
            queue.prune()

    def reload(self) -> None:
        """SIGHUP: re-read the config and rules. A component that reloads in place on
        SIGHUP (analyze keeps its correlation windows) gets the signal; the others keep
        their state on disk and are restarted gracefully, one at a time."""
        try:
            new = self._load_topology()
        except ConfigError as exc:
            self.log(f"supervise: reload refused, config broken: {exc}")
            return
        for spec in new.components:
            component = self.components.get(spec.name)
            if component is None:
                continue  # adding or removing components needs a restart of supervise
            if spec.reloads_on_sighup and spec.argv == component.spec.argv:
                component.signal(signal.SIGHUP)
                continue
            component.stop()
            self._prepare(spec)
            component.spec = spec
            component.stopping = False
            component.start()
        self.log("supervise: reloaded")

    def shutdown(self, drain_timeout: float = 10.0) -> None:
        """Stop sources, let every consumer catch up with its queues, then stop it."""
        self.log("supervise: stopping")
        for component in self.components.values():
            if component.spec.source:
                component.stop()
        deadline = time.monotonic() + drain_timeout
        for component in self.components.values():
            if component.spec.source:
                continue
            while time.monotonic() < deadline and not component.caught_up():
                component.poll()
                time.sleep(0.05)
            component.stop()
        if self.control:
            self.control.stop()
        for queue in self.queues.values():
            queue.close()
        self.log("supervise: stopped")

    def status(self) -> dict[str, Any]:
        return {
            "role": self.settings.role,
            "pid": os.getpid(),
            "uptime": round(time.time() - self.started, 1),
            "state_dir": str(self.state),
            "components": [c.status() for c in self.components.values()],
            "queues": {name: {"end": q.end_offset(), "dropped": q.dropped}
                       for name, q in self.queues.items()},
        }


def _stderr_log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        print(f"{stamp} {message}", file=sys.stderr, flush=True)
    except (BrokenPipeError, ValueError):
        pass


def _unprivileged_user(name: str | None) -> tuple[int, int, str] | None:
    """The user receive, analyze and the outputs run as; None when not root (all run as us)."""
    if os.geteuid() != 0:
        if name:
            _stderr_log(f"supervise: warning: not root, so every component runs as the "
                        f"invoking user, not {name!r}")
        return None
    candidates = [name] if name else ["hidsctl", "nobody"]
    for candidate in candidates:
        try:
            entry = pwd.getpwnam(candidate)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid, entry.pw_name
    if name:
        raise ConfigError(f"no such user {name!r}", SourceLocation("[supervise]", detail="user"))
    raise StateError("no unprivileged user to run components as; create one with "
                     "`hidsctl supervise --install-users` or set [supervise] user")


def _check_user_can_run(user: tuple[int, int, str]) -> None:
    """Fail at start, clearly, when the unprivileged user cannot run this hidsctl at all."""
    import subprocess

    try:
        result = subprocess.run([sys.executable, "-c", "import hidsctl.cli"], user=user[0],
                                group=user[1], extra_groups=[], cwd="/", capture_output=True,
                                timeout=60)
        ok, why = result.returncode == 0, result.stderr.decode(errors="replace").strip()[-300:]
    except PermissionError as exc:
        ok, why = False, str(exc)
    if not ok:
        raise StateError(f"user {user[2]!r} cannot run {sys.executable} with hidsctl ({why}); "
                         f"install hidsctl where that user can read it (a system Python or a "
                         f"virtualenv under /opt), or set [supervise] user = \"root\" to run "
                         f"without privilege separation")


def _state_dirs(argv: list[str]) -> list[Path]:
    return [Path(argv[i + 1]) for i, arg in enumerate(argv[:-1]) if arg == "--state-dir"]


def _output_dirs(argv: list[str]) -> list[Path]:
    return [Path(argv[i + 1]) for i, arg in enumerate(argv[:-1]) if arg == "--dir"]
