"""analyze --from … --group … --to …: three members on a real nats-server share the
partitions; one is SIGKILLed mid-stream; the output is exactly what ``hidsctl analyze``
gives on each partition's input: nothing lost, nothing repeated, correlation state
carried across the takeover."""

from __future__ import annotations

import json
import signal
import subprocess

import orjson
import pytest

from conftest import invoke_hidsctl, run_hidsctl
from hidsctl.bus import partition
from hidsctl.bus.address import parse
from hidsctl.bus.client import SyncBus
from nats_support import nats_server  # noqa: F401  (fixture)
from transport_support import hidsctl_argv, kill_running, wait_for

pytestmark = pytest.mark.slow
PARTITIONS = 6
AGENTS = [f"{n:03d}" for n in range(1, 13)]
VICTIM_AGENT = "001"  # its sshd brute force straddles the takeover


def record(agent: str, n: int, line: str) -> dict:
    return {"type": "log", "timestamp": f"2026-12-03T10:{n // 60:02d}:{n % 60:02d}Z",
            "agent": {"id": agent, "name": f"host{agent}", "ip": "10.1.0.1"},
            "location": "/var/log/auth.log", "log": line}


def phase(first: int, count: int) -> list[dict]:
    """Records n in [first, first+count) of every agent: invalid users from one address
    per agent (rule 5710, then 5712 on the 8th), failed passwords, and noise."""
    out = []
    for n in range(first, first + count):
        for index, agent in enumerate(AGENTS):
            ip = f"192.0.2.{index + 1}"
            kind = n % 3 if agent != VICTIM_AGENT else 0
            if kind == 0:
                line = f"Dec  3 10:00:{n % 60:02d} h sshd[9{n}]: Invalid user u{n} from {ip} port 4{n} ssh2"
            elif kind == 1:
                line = f"Dec  3 10:00:{n % 60:02d} h sshd[9{n}]: Failed password for root from {ip} port 4{n} ssh2"
            else:
                line = f"Dec  3 10:00:{n % 60:02d} h cron[9{n}]: (root) CMD (run-parts /etc/cron.hourly)"
            out.append(record(agent, n, line))
    out.append({"type": "checkpoint-like", "timestamp": "2026-12-03T10:00:00Z",
                "agent": {"id": "000", "name": "server", "ip": "any"}, "note": first})
    return out


def publish(bus: SyncBus, records: list[dict]) -> None:
    for rec in records:
        part = partition.partition_of(rec["agent"]["id"], PARTITIONS)
        bus.publish(partition.subject("IN", part), orjson.dumps(rec))


def expected_by_partition(records: list[dict]) -> dict[int, list[bytes]]:
    """What one ``hidsctl analyze`` process writes for each partition's input."""
    out = {}
    for part in range(PARTITIONS):
        mine = [r for r in records
                if partition.partition_of(r["agent"]["id"], PARTITIONS) == part]
        text = "".join(json.dumps(r) + "\n" for r in mine)
        result = run_hidsctl("analyze", input=text, timeout=120)
        assert result.returncode == 0, result.stderr
        out[part] = [orjson.loads(line) for line in result.stdout.splitlines()]
    return out


def output_by_partition(bus: SyncBus) -> dict[int, list[dict]]:
    got: dict[int, list[dict]] = {p: [] for p in range(PARTITIONS)}
    for msg in bus.messages():
        got[partition.partition_of_subject("ALERTS", msg.subject)].append(orjson.loads(msg.data))
    return got


def leases(bus: SyncBus) -> dict[int, str]:
    async def read() -> dict[int, str]:
        from nats.js.errors import BucketNotFoundError, NoKeysError
        try:
            kv = await bus.js.key_value("IN_g_leases")
            keys = await kv.keys()
        except (NoKeysError, BucketNotFoundError):
            return {}
        out = {}
        for key in keys:
            if key.startswith("partition."):
                try:
                    out[int(key.split(".")[1])] = (await kv.get(key)).value.decode()
                except Exception:
                    pass
        return out
    return bus.call(read())


