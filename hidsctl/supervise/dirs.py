"""The directories supervise hands its components: created, owned and reachable.

Run as root, the supervisor owns the state directory; each unprivileged component (receive,
analyze, the outputs) gets its own subdirectory and output directories, owned by the service
user. For that user to reach them, the state directory is group-searchable by the user's
group (root:GROUP 0750, as OSSEC's /var/ossec is root:ossec) and every parent must be
searchable. What is created or changed is reported, so a fix made at start is never silent.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Callable

User = tuple[int, int, str]  # uid, gid, name
Log = Callable[[str], None]

STATE_MODE = 0o750
COMPONENT_MODE = 0o750
PARENT_MODE = 0o755  # directories created above a component's own (e.g. /var/log/hidsctl)


def user_groups(user: User) -> set[int]:
    try:
        return set(os.getgrouplist(user[2], user[1]))
    except OSError:  # a user the group database does not know: its primary group only
        return {user[1]}


def may(st: os.stat_result, user: User, bits: int) -> bool:
    """Whether ``user`` has the permission ``bits`` (an rwx triplet, as 0o1 for search)
    on a file with these owner, group and mode bits (root has them all)."""
    if user[0] == 0:
        return True
    mode = st.st_mode
    if st.st_uid == user[0]:
        return (mode >> 6) & bits == bits
    if st.st_gid in user_groups(user):
        return (mode >> 3) & bits == bits
    return mode & bits == bits


def unreachable_parent(path: Path, user: User) -> Path | None:
    """The first directory above ``path`` the user cannot search, if any."""
    for parent in reversed(Path(os.path.abspath(path)).parents):
        try:
            st = os.stat(parent)
        except OSError:
            return parent
        if not may(st, user, 0o1):
            return parent
    return None


def make_dirs(path: Path, mode: int) -> bool:
    """Create ``path`` and its missing parents with explicit modes (the umask does not
    narrow them, so a parent created here stays searchable). True when it was created."""
    path = Path(path)
    if path.is_dir():
        return False
    missing = [p for p in [path, *path.parents] if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(exist_ok=True)
        os.chmod(directory, mode if directory == path else PARENT_MODE)
    return True


def prepare_state(state: Path, user: User | None, log: Log) -> None:
    """The state directory: ours, mode 0750, and searchable by the service user's group."""
    if make_dirs(state, STATE_MODE):
        log(f"supervise: created the state directory {state}")
    if user is None:
        return
    st = os.stat(state)
    if may(st, user, 0o1):
        return
    os.chown(state, -1, user[1])
    os.chmod(state, stat.S_IMODE(st.st_mode) | 0o050)
    log(f"supervise: state: {state} made group {_group_name(user[1])} and mode "
        f"{stat.S_IMODE(os.stat(state).st_mode):04o}, so {user[2]} can reach its components' "
        f"directories")


def ensure_owned(path: Path, user: User | None, log: Log, what: str) -> None:
    """A component's own directory: created, owned by the user it runs as (with what an
    administrator put in it as root, agent keys say), and writable by it."""
    created = make_dirs(path, COMPONENT_MODE)
    if user is None:
        if created:
            log(f"supervise: {what}: created {path}")
        return
    st = os.stat(path)
    fixed = [] if not created else [f"created, owner {user[2]}"]
    if (st.st_uid, st.st_gid) != (user[0], user[1]) and not created:
        fixed.append(f"owner {st.st_uid}:{st.st_gid} -> {user[2]}")
    if stat.S_IMODE(st.st_mode) & 0o700 != 0o700:
        os.chmod(path, stat.S_IMODE(st.st_mode) | 0o700)
        fixed.append(f"mode {stat.S_IMODE(st.st_mode):04o} -> "
                     f"{stat.S_IMODE(st.st_mode) | 0o700:04o}")
    os.chown(path, user[0], user[1])
    changed = _chown_tree(path, user)
    if changed:
        fixed.append(f"{changed} entries inside handed to {user[2]}")
    if fixed:
        log(f"supervise: {what}: {path}: {', '.join(fixed)}")


def _chown_tree(path: Path, user: User) -> int:
    """Hand the entries below ``path`` to the user. Symbolic links are not followed and a
    file with other hard links is left alone, so a link the user planted in its own
    directory cannot make root give it a file from elsewhere."""
    changed = 0
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            entry = os.path.join(root, name)
            try:
                st = os.lstat(entry)
                if (st.st_uid, st.st_gid) == (user[0], user[1]):
                    continue
                if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
                    continue
                os.chown(entry, user[0], user[1], follow_symlinks=False)
                changed += 1
            except FileNotFoundError:
                continue
    return changed


def _group_name(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
