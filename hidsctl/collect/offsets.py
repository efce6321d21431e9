"""Offsets of followed files and the journal cursor, in SQLite under the state directory.

A file is known by (device, inode) plus a fingerprint of its first bytes (so a reused inode
is not mistaken for the old file); rows are kept per path, and a path may have a second row
for the file it was rotated away from while that one is still being read to its end.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from hidsctl import state

MIGRATIONS = [
    """
    CREATE TABLE files (
        path TEXT NOT NULL,
        dev INTEGER NOT NULL,
        ino INTEGER NOT NULL,
        pos INTEGER NOT NULL,
        fingerprint TEXT NOT NULL,
        fp_len INTEGER NOT NULL,
        rotated INTEGER NOT NULL DEFAULT 0,
        updated REAL NOT NULL,
        PRIMARY KEY (path, dev, ino)
    );
    CREATE INDEX files_inode ON files (dev, ino);
    CREATE TABLE cursors (
        name TEXT PRIMARY KEY,
        cursor TEXT NOT NULL,
        updated REAL NOT NULL
    )
    """,
]


@dataclass
class Offset:
    path: str
    dev: int
    ino: int
    pos: int
    fingerprint: str
    fp_len: int
    rotated: bool = False


def _offset(row: tuple) -> Offset:
    path, dev, ino, pos, fingerprint, fp_len, rotated = row
    return Offset(path, dev, ino, pos, fingerprint, fp_len, bool(rotated))


class OffsetStore:
    def __init__(self, directory: Path):
        self.path = directory / "collect.db"
        self.conn: sqlite3.Connection = state.open_db(self.path, MIGRATIONS)

    def for_path(self, path: str) -> list[Offset]:
        rows = self.conn.execute(
            "SELECT path, dev, ino, pos, fingerprint, fp_len, rotated FROM files WHERE path = ?",
            (path,)).fetchall()
        return [_offset(row) for row in rows]

    def for_inode(self, dev: int, ino: int) -> list[Offset]:
        rows = self.conn.execute(
            "SELECT path, dev, ino, pos, fingerprint, fp_len, rotated FROM files "
            "WHERE dev = ? AND ino = ?", (dev, ino)).fetchall()
        return [_offset(row) for row in rows]

    def cursor(self, name: str) -> str | None:
        row = self.conn.execute("SELECT cursor FROM cursors WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def commit(self, offsets: list[Offset], gone: list[tuple[str, int, int]],
               cursors: dict[str, str]) -> None:
        """Save offsets and cursors, forget rows of files read to their end, in one go."""
        now = time.time()
        with state.transaction(self.conn):
            self.conn.executemany(
                "INSERT INTO files (path, dev, ino, pos, fingerprint, fp_len, rotated, updated) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (path, dev, ino) DO UPDATE SET "
                "pos = excluded.pos, fingerprint = excluded.fingerprint, "
                "fp_len = excluded.fp_len, rotated = excluded.rotated, updated = excluded.updated",
                [(o.path, o.dev, o.ino, o.pos, o.fingerprint, o.fp_len, int(o.rotated), now)
                 for o in offsets])
            self.conn.executemany("DELETE FROM files WHERE path = ? AND dev = ? AND ino = ?", gone)
            self.conn.executemany(
                "INSERT INTO cursors (name, cursor, updated) VALUES (?, ?, ?) ON CONFLICT (name) "
                "DO UPDATE SET cursor = excluded.cursor, updated = excluded.updated",
                [(name, cursor, now) for name, cursor in cursors.items()])

    def prune(self, max_age: float = 30 * 86400) -> None:
        """Forget files gone for good: not updated for ``max_age`` seconds and no longer there."""
        cutoff = time.time() - max_age
        stale = [row for row in self.conn.execute(
            "SELECT path, dev, ino FROM files WHERE updated < ?", (cutoff,)).fetchall()
            if not os.path.exists(row[0])]
        if stale:
            with state.transaction(self.conn):
                self.conn.executemany("DELETE FROM files WHERE path = ? AND dev = ? AND ino = ?",
                                      stale)

    def close(self) -> None:
        self.conn.close()


def find_inode(directory: str, dev: int, ino: int) -> str | None:
    """The path of the file with this inode in a directory (where a rotated file went)."""
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                try:
                    if entry.inode() == ino and entry.is_file(follow_symlinks=False) \
                            and entry.stat(follow_symlinks=False).st_dev == dev:
                        return entry.path
                except OSError:
                    continue
    except OSError:
        return None
    return None
