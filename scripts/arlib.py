"""What the bundled active-response scripts share: reading OSSEC's argument layout
(ACTION USER SRCIP ALERT_ID RULE_ID AGENT FILENAME) or Wazuh 4's JSON message on stdin,
validating the address or user name again, running tools without a shell, and locking.

Stdlib only: the scripts run wherever an ``ossec.conf`` points at them.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager

USAGE = "usage: {name} add|delete USER SRCIP [ALERT_ID RULE_ID AGENT FILENAME]  (or JSON on stdin)"
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,30}\$?")
SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")


class Request:
    def __init__(self, name: str, action: str, user: str, srcip: str):
        self.name = name
        self.action = action
        self.user = user
        self.srcip = srcip


def fail(name: str, message: str, code: int = 1) -> "NoReturn":  # noqa: F821
    print(f"{name}: {message}", file=sys.stderr)
    raise SystemExit(code)


def request(name: str, argv: list[str]) -> Request:
    """The action and its values, from the arguments or else from the JSON on stdin."""
    args = list(argv[1:])
    action = args[0] if args else ""
    user = args[1] if len(args) > 1 else "-"
    srcip = args[2] if len(args) > 2 else "-"
    if not args or (user == "-" and srcip == "-"):
        message = _stdin_message()
        action = action or str(message.get("command", ""))
        data = ((message.get("parameters") or {}).get("alert") or {}).get("data") or {}
        user = str(data.get("dstuser") or data.get("srcuser") or "-")
        srcip = str(data.get("srcip") or "-")
    if action not in ("add", "delete"):
        fail(name, f"unknown action {action!r}; " + USAGE.format(name=name), 2)
    return Request(name, action, user, srcip)


def _stdin_message() -> dict:
    if sys.stdin is None or sys.stdin.isatty():
        return {}
    try:
        message = json.loads(sys.stdin.read(1 << 20) or "{}")
    except ValueError:
        return {}
    return message if isinstance(message, dict) else {}


def address(req: Request) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The request's srcip, or exit 2 when it is not exactly one usable address."""
    try:
        if "%" in req.srcip:  # an IPv6 scope id would carry any text along
            raise ValueError(req.srcip)
        ip = ipaddress.ip_address(req.srcip)
    except ValueError:
        fail(req.name, f"invalid srcip {req.srcip[:64]!r}", 2)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if (ip.is_unspecified or ip.is_multicast or ip.is_loopback or ip.is_link_local
            or ip.is_reserved or ip == ipaddress.IPv4Address("255.255.255.255")
            or ip in ipaddress.ip_network("0.0.0.0/8")):
        fail(req.name, f"refusing to act on {ip}: not a host address", 2)
    return ip


def uid_min(root: str) -> int:
    """The lowest uid of a person's account: HIDSCTL_UID_MIN (set by hidsctl respond), else
    UID_MIN from the root's etc/login.defs, else 1000."""
    given = os.environ.get("HIDSCTL_UID_MIN", "")
    if given.isdigit():
        return int(given)
    found = 1000
    try:
        with open(os.path.join(root, "etc", "login.defs"), encoding="utf-8", errors="replace") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) >= 2 and fields[0] == "UID_MIN" and fields[1].isdigit():
                    found = int(fields[1])
    except OSError:
        pass
    return found


def system_users() -> set[str]:
    """System accounts hidsctl respond was configured to act on (HIDSCTL_SYSTEM_USERS)."""
    return {name for name in os.environ.get("HIDSCTL_SYSTEM_USERS", "").split(",") if name}


def user_name(req: Request) -> str:
    if not _USER.fullmatch(req.user):
        fail(req.name, f"invalid user {req.user[:64]!r}", 2)
    return req.user


def tool(name: str, program: str, package: str) -> str:
    """The program's path, or exit 1 saying what to install."""
    found = shutil.which(program) or next(
        (os.path.join(d, program) for d in SBIN if os.access(os.path.join(d, program), os.X_OK)), None)
    if found is None:
        fail(name, f"{program} not found; install {package}")
    return found


def run(argv: list[str], *, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run a tool (no shell); on failure with ``check``, exit 1 with its error output."""
    done = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        fail(os.path.basename(sys.argv[0]),
             f"{' '.join(argv)} failed ({done.returncode}): {detail[-1] if detail else 'no output'}")
    return done


@contextmanager
def lock(name: str):
    """One copy of a script at a time changes the same thing."""
    directory = "/run/lock" if os.access("/run/lock", os.W_OK) else tempfile.gettempdir()
    fd = os.open(os.path.join(directory, f"hidsctl-{name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
