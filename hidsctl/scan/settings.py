"""Settings of ``hidsctl scan``: the ``[scan]`` table, its per-directory options and the
``[scan] rootcheck`` table, each checked the way hidsctl.config checks every command."""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from hidsctl import config
from hidsctl.errors import ConfigError, SourceLocation

# OSSEC's usual directories when nothing is named.
DEFAULT_DIRECTORIES = ["/etc", "/usr/bin", "/usr/sbin", "/bin", "/sbin"]
# Files that change on every healthy system (OSSEC ignores the same kinds of files).
DEFAULT_IGNORE = [
    "/etc/mtab", "/etc/adjtime", "/etc/random-seed", "/etc/hosts.deny", "/etc/ld.so.cache",
    "/etc/mail/statistics", "/etc/utmpx", "/etc/wtmpx", "/etc/cups/certs", "/etc/dumpdates",
    "/etc/svc/volatile", "/etc/resolv.conf.bak",
]
# Pseudo filesystems that are never baselined, wherever a scan starts.
DEFAULT_SKIP = ["/proc", "/sys", "/dev", "/run"]


@dataclass
class DirOptions:
    """Per-directory options, as OSSEC's <directories> attributes."""

    path: str = ""
    check_all: bool = True
    check_sum: Optional[bool] = None
    check_sha256: Optional[bool] = None
    check_sha1: bool = False
    check_md5: bool = False
    check_size: Optional[bool] = None
    check_owner: Optional[bool] = None
    check_group: Optional[bool] = None
    check_perm: Optional[bool] = None
    check_mtime: Optional[bool] = None
    check_inode: Optional[bool] = None
    ignore: list[str] = field(default_factory=list)
    nodiff: list[str] = field(default_factory=list)
    restrict: str = ""
    recursion_level: int = 256
    report_changes: bool = False
    realtime: bool = False
    follow_symlinks: bool = False
    one_filesystem: bool = False

    def enabled(self, name: str) -> bool:
        value = getattr(self, f"check_{name}")
        return self.check_all if value is None else value

    def hashes(self) -> tuple[str, ...]:
        """The content hashes to take: sha256 unless turned off, md5/sha1 on request."""
        sha256 = self.enabled("sum") if self.check_sha256 is None else self.check_sha256
        names = ["sha256"] if sha256 else []
        if self.check_sha1:
            names.append("sha1")
        if self.check_md5:
            names.append("md5")
        return tuple(names)

    def compared(self) -> frozenset[str]:
        """Attribute names whose change is reported for files under this directory."""
        names = set(self.hashes()) | {"target"}
        if self.enabled("size"):
            names.add("size")
        if self.enabled("perm"):
            names.add("mode")
        if self.enabled("owner"):
            names |= {"uid", "uname"}
        if self.enabled("group"):
            names |= {"gid", "gname"}
        if self.enabled("mtime"):
            names.add("mtime")
        if self.enabled("inode"):
            names.add("inode")
        return frozenset(names)


@dataclass
class RootcheckSettings:
    """The ``[scan] rootcheck`` table. Every root is configurable so checks can run over a
    mounted image or a test tree."""

    enabled: bool = False       # run with every scan, not only with --rootcheck
    checks: list[str] = field(default_factory=lambda: list(ALL_CHECKS))
    rootkit_files: str = ""     # default: the bundled rules/rootcheck/rootkit_files.txt
    rootkit_trojans: str = ""   # default: the bundled rootkit_trojans.txt
    policies: list[str] = field(default_factory=list)  # default: the bundled *_rcl.txt
    root: str = "/"             # base of rootkit file signatures and trojan binaries
    dev: str = "/dev"
    proc: str = "/proc"
    system_dirs: list[str] = field(default_factory=lambda: [
        "/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin",
        "/lib", "/usr/lib", "/usr/libexec", "/etc"])
    suid_allow: list[str] = field(default_factory=lambda: list(DEFAULT_SUID_ALLOW))
    max_pid: int = 0            # 0: the kernel's pid_max
    ports: list[int] = field(default_factory=lambda: [1, 65535])
    command_timeout: float = 30.0


ALL_CHECKS: tuple[str, ...] = ("files", "trojans", "dev", "processes", "ports", "interfaces", "suid", "policies")

