"""What ``receive`` keeps about agents in the state directory (``agents.db``): connectivity
for ``hidsctl agents``, and the delivery marks that keep a resent batch from being written
twice after a restart.

Marks are not security counters: replay protection comes from per-connection keys. A mark
only says "agent A's stream S was written up to sequence N", so a batch resent after a lost
acknowledgement is not written again. A new ``send`` process starts a new stream, so a
restored agent is never refused.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hidsctl.state import open_db, transaction

DB_FILE = "agents.db"

MIGRATIONS = [
    """
    CREATE TABLE agents (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, ip TEXT, status TEXT NOT NULL,
        connected_at REAL, last_seen REAL, last_keepalive REAL, hostname TEXT, os TEXT,
        version TEXT, config_hash TEXT, protocol TEXT
    );
    CREATE TABLE marks (agent TEXT PRIMARY KEY, stream BLOB NOT NULL, seq INTEGER NOT NULL)
    """,
]

KEEPALIVE_FIELDS = ("hostname", "os", "version", "config_hash")


@dataclass
class AgentState:
    id: str
    name: str
    ip: str | None = None
    status: str = "never_connected"
    connected_at: float | None = None
    last_seen: float | None = None
    last_keepalive: float | None = None
    hostname: str | None = None
    os: str | None = None
    version: str | None = None
    config_hash: str | None = None
    protocol: str | None = None
    dirty: bool = field(default=False, repr=False)

    def public(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "dirty"}
        return data


COLUMNS = [f for f in AgentState.__dataclass_fields__ if f != "dirty"]


class StatusStore:
    """Agent connectivity, kept in memory and flushed to SQLite about once a second."""

    def __init__(self, state: Path):
        self.conn = open_db(state / DB_FILE, MIGRATIONS)
        self.conn.execute("PRAGMA synchronous=OFF")  # survives a crash of the process
        self.agents: dict[str, AgentState] = {}
        self.marks: dict[str, tuple[bytes, int]] = {}
        for row in self.conn.execute(f"SELECT {', '.join(COLUMNS)} FROM agents"):
            agent = AgentState(*row)
            self.agents[agent.id] = agent

    def get(self, ident: str, name: str) -> AgentState:
        agent = self.agents.get(ident)
        if agent is None or agent.name != name:
            agent = self.agents[ident] = AgentState(ident, name)
        return agent

    def flush(self) -> None:
        dirty = [a for a in self.agents.values() if a.dirty]
        if not dirty:
            return
        placeholders = ", ".join("?" for _ in COLUMNS)
        with transaction(self.conn, "DEFERRED"):
            self.conn.executemany(
                f"INSERT OR REPLACE INTO agents ({', '.join(COLUMNS)}) VALUES ({placeholders})",
                [tuple(getattr(a, c) for c in COLUMNS) for a in dirty])
        for agent in dirty:
            agent.dirty = False

    # --- delivery marks -------------------------------------------------------------------

    def mark(self, agent: str) -> tuple[bytes, int] | None:
        if agent not in self.marks:
            row = self.conn.execute("SELECT stream, seq FROM marks WHERE agent = ?",
                                    (agent,)).fetchone()
            self.marks[agent] = (bytes(row[0]), row[1]) if row else (b"", -1)
        return self.marks[agent]

    def set_mark(self, agent: str, stream: bytes, seq: int) -> None:
        self.marks[agent] = (stream, seq)
        self.conn.execute("INSERT OR REPLACE INTO marks (agent, stream, seq) VALUES (?, ?, ?)",
                          (agent, stream, seq))

    def close(self) -> None:
        self.flush()
        self.conn.close()


def read_agents(state: Path) -> dict[str, dict[str, Any]]:
    """Every agent ``receive`` has recorded, by id (read-only; {} before the first run)."""
    path = state / DB_FILE
    if not path.exists():
        return {}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM agents").fetchall()
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()
    return {row[0]: dict(zip(COLUMNS, row)) for row in rows}


def effective_status(row: dict[str, Any] | None, disconnect_time: float,
                     now: float | None = None) -> str:
    """``active``, ``disconnected`` or ``never_connected``, as agent_control shows them;
    an agent silent past the disconnect time is disconnected even if no receiver said so."""
    if not row or row.get("last_seen") is None:
        return "never_connected"
    now = time.time() if now is None else now
    if row.get("status") == "active" and now - row["last_seen"] <= disconnect_time:
        return "active"
    return "disconnected"


def agent_rows(state: Path, disconnect_time: float) -> list[dict[str, Any]]:
    """One row per agent with a key or a record of connecting, status computed now."""
    from hidsctl import records
    from hidsctl.transport.keys import KeyFile, keys_path

    known = read_agents(state)
    keys = KeyFile.open(keys_path(state)).keys
    rows = []
    now = time.time()
    for ident in sorted(set(known) | set(keys)):
        seen = known.get(ident) or {}
        key = keys.get(ident)
        stamp = seen.get("last_keepalive")
        rows.append({
            "id": ident,
            "name": key.name if key else seen.get("name"),
            "ip": seen.get("ip") or (key.ip if key else None),
            "status": effective_status(seen, disconnect_time, now) if key else "removed",
            "last_keepalive": records.format_timestamp(stamp) if stamp else None,
            "connected_at": records.format_timestamp(seen["connected_at"])
            if seen.get("connected_at") else None,
            "version": seen.get("version"),
            "os": seen.get("os"),
            "hostname": seen.get("hostname"),
            "config_hash": seen.get("config_hash"),
            "protocol": seen.get("protocol"),
        })
    return rows