def snapshot_seq(bus: SyncBus, part: int) -> int:
    async def read() -> int:
        try:
            kv = await bus.js.key_value("IN_g_state")
            return int((await kv.get(f"partition.{part}")).value.split(b"\n", 1)[0])
        except Exception:
            return 0
    return bus.call(read())


@pytest.mark.parametrize("snapshot_interval", ["0.2", "3600"], ids=["snapshot", "replay"])
def test_members_share_partitions_and_a_killed_one_loses_and_repeats_nothing(
        tmp_path, nats_server, snapshot_interval):  # noqa: F811
    inbus = SyncBus(parse(nats_server.address("IN")), "test")
    outbus = SyncBus(parse(nats_server.address("ALERTS")), "test")
    inbus.ensure_stream(PARTITIONS)
    errors = lambda: "".join((tmp_path / f"member{n}.err").read_text() for n in range(3))  # noqa: E731
    members: list[subprocess.Popen] = []
    try:
        for n in range(3):
            with open(tmp_path / f"member{n}.err", "wb") as err:
                members.append(subprocess.Popen(hidsctl_argv(
                    "analyze", "--from", nats_server.address("IN"), "--group", "g",
                    "--to", nats_server.address("ALERTS"), "--lease-ttl", "2",
                    "--snapshot-interval", snapshot_interval),
                    stdout=subprocess.DEVNULL, stderr=err))
        by_pid = {p.pid: p for p in members}

        def balanced():
            owners = leases(inbus)
            counts = {}
            for owner in owners.values():
                counts[owner] = counts.get(owner, 0) + 1
            return len(owners) == PARTITIONS and sorted(counts.values()) == [2, 2, 2] and owners
        try:
            owners = wait_for(balanced, 60, "partitions shared two by two")
        except AssertionError:
            raise AssertionError(f"{leases(inbus)}\n{errors()}") from None

        first, second = phase(0, 4), phase(4, 8)
        publish(inbus, first)
        victim_part = partition.partition_of(VICTIM_AGENT, PARTITIONS)
        victim = by_pid[int(owners[victim_part].split("-")[-2])]  # host-pid-random
        part_first = expected_by_partition(first)
        # The victim has analysed the first phase of its partitions (and, in the snapshot
        # variant, stored its state after it) when it is killed.
        wait_for(lambda: all(len(output_by_partition(outbus)[p]) == len(part_first[p])
                             for p in range(PARTITIONS)), 60, "first phase analysed")
        if snapshot_interval != "3600":
            last_in = max(m.metadata.sequence.stream for m in inbus.messages(
                partition.subject("IN", victim_part)))
            wait_for(lambda: snapshot_seq(inbus, victim_part) == last_in, 30, "snapshot")
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        publish(inbus, second)

        expected = expected_by_partition(first + second)
        total = sum(len(v) for v in expected.values())
        wait_for(lambda: sum(len(v) for v in output_by_partition(outbus).values()) >= total,
                 90, "every alert")
        survivors = [p for p in members if p is not victim]
        for proc in survivors:  # graceful: they snapshot, hand back their leases and exit
            proc.send_signal(signal.SIGTERM)
        assert all(proc.wait(30) == 0 for proc in survivors)
        got = output_by_partition(outbus)
        after = leases(inbus)
    finally:
        kill_running(*members)
        inbus.close()
        outbus.close()
    assert "Traceback" not in errors(), errors()
    assert after == {}  # the survivors handed their partitions back on SIGTERM
    for part in range(PARTITIONS):
        assert got[part] == expected[part], f"partition {part}"
    brute = [a for a in got[victim_part] if a.get("rule", {}).get("id") == "5712"]
    assert len(brute) == 1 and brute[0]["agent"]["id"] == VICTIM_AGENT
    victim_alerts = [a for a in got[victim_part] if a["agent"]["id"] == VICTIM_AGENT]
    assert len(victim_alerts) == 12  # 5710 on each of 12 lines, one of them 5712 instead
    # The single-process view: per agent the same alerts as one analyze over everything
    # (ids and fired counts are per process, so they are left out).
    whole = run_hidsctl("analyze", input="".join(json.dumps(r) + "\n" for r in first + second))

    def norm(alerts):
        return sorted(json.dumps({**a, "id": None, "rule": {**a["rule"], "firedtimes": None}}
                                 if a["type"] == "alert" else a, sort_keys=True) for a in alerts)
    assert norm(a for v in got.values() for a in v) == \
        norm(orjson.loads(line) for line in whole.stdout.splitlines())


