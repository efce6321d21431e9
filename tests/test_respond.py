"""hidsctl respond end to end (the real command), with a recording script in a temp dir."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
from pathlib import Path

import pytest

from respond_helpers import (RECORDER, alert, calls, config, hastened, past, rec_config, recorder, respond,
                             respond_at)
from transport_support import alive, wait_for


def statuses(out: list[dict]) -> list[str]:
    return [r["status"] for r in out if r["type"] == "ar_result"]


def test_alert_runs_script_with_ossec_arguments_and_json_stdin(tmp_path):
    cfg = rec_config(tmp_path)
    code, out, err = respond(cfg, tmp_path / "state", alert())
    assert code == 0, err
    assert statuses(out) == ["ran"]
    assert out[0]["srcip"] == "203.0.113.9" and out[0]["timeout"] == 600 and "expires" in out[0]
    assert calls(tmp_path / "bin") == ["add - 203.0.113.9 1795614647.42 5712 000 -"]
    message = json.loads((tmp_path / "bin" / "stdin").read_text())
    assert message["command"] == "add" and message["version"] == 1
    assert message["parameters"]["alert"]["data"]["srcip"] == "203.0.113.9"
    assert message["parameters"]["alert"]["rule"]["id"] == "5712"


def test_other_records_pass_through_and_alerts_are_not_echoed(tmp_path):
    cfg = rec_config(tmp_path)
    log = {"type": "log", "timestamp": "2026-11-25T13:50:47.123Z", "agent": {"id": "000"},
           "location": "/var/log/auth.log", "log": "hello"}
    done = {"type": "ar_result", "status": "ran", "command": "rec"}
    code, out, _ = respond(cfg, tmp_path / "state", log, alert(level=3), done)
    assert code == 0
    assert out == [log, done]  # the level-3 alert matched nothing; ar_result never re-run
    assert calls(tmp_path / "bin") == []


def test_unmatched_alerts_reported_when_asked(tmp_path):
    cfg = rec_config(tmp_path)
    _, out, _ = respond(cfg, tmp_path / "state", alert(level=3), args=("--report-unmatched",))
    assert [(r["status"], r["reason"]) for r in out] == [("skipped", "no matching response")]


def test_allow_list_configured_host_and_loopback(tmp_path):
    cfg = rec_config(tmp_path, extra='allow = ["198.51.100.0/24", "2001:db8:1::/48"]')
    alerts = [alert("198.51.100.77"), alert("2001:db8:1::5"), alert("127.0.0.1"), alert("::1"),
              alert("::ffff:198.51.100.9")]
    code, out, _ = respond(cfg, tmp_path / "state", *alerts)
    assert code == 0
    assert [(r["status"], r["reason"]) for r in out] == [("skipped", "allow-listed")] * 5
    assert calls(tmp_path / "bin") == []


def test_allow_list_includes_this_hosts_own_addresses(tmp_path):
    own = json.loads(os.popen("ip -j addr show").read() or "[]")
    addresses = [a["local"] for i in own for a in i.get("addr_info", [])
                 if not a["local"].startswith(("127.", "::1", "fe80"))]
    if not addresses:
        pytest.skip("this host has no address besides loopback")
    cfg = rec_config(tmp_path)
    _, out, _ = respond(cfg, tmp_path / "state", alert(addresses[0]))
    assert [(r["status"], r.get("reason")) for r in out] == [("skipped", "allow-listed")]


def test_servers_are_allow_listed(tmp_path):
    cfg = rec_config(tmp_path, extra='servers = ["192.0.2.10"]')
    _, out, _ = respond(cfg, tmp_path / "state", alert("192.0.2.10"), alert("192.0.2.11"))
    assert statuses(out) == ["skipped", "ran"]


HOSTILE_SRCIPS = [
    "1.2.3.4; rm -rf /", "$(id)", "`id`", "1.2.3.4\nrm -rf /", "1.2.3.4 ", " 1.2.3.4",
    "1" * 5000, "１.２.３.４", "1.2.3.4/8", "-1.2.3.4",
    "::1%eth0", "fe80::1%$(id)", 1234,
]
HOSTILE_USERS = ["root; rm -rf /", "$(id)", "bob\nroot", "-o", ".hidden", "a" * 33, "ａｄｍｉｎ",
                 "bob smith", "../etc", "bob$(id)", 7]
# Not a field value at all: the record schema turns these away before respond sees them.
NOT_VALUES = [["1.2.3.4"], {"a": 1}, True]


def test_hostile_srcips_never_reach_a_script(tmp_path):
    cfg = rec_config(tmp_path)
    code, out, err = respond(cfg, tmp_path / "state", *[alert(h) for h in HOSTILE_SRCIPS],
                             *[alert(v) for v in NOT_VALUES])
    assert code == 0
    assert [(r["status"], r["reason"]) for r in out] == [("skipped", "invalid srcip")] * len(HOSTILE_SRCIPS)
    assert calls(tmp_path / "bin") == [] and not (tmp_path / "bin" / "stdin").exists()
    assert err.count("field data.srcip: expected ") == len(NOT_VALUES)


def test_hostile_users_never_reach_a_script(tmp_path):
    cfg = rec_config(tmp_path, expect='["user"]')
    code, out, _ = respond(cfg, tmp_path / "state", *[alert(None, dstuser=h) for h in HOSTILE_USERS],
                           alert(None, dstuser=""))
    assert code == 0
    assert [(r["status"], r["reason"]) for r in out] == \
        [("skipped", "invalid user")] * len(HOSTILE_USERS) + [("skipped", "no user")]
    assert calls(tmp_path / "bin") == []


def test_hostile_ar_record_values_never_reach_a_script(tmp_path):
    cfg = rec_config(tmp_path, expect='["srcip", "user"]')
    ars = [{"type": "ar", "command": "rec", "action": "add", "srcip": "$(id)", "user": "bob"},
           {"type": "ar", "command": "rec", "action": "add", "srcip": "1.2.3.4", "user": "x;id"},
           {"type": "ar", "command": "rec", "action": "rm -rf /", "srcip": "1.2.3.4"},
           {"type": "ar", "command": "../../bin/sh", "action": "add", "srcip": "1.2.3.4"},
           {"type": "ar", "command": "rec", "action": "add", "srcip": "1.2.3.4", "timeout": -9}]
    code, out, _ = respond(cfg, tmp_path / "state", *ars)
    assert code == 0
    assert [r["reason"] for r in out] == ["invalid srcip", "invalid user", "unknown action",
                                          "unknown command", "invalid timeout"]
    assert calls(tmp_path / "bin") == []


NOT_A_HOST = [("255.255.255.255", "broadcast"), ("224.0.0.1", "multicast"), ("0.0.0.0", "unspecified"),
              ("::", "unspecified"), ("ff02::1", "multicast"), ("::ffff:224.0.0.1", "multicast"),
              ("169.254.10.1", "link-local"), ("fe80::1", "link-local"), ("240.0.0.9", "reserved"),
              ("0.1.2.3", "reserved")]


def test_addresses_that_name_no_host_are_refused_with_the_reason(tmp_path):
    cfg = rec_config(tmp_path)
    ars = [{"type": "ar", "command": "rec", "action": action, "srcip": "255.255.255.255"}
           for action in ("add", "delete")]
    code, out, _ = respond(cfg, tmp_path / "state", *[alert(a) for a, _ in NOT_A_HOST], *ars)
    assert code == 0
    assert [(r["status"], r["reason"]) for r in out] == \
        [("skipped", f"srcip is not a host address ({kind})") for _, kind in NOT_A_HOST] + \
        [("skipped", "srcip is not a host address (broadcast)")] * 2
    assert calls(tmp_path / "bin") == []


def test_private_and_documentation_addresses_are_acted_on(tmp_path):
    cfg = rec_config(tmp_path)
    unicast = ["10.0.0.5", "192.168.1.20", "100.64.3.4", "fd00::5", "2001:db8::1", "198.51.100.7"]
    code, out, _ = respond(cfg, tmp_path / "state", *[alert(a) for a in unicast])
    assert code == 0
    assert [(r["status"], r["srcip"]) for r in out] == [("ran", a) for a in unicast]
    assert [c.split()[2] for c in calls(tmp_path / "bin")] == unicast


def accounts_root(tmp_path: Path, uid_min: str | None = "1000") -> tuple[Path, Path]:
    """A passwd with a system account and a person's, and a login.defs (never the host's)."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(
        "root:x:0:0::/root:/bin/sh\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n"
        "mallory:x:1500:1500::/home/m:/bin/sh\n")
    defs = tmp_path / "login.defs"
    defs.write_text("# UID_MIN 1\nMAIL_DIR /var/mail\n" + (f"UID_MIN\t\t {uid_min}\n" if uid_min else ""))
    return root, defs


