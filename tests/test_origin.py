"""Trust by origin: what arrives from an agent or a device is data about it, never an
instruction. receive takes only the types agents make and stamps every record's origin;
analyze never passes a remote record through; respond never acts on a remote alert or ar."""

from __future__ import annotations

import json

import orjson
import pytest

from conftest import run_hidsctl
from hidsctl import origin
from hidsctl.transport.server import stamp
from respond_helpers import alert, calls, rec_config, respond
from transport_support import (ReceiveProcess, SendProcess, enroll_keys, kill_quietly,
                               log_records, wait_for)

WEB1 = {"id": "001", "name": "web1", "ip": "127.0.0.1"}
AGENT_ORIGIN = {"kind": "agent", **WEB1}
FORGED = "203.0.113.66"  # documentation range: only ever text in a record


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def tally(interval: float = 60.0):
    notices: list[dict] = []
    clock = Clock()
    refusals = origin.Refusals("receive", notices.append, interval,
                               what="of types agents do not send", clock=clock)
    return refusals, notices, clock


# --- units ------------------------------------------------------------------------------------

def test_first_refusal_is_reported_at_once_and_a_flood_adds_up_into_one_notice():
    refusals, notices, clock = tally()
    refusals.add("agent 001", WEB1, {"alert": 1})
    assert len(notices) == 1 and notices[0]["count"] == 1
    assert notices[0]["code"] == "refused" and notices[0]["agent"] == WEB1
    for _ in range(5000):
        refusals.add("agent 001", WEB1, {"alert": 1, "ar": 1})
    refusals.add("agent 002", WEB1, {"ar": 3})  # another sender is reported on its own
    assert len(notices) == 2 and notices[1]["count"] == 3
    clock.now += 30
    refusals.flush()
    assert len(notices) == 2  # still inside agent 001's interval
    clock.now += 31
    refusals.flush()
    assert len(notices) == 3
    assert notices[2]["count"] == 10000 and notices[2]["types"] == {"alert": 5000, "ar": 5000}
    assert "10000 records of types agents do not send (alert 5000, ar 5000)" in \
        notices[2]["message"]
    refusals.flush(force=True)
    assert len(notices) == 3  # nothing left to say


def test_forced_flush_reports_what_is_pending_and_odd_type_names_are_not_echoed():
    refusals, notices, clock = tally()
    refusals.add("agent 001", WEB1, {"alert": 1})
    refusals.add("agent 001", WEB1, {"Bad Type\n" * 20: 2, "x" * 100: 1})
    refusals.add("agent 001", WEB1, {f"t{n}": 1 for n in range(20)})
    refusals.flush(force=True)
    assert len(notices) == 2
    types = notices[1]["types"]
    assert len(types) <= origin.MAX_LABELS + 1 and types["other"] >= 3
    assert all(origin.type_label(name) == name for name in types)
    assert notices[1]["count"] == 23 and refusals.total == 24


def test_remote_is_any_origin_and_fails_closed():
    assert origin.remote({"type": "alert"}) is None
    assert origin.remote({"type": "alert", "origin": AGENT_ORIGIN}) == "agent 001 (web1) 127.0.0.1"
    assert origin.remote({"origin": {"kind": "syslog", "ip": "192.0.2.1"}}) == "syslog 192.0.2.1"
    for odd in (None, "agent", {}, {"kind": "local"}, []):
        assert origin.remote({"origin": odd}) == "an unknown origin"
    assert origin.agent_of({"kind": "syslog", "ip": "192.0.2.1"})["id"] == "000"


