"""Package changes through the real ``hidsctl analyze``: quiet inside the maintenance window,
level 7 outside it, level 8 when apt names a user not in the package-admins list; and a
site's own window (a local rule with ``overwrite="yes"``) and list (beside its local
rules) replace the bundled ones."""

from __future__ import annotations

import json
import os

from conftest import run_hidsctl

AGENT = {"id": "000", "name": "web1", "ip": "127.0.0.1"}
UTC = dict(os.environ, TZ="UTC")  # <time> reads the analysing host's local time

LOCAL_RULES = """<group name="local,">
  <rule id="200652" level="3" overwrite="yes">
    <if_sid>2902, 2903, 2932, 2933, 2934, 200681</if_sid>
    <time>22:00 - 23:30</time>
    <weekday>saturday, sunday</weekday>
    <description>Package change inside our weekend window.</description>
  </rule>
</group>
"""


def record(ts: str, line: str, location: str = "/var/log/dpkg.log") -> dict:
    return {"type": "log", "timestamp": ts, "agent": AGENT, "location": location, "log": line}


def rules_of(records: list[dict], *args: str) -> list[tuple[str, int]]:
    data = b"".join(json.dumps(r).encode() + b"\n" for r in records)
    proc = run_hidsctl("analyze", *args, input=data, env=UTC)
    assert proc.returncode == 0, proc.stderr.decode()
    alerts = [json.loads(line) for line in proc.stdout.splitlines()]
    return [(a["rule"]["id"], a["rule"]["level"]) for a in alerts if a["type"] == "alert"]


def dpkg(ts: str) -> dict:
    return record(ts, f"{ts[:10]} {ts[11:19]} status installed nginx:amd64 1.22.1-9+deb12u2")


def requested_by(ts: str, user: str) -> dict:
    return record(ts, f"Requested-By: {user} (1000)", "/var/log/apt/history.log")


def test_bundled_window_and_admins():
    # 2026-11-25 is a Wednesday
    assert rules_of([dpkg("2026-11-25T06:40:00Z"), dpkg("2026-11-25T14:40:00Z"),
                     requested_by("2026-11-25T06:40:00Z", "root"),
                     requested_by("2026-11-25T06:40:00Z", "alice")]) == [
        ("200652", 3), ("2902", 7), ("200663", 8)]


def test_a_site_window_and_admin_list_replace_the_bundled_ones(tmp_path):
    local = tmp_path / "local"
    (local / "lists").mkdir(parents=True)
    (local / "local_rules.xml").write_text(LOCAL_RULES)
    (local / "lists" / "package-admins").write_text("# our admins\nalice\n")
    args = ("--rules", str(local / "local_rules.xml"))
    assert rules_of([dpkg("2026-11-28T22:40:00Z"),   # Saturday, inside
                     dpkg("2026-11-25T22:40:00Z"),   # Wednesday: not a window day
                     dpkg("2026-11-28T06:40:00Z"),   # Saturday, the bundled hours
                     requested_by("2026-11-28T22:40:00Z", "alice"),
                     requested_by("2026-11-28T22:40:00Z", "root")], *args) == [
        ("200652", 3), ("2902", 7), ("2902", 7), ("200663", 8)]
