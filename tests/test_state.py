"""State helpers: the state directory, migrations, locks and atomic writes."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from hidsctl import state
from hidsctl.errors import StateError


def test_default_state_dir_follows_uid_and_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("HIDSCTL_STATE_DIR", raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert state.default_state_dir() == tmp_path / "hidsctl"
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert str(state.default_state_dir()) == "/var/lib/hidsctl"


def test_hidsctl_state_dir_overrides_the_default_for_root_and_users(monkeypatch, tmp_path):
    monkeypatch.setenv("HIDSCTL_STATE_DIR", str(tmp_path / "s"))
    for uid in (0, 1000):
        monkeypatch.setattr(os, "geteuid", lambda uid=uid: uid)
        assert state.default_state_dir() == tmp_path / "s"
    assert state.state_dir(tmp_path / "given") == tmp_path / "given"  # --state-dir wins


def test_override_is_created(tmp_path):
    assert state.state_dir(tmp_path / "a" / "b").is_dir()


def test_migrations_run_once_in_order(tmp_path):
    migrations = ["CREATE TABLE t (x INTEGER)", "ALTER TABLE t ADD COLUMN y TEXT"]
    conn = state.open_db(tmp_path / "s.db", migrations)
    conn.execute("INSERT INTO t VALUES (1, 'a')")
    conn.close()
    conn = state.open_db(tmp_path / "s.db", migrations + ["CREATE INDEX t_x ON t (x)"])
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    assert conn.execute("SELECT x, y FROM t").fetchall() == [(1, "a")]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_failed_migration_rolls_back(tmp_path):
    with pytest.raises(StateError, match="migration 2 failed"):
        state.open_db(tmp_path / "s.db", ["CREATE TABLE t (x)", "CREATE TABLE t (x)"])
    conn = state.open_db(tmp_path / "s.db", ["CREATE TABLE t (x)"])
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1


def test_newer_database_is_refused(tmp_path):
    state.open_db(tmp_path / "s.db", ["CREATE TABLE t (x)", "CREATE TABLE u (x)"]).close()
    with pytest.raises(StateError, match="newer"):
        state.open_db(tmp_path / "s.db", ["CREATE TABLE t (x)"])


def test_not_a_database(tmp_path):
    (tmp_path / "s.db").write_bytes(b"garbage" * 1000)
    with pytest.raises(StateError, match="cannot open"):
        state.open_db(tmp_path / "s.db", ["CREATE TABLE t (x)"])


def test_exclusive_lock_refuses_second_holder(tmp_path):
    with state.ExclusiveLock(tmp_path / "l", "the baseline"):
        with pytest.raises(StateError, match=f"the baseline is in use .*pid {os.getpid()}"):
            state.ExclusiveLock(tmp_path / "l", "the baseline").acquire()
    state.ExclusiveLock(tmp_path / "l", "the baseline").acquire().release()


def test_atomic_write_sets_mode_and_replaces(tmp_path):
    target = tmp_path / "client.keys"
    state.atomic_write(target, "one", mode=0o600)
    state.atomic_write(target, b"two", mode=0o600)
    assert target.read_text() == "two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["client.keys"]


class _LockedAtFirst:
    """A connection whose mode change meets a database busy for ``times`` attempts."""

    def __init__(self, times: int, message: str = "database is locked"):
        self.times, self.message, self.attempts = times, message, 0

    def execute(self, sql: str):
        self.attempts += 1
        if self.attempts <= self.times:
            raise sqlite3.OperationalError(self.message)


def test_wal_switch_retries_a_database_busy_elsewhere():
    conn = _LockedAtFirst(3)
    state._enter_wal(conn, timeout=5)  # type: ignore[arg-type]
    assert conn.attempts == 4


def test_wal_switch_gives_up_after_the_timeout_and_on_other_errors():
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        state._enter_wal(_LockedAtFirst(10**6), timeout=0.05)  # type: ignore[arg-type]
    other = _LockedAtFirst(1, "disk I/O error")
    with pytest.raises(sqlite3.OperationalError, match="disk"):
        state._enter_wal(other, timeout=5)  # type: ignore[arg-type]
    assert other.attempts == 1
