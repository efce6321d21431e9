"""The rootcheck findings each agent has reported: OSSEC's rootcheck database.

OSSEC's analysisd keeps, per agent, every rootcheck finding with when it was first and last
seen, and marks a rootcheck event first-time-seen only when its finding is not held yet, so
rule 510 (``<if_fts />``) and its children alert once per finding instead of at every scan.
This table is the same, in SQLite, keyed by agent id and finding: the record's title, and its
``file`` when the title does not name it (``detail`` is evidence, such as the line that
matched, and does not make a finding new).

- A finding held already only has its last-seen time updated.
- One not seen for ``forget`` seconds (by the records' timestamps) is new again: a rootkit
  removed and put back later alerts again. With scans further apart than ``forget``, every
  scan alerts again. ``forget`` 0 keeps a finding until a bound drops it, as OSSEC does.
- Bounded: at most ``PER_AGENT`` findings an agent (those seen longest ago go first) and
  ``LIMIT`` in all; forgotten findings are pruned.

Without a path the table lives in memory: one run's worth for a pipeline without a state
directory, and the partition state that ``analyze --group`` snapshots to the bus (as rows:
``dump`` and ``restore``). With a path (``STATE_DIR/rootcheck.db``) it survives restarts;
sightings are kept aside and written in one short transaction by ``commit``, which
``analyze`` calls once the output they led to is written (run.py says when), so processes
sharing the file (``analyze --workers``) never hold a write lock for long, and a crash
before that repeats alerts rather than losing them.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

DEFAULT_FORGET = 2 * 86400.0
PER_AGENT = 10000
LIMIT = 1_000_000
PENDING_LIMIT = 10000  # sightings kept aside before they are written anyway
PRUNE_EVERY = 1000     # new findings between two prunes of forgotten ones

SCHEMA = ("CREATE TABLE findings (agent TEXT NOT NULL, finding TEXT NOT NULL, "
          "first_seen REAL NOT NULL, last_seen REAL NOT NULL, "
          "PRIMARY KEY (agent, finding)) WITHOUT ROWID;"
          "CREATE INDEX findings_last_seen ON findings (last_seen)")


def finding_of(record: dict[str, Any]) -> str:
    """What identifies a finding of a ``rootcheck`` record."""
    title = str(record.get("title", ""))
    file = record.get("file")
    if file and str(file) not in title:
        return f"{title}\n{file}"
    return title


class Findings:
    def __init__(self, path: str | os.PathLike[str] | None = None, *,
                 forget: float = DEFAULT_FORGET, per_agent: int = PER_AGENT,
                 limit: int = LIMIT):
        self.path = Path(path) if path is not None else None
        self.forget = forget
        self.per_agent = per_agent
        self.limit = limit
        self.pending: dict[tuple[str, str], tuple[float, float]] = {}
        self.newest = 0.0
        self.added = 0
        self.checkpointed = False  # run.py: sightings are written at checkpoints only
        self._db: sqlite3.Connection | None = None

    # --- the one question ------------------------------------------------------------------

    def sighting(self, agent: str, finding: str, when: float) -> bool:
        """Note that ``agent`` reported ``finding`` at ``when``; whether it is new."""
        key = (agent, finding)
        held = self.pending.get(key) or self._lookup(agent, finding)
        if held is None or (self.forget > 0 and when - held[1] > self.forget):
            self.pending[key] = (when, when)
            self.added += 1
            new = True
        else:
            self.pending[key] = (held[0], max(held[1], when))
            new = False
        self.newest = max(self.newest, when)
        if self.path is None or len(self.pending) >= PENDING_LIMIT:
            self.commit()
        return new

    # --- storage ---------------------------------------------------------------------------

    def open(self) -> sqlite3.Connection:
        if self._db is None:
            if self.path is None:
                self._db = sqlite3.connect(":memory:", isolation_level=None)
                for statement in SCHEMA.split(";"):
                    self._db.execute(statement)
            else:
                from hidsctl.state import open_db

                self._db = open_db(self.path, [SCHEMA])
        return self._db

    def _lookup(self, agent: str, finding: str) -> tuple[float, float] | None:
        row = self.open().execute(
            "SELECT first_seen, last_seen FROM findings WHERE agent = ? AND finding = ?",
            (agent, finding)).fetchone()
        return (row[0], row[1]) if row is not None else None

    def commit(self) -> None:
        """Write the sightings kept aside, in one transaction, and apply the bounds."""
        if not self.pending:
            return
        from hidsctl.state import transaction

        rows = [(agent, finding, first, last)
                for (agent, finding), (first, last) in self.pending.items()]
        agents = {agent for agent, _, _, _ in rows}
        with transaction(self.open()) as db:
            db.executemany(
                "INSERT INTO findings VALUES (?, ?, ?, ?) ON CONFLICT (agent, finding) DO "
                "UPDATE SET first_seen = excluded.first_seen, "
                "last_seen = max(last_seen, excluded.last_seen)", rows)
            for agent in agents:
                self._bound_agent(db, agent)
            if self.added >= PRUNE_EVERY:
                self.added = 0
                self._prune(db)
        self.pending.clear()

    def _bound_agent(self, db: sqlite3.Connection, agent: str) -> None:
        (count,) = db.execute("SELECT count(*) FROM findings WHERE agent = ?",
                              (agent,)).fetchone()
        if count > self.per_agent:
            db.execute("DELETE FROM findings WHERE agent = ? AND finding IN (SELECT finding "
                       "FROM findings WHERE agent = ? ORDER BY last_seen LIMIT ?)",
                       (agent, agent, count - self.per_agent))

    def _prune(self, db: sqlite3.Connection) -> None:
        if self.forget > 0:
            db.execute("DELETE FROM findings WHERE last_seen < ?", (self.newest - self.forget,))
        (count,) = db.execute("SELECT count(*) FROM findings").fetchone()
        if count > self.limit:
            db.execute("DELETE FROM findings WHERE (agent, finding) IN (SELECT agent, finding "
                       "FROM findings ORDER BY last_seen LIMIT ?)", (count - self.limit,))

    def held(self, agent: str) -> list[str]:
        """The findings held for an agent (for tests and inspection)."""
        self.commit()
        return [row[0] for row in self.open().execute(
            "SELECT finding FROM findings WHERE agent = ? ORDER BY finding", (agent,))]

    def close(self) -> None:
        """Close the database; sightings not committed are dropped (they alert again)."""
        self.pending.clear()
        if self._db is not None:
            self._db.close()
            self._db = None

    # --- as data: analyze --group's partition snapshots (bus/snapshot.py) -----------------

    def dump(self) -> tuple[list[tuple[str, str, float, float]], float, int]:
        """(rows of (agent, finding, first seen, last seen), newest time, findings added
        since the last prune) of an in-memory table."""
        if self.path is not None:
            raise TypeError("a rootcheck database on disk is not snapshotted")
        self.commit()
        rows = [(str(a), str(f), float(first), float(last)) for a, f, first, last in
                self.open().execute("SELECT agent, finding, first_seen, last_seen FROM findings "
                                    "ORDER BY agent, finding")]
        return rows, self.newest, self.added

    def restore(self, rows: list[tuple[str, str, float, float]], newest: float,
                added: int) -> None:
        """Add what ``dump`` gave, this table's bounds applied."""
        for agent, finding, first, last in rows:
            self.pending[(agent, finding)] = (first, last)
        self.newest, self.added = max(self.newest, newest), max(self.added, added)
        self.commit()
