"""The integrity baseline: one SQLite table of file entries keyed by the path's bytes.

A scan reads the entries under its roots, then writes every change in one transaction,
so a scan killed at any point leaves the previous baseline as it was. One process at a
time holds the baseline (an exclusive lock next to the database).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Iterable, Iterator

from hidsctl import state
from hidsctl.scan.attributes import (COLUMNS, I_CTIME, I_DEV, I_INODE, I_MTIME, INT64_MAX,
                                     INT64_MIN, Entry, row_of, stamp_of)

DB_NAME = "syscheck.db"
LOCK_NAME = "syscheck.lock"

# Columns whose value a file's owner or file system can push past SQLite's 64-bit INTEGER.
_WIDE = (I_MTIME, I_CTIME, I_INODE, I_DEV)
# Such a value is stored as the text "wide:<decimal>", exact and compared as the integer it
# reads back as. Plain decimal text would not do: SQLite turns text that reads as an integer
# too large for 64 bits into a REAL (INTEGER affinity), losing the nanoseconds; clamping
# would make 2300 and 2400 equal; two columns per time would cost every ordinary row.
_WIDE_PREFIX = "wide:"


def _stored(entry: Entry) -> tuple:
    """An entry's row as SQLite can hold it."""
    row = row_of(entry)
    if all(INT64_MIN <= row[i] <= INT64_MAX for i in _WIDE):
        return row
    return tuple(f"{_WIDE_PREFIX}{value}" if i in _WIDE and not INT64_MIN <= value <= INT64_MAX
                 else value for i, value in enumerate(row))


def _loaded(row: tuple) -> tuple:
    """A row as read back: wide values are integers again (a type check per row, as no
    ordinary row holds text in those columns)."""
    if str not in (row[I_MTIME].__class__, row[I_CTIME].__class__, row[I_INODE].__class__,
                   row[I_DEV].__class__):
        return row
    return tuple(int(value[len(_WIDE_PREFIX):]) if i in _WIDE and isinstance(value, str)
                 else value for i, value in enumerate(row))


_SELECT = f"SELECT path, {', '.join(COLUMNS)} FROM files"


def _add_stamps(conn: sqlite3.Connection) -> None:
    """Each entry's stamp (attributes.stamp), in a column of its own; the rows are read a
    slice at a time, so a baseline of any size is never held whole."""
    conn.execute("ALTER TABLE files ADD COLUMN stamp BLOB")
    last = b""
    while rows := conn.execute(f"{_SELECT} WHERE path > ? ORDER BY path LIMIT 10000",
                               (last,)).fetchall():
        conn.executemany("UPDATE files SET stamp = ? WHERE path = ?",
                         ((stamp_of(dict(zip(COLUMNS, _loaded(row[1:])))), row[0])
                          for row in rows))
        last = rows[-1][0]


MIGRATIONS: list[state.Migration] = [
    """
    CREATE TABLE files (
        path BLOB PRIMARY KEY,
        size INTEGER, mode INTEGER, uid INTEGER, gid INTEGER, uname TEXT, gname TEXT,
        mtime_ns INTEGER, ctime_ns INTEGER, inode INTEGER, dev INTEGER,
        sha256 TEXT, sha1 TEXT, md5 TEXT, target TEXT,
        scanned REAL
    ) WITHOUT ROWID;
    CREATE TABLE roots (path BLOB PRIMARY KEY, first_scan REAL) WITHOUT ROWID
    """,
    _add_stamps,
]

_UPSERT = (f"INSERT OR REPLACE INTO files (path, {', '.join(COLUMNS)}, stamp, scanned) "
           f"VALUES ({', '.join('?' * (len(COLUMNS) + 3))})")


def lock(state_dir: Path) -> state.ExclusiveLock:
    return state.ExclusiveLock(state_dir / LOCK_NAME, "the integrity baseline").acquire()


class Baseline:
    def __init__(self, state_dir: Path):
        self.path = state_dir / DB_NAME
        self.conn = state.open_db(self.path, MIGRATIONS)

    def close(self) -> None:
        self.conn.close()

    def under(self, root: bytes) -> Iterator[tuple[bytes, tuple]]:
        """Rows (tuples of COLUMNS) at ``root`` itself and below it."""
        for row in _range(self.conn, _SELECT, root):
            yield row[0], _loaded(row[1:])

    def stamps(self, root: bytes) -> dict[bytes, bytes]:
        """path -> stamp (attributes.stamp) for the entries at and below ``root``: all
        ``--fast`` needs to see that nothing moved, at a fifth of the cost of whole rows."""
        return dict(_range(self.conn, "SELECT path, stamp FROM files", root))

    def row(self, path: bytes) -> tuple | None:
        """One entry's row (a tuple of COLUMNS), or None."""
        row = self.conn.execute(f"{_SELECT} WHERE path = ?", (path,)).fetchone()
        return _loaded(tuple(row[1:])) if row else None

    def get(self, path: bytes) -> Entry | None:
        row = self.conn.execute(f"{_SELECT} WHERE path = ?", (path,)).fetchone()
        return _entry(row) if row else None

    def known(self, root: bytes) -> bool:
        """Whether ``root`` (or a directory above it) has been scanned before."""
        for (known,) in self.conn.execute("SELECT path FROM roots"):
            known = bytes(known)
            if root == known or root.startswith(known.rstrip(b"/") + b"/"):
                return True
        return False

    def count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM files").fetchone()[0]

    def write(self, upserts: Iterable[tuple[bytes, Entry]], deletions: Iterable[bytes],
              when: float, clear: Iterable[bytes] = (), roots: Iterable[bytes] = ()) -> None:
        """Apply one scan's changes atomically (``clear``: roots rebuilt from scratch;
        ``roots``: the scanned roots, known from now on)."""
        with state.transaction(self.conn):
            self._clear_under(clear)
            self.conn.executemany("INSERT OR IGNORE INTO roots VALUES (?, ?)",
                                  ((root, when) for root in roots))
            self.conn.executemany(_UPSERT, ((path, *_stored(entry), stamp_of(entry), when)
                                            for path, entry in upserts))
            self.conn.executemany("DELETE FROM files WHERE path = ?", ((p,) for p in deletions))

    def _clear_under(self, roots: Iterable[bytes]) -> None:
        for root in roots:
            prefix = root.rstrip(b"/") + b"/"
            if root == b"/":
                self.conn.execute("DELETE FROM files")
            else:
                self.conn.execute("DELETE FROM files WHERE path = ? OR (path > ? AND path < ?)",
                                  (root, prefix, prefix[:-1] + b"0"))


def _range(conn: sqlite3.Connection, select: str, root: bytes) -> sqlite3.Cursor:
    """``select`` of the entries at ``root`` and below it."""
    prefix = root.rstrip(b"/") + b"/"
    if root == b"/":
        return conn.execute(select)
    # b"0" follows b"/": the range holds exactly the paths that start with prefix.
    return conn.execute(f"{select} WHERE path = ? OR (path > ? AND path < ?)",
                        (root, prefix, prefix[:-1] + b"0"))


def _entry(row: sqlite3.Row | tuple) -> Entry:
    return dict(zip(COLUMNS, _loaded(tuple(row[1:]))))


def exists(state_dir: Path) -> bool:
    return os.path.exists(state_dir / DB_NAME)