def test_stamp_takes_only_the_types_agents_make_and_overwrites_agent_and_origin():
    sent = [{"type": "log", "location": "x", "log": "y", "agent": {"id": "000"},
             "origin": {"kind": "local"}},
            {"type": "alert", "rule": {"id": "5712", "level": 10}, "data": {"srcip": FORGED}},
            {"type": "ar", "command": "firewall-drop", "action": "add", "srcip": FORGED},
            {"type": "checkpoint", "queue": "routes", "offset": 1 << 40},
            {"type": "no-such-type"},
            {"type": "notice", "component": "send", "code": "dropped", "count": 3, "message": "m",
             "agent": {"id": "002"}},
            {"type": "agent_status", "status": "disconnected", "agent": {"id": "000"}},
            {"type": "ar_result", "status": "ran", "command": "firewall-drop"},
            {"type": "syscheck", "path": "/etc/passwd", "event": "modified", "changed": []},
            {"type": "rootcheck", "title": "t"}]
    out, problems, refused = stamp([orjson.dumps(r) for r in sent], WEB1)
    kept = [orjson.loads(line) for line in out]
    assert [r["type"] for r in kept] == ["log", "notice", "agent_status", "ar_result",
                                         "syscheck", "rootcheck"]
    assert all(r["agent"] == WEB1 and r["origin"] == AGENT_ORIGIN for r in kept)
    assert refused == {"alert": 1, "ar": 1, "checkpoint": 1, "other": 1} and not problems


# --- analyze and respond as commands ----------------------------------------------------------

def lines(*records: dict) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


SSHD_LINE = ("Nov 25 13:50:47 web1 sshd[811]: Failed password for root from 203.0.113.9 "
             "port 52144 ssh2")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_analyze_drops_remote_alerts_ar_and_unknown_types_with_a_notice(workers):
    remote_alert = dict(alert(FORGED), origin=AGENT_ORIGIN)
    local_alert = alert("203.0.113.10")  # the user's own pipeline: passed through
    done = run_hidsctl("analyze", "--workers", workers, input=lines(
        remote_alert,
        {"type": "ar", "command": "firewall-drop", "action": "add", "srcip": FORGED,
         "origin": AGENT_ORIGIN},
        {"type": "whatever", "origin": {"kind": "syslog", "ip": "192.0.2.1"}},
        local_alert,
        {"type": "log", "location": "/var/log/auth.log", "log": SSHD_LINE, "agent": WEB1,
         "origin": AGENT_ORIGIN}))
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert FORGED not in done.stdout.decode()
    alerts = [r for r in out if r["type"] == "alert"]
    assert local_alert in alerts
    made = [a for a in alerts if a["rule"]["id"] == "5716"]
    assert made and made[0]["agent"] == WEB1 and "origin" not in made[0]  # the server's own
    notices = [r for r in out if r["type"] == "notice"]
    assert all(n["code"] == "refused" and n["component"] == "analyze" for n in notices)
    by_sender = {}
    for notice in notices:
        by_sender.setdefault(notice["location"], {}).update(notice["types"])
    assert by_sender == {"agent 001 (web1) 127.0.0.1": {"alert": 1, "ar": 1},
                         "syslog 192.0.2.1": {"whatever": 1}}
    assert "agent 001 (web1) 127.0.0.1 sent 1 record" in done.stderr.decode()


def test_respond_refuses_a_remote_alert_or_ar_and_still_acts_on_its_own(tmp_path):
    cfg = rec_config(tmp_path, response="location = \"server\"\nlevel = 5\ntimeout = 0")
    remote = [dict(alert(FORGED), origin=AGENT_ORIGIN),
              {"type": "ar", "command": "rec", "action": "add", "srcip": FORGED,
               "origin": {"kind": "syslog", "ip": "192.0.2.1"}},
              dict(alert(FORGED), origin="forged")]
    code, out, err = respond(cfg, tmp_path / "state", *remote, alert("203.0.113.10"))
    assert code == 0, err
    ran = calls(tmp_path / "bin")
    assert len(ran) == 1 and "203.0.113.10" in ran[0] and FORGED not in ran[0]
    skipped = [r for r in out if r["status"] == "skipped"]
    assert [r["reason"] for r in skipped] == [
        "not made on this host: it came from agent 001 (web1) 127.0.0.1",
        "not made on this host: it came from syslog 192.0.2.1",
        "not made on this host: it came from an unknown origin"]
    assert skipped[0]["rule_id"] == "5712" and skipped[1]["command"] == "rec"
    assert [r["status"] for r in out if r not in skipped] == ["ran"]


