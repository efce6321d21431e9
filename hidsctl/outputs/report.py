"""The daily alert report (OSSEC's reportd): counts of each UTC day's alerts by rule, agent,
source address, user, level, group and location, kept in SQLite and mailed once a day."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from hidsctl.outputs.clock import utc_day
from hidsctl.records import record_time
from hidsctl.state import open_db, transaction

TOP = 10
MIGRATIONS = [
    """
    CREATE TABLE counts (day TEXT NOT NULL, dimension TEXT NOT NULL, key TEXT NOT NULL,
                         n INTEGER NOT NULL, PRIMARY KEY (day, dimension, key));
    CREATE TABLE reported (day TEXT PRIMARY KEY);
    """,
]
SECTIONS = (  # dimension, heading
    ("rule", "Top rules"),
    ("agent", "Top agents"),
    ("srcip", "Top source addresses"),
    ("user", "Top users"),
    ("location", "Top locations"),
    ("group", "Top groups"),
    ("level", "Alerts by level"),
)


class DailyStats:
    def __init__(self, path: str | os.PathLike):
        self.db = open_db(path, MIGRATIONS)
        self.pending: Counter[tuple[str, str, str]] = Counter()

    def count(self, alert: dict[str, Any]) -> None:
        day = utc_day(record_time(alert)).isoformat()
        rule = alert.get("rule") or {}
        agent = alert.get("agent") or {}
        data = alert.get("data") or {}
        keys = [
            ("total", ""),
            ("rule", f"{rule.get('id', '')}\t{rule.get('level', 0)}\t{rule.get('description', '')}"),
            ("agent", f"{agent.get('id', '000')} {agent.get('name', '')}".strip()),
            ("level", str(rule.get("level", 0))),
            ("location", str(alert.get("location") or "")),
        ]
        if data.get("srcip"):
            keys.append(("srcip", str(data["srcip"])))
        user = data.get("dstuser") or data.get("srcuser")
        if user:
            keys.append(("user", str(user)))
        keys.extend(("group", str(g)) for g in rule.get("groups") or ())
        for dimension, key in keys:
            self.pending[(day, dimension, key)] += 1

    def flush(self) -> None:
        if not self.pending:
            return
        with transaction(self.db):
            self.db.executemany(
                "INSERT INTO counts (day, dimension, key, n) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (day, dimension, key) DO UPDATE SET n = n + excluded.n",
                [(d, dim, k, n) for (d, dim, k), n in self.pending.items()])
        self.pending.clear()

    def unreported_before(self, day: str) -> list[str]:
        self.flush()
        rows = self.db.execute(
            "SELECT DISTINCT day FROM counts WHERE day < ? AND day NOT IN (SELECT day FROM reported) "
            "ORDER BY day", (day,))
        return [r[0] for r in rows]

    def mark_reported(self, day: str) -> None:
        with transaction(self.db):
            self.db.execute("INSERT OR IGNORE INTO reported (day) VALUES (?)", (day,))
            self.db.execute("DELETE FROM counts WHERE day = ?", (day,))

    def report(self, day: str) -> tuple[str, str]:
        """(subject, body) of the report for one day."""
        total = self._top(day, "total", 1)
        count = total[0][1] if total else 0
        lines = [f"hidsctl daily report for {day} (UTC)", "", f"Total alerts: {count}", ""]
        for dimension, heading in SECTIONS:
            rows = self._top(day, dimension, 15 if dimension == "level" else TOP)
            if not rows:
                continue
            if dimension == "level":
                rows.sort(key=lambda r: -int(r[0]) if r[0].lstrip("-").isdigit() else 0)
            lines += [f"{heading}:", ""]
            if dimension == "rule":
                lines.append(f"{'count':>7}  {'rule':<8} {'level':<5}  description")
                for key, n in rows:
                    rule_id, level, description = (key.split("\t") + ["", ""])[:3]
                    lines.append(f"{n:>7}  {rule_id:<8} {level:<5}  {description}")
            else:
                lines += [f"{n:>7}  {key}" for key, n in rows]
            lines.append("")
        return f"[hidsctl] daily report {day}: {count} alerts", "\n".join(lines)

    def _top(self, day: str, dimension: str, limit: int) -> list[tuple[str, int]]:
        rows = self.db.execute(
            "SELECT key, n FROM counts WHERE day = ? AND dimension = ? ORDER BY n DESC, key "
            "LIMIT ?", (day, dimension, limit))
        return [(r[0], r[1]) for r in rows]

    def close(self) -> None:
        self.flush()
        self.db.close()
