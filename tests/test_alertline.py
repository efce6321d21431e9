"""analyze's alert output (analysis/alertline.py) against the alert record build_alert makes:
the same JSON bytes as ``records.dumps`` of it, the same alerts.log block as
``alerttext.format_alert`` of it, event after event, correlation state included."""

from __future__ import annotations

import json

import orjson

from conftest import run_hidsctl
from ossec_fixture import OSSEC, OSSEC_CONF, needs_ossec, ossec_ruleset

pytestmark = needs_ossec


def _fixture_lines() -> list[str]:
    from hidsctl.analysis.ruletests import read_cases

    lines = []
    for path in sorted((OSSEC / "tests").glob("*.ini")):
        lines += [case.log for case in read_cases(path)]
    return lines


def _records() -> list[dict]:
    """Every fixture test line from the local host and from an agent, each twice (the
    second time frequency and first-time-seen rules see the first), then records of the
    other kinds: integrity changes, rootcheck, agent status, with a timestamp missing."""
    agents = [{"id": "000", "name": "web1", "ip": "127.0.0.1"},
              {"id": "007", "name": "db\nforged", "ip": "10.0.0.7"}]
    out = []
    for n, line in enumerate(_fixture_lines() * 2):
        out.append({"type": "log", "timestamp": f"2026-11-25T13:50:{n % 60:02d}.{n % 1000:03d}Z",
                    "agent": agents[n % 2], "location": "/var/log/messages", "log": line})
    out += [
        {"type": "syscheck", "timestamp": "2026-11-25T13:51:00.000Z", "agent": agents[1],
         "event": "modified", "path": "/etc/passwd", "size_before": "10",
         "size_after": "12", "md5_before": "a", "md5_after": "b"},
        {"type": "syscheck", "agent": agents[0], "event": "added", "path": "/etc/new"},
        {"type": "rootcheck", "timestamp": "2026-11-25T13:52:00.000Z", "agent": agents[1],
         "title": "File '/tmp/.x' is hidden"},
        {"type": "agent_status", "timestamp": "2026-11-25T13:53:00.000Z", "agent": agents[1],
         "status": "disconnected"},
    ]
    return out


def test_alert_line_is_the_alert_record_dumped_and_formatted():
    from hidsctl.alerttext import format_alert
    from hidsctl.analysis.engine import Engine
    from hidsctl.analysis.events import from_record
    from hidsctl.records import dumps

    ruleset = ossec_ruleset()
    by_record, by_line = Engine(ruleset, manager="m"), Engine(ruleset, manager="m")
    compared = with_previous = 0
    for record in _records():
        outcome = by_record.process_record(record)
        ev = from_record(record)
        rule = by_line.winner(ev) if ev is not None else None
        alerts = rule is not None and ev is not None and by_line.alerts(rule, ev)
        if outcome is None or outcome.alert is None:
            assert not alerts
            continue
        assert alerts and rule is outcome.rule and ev is not None
        line, block = by_line.alert_line(rule, ev, text=True)
        assert line == dumps(outcome.alert)
        assert block == format_alert(outcome.alert)
        compared += 1
        with_previous += "previous_output" in outcome.alert
    assert compared > 300 and with_previous > 0


def test_min_level_skips_alerts_but_not_their_numbers(tmp_path):
    """Alerts below --min-level are not written, yet take their ids, so the ones shown are
    the same whatever the minimum (and the alerts.log blocks too)."""
    corpus = tmp_path / "in.jsonl"
    corpus.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in _records()[:300]))
    outputs = {}
    for level in (1, 6):
        log = tmp_path / f"alerts{level}.log"
        result = run_hidsctl("analyze", "--ossec-conf", str(OSSEC_CONF), "--min-level", str(level), "--alerts-log", str(log),
                             "--state-dir", str(tmp_path / "state"),
                             input=corpus.read_bytes(), check=True)
        alerts = [json.loads(line) for line in result.stdout.splitlines()]
        text = "\n\n" + log.read_text().rstrip("\n")
        outputs[level] = (alerts, text.split("\n\n** Alert ")[1:])
    everything, high = outputs[1][0], outputs[6][0]
    assert high and len(high) < len(everything)
    assert high == [a for a in everything if a["rule"]["level"] >= 6]
    blocks = {block.split(":", 1)[0]: block for block in outputs[1][1]}
    assert [blocks[b.split(":", 1)[0]] for b in outputs[6][1]] == outputs[6][1]