@pytest.mark.parametrize("uid_min, refused", [("1000", ["daemon"]), (None, ["daemon"]),
                                              ("2000", ["daemon", "mallory"])])
def test_system_accounts_are_refused(tmp_path, uid_min, refused):
    root, defs = accounts_root(tmp_path, uid_min)
    cfg = rec_config(tmp_path, expect='["user"]', extra=f'login-defs = "{defs}"')
    users = ["daemon", "mallory", "alice"]  # alice: no local account, left to the command
    code, out, err = respond(cfg, tmp_path / "state", *[alert(None, dstuser=u) for u in users],
                             env={"HIDSCTL_ACCOUNT_ROOT": str(root)})
    assert code == 0, err
    limit = uid_min or "1000"
    expected = {"daemon": ("skipped", f"system account (uid 1 below UID_MIN {limit})"),
                "mallory": ("skipped", f"system account (uid 1500 below UID_MIN {limit})")}
    assert [(r["status"], r.get("reason")) for r in out] == \
        [expected[u] if u in refused else ("ran", None) for u in users]
    assert [c.split()[1] for c in calls(tmp_path / "bin")] == [u for u in users if u not in refused]


def test_listed_system_accounts_may_be_acted_on_and_delete_is_checked_too(tmp_path):
    root, defs = accounts_root(tmp_path)
    cfg = rec_config(tmp_path, expect='["user"]', extra=f'login-defs = "{defs}"\nsystem-users = ["daemon"]')
    env = {"HIDSCTL_ACCOUNT_ROOT": str(root)}
    _, out, _ = respond(cfg, tmp_path / "state", alert(None, dstuser="daemon"), env=env)
    assert [r["status"] for r in out] == ["ran"]
    cfg = rec_config(tmp_path, expect='["user"]', extra=f'login-defs = "{defs}"')
    ar = {"type": "ar", "command": "rec", "action": "delete", "user": "daemon"}
    _, out, _ = respond(cfg, tmp_path / "state", ar, env=env)
    assert [(r["status"], r["reason"]) for r in out] == [("skipped", "system account (uid 1 below UID_MIN 1000)")]
    assert calls(tmp_path / "bin") == ["add daemon - 1795614647.42 5712 000 -"]


