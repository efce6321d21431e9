"""SSH with paramiko: connect with a time limit on every step, verify the host key against
hidsctl's known hosts, log in with a key or a stored password, run commands with a deadline."""

from __future__ import annotations

import select
import shlex
import socket
import time
from dataclasses import dataclass

import paramiko

from hidsctl.agentless.credentials import Credential
from hidsctl.agentless.failures import CheckFailed
from hidsctl.agentless.knownhosts import KnownHosts
from hidsctl.agentless.settings import Host

MAX_OUTPUT = 256 << 20  # a command printing more than this is cut off with an error


@dataclass(eq=False)  # compared and hashed by identity: live sessions are kept in a set
class Session:
    transport: paramiko.Transport
    host: Host
    new_host_key: bool = False

    def close(self) -> None:
        try:
            self.transport.close()
        except Exception:  # closing a dead transport must not hide the real failure
            pass

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(host: Host, credential: Credential | None, known_hosts: KnownHosts,
            accept_new: bool) -> Session:
    """A logged-in SSH session, or CheckFailed saying which step failed and why."""
    limit = host.connect_timeout
    sock = _open_socket(host, limit)
    transport = paramiko.Transport(sock)
    transport.banner_timeout = limit
    transport.handshake_timeout = limit
    transport.auth_timeout = limit
    session = Session(transport, host)
    try:
        started = time.monotonic()
        try:
            transport.start_client(timeout=limit)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            if time.monotonic() - started >= limit * 0.9:
                raise CheckFailed("timeout", f"no SSH handshake within {limit:g}s") from None
            raise CheckFailed("unreachable", f"SSH handshake failed: {_reason(exc)}") from None
        key = transport.get_remote_server_key()
        session.new_host_key = known_hosts.verify(host.address, host.port, key, accept_new)
        _authenticate(transport, host, credential)
    except BaseException:
        session.close()
        raise
    return session


def _open_socket(host: Host, limit: float) -> socket.socket:
    try:
        return socket.create_connection((host.address, host.port), timeout=limit)
    except socket.timeout:
        raise CheckFailed("unreachable", f"no TCP connection within {limit:g}s") from None
    except OSError as exc:
        raise CheckFailed("unreachable", f"cannot connect: {_reason(exc)}") from None


def _authenticate(transport: paramiko.Transport, host: Host, credential: Credential | None) -> None:
    """Try what the server allows, in OpenSSH's order: none, public key, password,
    keyboard-interactive (many network devices only offer the last)."""
    user = host.user
    try:
        transport.auth_none(user)
        return
    except paramiko.BadAuthenticationType as exc:
        allowed = set(exc.allowed_types)
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise CheckFailed("login_failed", f"login refused: {_reason(exc)}") from None
    password = credential.password if credential else None
    tried = []
    try:
        if host.identity_file and "publickey" in allowed:
            tried.append("publickey")
            try:
                if _auth_key(transport, user, host.identity_file):
                    return
            except paramiko.AuthenticationException:
                pass
        if password is not None and "password" in allowed:
            tried.append("password")
            try:
                transport.auth_password(user, password, fallback=False)
                return
            except paramiko.AuthenticationException:
                pass
        if password is not None and "keyboard-interactive" in allowed:
            tried.append("keyboard-interactive")
            try:
                transport.auth_interactive(user, lambda _t, _i, prompts: [password] * len(prompts))
                return
            except paramiko.AuthenticationException:
                pass
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise CheckFailed("login_failed", f"login failed: {_reason(exc)}") from None
    if not tried:
        raise CheckFailed(
            "login_failed",
            f"no usable credential (server allows {', '.join(sorted(allowed))}); set "
            f"identity-file or run 'hidsctl agentless add-host {host.target}'")
    raise CheckFailed("login_failed", f"authentication failed ({', '.join(tried)})")


def _auth_key(transport: paramiko.Transport, user: str, path: str) -> bool:
    try:
        key = paramiko.PKey.from_path(path)
    except (OSError, paramiko.SSHException, ValueError) as exc:
        raise CheckFailed("login_failed", f"cannot read identity file {path}: {_reason(exc)}") from None
    remaining = transport.auth_publickey(user, key)
    return not remaining


def run(session: Session, command: str, timeout: float) -> tuple[int, bytes, bytes]:
    """Run one command through ``sh -c`` (the login shell may be csh); (status, out, err)."""
    transport = session.transport
    try:
        channel = transport.open_session(timeout=timeout)
        channel.exec_command("sh -c " + shlex.quote(command))
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise CheckFailed("command_failed", f"cannot start a command: {_reason(exc)}") from None
    out, err = bytearray(), bytearray()
    deadline = time.monotonic() + timeout
    try:
        channel.setblocking(False)
        while True:
            drained = _drain(channel, out, err)
            if channel.exit_status_ready() and not drained and _closed_for_reading(channel):
                break
            if len(out) + len(err) > MAX_OUTPUT:
                raise CheckFailed("command_failed", f"output over {MAX_OUTPUT >> 20} MiB: {command[:60]!r}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CheckFailed("timeout", f"command did not finish within {timeout:g}s: {_short(command)}")
            if not drained:
                select.select([channel], [], [], min(remaining, 1.0))
        return channel.recv_exit_status(), bytes(out), bytes(err)
    finally:
        channel.close()


def _drain(channel: paramiko.Channel, out: bytearray, err: bytearray) -> bool:
    got = False
    while channel.recv_ready():
        data = channel.recv(1 << 16)
        if not data:
            break
        out += data
        got = True
    while channel.recv_stderr_ready():
        data = channel.recv_stderr(1 << 16)
        if not data:
            break
        err += data
        got = True
    return got


def _closed_for_reading(channel: paramiko.Channel) -> bool:
    return channel.eof_received or channel.closed


def _short(command: str) -> str:
    line = command.strip().splitlines()[0] if command.strip() else command
    return line if len(line) <= 80 else line[:77] + "..."


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]