def test_options_that_do_not_go_together_are_refused():
    result = invoke_hidsctl("analyze", "--from", "nats://127.0.0.1:1/IN", "--group", "g")
    assert result.returncode == 2 and b"--from, --group and --to go together" in result.stderr
    result = invoke_hidsctl("analyze", "--from", "nats://127.0.0.1:1/IN", "--group", "g.x",
                            "--to", "nats://127.0.0.1:1/OUT")
    assert result.returncode == 2 and b"--group" in result.stderr
    result = invoke_hidsctl("analyze", "--from", "nats://127.0.0.1:1/IN", "--group", "g",
                            "--to", "nats://127.0.0.1:1/IN")
    assert result.returncode == 2 and b"another stream" in result.stderr


def test_members_joining_mid_stream_take_partitions_with_their_state(
        tmp_path, nats_server):  # noqa: F811
    """One member analyses the first phase alone; two more join, it hands partitions over
    (snapshot, then the lease) and the newcomers carry the brute force on from there."""
    inbus = SyncBus(parse(nats_server.address("IN")), "test")
    outbus = SyncBus(parse(nats_server.address("ALERTS")), "test")
    inbus.ensure_stream(PARTITIONS)
    members: list[subprocess.Popen] = []

    def member(n: int) -> subprocess.Popen:
        with open(tmp_path / f"member{n}.err", "wb") as err:
            return subprocess.Popen(hidsctl_argv(
                "analyze", "--from", nats_server.address("IN"), "--group", "g",
                "--to", nats_server.address("ALERTS"), "--lease-ttl", "2",
                "--snapshot-interval", "3600"), stdout=subprocess.DEVNULL, stderr=err)
    try:
        members.append(member(0))
        wait_for(lambda: len(leases(inbus)) == PARTITIONS, 60, "one member owning all")
        first, second = phase(0, 4), phase(4, 8)
        publish(inbus, first)
        part_first = expected_by_partition(first)
        wait_for(lambda: all(len(output_by_partition(outbus)[p]) == len(part_first[p])
                             for p in range(PARTITIONS)), 60, "first phase analysed")
        members += [member(1), member(2)]
        def shared_by_three() -> bool:  # two each: the hand-over is over, not under way
            owners = list(leases(inbus).values())
            return len(owners) == PARTITIONS and sorted(
                owners.count(o) for o in set(owners)) == [2, 2, 2]
        wait_for(shared_by_three, 60, "partitions shared two by two by three")
        first_owner = f"-{members[0].pid}-"
        moved = [p for p, owner in leases(inbus).items() if first_owner not in owner]
        assert len(moved) == 4
        for part in moved:  # handed over with a snapshot: no replay from the start
            last_in = max(m.metadata.sequence.stream
                          for m in inbus.messages(partition.subject("IN", part)))
            assert snapshot_seq(inbus, part) == last_in
        publish(inbus, second)
        expected = expected_by_partition(first + second)
        total = sum(len(v) for v in expected.values())
        wait_for(lambda: sum(len(v) for v in output_by_partition(outbus).values()) >= total,
                 90, "every alert")
        for proc in members:
            proc.send_signal(signal.SIGTERM)
        assert all(proc.wait(30) == 0 for proc in members)
        got = output_by_partition(outbus)
    finally:
        kill_running(*members)
        inbus.close()
        outbus.close()
    errors = "".join((tmp_path / f"member{n}.err").read_text() for n in range(3))
    assert "Traceback" not in errors, errors
    assert errors.count("correlation state not restored") == 0
    for part in range(PARTITIONS):
        assert got[part] == expected[part], f"partition {part}"
    assert [a["rule"]["id"] for a in got[partition.partition_of(VICTIM_AGENT, PARTITIONS)]
            ].count("5712") == 1


EVIL_RULES = """<group name="local,">
  <rule id="100100" level="5">
    <pcre2>^(a+)+(?=b)c|(a|a)+\\1$</pcre2>
    <description>a pattern RE2 cannot take that backtracks for ever</description>
  </rule>
</group>
"""


