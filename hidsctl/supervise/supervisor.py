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
from typing import Any, Callable, Sequence

from hidsctl import config as config_module
from hidsctl.diagnostics import STAMPED, logger
from hidsctl.errors import ConfigError, SourceLocation, StateError
from hidsctl.queue import DurableQueue
from hidsctl.state import ExclusiveLock
from hidsctl.supervise import control, dirs, topology
from hidsctl.supervise.component import Component, ComponentSpec

# A component that cannot run stops the whole role when the role is pointless without it;
# any other component that fails is reported and the rest keeps running.
ESSENTIAL = {"local": {"analyze"}, "server": {"receive", "analyze"}, "agent": {"send"}}


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
        self.lock: ExclusiveLock | None = None
        self.exit_reason = ""  # why the supervisor stopped on its own, for status
        self.reported: set[str] = set()  # failed components already reported

    # --- setup ------------------------------------------------------------------------

    def _load_topology(self) -> topology.Topology:
        if self.fixed_topology is not None:
            return self.fixed_topology
        config = config_module.load(self.config_path)
        return topology.build(self.settings, config, self.config_path, self.state)

    def setup(self) -> None:
        try:
            self._setup()
        except OSError as exc:  # a directory, FIFO or socket that cannot be made
            where = f" {exc.filename}" if exc.filename else ""
            raise StateError(f"cannot prepare{where}: {exc.strerror or exc}") from None

    def _setup(self) -> None:
        self.topology = self._load_topology()
        user = self.user if any(not s.privileged for s in self.topology.components) else None
        dirs.prepare_state(self.state, user, self.log)
        self.lock = ExclusiveLock(self.state / "supervise.lock",
                                  f"the state directory {self.state}").acquire()
        _clear_exit_reason(self.state)
        queues_dir = self.state / "queues"
        dirs.make_dirs(queues_dir, 0o750)
        for name in self.topology.queues:
            self.queues[name] = DurableQueue(queues_dir / name, writer=True,
                                             max_bytes=self.settings.queue_max_bytes)
        for fifo, queue in self.topology.fifos.items():
            self._open_fifo(queues_dir / fifo, self.queues[queue])
        for spec in self.topology.components:
            self._prepare(spec)
        if user is not None:
            try:
                _check_user_can_run(user, self._needs(user))
            except StateError as exc:
                if self.settings.user:  # asked for by name: a broken setup, say so
                    raise
                # The default user cannot run this interpreter (one installed under a
                # private home, say) or reach its directories: keep running, without
                # privilege separation.
                self.log(f"supervise: warning: {exc.message}; running every component as root")
                self.user = None
        for spec in self.topology.components:
            self.components[spec.name] = Component(spec, self.queues, self.log,
                                                   None if spec.privileged else self.user)
        self.control = control.ControlServer(self.state / "supervise.sock", self.status)
        self.control.start()

    def _prepare(self, spec: ComponentSpec) -> None:
        """Create and hand over what an unprivileged component writes, before it starts."""
        user = None if spec.privileged else self.user
        for path in _state_dirs(spec.argv) + _output_dirs(spec.argv):
            if path != self.state:  # the state directory itself stays the supervisor's
                dirs.ensure_owned(path, user, self.log, spec.name)
        for alerts in (spec.alerts_json, spec.alerts_log):
            if alerts is not None:  # written by the supervisor itself, as root
                dirs.make_dirs(alerts.parent, 0o750)

    def _needs(self, user: dirs.User) -> list[tuple[str, str, str]]:
        """What each unprivileged component must reach: (component, path, r or w)."""
        needs = []
        if self.config_path is not None:
            needs.append(("config", os.path.abspath(self.config_path), "r"))
        for spec in self.topology.components:
            if not spec.privileged:
                needs += [(spec.name, os.path.abspath(path), "w")
                          for path in _state_dirs(spec.argv) + _output_dirs(spec.argv)]
        return needs

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
        code = 0
        while not self.stop_requested.is_set():
            for component in self.components.values():
                component.poll()
            failed = self._failed_essential()
            if failed is not None:
                self.exit_reason = (f"{failed.spec.name} cannot run: {failed.last_error}; "
                                    f"the {self.topology.role} role needs it, so supervise "
                                    f"stops")
                self.log(f"supervise: {self.exit_reason}")
                code = 2
                break
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
        return code

    def _failed_essential(self) -> Component | None:
        """An essential component that failed, if any; the others are reported once."""
        essential = ESSENTIAL.get(self.topology.role, set())
        for component in self.components.values():
            if component.state != "failed":
                self.reported.discard(component.spec.name)
                continue
            if component.spec.name in essential:
                return component
            if component.spec.name not in self.reported:
                self.reported.add(component.spec.name)
                self.log(f"supervise: {component.spec.name} stays down, the rest runs on; "
                         f"fix it and send SIGHUP to start it again")
        return None

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
            if spec.reloads_on_sighup and spec.argv == component.spec.argv and \
                    component.state != "failed":  # a failed one starts again instead
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
        if self.exit_reason:
            _write_exit_reason(self.state, self.exit_reason)
        if self.lock is not None:
            self.lock.release()
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
            **({"bus": [{"component": c, "stream": s, "consumer": d}
                        for c, s, d in self.topology.bus_consumers]}
               if self.topology.bus_consumers else {}),
        }


