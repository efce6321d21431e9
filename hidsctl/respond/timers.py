"""Active actions and their undo times, and offence counts, in SQLite under the state
directory, so a restarted ``respond`` still undoes on time and escalates repeat offenders.

An action is written here *before* its script runs, marked as not yet run: if ``respond``
dies mid-script, the undo still happens (the bundled scripts' ``delete`` is harmless when
nothing was added), and the same alert delivered again (a bus, supervise's queue) runs
the add again instead of taking it as already done (the bundled scripts' ``add`` is
harmless when it was). Once the script succeeded, the action is marked as run.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from hidsctl import state

MIGRATIONS = [
    """
    CREATE TABLE active (
        key TEXT PRIMARY KEY,
        command TEXT NOT NULL,
        path TEXT NOT NULL,
        srcip TEXT NOT NULL DEFAULT '',
        user TEXT NOT NULL DEFAULT '',
        rule_id TEXT NOT NULL DEFAULT '',
        alert_id TEXT NOT NULL DEFAULT '',
        agent TEXT NOT NULL DEFAULT '',
        filename TEXT NOT NULL DEFAULT '',
        alert TEXT NOT NULL DEFAULT '{}',
        added REAL NOT NULL,
        timeout INTEGER NOT NULL,
        expires REAL,
        attempts INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX active_expires ON active (expires);
    CREATE TABLE offenders (
        key TEXT PRIMARY KEY,
        count INTEGER NOT NULL,
        last REAL NOT NULL
    )
    """,
    # Whether the add script finished; actions recorded before this column were.
    "ALTER TABLE active ADD COLUMN ran INTEGER NOT NULL DEFAULT 1",
]


@dataclass
class Subject:
    """The validated values a response acts on, taken from an alert or an ``ar`` record."""

    srcip: str = ""
    user: str = ""
    rule_id: str = ""
    alert_id: str = ""
    agent: str = ""
    filename: str = ""


@dataclass(kw_only=True)
class Action(Subject):
    """One action as carried out: everything its undo needs, even if the config changed."""

    command: str
    path: str
    alert: str = "{}"  # the triggering alert as JSON text
    added: float = 0.0
    timeout: int = 0
    expires: float | None = None
    attempts: int = 0
    ran: int = 1  # 0 while its add script has not finished

    @classmethod
    def of_row(cls, row: tuple) -> Action:
        return cls(**dict(zip(_COLUMNS, row)))

    @property
    def key(self) -> str:
        return action_key(self.command, self.srcip, self.user)


def action_key(command: str, srcip: str, user: str) -> str:
    """Same command on the same address and user: the same action."""
    return f"{command}\x1f{srcip}\x1f{user}"


_COLUMNS = ("command", "path", "srcip", "user", "rule_id", "alert_id", "agent", "filename",
            "alert", "added", "timeout", "expires", "attempts", "ran")


_UNKNOWN = object()


class Timers:
    def __init__(self, directory: Path):
        self.conn: sqlite3.Connection = state.open_db(directory / "respond.db", MIGRATIONS)
        self._next: object = _UNKNOWN  # the earliest undo time, cached between writes

    def _changed(self) -> None:
        self._next = _UNKNOWN

    def close(self) -> None:
        self.conn.close()

    def get(self, key: str) -> Action | None:
        row = self.conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM active WHERE key = ?",
                                (key,)).fetchone()
        return Action.of_row(row) if row else None

    def put(self, action: Action) -> None:
        self.conn.execute(
            f"INSERT OR REPLACE INTO active (key, {', '.join(_COLUMNS)}) "
            f"VALUES (?, {', '.join('?' * len(_COLUMNS))})",
            (action.key, *(getattr(action, c) for c in _COLUMNS)))
        self._changed()

    def extend(self, key: str, expires: float | None, timeout: int) -> None:
        self.conn.execute("UPDATE active SET expires = ?, timeout = ?, attempts = 0 WHERE key = ?",
                          (expires, timeout, key))
        self._changed()

    def retry_later(self, key: str, expires: float, attempts: int) -> None:
        self.conn.execute("UPDATE active SET expires = ?, attempts = ? WHERE key = ?",
                          (expires, attempts, key))
        self._changed()

    def mark_ran(self, key: str) -> None:
        self.conn.execute("UPDATE active SET ran = 1 WHERE key = ?", (key,))

    def remove(self, key: str) -> None:
        self.conn.execute("DELETE FROM active WHERE key = ?", (key,))
        self._changed()

    def due(self, now: float) -> list[Action]:
        earliest = self.next_due()
        if earliest is None or earliest > now:
            return []
        rows = self.conn.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM active WHERE expires IS NOT NULL AND expires <= ? "
            "ORDER BY expires", (now,)).fetchall()
        return [Action.of_row(row) for row in rows]

    def next_due(self) -> float | None:
        if self._next is _UNKNOWN:
            self._next = self.conn.execute("SELECT MIN(expires) FROM active").fetchone()[0]
        return self._next  # type: ignore[return-value]

    def pending(self) -> int:
        """Actions still waiting for their undo."""
        return self.conn.execute("SELECT COUNT(*) FROM active WHERE expires IS NOT NULL").fetchone()[0]

    def offences(self, key: str) -> int:
        """How many offences ``key`` has had (none counted now)."""
        row = self.conn.execute("SELECT count FROM offenders WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def offence(self, key: str, now: float) -> int:
        """Count one more offence for ``key``; returns how many there have been."""
        with state.transaction(self.conn):
            self.conn.execute(
                "INSERT INTO offenders (key, count, last) VALUES (?, 1, ?) "
                "ON CONFLICT (key) DO UPDATE SET count = count + 1, last = excluded.last",
                (key, now))
            return self.offences(key)