def test_a_member_bounds_each_event_like_analyze(tmp_path, nats_server):  # noqa: F811
    """A log line that would run a pattern for ever costs a member its budget, then a
    notice on the output stream; the next line still alerts."""
    (tmp_path / "evil.xml").write_text(EVIL_RULES)
    inbus = SyncBus(parse(nats_server.address("IN")), "test")
    outbus = SyncBus(parse(nats_server.address("ALERTS")), "test")
    inbus.ensure_stream(PARTITIONS)
    errors = tmp_path / "member.err"
    with open(errors, "wb") as err:
        member = subprocess.Popen(hidsctl_argv(
            "analyze", "--from", nats_server.address("IN"), "--group", "g", "--to",
            nats_server.address("ALERTS"), "--rules", str(tmp_path / "evil.xml")),
            stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_for(lambda: "member " in errors.read_text(), 120, "member running")
        publish(inbus, [record("001", 0, "a" * 40 + "b"),
                        record("001", 1, "Dec  3 10:00:01 h sshd[9]: Failed password for "
                                         "root from 192.0.2.7 port 4 ssh2")])
        out = wait_for(lambda: (lambda got: got if len(got) >= 2 else None)(
            [o for p in output_by_partition(outbus).values() for o in p]), 60, "two outputs")
    finally:
        member.terminate()
        member.wait(30)
        inbus.close()
        outbus.close()
    notice, alert = out
    assert (notice["type"], notice["code"]) == ("notice", "over_budget")
    assert "rule 100100" in notice["message"]
    assert alert["rule"]["id"] == "5716"
    assert "Traceback" not in errors.read_text()


def test_rootcheck_findings_travel_with_the_partition(tmp_path, nats_server):  # noqa: F811
    """A finding a member alerted on does not alert again under the member that takes the
    partition over after it: the findings are part of the snapshot; a new finding does."""
    inbus = SyncBus(parse(nats_server.address("IN")), "test")
    outbus = SyncBus(parse(nats_server.address("ALERTS")), "test")
    inbus.ensure_stream(PARTITIONS)
    errors = tmp_path / "member.err"
    agent = {"id": "001", "name": "host001", "ip": "10.1.0.1"}

    def finding(name: str, n: int) -> dict:
        return {"type": "rootcheck", "timestamp": f"2026-12-03T10:00:{n:02d}Z", "agent": agent,
                "title": f"Rootkit '{name}' detected by the presence of file '/tmp/{name}'."}

    def outputs(count: int) -> list[dict]:
        return wait_for(lambda: (lambda got: got if len(got) >= count else None)(
            [o for p in output_by_partition(outbus).values() for o in p]), 60,
            f"{count} outputs")

    def member(number: int) -> subprocess.Popen:
        with open(errors, "ab") as err:
            proc = subprocess.Popen(hidsctl_argv(
                "analyze", "--from", nats_server.address("IN"), "--group", "g", "--to",
                nats_server.address("ALERTS"), "--snapshot-interval", "3600"),
                stdout=subprocess.DEVNULL, stderr=err)
        wait_for(lambda: errors.read_text().count("member ") >= number, 120, "member running")
        return proc

    try:
        first = member(1)
        publish(inbus, [finding("a", 0), finding("b", 1), finding("a", 2)])
        assert len(outputs(2)) == 2
        first.send_signal(signal.SIGTERM)  # hands its partitions back, snapshotted
        assert first.wait(30) == 0
        second = member(2)
        publish(inbus, [finding("a", 3), finding("b", 4), finding("c", 5),
                        record("001", 6, "Dec  3 10:00:06 h sshd[9]: Failed password for "
                                         "root from 192.0.2.7 port 4 ssh2")])
        got = outputs(4)
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    finally:
        for proc in [p for p in (locals().get("first"), locals().get("second")) if p]:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        inbus.close()
        outbus.close()
    assert [a["rule"]["id"] for a in got] == ["202000", "202000", "202000", "5716"]
    assert [a["full_log"].split("'")[1] for a in got[:3]] == ["a", "b", "c"]
    assert "Traceback" not in errors.read_text()