def test_user_and_values_in_arguments(tmp_path):
    cfg = rec_config(tmp_path, expect='["user"]', response="rules_group = [\"sshd\"]")
    evil = alert(None, dstuser="alice", rule_id="57$(id)", srcuser="$(id)")
    evil["id"] = "1.2; rm -rf /"
    evil["syscheck"] = {"path": "/tmp/$(id)"}
    _, out, _ = respond(cfg, tmp_path / "state", evil)
    assert statuses(out) == ["ran"]
    assert calls(tmp_path / "bin") == ["add alice - - - 000 -"]
    message = json.loads((tmp_path / "bin" / "stdin").read_text())
    assert message["parameters"]["alert"]["data"] == {"dstuser": "alice"}  # srcuser unchecked: dropped
    plain = alert(None, dstuser="bob")
    plain["syscheck"] = {"path": "/etc/passwd"}
    respond(cfg, tmp_path / "state", plain)
    assert calls(tmp_path / "bin")[1] == "add bob - 1795614647.42 5712 000 /etc/passwd"


def test_alert_with_an_invalid_agent_id_is_refused_by_the_reader(tmp_path):
    cfg = rec_config(tmp_path)
    code, out, err = respond(cfg, tmp_path / "state", alert(agent="0;1"))
    assert code == 0 and out == []
    assert "field agent.id: expected str matching regex" in err
    assert calls(tmp_path / "bin") == []


