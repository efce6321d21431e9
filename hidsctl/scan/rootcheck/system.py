"""Checks of the running system: files hiding in /dev, hidden processes and ports,
promiscuous interfaces, SUID/SGID and world-writable files.

Each takes the roots it looks at (``/dev``, ``/proc``, system directories) as arguments,
and the hidden-process/port checks take the two views they compare as functions, so
they can run over a test tree or with a view that is known to differ.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import stat
import struct
from typing import Callable, Iterable, Iterator

# Regular files and dot-directories that belong in /dev on a healthy Linux system.
DEV_EXPECTED = {"MAKEDEV", "README.MAKEDEV", "MAKEDEV.README", ".udevdb", ".udev", ".initramfs",
                ".initramfs-tools", ".console_lock", ".devfsd", ".lxc", ".lxd-mounts", ".mdadm",
                ".blkid.tab", ".blkid.tab.old", "core", "initctl", ".systemd-udev"}
# Subtrees of /dev that hold ordinary files by design.
DEV_SKIP = {"shm", "mqueue", "hugepages", "pts", "fd"}


def files_in_dev(dev: str) -> Iterator[tuple[str, str]]:
    """(kind, path) for each regular file or hidden directory under ``dev``."""
    top = dev.rstrip("/") or "/"
    for directory, subdirs, files in os.walk(top):
        if directory == top:
            subdirs[:] = [d for d in subdirs if d not in DEV_SKIP]
        for name in subdirs:
            if name.startswith(".") and name not in DEV_EXPECTED:
                yield "directory", os.path.join(directory, name)
        for name, path, _st in regular_files(directory, files):
            if name not in DEV_EXPECTED:
                yield "file", path


def regular_files(directory: str, names: list[str]
                  ) -> Iterator[tuple[str, str, os.stat_result]]:
    """(name, path, lstat) of each regular file among ``names`` in ``directory``; one that
    is gone by now is skipped."""
    for name in names:
        path = os.path.join(directory, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            yield name, path, st


def pid_max(proc: str = "/proc") -> int:
    try:
        with open(f"{proc}/sys/kernel/pid_max") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return 32768


def pid_alive(pid: int) -> bool:
    """Whether the kernel answers for ``pid`` (kill with signal 0, then getpgid)."""
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        pass
    except PermissionError:
        return True
    try:
        os.getpgid(pid)
        return True
    except OSError:
        return False


def hidden_pids(pids: Iterable[int], alive: Callable[[int], bool],
                listed: Callable[[int], bool]) -> Iterator[int]:
    """PIDs that answer ``alive`` but that ``listed`` does not show, confirmed twice so a
    process starting or ending between the two looks is not reported."""
    for pid in pids:
        if alive(pid) and not listed(pid) and alive(pid) and not listed(pid):
            yield pid


def in_proc(proc: str) -> Callable[[int], bool]:
    # stat rather than readdir: threads are reachable at /proc/<tid> though not listed.
    return lambda pid: os.path.exists(f"{proc}/{pid}")


def listening_ports(proc: str, protocol: str) -> set[int]:
    """Local ports that /proc/net/{tcp,udp}{,6} show in use."""
    ports: set[int] = set()
    for name in (protocol, protocol + "6"):
        try:
            with open(f"{proc}/net/{name}") as handle:
                next(handle, None)
                for line in handle:
                    fields = line.split()
                    if len(fields) > 1 and ":" in fields[1]:
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except (OSError, ValueError):
            continue
    return ports


def port_in_use(port: int, protocol: str) -> bool:
    """Whether binding ``port`` on every address fails because it is taken."""
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.bind(("0.0.0.0", port))
        return False
    except OSError as exc:
        return exc.errno == errno.EADDRINUSE
    finally:
        sock.close()


def hidden_ports(ports: Iterable[int], protocol: str, in_use: Callable[[int, str], bool],
                 listed: Callable[[], set[int]]) -> Iterator[int]:
    """Ports that cannot be bound yet are absent from the kernel's tables (checked twice)."""
    shown = listed()
    for port in ports:
        if port in shown or not in_use(port, protocol):
            continue
        shown = listed()  # it may have opened since the tables were read
        if port not in shown and in_use(port, protocol):
            yield port


IFF_PROMISC = 0x100
SIOCGIFFLAGS = 0x8913


def interfaces(proc: str) -> list[str]:
    names = []
    try:
        with open(f"{proc}/net/dev") as handle:
            for line in handle.readlines()[2:]:
                name = line.split(":", 1)[0].strip()
                if name:
                    names.append(name)
    except OSError:
        pass
    return names


def promiscuous(names: Iterable[str]) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for name in names:
            try:
                request = struct.pack("16s24s", name.encode()[:15], b"")  # struct ifreq
                reply = fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, request)
                flags = struct.unpack_from("H", reply, 16)[0]
            except OSError:
                continue
            if flags & IFF_PROMISC:
                yield name
    finally:
        sock.close()


def risky_modes(directories: Iterable[str], allow: set[str]) -> Iterator[tuple[str, str, os.stat_result]]:
    """(problem, path, stat) for SUID/SGID files not allowed and world-writable files."""
    seen: set[tuple[int, int]] = set()
    for top in directories:
        if not os.path.isdir(top):
            continue
        for directory, _subdirs, files in os.walk(top):
            for _name, path, st in regular_files(directory, files):
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
                if st.st_mode & (stat.S_ISUID | stat.S_ISGID) and path not in allow \
                        and os.path.realpath(path) not in allow:
                    yield ("suid" if st.st_mode & stat.S_ISUID else "sgid"), path, st
                if st.st_mode & stat.S_IWOTH:
                    yield "world-writable", path, st