EXIT_REASON = "supervise.exit"


def _write_exit_reason(state: Path, reason: str) -> None:
    """Why the supervisor stopped on its own, for `hidsctl status` once it is gone."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        (state / EXIT_REASON).write_text(f"{stamp} {reason}\n")
    except OSError:
        pass


def _clear_exit_reason(state: Path) -> None:
    try:
        (state / EXIT_REASON).unlink()
    except FileNotFoundError:
        pass


def last_exit_reason(state: Path) -> str:
    try:
        return (state / EXIT_REASON).read_text().strip()
    except OSError:
        return ""


def _stderr_log(message: str) -> None:
    """supervise's own log: its lines ("supervise: reloaded") and its components' ("scan:
    started", "scan: hidsctl scan: ..."), each stamped with the time."""
    logger("supervise").info(message.removeprefix("supervise: "), extra=STAMPED)


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


# Run as the service user: import hidsctl, then name every path it cannot reach. The
# kernel's own access check, so ACLs and mount options count too.
_PROBE = """
import json, os, sys
import hidsctl.cli
modes = {"r": os.R_OK, "w": os.W_OK | os.X_OK}
for what, path, mode in json.loads(sys.argv[1]):
    if not os.access(path, modes[mode]):
        print(json.dumps([what, path, mode]))
"""


def _check_user_can_run(user: dirs.User, needs: Sequence[tuple[str, str, str]] = ()) -> None:
    """Fail at start, clearly, when the unprivileged user cannot run this hidsctl at all or
    cannot reach what its components read and write."""
    import json
    import subprocess

    try:
        result = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(list(needs))],
                                user=user[0], group=user[1], extra_groups=[], cwd="/",
                                capture_output=True, timeout=60)
        ok, why = result.returncode == 0, result.stderr.decode(errors="replace").strip()[-300:]
    except PermissionError as exc:
        ok, why, result = False, str(exc), None
    if not ok:
        raise StateError(f"user {user[2]!r} cannot run {sys.executable} with hidsctl ({why}); "
                         f"install hidsctl where that user can read it (a system Python or a "
                         f"virtualenv under /opt), or set [supervise] user = \"root\" to run "
                         f"without privilege separation")
    assert result is not None  # set whenever ok
    for line in result.stdout.decode(errors="replace").splitlines():
        what, path, mode = json.loads(line)
        parent = dirs.unreachable_parent(Path(path), user)
        why = f"{parent} is not searchable by it" if parent else \
            ("not readable" if mode == "r" else "not writable")
        raise StateError(f"user {user[2]!r} cannot reach {path} ({what}): {why}; make it "
                         f"reachable (chmod o+x on the directory, say), move the state "
                         f"directory, or set [supervise] user = \"root\"")


def _state_dirs(argv: list[str]) -> list[Path]:
    return [Path(argv[i + 1]) for i, arg in enumerate(argv[:-1]) if arg == "--state-dir"]


def _output_dirs(argv: list[str]) -> list[Path]:
    return [Path(argv[i + 1]) for i, arg in enumerate(argv[:-1]) if arg == "--dir"]