# SUID/SGID programs a stock Debian or Ubuntu system ships; anything else is reported.
DEFAULT_SUID_ALLOW: list[str] = [
    f"{prefix}/{name}" for prefix in ("/bin", "/usr/bin", "/sbin", "/usr/sbin")
    for name in ("passwd", "su", "sudo", "mount", "umount", "chsh", "chfn", "gpasswd", "newgrp",
                 "pkexec", "ping", "ping6", "fusermount", "fusermount3", "chage", "expiry",
                 "crontab", "wall", "write", "at", "ssh-agent", "unix_chkpwd", "pam_extrausers_chkpwd",
                 "newuidmap", "newgidmap", "dotlockfile", "bsd-write", "mount.nfs", "ntfs-3g",
                 "mount.cifs", "pppd", "exim4", "sendmail", "postdrop", "postqueue", "Xorg.wrap",
                 "staprun", "traceroute6.iputils", "mlocate", "plocate", "locate")
] + [
    "/usr/lib/openssh/ssh-keysign", "/usr/lib/dbus-1.0/dbus-daemon-launch-helper",
    "/usr/lib/policykit-1/polkit-agent-helper-1", "/usr/lib/polkit-1/polkit-agent-helper-1",
    "/usr/libexec/polkit-agent-helper-1", "/usr/lib/eject/dmcrypt-get-device",
    "/usr/lib/xorg/Xorg.wrap", "/usr/lib/snapd/snap-confine",
    "/usr/lib/x86_64-linux-gnu/utempter/utempter", "/usr/libexec/utempter/utempter",
]


@dataclass
class ScanSettings:
    directories: list[Any] = field(default_factory=lambda: list(DEFAULT_DIRECTORIES))
    ignore: list[str] = field(default_factory=lambda: list(DEFAULT_IGNORE))
    nodiff: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=lambda: list(DEFAULT_SKIP))
    every: str = ""
    fast: bool = False
    realtime: bool = False
    init: bool = False
    threads: int = 0
    diff_size_limit: int = 1 << 20
    # Larger files are not hashed (size, times, owner, … are still compared): a sparse file
    # of a terabyte costs its maker nothing and a scan hours. 0: hash every file.
    hash_size_limit: int = 1 << 30
    rootcheck: Any = False


# OSSEC's attribute names, accepted as they are.
OSSEC_ALIASES = {"check_md5sum": "check_md5", "check_sha1sum": "check_sha1",
                 "check_sha256sum": "check_sha256", "follow_symbolic_link": "follow_symlinks"}


def build_directories(entries: list[Any], settings: ScanSettings,
                      source: str | os.PathLike | None, *, realtime: bool = False) -> list[DirOptions]:
    """DirOptions for each ``directories`` entry (a path, or a table with ``path``)."""
    where = str(source or "config")
    names = {f.name for f in dataclasses.fields(DirOptions)}
    result = []
    for index, entry in enumerate(entries):
        location = SourceLocation(where, detail=f"[scan] directories[{index}]")
        if isinstance(entry, (str, os.PathLike)):
            options = DirOptions(path=os.fspath(entry))
        elif isinstance(entry, dict):
            values = {key.replace("-", "_"): value for key, value in entry.items()}
            values = {OSSEC_ALIASES.get(key, key): value for key, value in values.items()}
            for key in values:
                if key not in names:
                    raise ConfigError(f"unknown key {key!r}", location)
            if not isinstance(values.get("path"), str):
                raise ConfigError("a directory table needs a 'path' string", location)
            options = config.build(DirOptions, {}, {"dir": values}, "dir", source)
        else:
            raise ConfigError("expected a path or a table", location)
        options.path = normalise(options.path)
        options.ignore = list(settings.ignore) + list(options.ignore)
        options.nodiff = list(settings.nodiff) + list(options.nodiff)
        if realtime:
            options.realtime = True
        for pattern in (options.restrict, *_regexes(options.ignore), *_regexes(options.nodiff)):
            if pattern:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ConfigError(f"bad regular expression {pattern!r}: {exc}", location) from None
        result.append(options)
    return result


def _regexes(items: list[str]) -> list[str]:
    return [item[2:] for item in items if item.startswith("r:")]


def normalise(path: str) -> str:
    return os.path.normpath(os.path.abspath(path))


def build_rootcheck(value: Any, source: str | os.PathLike | None) -> tuple[RootcheckSettings, bool]:
    """Settings from ``[scan] rootcheck`` (true, false or a table), and whether the config
    turns rootcheck on for every scan (``true``, or a table with ``enabled = true``); a
    table without ``enabled`` only configures what ``--rootcheck`` runs."""
    if value is False or value is None:
        return RootcheckSettings(), False
    if value is True:
        return RootcheckSettings(), True
    if not isinstance(value, dict):
        raise ConfigError("expected true, false or a table",
                          SourceLocation(str(source or "config"), detail="[scan] rootcheck"))
    settings = config.build(RootcheckSettings, {}, {"scan.rootcheck": value}, "scan.rootcheck", source)
    for check in settings.checks:
        if check not in ALL_CHECKS:
            raise ConfigError(f"unknown check {check!r} (known: {', '.join(ALL_CHECKS)})",
                              SourceLocation(str(source or "config"), detail="[scan.rootcheck] checks"))
    if len(settings.ports) != 2 or not 1 <= settings.ports[0] <= settings.ports[1] <= 65535:
        raise ConfigError("expected [low, high] within 1..65535",
                          SourceLocation(str(source or "config"), detail="[scan.rootcheck] ports"))
    return settings, settings.enabled
