"""Run the checks: each host on its own interval (or once), several at a time, each failure
turned into a ``notice`` record and one stderr line, never a hang."""

from __future__ import annotations

import logging
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from hidsctl import records
from hidsctl.agentless import device, diff, integrity, ssh
from hidsctl.agentless.credentials import CredentialStore
from hidsctl.agentless.failures import CheckFailed
from hidsctl.agentless.knownhosts import KnownHosts
from hidsctl.agentless.profiles import Profile, load_all
from hidsctl.agentless.settings import AgentlessSettings, Host
from hidsctl.agentless.store import Store
from hidsctl.diagnostics import logger
from hidsctl.errors import ConfigError
from hidsctl.state import ExclusiveLock

Emit = Callable[[records.Record], None]
log = logger("agentless")


@dataclass
class Context:
    state_dir: Path
    settings: AgentlessSettings
    profiles: dict[str, Profile]
    emit: Emit
    credentials: CredentialStore = field(init=False)
    known_hosts: KnownHosts = field(init=False)
    stop: threading.Event = field(default_factory=threading.Event)
    sessions: set = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.credentials = CredentialStore(self.state_dir)
        self.known_hosts = KnownHosts(self.state_dir)


def check_host(host: Host, ctx: Context) -> bool:
    """Check one host; False (after a notice record) when it could not be checked."""
    store = Store(ctx.state_dir)
    session = None
    try:
        credential = ctx.credentials.lookup(host.user, host.address, host.port)
        session = ssh.connect(host, credential, ctx.known_hosts, ctx.settings.accept_new)
        with ctx.lock:
            ctx.sessions.add(session)
        if session.new_host_key:
            key = session.transport.get_remote_server_key()
            log.info(f"{host.target}:{host.port}: new host key accepted: {key.get_name()} "
                     f"{key.fingerprint}")
        if ctx.stop.is_set():
            return False
        if host.kind == "integrity":
            integrity.check(session, host, store, ctx.emit)
        elif host.kind == "diff":
            for command in host.commands:
                _status, out, err = ssh.run(session, command, host.timeout)
                text = (out + err).decode("utf-8", "replace")
                diff.record_output(host, store, command, text, ctx.emit)
        else:
            profile = ctx.profiles[host.profile]  # type: ignore[index]
            commands = host.commands or (profile.config_command,)
            outputs = device.fetch(session, profile, credential, commands)
            for command, output in outputs.items():
                diff.record_output(host, store, command, output, ctx.emit, profile.is_volatile)
        return True
    except CheckFailed as failure:
        if ctx.stop.is_set():
            return False  # the session was closed to stop: not the host's fault
        _fail(host, failure, ctx)
        return False
    finally:
        if session is not None:
            with ctx.lock:
                ctx.sessions.discard(session)
            session.close()
        store.close()


def _fail(host: Host, failure: CheckFailed, ctx: Context) -> None:
    what = failure.code.replace("_", " ")
    log.warning(f"{host.target}:{host.port}: {what}: {failure.message}")
    ctx.emit(records.make(
        "notice", component="agentless", code=failure.code,
        message=f"{host.target} port {host.port} ({host.type}): {failure.message}",
        location=host.target, host=host.address, port=host.port, check=host.type))


def validate(hosts: list[Host], profiles: dict[str, Profile]) -> None:
    """Catch what can be caught before any connection: unknown profiles, no commands."""
    for host in hosts:
        if host.kind != "device":
            continue
        profile = profiles.get(host.profile or "")
        if profile is None:
            raise ConfigError(f"{host.target}: unknown profile {host.profile!r} "
                              f"(known: {', '.join(sorted(profiles))})")
        if not host.commands and not profile.config_command:
            raise ConfigError(f"{host.target}: profile {profile.name} has no config-command; "
                              "give the host commands")


def run(state_dir: Path, settings: AgentlessSettings, hosts: list[Host]) -> int:
    """Check every host once (``settings.once``) or on its interval until SIGTERM."""
    profiles = load_all(settings.profile_dirs)
    validate(hosts, profiles)
    # paramiko logs socket errors of its own threads; failures reach the user as notices
    logging.getLogger("paramiko").addHandler(logging.NullHandler())
    logging.getLogger("paramiko").propagate = False
    writer = records.RecordWriter(line_buffered=True)
    write_lock = threading.Lock()

    def emit(record: records.Record) -> None:
        with write_lock:
            writer.write(record)

    ctx = Context(state_dir, settings, profiles, emit)
    with ExclusiveLock(state_dir / "agentless.lock", "the agentless state"):
        Store(state_dir).close()  # bring the schema up to date once, before any thread
        if not hosts:
            log.warning("no hosts configured ([[agentless.host]] tables)")
            return 0
        if settings.once:
            _run_once(hosts, ctx)
        else:
            _run_forever(hosts, ctx)
    writer.flush()
    return 0


def _run_once(hosts: list[Host], ctx: Context) -> None:
    with ThreadPoolExecutor(max_workers=ctx.settings.concurrency,
                            thread_name_prefix="agentless") as pool:
        futures = [pool.submit(check_host, host, ctx) for host in hosts]
        try:
            for future in futures:
                _result(future)
        except KeyboardInterrupt:
            _stop(ctx)
            raise


def _run_forever(hosts: list[Host], ctx: Context) -> None:
    wake = threading.Event()
    due = [time.monotonic()] * len(hosts)
    running: set[int] = set()
    state_lock = threading.Lock()

    def on_signal(_signum: int, _frame: object) -> None:
        _stop(ctx)
        wake.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        with ThreadPoolExecutor(max_workers=ctx.settings.concurrency,
                                thread_name_prefix="agentless") as pool:
            while not ctx.stop.is_set():
                now = time.monotonic()
                with state_lock:
                    for index, host in enumerate(hosts):
                        if index not in running and due[index] <= now:
                            running.add(index)
                            future = pool.submit(check_host, host, ctx)
                            future.add_done_callback(_finisher(index, host, due, running,
                                                               state_lock, wake))
                    idle = [due[i] for i in range(len(hosts)) if i not in running]
                wait = min(idle) - time.monotonic() if idle else 60.0
                wake.wait(max(0.0, min(wait, 60.0)))
                wake.clear()
            pool.shutdown(wait=True, cancel_futures=True)
    except KeyboardInterrupt:
        _stop(ctx)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _finisher(index: int, host: Host, due: list[float], running: set[int],
              state_lock: threading.Lock, wake: threading.Event) -> Callable[[Future], None]:
    def done(future: Future) -> None:
        _result(future)
        with state_lock:
            due[index] = time.monotonic() + host.interval
            running.discard(index)
        wake.set()

    return done


def _result(future: Future) -> None:
    """A check that crashed is reported and the others go on."""
    try:
        future.result()
    except Exception as exc:  # a bug in one host's check must not stop the others
        log.error(f"internal error: {type(exc).__name__}: {exc}")


def _stop(ctx: Context) -> None:
    """Stop: close live sessions so that checks blocked on the network end now."""
    ctx.stop.set()
    with ctx.lock:
        sessions = list(ctx.sessions)
    for session in sessions:
        session.close()
