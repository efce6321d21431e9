"""What agentless checks remember between runs, in SQLite under the state directory: the
file baseline of each remote host and the last output of each command or configuration."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterable

from hidsctl.state import open_db, transaction

FILE_NAME = "agentless.db"

MIGRATIONS = [
    """
    CREATE TABLE files (
        host TEXT NOT NULL,          -- user@address:port
        path TEXT NOT NULL,
        attributes TEXT NOT NULL,    -- JSON: size, mode, uid, gid, uname, gname, mtime, inode, hash
        PRIMARY KEY (host, path)
    ) WITHOUT ROWID;
    CREATE TABLE outputs (
        host TEXT NOT NULL,
        name TEXT NOT NULL,          -- the command
        content TEXT NOT NULL,
        updated REAL NOT NULL,
        PRIMARY KEY (host, name)
    ) WITHOUT ROWID;
    CREATE TABLE baselines (
        host TEXT NOT NULL,
        directory TEXT NOT NULL,     -- a directory whose first listing has been stored
        created REAL NOT NULL,
        PRIMARY KEY (host, directory)
    ) WITHOUT ROWID;
    """,
]


class Store:
    def __init__(self, state_dir: Path):
        self.path = state_dir / FILE_NAME
        self.conn = open_db(self.path, MIGRATIONS, timeout=30)

    def close(self) -> None:
        self.conn.close()

    # --- file baselines ---

    def baselined(self, host: str) -> set[str]:
        """The directories of ``host`` whose files are already in the baseline."""
        rows = self.conn.execute("SELECT directory FROM baselines WHERE host = ?", (host,))
        return {directory for (directory,) in rows}

    def files(self, host: str) -> dict[str, dict]:
        rows = self.conn.execute("SELECT path, attributes FROM files WHERE host = ?", (host,))
        return {path: json.loads(attributes) for path, attributes in rows}

    def update_files(self, host: str, changed: dict[str, dict], removed: Iterable[str],
                     directories: Iterable[str]) -> None:
        with transaction(self.conn):
            self.conn.executemany(
                "INSERT OR REPLACE INTO files (host, path, attributes) VALUES (?, ?, ?)",
                [(host, path, json.dumps(attrs, sort_keys=True)) for path, attrs in changed.items()])
            self.conn.executemany("DELETE FROM files WHERE host = ? AND path = ?",
                                  [(host, path) for path in removed])
            self.conn.executemany(
                "INSERT OR IGNORE INTO baselines (host, directory, created) VALUES (?, ?, ?)",
                [(host, directory, time.time()) for directory in directories])

    # --- command outputs and configurations ---

    def output(self, host: str, name: str) -> str | None:
        row = self.conn.execute("SELECT content FROM outputs WHERE host = ? AND name = ?",
                                (host, name)).fetchone()
        return row[0] if row else None

    def save_output(self, host: str, name: str, content: str) -> None:
        with transaction(self.conn):
            self.conn.execute(
                "INSERT OR REPLACE INTO outputs (host, name, content, updated) VALUES (?, ?, ?, ?)",
                (host, name, content, time.time()))

    def outputs(self, host: str | None = None) -> list[tuple[str, str, str, float]]:
        query = "SELECT host, name, content, updated FROM outputs"
        rows = self.conn.execute(query + (" WHERE host = ?" if host else "") + " ORDER BY host, name",
                                 (host,) if host else ())
        return list(rows)
