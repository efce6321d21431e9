"""Rootkit and policy checks (OSSEC's rootcheck): one ``rootcheck`` record per finding.

Titles follow OSSEC's wording, so rules written for rootcheck alerts (510, 516, …) keep
matching them.
"""

from __future__ import annotations

import functools
import glob
import os
import stat
from typing import Any, Iterator

from hidsctl import records
from hidsctl.diagnostics import logger
from hidsctl.resources import rules_dir
from hidsctl.scan import pathtext
from hidsctl.scan.attributes import user_name
from hidsctl.scan.rootcheck import policy, signatures, system
from hidsctl.scan.settings import RootcheckSettings


def bundled(name: str) -> str:
    return str(rules_dir() / "rootcheck" / name)


def policy_files(settings: RootcheckSettings) -> list[str]:
    if settings.policies:
        return list(settings.policies)
    return sorted(glob.glob(bundled("*_rcl.txt")))


def load_all(settings: RootcheckSettings):
    """Load every signature and policy file first, so a broken one fails before any check."""
    checks = set(settings.checks)
    files = signatures.load_files(settings.rootkit_files or bundled("rootkit_files.txt"),
                                  warn=logger("scan").warning) if "files" in checks else []
    trojans = signatures.load_trojans(settings.rootkit_trojans or bundled("rootkit_trojans.txt")) \
        if "trojans" in checks else []
    policies = [policy.load(p) for p in policy_files(settings)] if "policies" in checks else []
    return files, trojans, policies


def run_checks(settings: RootcheckSettings) -> Iterator[dict]:
    files, trojans, policies = load_all(settings)
    checks = set(settings.checks)
    if "files" in checks:
        for signature, path in signatures.find_rootkit_files(files, settings.root):
            path = _shown(path)
            yield _record(f"Rootkit '{signature.name}' detected by the presence of file '{path}'.",
                          file=path, detail=signature.reference or None)
    if "trojans" in checks:
        for trojan, path in signatures.find_trojans(trojans, settings.root):
            path = _shown(path)
            yield _record(f"Trojaned version of file '{path}' detected. Signature used: "
                          f"'{trojan.pattern}' (Generic).", file=path)
    if "dev" in checks:
        for kind, path in system.files_in_dev(settings.dev):
            path = _shown(path)
            if kind == "file":
                title = f"File '{path}' present on /dev. Possible hidden file."
            else:
                title = f"Hidden directory '{path}' present on /dev. Possible hidden rootkit."
            yield _record(title, file=path)
    if "processes" in checks:
        limit = settings.max_pid or system.pid_max(settings.proc)
        for pid in system.hidden_pids(range(1, limit + 1), system.pid_alive,
                                      system.in_proc(settings.proc)):
            yield _record(f"Process '{pid}' hidden from /proc. Possible kernel level rootkit.",
                          detail=f"pid {pid} answers kill(pid, 0) but is missing from "
                                 f"{settings.proc}")
    if "ports" in checks:
        low, high = settings.ports
        for protocol in ("tcp", "udp"):
            listed = functools.partial(system.listening_ports, settings.proc, protocol)
            for port in system.hidden_ports(range(low, high + 1), protocol, system.port_in_use,
                                            listed):
                yield _record(f"Port '{port}'({protocol}) hidden. Kernel-level rootkit or "
                              f"trojaned version of netstat.",
                              detail=f"port {port}/{protocol} cannot be bound but is missing "
                                     f"from {settings.proc}/net/{protocol}")
    if "interfaces" in checks:
        for name in system.promiscuous(system.interfaces(settings.proc)):
            yield _record(f"Interface '{name}' in promiscuous mode.", detail=name)
    if "suid" in checks:
        allow = set(settings.suid_allow)
        for problem, path, st in system.risky_modes(settings.system_dirs, allow):
            path = _shown(path)
            owner = user_name(st.st_uid) or str(st.st_uid)
            mode = stat.filemode(st.st_mode)
            if problem == "world-writable":
                title = f"File '{path}' is owned by {owner} and has written permissions to anyone."
            else:
                title = (f"File '{path}' is owned by {owner} and has the "
                         f"{'setuid' if problem == 'suid' else 'setgid'} bit set.")
            yield _record(title, file=path, detail=f"mode {mode}")
    if "policies" in checks:
        context = policy.Context(settings.proc, settings.command_timeout)
        for loaded in policies:
            for finding in policy.evaluate(loaded, context):
                fields = {"policy": loaded.name, "check": finding.check.title}
                if finding.file:
                    fields["file"] = _shown(finding.file)
                if finding.evidence:
                    fields["detail"] = finding.evidence[:1024]
                yield records.make("rootcheck", title=finding.title(), **fields)


def _shown(path: str | bytes) -> str:
    """A path as scan's records show every path (hidsctl.scan.pathtext)."""
    return pathtext.show(path if isinstance(path, bytes) else os.fsencode(path))



def _record(title: str, *, file: str | None = None, detail: str | None = None) -> dict:
    fields: dict[str, Any] = {}
    if detail:
        fields["detail"] = detail
    if file:
        fields["file"] = file
    return records.make("rootcheck", title=title, **fields)
