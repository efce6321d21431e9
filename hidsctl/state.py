"""Where state lives and how it is written: the state directory, SQLite with migrations,
exclusive locks and atomic file writes."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

from hidsctl.backoff import Backoff
from hidsctl.errors import StateError

Migration = str | Callable[[sqlite3.Connection], None]


def default_state_dir() -> Path:
    """$HIDSCTL_STATE_DIR if set, else /var/lib/hidsctl as root, else
    $XDG_STATE_HOME/hidsctl (~/.local/state/hidsctl)."""
    if os.environ.get("HIDSCTL_STATE_DIR"):  # a whole shell session, a unit, a test
        return Path(os.environ["HIDSCTL_STATE_DIR"])
    if os.geteuid() == 0:
        return Path("/var/lib/hidsctl")
    xdg = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(xdg) / "hidsctl"


def state_dir(override: str | os.PathLike | None = None, *, create: bool = True) -> Path:
    path = Path(override) if override else default_state_dir()
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True, mode=0o750)
        except OSError as exc:
            raise StateError(f"cannot create state directory {path}: {exc.strerror}") from exc
    return path


def _enter_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch to WAL, retrying while another process holds the file: SQLite answers
    "database is locked" at once, without its busy timeout, when the mode change meets
    a connection that is opening or closing the same database (the workers of a killed
    analyze finishing while its successor starts)."""
    wait = Backoff(0.005, 0.2)
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise
            time.sleep(wait.next())


def open_db(path: str | os.PathLike, migrations: Sequence[Migration] = (),
            *, timeout: float = 5.0) -> sqlite3.Connection:
    """Open an SQLite database in WAL mode and bring its schema up to date.

    ``migrations`` are applied in order, each in its own transaction; the schema version
    is SQLite's user_version, so a database is upgraded from wherever it stands.
    """
    try:
        conn = sqlite3.connect(os.fspath(path), timeout=timeout, isolation_level=None)
        _enter_wal(conn, timeout)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise StateError(f"cannot open state database {path}: {exc}") from exc
    if version > len(migrations):
        raise StateError(f"{path}: schema version {version} is newer than this hidsctl knows "
                         f"({len(migrations)})")
    for number, migration in enumerate(migrations[version:], start=version + 1):
        try:
            conn.execute("BEGIN IMMEDIATE")
            if conn.execute("PRAGMA user_version").fetchone()[0] >= number:
                conn.execute("ROLLBACK")  # another process opening it at once did this one
                continue
            if callable(migration):
                migration(conn)
            else:
                for statement in _statements(migration):
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={number}")
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            conn.execute("ROLLBACK")
            raise StateError(f"{path}: migration {number} failed: {exc}") from exc
    return conn


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]


@contextmanager
def transaction(conn: sqlite3.Connection, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
    conn.execute(f"BEGIN {mode}")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


class ExclusiveLock:
    """A non-blocking flock on a lock file: a second holder is refused with a clear error."""

    def __init__(self, path: str | os.PathLike, what: str):
        self.path = Path(path)
        self.what = what
        self.fd: int | None = None

    def acquire(self) -> "ExclusiveLock":
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:  # a state directory this user cannot write
            raise StateError(f"cannot open the lock file {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(self.fd)
            os.close(self.fd)
            self.fd = None
            who = f" (pid {holder})" if holder else ""
            raise StateError(f"{self.what} is in use by another hidsctl process{who}; "
                             f"lock file {self.path}") from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, f"{os.getpid()}\n".encode())
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "ExclusiveLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_pid(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode().strip()
    except OSError:
        return ""


def atomic_write(path: str | os.PathLike, data: bytes | str, mode: int = 0o644) -> None:
    """Write a file so readers see the old or the new content, never a mix: write, fsync,
    rename, fsync the directory."""
    target = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(target.parent)


def fsync_dir(path: str | os.PathLike) -> None:
    """Make the entries of a directory durable: a file created, renamed or removed in it
    survives a power loss only once its directory is synced too."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
