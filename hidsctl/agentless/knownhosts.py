"""The SSH host keys hidsctl has seen, in OpenSSH's known_hosts format, kept in the state
directory (not the user's ~/.ssh): a new host is trusted only when asked (``--accept-new``),
a changed key is always refused."""

from __future__ import annotations

import threading
from pathlib import Path

import paramiko

from hidsctl.agentless.failures import CheckFailed
from hidsctl.state import atomic_write

FILE_NAME = "agentless-known_hosts"


def host_name(address: str, port: int) -> str:
    """How known_hosts names a host: ``address``, or ``[address]:port`` off port 22."""
    return address if port == 22 else f"[{address}]:{port}"


def fingerprint(key: paramiko.PKey) -> str:
    return key.fingerprint  # "SHA256:…", as ssh-keygen -l prints it


class KnownHosts:
    def __init__(self, state_dir: Path):
        self.path = state_dir / FILE_NAME
        self._lock = threading.Lock()

    def _load(self) -> paramiko.HostKeys:
        keys = paramiko.HostKeys()
        if self.path.exists():
            try:
                keys.load(str(self.path))
            except (OSError, paramiko.SSHException) as exc:
                raise CheckFailed("hostkey_unknown", f"cannot read {self.path}: {exc}") from exc
        return keys

    def verify(self, address: str, port: int, key: paramiko.PKey, accept_new: bool) -> bool:
        """Check a server's key; True when it was new and has been accepted and saved."""
        name = host_name(address, port)
        with self._lock:
            keys = self._load()
            known = keys.lookup(name)
            if known is not None and key.get_name() in known:
                if known[key.get_name()] == key:
                    return False
                raise CheckFailed(
                    "hostkey_changed",
                    f"host key of {name} has CHANGED: it is now {key.get_name()} "
                    f"{fingerprint(key)}; refusing to connect (if the change is expected: "
                    f"hidsctl agentless remove --host-key USER@{address}:{port})")
            if known:
                # Known under other key types only: a server offering a type we never saw
                # for it is as suspect as a changed key.
                raise CheckFailed(
                    "hostkey_changed",
                    f"host {name} offered a {key.get_name()} key {fingerprint(key)} but is "
                    f"known with {', '.join(sorted(known.keys()))}; refusing to connect")
            if not accept_new:
                raise CheckFailed(
                    "hostkey_unknown",
                    f"host {name} is not known ({key.get_name()} {fingerprint(key)}); "
                    f"run once with --accept-new to trust it")
            keys.add(name, key.get_name(), key)
            atomic_write(self.path, _dump(keys), mode=0o644)
            return True

    def forget(self, address: str, port: int) -> bool:
        """Drop every key of a host; True when there was one."""
        name = host_name(address, port)
        with self._lock:
            keys = self._load()
            if keys.lookup(name) is None:
                return False
            keys._entries = [e for e in keys._entries if name not in e.hostnames]
            atomic_write(self.path, _dump(keys), mode=0o644)
            return True

    def entries(self) -> dict[str, str]:
        """host name -> "type fingerprint" for every stored key, for listings."""
        with self._lock:
            keys = self._load()
        return {name: ", ".join(f"{kind} {fingerprint(key)}" for kind, key in entry.items())
                for name, entry in keys.items()}


def _dump(keys: paramiko.HostKeys) -> str:
    lines = []
    for entry in keys._entries:  # HostKeys.save only writes to a path, not atomically
        line = entry.to_line()
        if line:
            lines.append(line)
    return "".join(lines)