def test_an_odd_user_name_does_not_stop_an_address_block(tmp_path):
    cfg = rec_config(tmp_path)  # expects srcip only
    _, out, _ = respond(cfg, tmp_path / "state", alert(dstuser="$(id)", srcuser="x\ny"))
    assert statuses(out) == ["ran"] and "user" not in out[0]
    assert calls(tmp_path / "bin") == ["add - 203.0.113.9 1795614647.42 5712 000 -"]
    data = json.loads((tmp_path / "bin" / "stdin").read_text())["parameters"]["alert"]["data"]
    assert data == {"srcip": "203.0.113.9"}  # the unchecked names are not passed on


def test_root_is_never_disabled_by_default(tmp_path):
    cfg = rec_config(tmp_path, expect='["user"]')
    _, out, _ = respond(cfg, tmp_path / "state", alert(None, dstuser="root"))
    assert [(r["status"], r["reason"]) for r in out] == [("skipped", "allow-listed user")]


def test_duplicate_extends_timer_instead_of_running_again(tmp_path):
    cfg = rec_config(tmp_path)
    code, out, _ = respond(cfg, tmp_path / "state", alert(), alert(), alert("203.0.113.10"))
    assert code == 0
    assert statuses(out) == ["ran", "extended", "ran"]
    assert out[1]["expires"] >= out[0]["expires"]
    assert len(calls(tmp_path / "bin")) == 2
    # still active in a later run: the state directory remembers
    _, out, _ = respond(cfg, tmp_path / "state", alert())
    assert statuses(out) == ["extended"]
    assert len(calls(tmp_path / "bin")) == 2


def test_an_add_cut_short_by_a_crash_runs_again_when_the_alert_comes_again(tmp_path):
    """respond SIGKILLed while its add script runs: the action is recorded (so it is still
    undone) but not as run, so the same alert delivered again (a bus, supervise's queue)
    runs the add instead of only extending a block that may never have been made."""
    crash_once = RECORDER.replace('dir=$(dirname "$0")', 'dir=$(dirname "$0")\n'
                                  'if [ ! -e "$dir/crashed" ]; then touch "$dir/crashed"; '
                                  'kill -9 $PPID; sleep 5; exit 1; fi')
    cfg = rec_config(tmp_path, script=recorder(tmp_path / "bin", body=crash_once))
    code, out, _ = respond(cfg, tmp_path / "state", alert())
    assert code == -9 and out == [] and calls(tmp_path / "bin") == []
    _, out, _ = respond(cfg, tmp_path / "state", alert())
    assert statuses(out) == ["ran"]
    assert out[0]["offences"] == 1  # the same offence, not a repeat: no early escalation
    assert [c.split()[0] for c in calls(tmp_path / "bin")] == ["add"]
    _, out, _ = respond(cfg, tmp_path / "state", alert())  # now it is done: extended
    assert statuses(out) == ["extended"] and len(calls(tmp_path / "bin")) == 1


def test_repeated_offenders_escalate(tmp_path):
    cfg = rec_config(tmp_path, response="level = 7\ntimeout = 600\nrepeated_offenders = [30, 60, 120]")
    _, out, _ = respond(cfg, tmp_path / "state", *[alert()] * 5)
    assert [r["timeout"] for r in out] == [600, 1800, 3600, 7200, 7200]
    assert [r["offences"] for r in out] == [1, 2, 3, 4, 5]
    assert statuses(out) == ["ran"] + ["extended"] * 4


def test_escalation_survives_undo_and_restart(tmp_path):
    cfg = rec_config(tmp_path, response="level = 7\ntimeout = 1\nrepeated_offenders = [30]")
    _, out = respond_at(hastened(), cfg, tmp_path / "state", alert(), wait=True)
    assert statuses(out) == ["ran", "undone"]
    _, out, _ = respond(cfg, tmp_path / "state", alert())
    assert statuses(out) == ["ran"] and out[0]["timeout"] == 1800


