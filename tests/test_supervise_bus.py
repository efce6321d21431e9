"""`hidsctl supervise --role server --bus nats://…` end to end: a real nats-server, a
server supervisor whose receive publishes to EVENTS, analyze members reading it as a group
and publishing to ALERTS, and the outputs (alert files, respond routed back to the agent,
mail to a real SMTP server) reading ALERTS; an agent supervisor's real `send`."""

from __future__ import annotations

import gzip
import os
import json
import re

import pytest

from nats_support import nats_server  # noqa: F401  (fixture)
from netutil import inbox  # noqa: F401  (fixture)
from test_supervise_e2e import (ATTACKER, agent_toml, exchange_key, following, free_port,  # noqa: F401
                                record_response, running, sshd_failure, start, status, stop, wait_for,
                                world)  # world: a fixture

pytestmark = pytest.mark.slow


def dated_alerts(logs: str) -> list[dict]:
    """The alerts of the dated tree `logs write` keeps (open or gzipped days)."""
    from pathlib import Path

    found = []
    for path in Path(logs).glob("alerts/*/*/ossec-alerts-*.json*"):
        data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") \
            else path.read_bytes()
        found += [json.loads(line) for line in data.decode().splitlines() if line.strip()]
    return found


def test_server_on_a_bus_alerts_responds_on_the_agent_and_mails(world, nats_server, inbox):  # noqa: F811
    port = free_port()
    smtp_port = inbox.port
    server_state, agent_state = world / "server", world / "agent"
    for side in ("server", "agent"):
        recorder = world / f"record-{side}"
        recorder.write_text(f"#!/bin/sh\necho \"$@\" >> {world}/responses-{side}\ncat > /dev/null\n")
        recorder.chmod(0o755)
    (world / "agent.log").write_text("")
    (world / "agent-watched").mkdir()
    (world / "server.toml").write_text(f"""
[supervise]
role = "server"
analyze-members = 2
[receive]
listen = ["127.0.0.1:{port}"]
partitions = 4
[logs]
dir = "{world}/logs"
[mail]
smtp = "127.0.0.1:{smtp_port}"
to = ["soc@example.com"]
level = 10
group-window = 0
{record_response(world / "record-server", "local", 10)}
""")
    (world / "agent.toml").write_text(agent_toml(world, port))
    agent_id = exchange_key(server_state / "receive", agent_state)
    server = start(world / "server.toml", server_state, "--bus", nats_server.url)
    agent = start(world / "agent.toml", agent_state)
    components = {"receive", "analyze", "analyze-2", "logs", "respond", "mail"}
    try:
        report = wait_for(lambda: running(server_state, components), what="server up")
        assert {c["name"] for c in report["components"]} == components  # no local sources
        wait_for(lambda: running(agent_state, {"collect", "send", "respond"}), what="agent up")
        # every output reads the bus, and collect has placed itself in agent.log (a line
        # written before that is skipped as written before it started)
        wait_for(lambda: all(f"hidsctl {name}: reading nats://".encode()
                             in (world / "supervise.err").read_bytes()
                             for name in ("logs", "respond", "mail")),
                 what="the outputs reading the bus")
        wait_for(lambda: following(agent_state, world / "agent.log"),
                 what="collect following agent.log")
        with open(world / "agent.log", "a") as log:
            for n in range(12):
                log.write(sshd_failure(n))
        found = wait_for(lambda: [a for a in dated_alerts(f"{world}/logs")
                                  if a["rule"]["level"] >= 10 and a["agent"]["id"] == agent_id],
                         what="the agent's brute force in the alert files")
        assert found[0]["agent"]["name"] == "web1" and found[0]["data"]["srcip"] == ATTACKER
        done = wait_for(lambda: (world / "responses-agent").exists() and
                        (world / "responses-agent").read_text(), what="the response on the agent")
        assert ATTACKER in done
        assert not (world / "responses-server").exists()  # routed, not run on the server
        # the brute force (level 10); the agent's start (rule 503, alert_by_email) is
        # mailed too, before or after it
        wait_for(lambda: [m for m in list(inbox.messages)
                          if re.search(r"level 1\d", m["Subject"])], what="the alert mailed")
        # status: every output caught up with ALERTS, the group with EVENTS
        caught_up = wait_for(lambda: _caught_up(server_state), what="no backlog on the bus")
        assert {c["component"] for c in caught_up} == {"analyze", "logs", "respond", "mail"}
        assert _table(status(server_state)).count("+ 0") == 4
    finally:
        print((world / "supervise.err").read_text())  # shown when the test fails
        try:
            stop(agent)
        finally:
            stop(server)
    assert "Traceback" not in (world / "supervise.err").read_text()


def _table(report: dict) -> str:
    """What `hidsctl status` prints on an 80-column terminal."""
    from rich.console import Console

    from hidsctl.bus.backlog import backlog
    from hidsctl.supervise.summary import status_table

    console = Console(width=80, record=True, file=open(os.devnull, "w"))
    console.print(status_table(dict(report, bus=backlog(report["bus"]))
                               if "unread" not in report["bus"][0] else report))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80, text
    return text


def test_status_table_shows_each_consumers_backlog_in_80_columns():
    component = {"name": "analyze-2", "state": "running", "pid": 4242, "user": "hidsctl",
                 "uptime": 7300, "restarts": 3, "records_in": 1234567, "records_out": 120000,
                 "alerts_by_level": {"10": 1200}, "dropped": 0, "last_error": ""}
    report = {"role": "server", "pid": 1, "uptime": 9000, "components": [component], "bus": [
        {"component": "analyze", "stream": "nats://10.0.0.1:4222,10.0.0.2:4222/EVENTS",
         "consumer": "", "unread": 123456, "unacked": 0},
        {"component": "forward", "stream": "nats://10.0.0.1:4222/ALERTS",
         "consumer": "forward", "unread": 12, "unacked": 2048},
        {"component": "mail", "stream": "nats://10.0.0.1:4222/ALERTS", "consumer": "mail",
         "error": "nats: timeout"}]}
    text = _table(report)
    assert "analyze EVENTS: 123k + 0" in text and "forward ALERTS: 12 + 2.05k" in text
    assert "mail ALERTS: nats: timeout" in text


def _caught_up(state) -> list[dict] | None:
    bus = status(state).get("bus") or []
    if bus and all(c.get("unread") == 0 and c.get("unacked") == 0 for c in bus):
        return bus
    return None