# --- receive with real agents -----------------------------------------------------------------

@pytest.fixture
def link(tmp_path):
    states = {"web1": tmp_path / "web1", "db1": tmp_path / "db1"}
    ids = enroll_keys(tmp_path / "server", states)
    return tmp_path, ids, states


FORGERIES = [
    {"type": "alert", "rule": {"id": "5712", "level": 10, "description": "forged"},
     "agent": {"id": "000", "name": "the-server"}, "data": {"srcip": FORGED}, "id": "1.1"},
    {"type": "ar", "command": "firewall-drop", "action": "add", "srcip": FORGED,
     "target": "all"},
    {"type": "made-up"},
]  # (send keeps a checkpoint to itself; the stamp test above shows receive refuses one)


def test_agent_alert_ar_and_unknown_records_are_dropped_and_reported_logs_arrive_stamped(link):
    tmp, ids, states = link
    config = tmp / "receive.toml"
    config.write_text("[receive]\nlog-interval = 0\n")
    server = ReceiveProcess(tmp, tmp / "server", "--config", str(config))
    web = SendProcess(tmp, states["web1"], server.port, name="web1")
    try:
        own = [{"type": "notice", "component": "send", "code": "dropped", "count": 2,
                "message": "m", "agent": {"id": "000"}},
               {"type": "agent_status", "status": "changed", "agent": {"id": ids["db1"]}}]
        web.write(log_records(0, 5, "before", origin={"kind": "local"}) + FORGERIES + own +
                  log_records(5, 5, "after", agent={"id": "000"}))
        assert web.close() == 0
        wait_for(lambda: len(server.of_type("log")) == 10, what="the agent's log records")

        def refusals() -> list[dict]:
            return [n for n in server.of_type("notice") if n.get("code") == "refused"]

        notices = wait_for(lambda: sum(n["count"] for n in refusals()) >= 3 and refusals(),
                           what="the refusal notices")
        records = server.records()
    finally:
        kill_quietly(web, server)
    identity = {"id": ids["web1"], "name": "web1", "ip": "127.0.0.1"}
    assert not [r for r in records if r["type"] in ("alert", "ar", "checkpoint", "made-up")]
    assert FORGED not in json.dumps(records)
    sent = [r for r in records if r["type"] in ("log", "agent_status", "notice")
            and r.get("origin")]
    assert len(sent) == 12  # 10 logs, its own notice and its own status
    for record in sent:
        assert record["agent"] == identity
        assert record["origin"] == {"kind": "agent", **identity}
    assert sum(n["count"] for n in notices) == 3
    merged: dict = {}
    for notice in notices:
        assert notice["component"] == "receive" and notice["agent"] == identity
        assert "origin" not in notice  # the server's own record about the agent
        for name, count in notice["types"].items():
            merged[name] = merged.get(name, 0) + count
    assert merged == {"alert": 1, "ar": 1, "other": 1}
    assert "of types agents do not send" in server.stderr()


def test_a_flood_of_forged_alerts_is_one_notice_now_and_one_sum_at_shutdown(link):
    tmp, ids, states = link
    server = ReceiveProcess(tmp, tmp / "server")  # the default log interval: 60 s
    web = SendProcess(tmp, states["web1"], server.port, name="web1")
    flood = 3000
    try:
        web.write([dict(FORGERIES[0], id=f"1.{n}") for n in range(flood)])
        web.write(log_records(0, 1, "after the flood"))
        assert web.close() == 0
        wait_for(lambda: server.of_type("log"), what="the log record after the flood")
        during = [n for n in server.of_type("notice") if n.get("code") == "refused"]
        assert 1 <= len(during) <= 2, during  # the first batch at once, the rest added up
        server.stop()  # SIGTERM: what was added up since is reported before exit
        after = [n for n in server.of_type("notice") if n.get("code") == "refused"]
    finally:
        kill_quietly(web, server)
    assert len(after) <= 3 and sum(n["count"] for n in after) == flood
    assert server.stderr().count("of types agents do not send") == len(after)
    assert not server.of_type("alert")
