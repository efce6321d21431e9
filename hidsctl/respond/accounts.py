"""Which local accounts a response may act on: not system accounts (uid below the
system's ``UID_MIN``, as ``useradd`` and ``login.defs`` draw the line), unless listed.

Locking ``daemon`` or ``sshd`` because a log line named it breaks the host; an attacker
who can write a log line can name any account."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

DEFAULT_LOGIN_DEFS = Path("/etc/login.defs")
DEFAULT_UID_MIN = 1000  # login.defs' own default when UID_MIN is not set


def uid_min(path: Path) -> int:
    """``UID_MIN`` from a login.defs file; 1000 when the file or the key is missing."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return DEFAULT_UID_MIN
    found = DEFAULT_UID_MIN
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "UID_MIN" and fields[1].isdigit():
            found = int(fields[1])  # the last one wins, as in shadow-utils
    return found


def uid_of(user: str) -> int | None:
    """The account's uid, None when there is no such local account. With
    HIDSCTL_ACCOUNT_ROOT set, that root's etc/passwd is read, as disable-account does."""
    root = os.environ.get("HIDSCTL_ACCOUNT_ROOT")
    if not root:
        try:
            return pwd.getpwnam(user).pw_uid
        except KeyError:
            return None
    try:
        with open(os.path.join(root, "etc", "passwd"), encoding="utf-8", errors="replace") as handle:
            for line in handle:
                fields = line.rstrip("\n").split(":")
                if fields[0] == user and len(fields) > 2 and fields[2].isdigit():
                    return int(fields[2])
    except OSError:
        pass
    return None


def refused(user: str, minimum: int, system_users: frozenset[str]) -> str | None:
    """Why ``user`` may not be acted on, or None. A name that is no local account is left
    to the command (it may block an application's user, not a system one)."""
    if user in system_users:
        return None
    uid = uid_of(user)
    if uid is not None and uid < minimum:
        return f"system account (uid {uid} below UID_MIN {minimum})"
    return None