def test_undo_on_timeout_while_running(tmp_path):
    cfg = rec_config(tmp_path, response="level = 7\ntimeout = 1")
    code, out = respond_at(hastened(), cfg, tmp_path / "state", alert(), wait=True)
    assert code == 0
    assert statuses(out) == ["ran", "undone"]
    assert calls(tmp_path / "bin") == ["add - 203.0.113.9 1795614647.42 5712 000 -",
                                       "delete - 203.0.113.9 1795614647.42 5712 000 -"]
    undo = json.loads((tmp_path / "bin" / "stdin").read_text().splitlines()[1])
    assert undo["command"] == "delete" and undo["parameters"]["alert"]["id"] == "1795614647.42"


def test_undo_of_what_expired_while_down(tmp_path):
    cfg = rec_config(tmp_path, response="level = 7\ntimeout = 1")
    _, out, _ = respond(cfg, tmp_path / "state", alert())
    assert statuses(out) == ["ran"]  # exits at end of input with the undo pending
    later = past(out[0]["expires"])  # respond is down while the timeout passes
    _, out = respond_at(later, cfg, tmp_path / "state")
    assert statuses(out) == ["undone"] and out[0]["srcip"] == "203.0.113.9"
    _, out = respond_at(later, cfg, tmp_path / "state")
    assert out == []


def test_undo_uses_the_executable_recorded_at_add_time(tmp_path):
    cfg = rec_config(tmp_path, response="level = 7\ntimeout = 1")
    _, out, _ = respond(cfg, tmp_path / "state", alert())
    _, out = respond_at(past(out[0]["expires"]), None, tmp_path / "state")  # no config any more
    assert statuses(out) == ["undone"]
    assert calls(tmp_path / "bin")[-1].startswith("delete - 203.0.113.9")


def test_zero_timeout_is_never_undone(tmp_path):
    cfg = rec_config(tmp_path, response="level = 7")
    _, out, _ = respond(cfg, tmp_path / "state", alert(), alert(), args=("--wait",))
    assert statuses(out) == ["ran", "extended"] and "expires" not in out[0]


def test_script_failure_is_reported_and_not_fatal(tmp_path):
    cfg = rec_config(tmp_path)
    code, out, _ = respond(cfg, tmp_path / "state", alert(), alert("203.0.113.10"),
                           env={"REC_EXIT": "3"})
    assert code == 0
    assert [(r["status"], r["reason"], r["exit_code"]) for r in out] == [("failed", "exit code 3", 3)] * 2
    # a failed add leaves nothing to undo and is tried again next time
    _, out, _ = respond(cfg, tmp_path / "state", alert())
    assert statuses(out) == ["ran"]


def test_script_time_limit_kills_it_and_its_children(tmp_path):
    marker = tmp_path / "survived"
    pids = tmp_path / "children"
    child = f"echo $$ >> {pids}; sleep 30; touch {marker}"
    slow = recorder(tmp_path / "bin", "slow", f"#!/bin/sh\nsh -c '{child}' &\nsleep 30\n")
    cfg = rec_config(tmp_path, script=slow)
    code, out, _ = respond(cfg, tmp_path / "state", alert(), alert("203.0.113.10"),
                           args=("--script-timeout", "0.5"))
    assert code == 0
    assert [(r["status"], r["reason"]) for r in out] == [("failed", "timed out after 0.5s")] * 2
    # (a child not started when its script was killed never runs at all)
    children = [int(pid) for pid in pids.read_text().split()] if pids.exists() else []
    assert len(children) <= 2
    for pid in children:  # killed with the script: it will never touch the marker
        wait_for(lambda: not alive(pid), 10, f"the script's child {pid} to end")
    assert not marker.exists()


