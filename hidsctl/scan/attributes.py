"""A file's attributes: what the baseline stores and how records show them.

An entry is a plain dict (cheap to build for hundreds of thousands of files) with
``size, mode, uid, gid, uname, gname, mtime_ns, ctime_ns, inode, dev`` and, where taken,
``sha256``, ``sha1``, ``md5`` and ``target`` (symlinks).
"""

from __future__ import annotations

import errno
import grp
import hashlib
import operator
import os
import pwd
import stat
import struct
import threading
from functools import lru_cache
from typing import Any

Entry = dict[str, Any]

READ_SIZE = 1 << 20
HASH_NAMES = ("sha256", "sha1", "md5")
# Columns of the baseline, in order; the record names are these minus the private ones.
COLUMNS = ("size", "mode", "uid", "gid", "uname", "gname", "mtime_ns", "ctime_ns", "inode",
           "dev", "sha256", "sha1", "md5", "target")

# How the scan opens what it reads: never blocking (a FIFO swapped in), never a terminal.
OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
_NOATIME = getattr(os, "O_NOATIME", 0)
_noatime_ok = True


@lru_cache(maxsize=4096)
def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return ""


@lru_cache(maxsize=4096)
def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return ""


def from_stat(st: os.stat_result, target: str | None = None) -> Entry:
    return {
        "size": st.st_size, "mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid,
        "uname": user_name(st.st_uid), "gname": group_name(st.st_gid),
        "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "inode": st.st_ino,
        "dev": st.st_dev, "sha256": None, "sha1": None, "md5": None, "target": target,
    }


# A baseline row is the tuple of COLUMNS; entries are built from it only when needed.
Row = tuple
row_of = operator.itemgetter(*COLUMNS)
_I = {name: index for index, name in enumerate(COLUMNS)}
I_SIZE, I_MODE, I_UID, I_GID = _I["size"], _I["mode"], _I["uid"], _I["gid"]
I_MTIME, I_CTIME, I_INODE, I_DEV = _I["mtime_ns"], _I["ctime_ns"], _I["inode"], _I["dev"]
I_TARGET = _I["target"]
HASH_INDEX = {name: _I[name] for name in HASH_NAMES}
HASH_BIT = {"sha256": 1, "sha1": 2, "md5": 4}
# A stamp: what ``--fast`` compares with a file's lstat to see that nothing moved, as bytes
# (size, mtime_ns, ctime_ns, inode, dev, one bit per hash held; a symlink's target after
# "@"). The baseline keeps each entry's stamp beside it, so a re-scan loads two columns
# per file, and compares its stat with one call to STAMP.pack.
STAMP = struct.Struct("<qqqQQB")
# What SQLite's INTEGER and STAMP hold. A file's times are what its owner set (touch -d
# 2300-01-01 is past 2**63 ns, a time before 1678 below -2**63) and an inode number can
# use all 64 bits (overlayfs): values outside are "wide" and take the slower forms below.
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
_STAMP_SIZE = STAMP.size


def hash_bits(names) -> int:
    return sum(HASH_BIT[name] for name in names)


def stamp(size: int, mtime_ns: int, ctime_ns: int, inode: int, dev: int, bits: int,
          target: str | None) -> bytes:
    try:
        packed = STAMP.pack(size, mtime_ns, ctime_ns, inode, dev, bits)
    except struct.error:
        packed = wide_stamp(size, mtime_ns, ctime_ns, inode, dev, bits)
    return packed if target is None else packed + b"@" + target.encode("utf-8", "surrogatepass")


def wide_stamp(*numbers: int) -> bytes:
    """A stamp of numbers STAMP cannot pack, as exact decimal text. It is padded past
    STAMP's size with no "@" at that offset, so it never equals a packed stamp (exactly
    STAMP.size bytes, or followed by "@" and a link's target)."""
    return (b"%d %d %d %d %d %d" % numbers).ljust(_STAMP_SIZE + 1)


def stamp_of(entry: Entry) -> bytes:
    """The stamp of a baseline entry (a symlink holds no hashes)."""
    target, get = entry.get("target"), entry.get
    bits = 0 if target is not None else \
        (get("sha256") and 1 or 0) | (get("sha1") and 2 or 0) | (get("md5") and 4 or 0)
    return stamp(entry["size"], entry["mtime_ns"], entry["ctime_ns"], entry["inode"],
                 entry["dev"], bits, target)


def entry_of(row: Row) -> Entry:
    return dict(zip(COLUMNS, row))


def unmoved(row: Row, st: os.stat_result, target: str | None) -> bool:
    """True when nothing the kernel tracks has moved since ``row`` was taken: size, mtime,
    ctime and inode (a chmod or chown moves ctime too), so ``--fast`` need not look again."""
    return (row[I_MTIME] == st.st_mtime_ns and row[I_CTIME] == st.st_ctime_ns
            and row[I_SIZE] == st.st_size and row[I_INODE] == st.st_ino
            and row[I_DEV] == st.st_dev and row[I_TARGET] == target)


class Unreadable(Exception):
    """The file's content could not be read; its stat attributes still stand."""


