"""The housekeeping subcommands: store a host's passwords, list hosts, remove a host."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path

from hidsctl.agentless.credentials import Credential, CredentialStore, parse_target, target_key
from hidsctl.agentless.knownhosts import KnownHosts, host_name
from hidsctl.diagnostics import logger
from hidsctl.errors import HidsError, UsageError

log = logger("agentless")


def add_host(state_dir: Path, config_path: Path | None, target: str, enable: bool,
             password_stdin: bool) -> None:
    user, host, port = parse_target(target)
    key = target_key(user, host, port)
    if password_stdin:
        lines = sys.stdin.read().split("\n")
        password = lines[0].rstrip("\r")
        enable_password = lines[1].rstrip("\r") if enable and len(lines) > 1 else None
        if enable and not enable_password:
            raise UsageError("--enable with --password-stdin needs the enable password on the second line")
    else:
        if not sys.stdin.isatty():
            raise UsageError("no terminal to ask for the password on; use --password-stdin")
        password = getpass.getpass(f"Password for {key}: ")
        enable_password = getpass.getpass(f"Enable password for {key}: ") if enable else None
    if not password:
        raise UsageError("empty password")
    if config_path is not None and not _configured(config_path, user, host, port):
        logger().warning(f"{key} is not among the [[agentless.host]] tables of {config_path}")
    replaced = CredentialStore(state_dir).add(key, Credential(password, enable_password))
    log.info(f"{'replaced' if replaced else 'stored'} the password"
             f"{' and enable password' if enable_password else ''} of {key} in "
             f"{state_dir / 'agentless-credentials.json'}")


def _configured(config_path: Path, user: str, host: str, port: int | None) -> bool:
    from hidsctl.agentless import settings

    _, hosts = settings.load(config_path)
    return any(h.user == user and h.address == host and (port is None or h.port == port) for h in hosts)


def remove(state_dir: Path, target: str, host_key: bool) -> None:
    user, host, port = parse_target(target)
    key = target_key(user, host, port)
    removed = CredentialStore(state_dir).remove(key)
    forgot = KnownHosts(state_dir).forget(host, port or 22) if host_key else False
    if not removed and not forgot:
        raise HidsError(f"nothing stored for {key}")
    done = [what for what, flag in (("password", removed), ("host key", forgot)) if flag]
    log.info(f"removed the {' and '.join(done)} of {key}")


def list_hosts(state_dir: Path, config_path: Path | None, as_json: bool) -> None:
    rows = _rows(state_dir, config_path)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    columns = ["host", "check", "interval", "password", "enable", "host_key"]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*columns)
        for row in rows:
            table.add_row(*(_cell(row[c]) for c in columns))
        Console().print(table)
    else:
        for row in rows:
            print("\t".join(_cell(row[c]) for c in columns))


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}s"
    return str(value)


def _rows(state_dir: Path, config_path: Path | None) -> list[dict]:
    from hidsctl.agentless import settings

    stored = CredentialStore(state_dir).load()
    keys = KnownHosts(state_dir).entries()
    hosts = settings.load(config_path)[1] if config_path is not None else []
    rows, seen = [], set()
    for host in hosts:
        key = target_key(host.user, host.address, host.port)
        credential = stored.get(key) or stored.get(target_key(host.user, host.address))
        seen.add(key if key in stored else target_key(host.user, host.address))
        rows.append(_row(key, host.type, host.interval, credential,
                         keys.get(host_name(host.address, host.port))))
    for key, credential in sorted(stored.items()):
        if key not in seen:
            _user, address, port = parse_target(key)
            rows.append(_row(key, None, None, credential,
                             keys.get(host_name(address, port or 22))))
    return rows


def _row(key: str, check: str | None, interval: float | None, credential: Credential | None,
         host_key: str | None) -> dict:
    return {"host": key, "check": check, "interval": interval,
            "password": bool(credential and credential.password),
            "enable": bool(credential and credential.enable_password), "host_key": host_key}