def test_script_output_is_captured_and_bounded(tmp_path):
    chatty = recorder(tmp_path / "bin", "chatty", "#!/bin/sh\necho blocked $3\nhead -c 100000 /dev/zero | tr '\\0' x\n")
    cfg = rec_config(tmp_path, script=chatty)
    _, out, _ = respond(cfg, tmp_path / "state", alert())
    assert out[0]["output"].startswith("blocked 203.0.113.9\n")
    assert len(out[0]["output"]) <= 4100


def test_rule_ids_compare_as_strings(tmp_path):
    cfg = rec_config(tmp_path, response="rules_id = [5712, \"100001\"]")
    alerts = [alert(rule_id="5712"), alert("203.0.113.10", rule_id=5712),
              alert("203.0.113.11", rule_id="57120"), alert("203.0.113.12", rule_id="05712"),
              alert("203.0.113.13", rule_id="100001", level=0)]
    _, out, err = respond(cfg, tmp_path / "state", *alerts)
    assert [r["srcip"] for r in out] == ["203.0.113.9", "203.0.113.13"]
    assert "line 2: field rule.id: expected str, got int" in err  # alerts.json's type only


def test_rules_group_and_level_match(tmp_path):
    cfg = rec_config(tmp_path, response='rules_group = ["authentication_failures"]')
    _, out, _ = respond(cfg, tmp_path / "state", alert(level=1),
                        alert("203.0.113.10", level=15, groups=["web"]))
    assert [r["srcip"] for r in out] == ["203.0.113.9"]


def test_ar_records_are_carried_out_and_deleted(tmp_path):
    cfg = rec_config(tmp_path)
    ars = [{"type": "ar", "command": "rec", "action": "add", "srcip": "2001:db8::7", "timeout": 60,
            "rule_id": "5712", "alert_id": "1.2", "target": "001"},
           {"type": "ar", "command": "rec", "action": "delete", "srcip": "2001:db8::7"}]
    code, out, _ = respond(cfg, tmp_path / "state", *ars)
    assert code == 0
    assert statuses(out) == ["ran", "undone"]
    assert calls(tmp_path / "bin") == ["add - 2001:db8::7 1.2 5712 - -",
                                       "delete - 2001:db8::7 1.2 5712 - -"]
    _, out, _ = respond(cfg, tmp_path / "state", args=("--wait",))
    assert out == []  # the delete cancelled the pending undo


def test_bundled_commands_known_without_config(tmp_path):
    code, out, _ = respond(None, tmp_path / "state",
                           {"type": "ar", "command": "host-deny", "action": "add", "srcip": "203.0.113.5"},
                           env={"HIDSCTL_HOSTS_DENY": str(tmp_path / "hosts.deny")})
    assert code == 0 and statuses(out) == ["ran"]
    assert (tmp_path / "hosts.deny").read_text() == "ALL: 203.0.113.5\n"


# --- routing to agents -----------------------------------------------------------------

def routed_config(tmp_path: Path, location: str) -> Path:
    return rec_config(tmp_path, response=f"level = 7\ntimeout = 600\n{location}")


def test_alert_from_an_agent_routes_to_that_agent(tmp_path):
    route = tmp_path / "route.jsonl"
    cfg = routed_config(tmp_path, 'location = "local"')
    _, out, _ = respond(cfg, tmp_path / "state", alert(agent="004"), args=("--route", str(route)))
    assert [(r["status"], r["target"]) for r in out] == [("routed", "004")]
    ar = json.loads(route.read_text())
    assert ar["type"] == "ar" and ar["target"] == "004" and ar["command"] == "rec"
    assert (ar["action"], ar["srcip"], ar["timeout"], ar["rule_id"]) == ("add", "203.0.113.9", 600, "5712")
    assert ar["alert"]["id"] == "1795614647.42"
    assert calls(tmp_path / "bin") == []


def test_routing_without_route_is_skipped(tmp_path):
    cfg = routed_config(tmp_path, 'location = "defined-agent"\nagent_id = "7"')
    _, out, _ = respond(cfg, tmp_path / "state", alert())
    assert [(r["status"], r["target"]) for r in out] == [("skipped", "007")]
    assert "--route" in out[0]["reason"]