def hash_file(path: bytes, names: tuple[str, ...], follow: bool = False, limit: int = 0
              ) -> tuple[dict[str, str], os.stat_result]:
    """Hash a regular file's content; returns (digests, fstat of what was read).

    The file is opened without following links and without blocking (a FIFO swapped in
    for a file must not hang the scan), and stat'ed through the open descriptor, so the
    attributes describe exactly the content that was hashed. A file that changes while it
    is read is read once more. Raises FileNotFoundError when it vanished, Unreadable when
    it cannot be read.
    """
    opened = _open_regular(path, follow)
    if isinstance(opened, os.stat_result):
        return {}, opened
    fd = opened
    try:
        for _attempt in range(2):
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode) or (limit and before.st_size > limit):
                return {}, before
            digests = _hash_fd(fd, names, before.st_size)
            after = os.fstat(fd)
            if after.st_mtime_ns == before.st_mtime_ns and after.st_size == before.st_size:
                return digests, after
            os.lseek(fd, 0, os.SEEK_SET)
        return digests, after
    except OSError as exc:
        raise Unreadable(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)


def _open_regular(path: bytes, follow: bool) -> int | os.stat_result:
    """A descriptor of ``path`` open for reading, or the stat of what is there when a
    followed link leads to something other than a regular file. A followed link's target
    is pinned with O_PATH, which opens nothing (a device's open can have effects: a tape
    rewinds), and opened through /proc only once it is seen to be a regular file: a link
    swapped between the walk and the hashing cannot make the scan open a device. Without
    following, O_NOFOLLOW refuses a link, and only root can put a device in its place."""
    if follow and _PROC_FD:
        pinned = _open(path, os.O_PATH | os.O_CLOEXEC)
        try:
            st = os.fstat(pinned)
            if not stat.S_ISREG(st.st_mode):
                return st
            return _open(b"/proc/self/fd/%d" % pinned, OPEN_FLAGS, path)
        finally:
            os.close(pinned)
    return _open(path, OPEN_FLAGS | (0 if follow else os.O_NOFOLLOW))


def _open(path: bytes, flags: int, shown: bytes | None = None) -> int:
    """os.open, with O_NOATIME while it is allowed; errors as hash_file raises them."""
    try:
        return os.open(path, flags | (_NOATIME if _noatime_ok else 0))
    except PermissionError:
        if not _noatime_ok or not _NOATIME:
            raise Unreadable("permission denied") from None
        try:  # O_NOATIME needs ownership or CAP_FOWNER
            return os.open(path, flags)
        except PermissionError:
            raise Unreadable("permission denied") from None
    except FileNotFoundError:
        raise FileNotFoundError(shown or path) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # replaced by a symlink since the walk
            raise FileNotFoundError(shown or path) from None
        raise Unreadable(exc.strerror or str(exc)) from None


_PROC_FD = os.path.isdir("/proc/self/fd")


def _hash_fd(fd: int, names: tuple[str, ...], size: int) -> dict[str, str]:
    """Digests of the first ``size`` bytes of ``fd`` (fewer if it ends sooner)."""
    # Read into one buffer per thread: a fresh bytes object per read costs its allocation
    # and page faults, about 5% of the CPU time of a baseline.
    try:
        buffer, view = _buffers.buffer, _buffers.view
    except AttributeError:
        buffer = _buffers.buffer = bytearray(READ_SIZE)
        view = _buffers.view = memoryview(buffer)
    buffers = [buffer]
    readv = os.readv
    if names == ("sha256",):  # the common case, without the loop over hashers
        hasher = hashlib.sha256()
        update = hasher.update
        while size > 0 and (got := readv(fd, buffers)):
            update(view[:min(got, size)])
            size -= got
        return {"sha256": hasher.hexdigest()}
    hashers = [hashlib.new(name) for name in names]
    while size > 0 and (got := readv(fd, buffers)):
        chunk = view[:min(got, size)]
        size -= got
        for hasher in hashers:
            hasher.update(chunk)
    return {name: hasher.hexdigest() for name, hasher in zip(names, hashers)}


_buffers = threading.local()


def public(entry: Entry) -> dict[str, Any]:
    """An entry as records show it: mode as an octal string, mtime in epoch seconds."""
    shown: dict[str, Any] = {
        "size": entry["size"], "mode": format(entry["mode"], "o"),
        "uid": entry["uid"], "gid": entry["gid"], "uname": entry["uname"],
        "gname": entry["gname"], "mtime": entry["mtime_ns"] // 1_000_000_000,
        "inode": entry["inode"],
    }
    for name in HASH_NAMES:
        if entry.get(name):
            shown[name] = entry[name]
    if entry.get("target") is not None:
        shown["target"] = entry["target"]
    return shown


def changed(old: Entry, new: Entry, compared: frozenset[str]) -> list[str]:
    """Names of compared attributes that differ; hashes only where both sides have them."""
    names: list[str] = []
    for name in ("size", "mode", "uid", "gid", "uname", "gname"):
        if name in compared and old.get(name) != new.get(name):
            names.append(name)
    if "mtime" in compared and old["mtime_ns"] // 1_000_000_000 != new["mtime_ns"] // 1_000_000_000:
        names.append("mtime")
    if "inode" in compared and old.get("inode") != new.get("inode"):
        names.append("inode")
    for name in HASH_NAMES:
        if name in compared and old.get(name) and new.get(name) and old[name] != new[name]:
            names.append(name)
    if old.get("target") != new.get("target"):
        names.append("target")
    return names
