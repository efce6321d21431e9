"""A forged alert from an agent under `supervise --role server`: it reaches no sink and runs
no response, while an alert the server makes from the same agent's log line does."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from netutil import Inbox, StreamListener, free_port, smtp_server
from test_supervise_e2e import (alerts, running, server_toml, start, stop,  # noqa: F401
                               wait_for, world)
from transport_support import SendProcess, enroll_keys, kill_quietly

FORGED = "203.0.113.66"  # documentation range: only ever text in a record
GENUINE = "203.0.113.77"


def server_config(world: Path, port: int, smtp: int, siem: int) -> Path:
    recorder = world / "record-server"
    recorder.write_text(f"#!/bin/sh\necho \"$@\" >> {world}/marks/responses\ncat > /dev/null\n")
    recorder.chmod(0o755)
    (world / "marks").mkdir()
    (world / "server.log").write_text("")
    (world / "server-watched").mkdir()
    config = world / "server.toml"
    config.write_text(server_toml(world, port, location="server", level=5,
                                  receive_extra="log-interval = 0") + f"""
[mail]
to = ["soc@example.com"]
smtp = "127.0.0.1:{smtp}"
level = 1
group-window = 1
max-per-hour = 1000
[forward]
to = ["tcp://127.0.0.1:{siem}"]
format = "json"
""")
    return config


def forgeries() -> list[dict]:
    alert = {"type": "alert", "id": "1795614647.1", "timestamp": "2026-11-25T13:50:47.123Z",
             "rule": {"id": "5712", "level": 10, "description": "sshd brute force",
                      "groups": ["syslog", "sshd", "authentication_failures"], "firedtimes": 8},
             "agent": {"id": "001", "name": "web1", "ip": "127.0.0.1"},
             "data": {"srcip": FORGED}, "full_log": f"Failed password from {FORGED}",
             "location": "/var/log/auth.log"}
    ar = {"type": "ar", "command": "record", "action": "add", "srcip": FORGED,
          "target": "server"}
    return [alert, dict(alert, agent={"id": "000", "name": "server"}), ar,
            {"type": "mystery", "srcip": FORGED}]


def sshd_failure() -> dict:
    stamp = time.strftime("%b %d %H:%M:%S", time.localtime())
    return {"type": "log", "location": "/var/log/auth.log",
            "log": f"{stamp} web1 sshd[4242]: Failed password for root from {GENUINE} "
                   f"port 50000 ssh2"}


def refused_count(path: Path) -> int:
    """How many records the refusal alerts say were dropped."""
    return sum(int(re.search(r" sent (\d+) record", a["full_log"]).group(1))
               for a in alerts(path) if a["rule"]["id"] == "202036")


def mail_text(inbox: Inbox) -> str:
    return "\n".join(m.as_string() for m in inbox.messages)


def test_forged_agent_alert_reaches_no_sink_and_runs_nothing_but_a_real_one_does(world):
    inbox = Inbox()
    smtp = free_port()
    controller = smtp_server(smtp, inbox)
    siem = StreamListener()
    port = free_port()
    config = server_config(world, port, smtp, siem.port)
    state = world / "server"
    ids = enroll_keys(state / "receive", {"web1": world / "agent"})
    server = start(config, state)
    agent = None
    try:
        wait_for(lambda: running(state, {"receive", "analyze", "respond", "logs", "mail",
                                         "forward"}), what="the server's components")
        agent = SendProcess(world, world / "agent", port, name="agent")
        agent.write(forgeries() + [sshd_failure()])
        responses = world / "marks" / "responses"
        done = wait_for(lambda: responses.exists() and responses.read_text(),
                        what="the response to the server's own alert")
        made = wait_for(lambda: [a for a in alerts(world / "alerts.json")
                                 if a["rule"]["id"] == "5716"], what="the alert analyze made")
        refused = wait_for(lambda: refused_count(world / "alerts.json") == 4 and
                           [a for a in alerts(world / "alerts.json")
                            if a["rule"]["id"] == "202036"],
                           what="the alerts on the four refused records")
        wait_for(lambda: GENUINE.encode() in siem.data, what="the real alert forwarded")
        wait_for(lambda: GENUINE in mail_text(inbox), what="the real alert mailed")
        wait_for(lambda: "202036" in mail_text(inbox), what="the refusal alert mailed")
    finally:
        kill_quietly(*(p for p in (agent,) if p is not None))
        stop(server)
        controller.stop()
    assert GENUINE in done and FORGED not in done
    assert made[0]["agent"]["id"] == ids["web1"] and made[0]["data"]["srcip"] == GENUINE
    assert refused[0]["agent"]["id"] == ids["web1"]
    assert all(re.search(r"\((?:(?:alert|ar|mystery) \d+(?:, )?)+\); dropped$", a["full_log"])
               for a in refused)
    # The forged records never entered the pipeline: no queue, alert file, mail or forward.
    assert FORGED not in (world / "alerts.json").read_text()
    assert FORGED.encode() not in siem.data
    assert FORGED not in mail_text(inbox)
    for path in state.rglob("*"):
        if path.is_file() and not path.name.endswith((".sock", ".fifo")):
            assert FORGED.encode() not in path.read_bytes(), path
    forwarded = [json.loads(line) for line in siem.data.splitlines() if line.strip()]
    assert not [a for a in forwarded if a.get("rule", {}).get("id") == "5712"]