def test_server_location_runs_here_and_all_runs_here_and_routes(tmp_path):
    route = tmp_path / "route.jsonl"
    cfg = routed_config(tmp_path, 'location = "server"')
    _, out, _ = respond(cfg, tmp_path / "state", alert(agent="004"), args=("--route", str(route)))
    assert statuses(out) == ["ran"]
    cfg = routed_config(tmp_path, 'location = "all"')
    _, out, _ = respond(cfg, tmp_path / "state2", alert(agent="004"), args=("--route", str(route)))
    assert [(r["status"], r["target"]) for r in out] == [("ran", "local"), ("routed", "all")]


def test_route_to_a_fifo_and_a_unix_socket(tmp_path):
    fifo = tmp_path / "route.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    cfg = routed_config(tmp_path, 'location = "local"')
    _, out, _ = respond(cfg, tmp_path / "state", alert(agent="002"), args=("--route", str(fifo)))
    reader.join(10)
    assert statuses(out) == ["routed"] and json.loads(got[0])["target"] == "002"

    path = str(tmp_path / "route.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    received: list[bytes] = []

    def accept() -> None:
        conn, _ = server.accept()
        with conn:
            received.append(conn.makefile("rb").read())

    thread = threading.Thread(target=accept)
    thread.start()
    _, out, _ = respond(cfg, tmp_path / "state2", alert(agent="003"), args=("--route", path))
    thread.join(10)
    server.close()
    assert statuses(out) == ["routed"] and json.loads(received[0])["target"] == "003"


def test_route_fifo_without_reader_fails_without_blocking(tmp_path):
    fifo = tmp_path / "route.fifo"
    os.mkfifo(fifo)
    cfg = routed_config(tmp_path, 'location = "local"')
    _, out, _ = respond(cfg, tmp_path / "state", alert(agent="002"), args=("--route", str(fifo)))
    assert statuses(out) == ["failed"] and "nobody is reading" in out[0]["reason"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_ar_for_an_agent_is_routed_by_a_server(tmp_path):
    route = tmp_path / "route.jsonl"
    cfg = rec_config(tmp_path)
    ar = {"type": "ar", "command": "rec", "action": "add", "srcip": "203.0.113.9", "target": "005"}
    _, out, _ = respond(cfg, tmp_path / "state", ar, args=("--route", str(route)))
    assert [(r["status"], r["target"]) for r in out] == [("routed", "005")]
    assert json.loads(route.read_text())["target"] == "005" and calls(tmp_path / "bin") == []


# --- configuration ---------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ('[respond]\nbogus = 1\n', "unknown key 'bogus'"),
    ('[[respond.response]]\ncommand = "nope"\nlevel = 7\n', "no command named 'nope'"),
    ('[[respond.response]]\ncommand = "firewall-drop"\n', "needs level, rules-id or rules-group"),
    ('[[respond.response]]\ncommand = "firewall-drop"\nlevel = 7\nlocation = "moon"\n', "location"),
    ('[[respond.response]]\ncommand = "firewall-drop"\nlevel = 7\nlocation = "defined-agent"\n', "agent-id"),
    ('[[respond.response]]\ncommand = "firewall-drop"\nlevel = "high"\n', "level"),
    ('[[respond.response]]\ncommand = "firewall-drop"\nlevel = 7\ntimeout = -5\n', "timeout"),
    ('[[respond.response]]\ncommand = "firewall-drop"\nlevel = 7\nrepeated_offenders = [0]\n', "repeated-offenders"),
    ('[[respond.command]]\nname = "x"\nexecutable = "/nonexistent/x"\n', "not found"),
    ('[[respond.command]]\nname = "x"\nexecutable = "nothing-like-this"\n', "not found"),
    ('[[respond.command]]\nname = "x"\nexecutable = "firewall-drop"\nexpect = ["ip"]\n', "expect"),
    ('[[respond.command]]\nexecutable = "firewall-drop"\n', "name"),
    ('[[respond.command]]\nname = "x"\nexecutable = "firewall-drop"\ntimeout_allowed = false\n'
     '[[respond.response]]\ncommand = "x"\nlevel = 7\ntimeout = 60\n', "timeout-allowed"),
    ('[respond]\nallow = ["10.0.0.0/33"]\n', "allow"),
    ('[respond]\nscript-timeout = 0\n', "script-timeout"),
    ('[respond\n', "not valid TOML"),
])
def test_config_errors(tmp_path, text, message):
    from hidsctl import config as hidsctl_config
    from hidsctl.errors import ConfigError
    from hidsctl.respond import settings

    cfg = config(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError) as caught:
        options = hidsctl_config.build(settings.RespondOptions, {}, hidsctl_config.load(cfg), "respond", cfg)
        settings.build(options, cfg)
    assert caught.value.exit_code == 2
    assert message in str(caught.value) and "bad.toml" in str(caught.value)


@pytest.mark.parametrize("text", ['[respond]\nbogus = 1\n',
                                  '[[respond.response]]\ncommand = "nope"\nlevel = 7\n'])
def test_config_errors_exit_2_before_reading_input(tmp_path, text):
    cfg = config(tmp_path / "bad.toml", text)
    code, out, err = respond(cfg, tmp_path / "state", alert())
    assert code == 2, err
    assert out == [] and "bad.toml" in err


def test_issue_config_shape_with_bundled_script(tmp_path):
    cfg = config(tmp_path / "hidsctl.toml", """
[[respond.command]]
name = "firewall-drop"
executable = "firewall-drop"
expect = ["srcip"]
timeout_allowed = true

[[respond.response]]
command = "firewall-drop"
location = "local"
level = 7
timeout = 600
repeated_offenders = [30, 60, 120]

[respond]
allow = ["127.0.0.1", "10.0.0.0/8"]
""")
    code, out, _ = respond(cfg, tmp_path / "state", alert("10.1.2.3"))
    assert code == 0 and [r["reason"] for r in out] == ["allow-listed"]


def test_second_respond_on_the_same_state_is_refused(tmp_path):
    import subprocess
    import sys

    cfg = rec_config(tmp_path)
    first = subprocess.Popen([sys.executable, "-m", "hidsctl", "respond", "--state-dir",
                              str(tmp_path / "state"), "--config", str(cfg)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        wait_for((tmp_path / "state" / "respond.db").exists, 20, "the first respond's state")
        code, out, err = respond(cfg, tmp_path / "state", alert())
        assert code == 1 and "in use" in err
    finally:
        first.stdin.close()
        first.wait(20)


def test_fifo_reader_gets_each_record_while_respond_keeps_running(tmp_path):
    """supervise reads the route FIFO up to end of file: respond closes it after each record."""
    import subprocess
    import sys

    fifo = tmp_path / "route.fifo"
    os.mkfifo(fifo)
    cfg = routed_config(tmp_path, 'location = "local"')
    process = subprocess.Popen([sys.executable, "-m", "hidsctl", "respond", "--state-dir",
                                str(tmp_path / "state"), "--config", str(cfg), "--route", str(fifo)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        for agent in ("002", "003"):
            process.stdin.write(json.dumps(alert(agent=agent)).encode() + b"\n")
            process.stdin.flush()
            with open(fifo, "rb") as handle:  # blocks until respond opens it; ends when it closes
                got = handle.read()
            assert json.loads(got)["target"] == agent
            assert json.loads(process.stdout.readline())["status"] == "routed"
        assert process.poll() is None
    finally:
        process.stdin.close()
        process.wait(20)


def test_route_socket_gets_one_connection_per_record(tmp_path):
    path = str(tmp_path / "route.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(4)
    received: list[bytes] = []

    def accept() -> None:
        for _ in range(2):
            conn, _ = server.accept()
            with conn:
                received.append(conn.makefile("rb").read())

    thread = threading.Thread(target=accept)
    thread.start()
    cfg = routed_config(tmp_path, 'location = "local"')
    _, out, _ = respond(cfg, tmp_path / "state", alert(agent="002"), alert(agent="003"),
                        args=("--route", path))
    thread.join(10)
    server.close()
    assert statuses(out) == ["routed", "routed"]
    assert [json.loads(r)["target"] for r in received] == ["002", "003"]
