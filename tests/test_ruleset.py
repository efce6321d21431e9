"""The bundled ruleset: every rule has a test, every test passes, ordinary traffic is quiet.

- ``tests/rules/*.ini`` run through the real ``hidsctl rules test --json``;
- ``tests/rules/lines.json`` holds single-line cases the ``.ini`` format cannot carry (a
  `` ;`` there starts a comment, as in OSSEC's runtests.py; a line no decoder claims cannot
  be expected there; a multi-line message);
- ``tests/rules/sequences.json`` holds correlation cases and ``syscheck``/``rootcheck``
  records: ``fire`` must end on the rule, ``quiet`` must never reach it;
- a day of ordinary server traffic (``bench/server_traffic.py``) through the real
  ``hidsctl analyze`` raises nothing of level 7 or more.
"""

from __future__ import annotations

import importlib.util
import json
import time
from functools import lru_cache

import orjson
import pytest

from conftest import ROOT, run_hidsctl

RULES = ROOT / "rules" / "rules"
CASES = ROOT / "tests" / "rules"
T0 = 1795564800.0  # 2026-11-25 00:00:00 UTC
AGENT = {"id": "000", "name": "web1", "ip": "127.0.0.1"}


def bundled_rules() -> dict[int, int]:
    """Rule id -> level for every rule in rules/rules (templates below id 10 included)."""
    from hidsctl.analysis.xmlload import parse_file  # OSSEC's dialect: <var>s beside <group>s
    from hidsctl.errors import RuleError

    found = {}
    for path in sorted(RULES.glob("*.xml")):
        for group in parse_file(path, RuleError):
            for rule in group.children:
                if rule.tag == "rule":
                    found[int(rule.attrs["id"])] = int(rule.attrs["level"])
    return found


def ini_rule_ids() -> set[int]:
    import configparser

    ids = set()
    for path in sorted(CASES.glob("*.ini")):
        parser = configparser.RawConfigParser(strict=False, inline_comment_prefixes=(";",))
        parser.read(path, encoding="utf-8")
        ids.update(int(parser.get(s, "rule")) for s in parser.sections())
    return ids


def load_json(name: str) -> list[dict]:
    return json.loads((CASES / name).read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def engine_parts():
    """One engine for the bundled ruleset (compiling the rule tree is most of the cost of
    a case), reset before each sequence as `hidsctl rules test` resets it per case."""
    from hidsctl.analysis import ruleset
    from hidsctl.analysis.engine import Engine
    from hidsctl.analysis.events import from_log_line, from_record

    return Engine(ruleset.load(ruleset.bundled_sources())), from_log_line, from_record


def run_sequence(items: list, step: float) -> list[tuple[str | None, int | None, bool, str]]:
    """Feed lines or records to an engine holding no state, ``step`` seconds apart; what
    each gave: rule id, level, whether it alerted, decoder name."""
    engine, from_log_line, from_record = engine_parts()
    engine.reset()
    out = []
    for i, item in enumerate(items):
        when = T0 + i * step
        if isinstance(item, dict):
            record = dict(item, timestamp=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when)),
                          agent=dict(AGENT))
            event = from_record(record)
        else:
            event = from_log_line(item, "/var/log/test.log", dict(AGENT), when)
        outcome = engine.process(event)
        rule = outcome.rule
        out.append((str(rule.id) if rule else None, rule.level if rule else None,
                    outcome.alert is not None, event.decoder.reported or ""))
    return out


def test_every_rule_has_a_test():
    tested = ini_rule_ids() | {int(c["rule"]) for c in load_json("lines.json")} \
        | {int(s["rule"]) for s in load_json("sequences.json")}
    rules = bundled_rules()
    untested = sorted(rid for rid in rules if rid >= 10 and rid not in tested)
    assert not untested, f"rules without a test in tests/rules: {untested}"
    unknown = sorted(tested - set(rules))
    assert not unknown, f"tests name rules that do not exist: {unknown}"
    assert len(rules) >= 400


def test_ini_cases_pass_through_rules_test():
    files = sorted(str(p) for p in CASES.glob("*.ini"))
    result = run_hidsctl("rules", "test", *files, "--json", timeout=300)
    doc = orjson.loads(result.stdout)
    failed = [f"{c['file'].rsplit('/', 1)[-1]} [{c['section']}]: got {c['got']}\n    {c['log']}"
              for c in doc["cases"] if not c["passed"]]
    assert not failed, "\n".join(failed)
    assert result.returncode == 0, result.stderr.decode()
    assert doc["total"] >= 550


@pytest.mark.parametrize("case", load_json("lines.json"), ids=lambda c: f"{c['rule']}")
def test_single_line_case(case):
    [(rule, level, _, decoder)] = run_sequence([case["log"]], 1.0)
    assert (rule, level, decoder) == (case["rule"], case["level"], case["decoder"]), case["log"]


@pytest.mark.parametrize("seq", load_json("sequences.json"), ids=lambda s: s["rule"])
def test_sequence(seq):
    fired = run_sequence(seq["fire"], seq["step"])
    rule, level, alerted, _ = fired[-1]
    assert (rule, level) == (seq["rule"], seq["level"]), f"fire sequence ended on {fired[-1]}"
    assert alerted is (seq["level"] > 0)
    quiet = run_sequence(seq["quiet"], seq["qstep"])
    reached = [i for i, (rule, _, _, _) in enumerate(quiet) if rule == seq["rule"]]
    assert not reached, f"quiet sequence reached rule {seq['rule']} at records {reached}"


def test_ordinary_traffic_raises_nothing_of_level_7(tmp_path):
    spec = importlib.util.spec_from_file_location("server_traffic", ROOT / "bench" / "server_traffic.py")
    traffic = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(traffic)
    records = b"".join(orjson.dumps(r) + b"\n"
                       for r in traffic.Traffic(seed=7, span=3 * 3600).records(10000))
    result = run_hidsctl("analyze", "--state-dir", str(tmp_path), input=records, timeout=300)
    assert result.returncode == 0, result.stderr.decode()
    alerts = [orjson.loads(line) for line in result.stdout.splitlines()
              if b'"type":"alert"' in line.replace(b" ", b"")]
    assert alerts, "ordinary traffic still has level 3 events (logins, sudo)"
    loud = [(a["rule"]["id"], a["rule"]["level"], a.get("full_log", "")[:160]) for a in alerts
            if a["rule"]["level"] >= 7]
    assert not loud, loud


def test_a_rule_tripped_again_inside_its_ignore_time_raises_no_alert(tmp_path):
    """As in OSSEC, an event that matches a rule inside the rule's ignore time raises no
    alert at all: 16 failures for invalid users from one address within a minute trip 5712
    (ignore 60 s) at the 8th and again at the 16th, which is silent. The SIGKILL end-to-end
    test (test_supervise_e2e.py) uses an address per round of 5 for this reason."""
    def failure(n: int, source: str) -> bytes:
        line = (f"Nov 25 13:50:{n:02d} web1 sshd[{4000 + n}]: Failed password for invalid "
                f"user admin{n} from {source} port {50000 + n} ssh2")
        return orjson.dumps({"type": "log", "timestamp": f"2026-11-25T13:50:{n:02d}.000Z",
                             "location": "/var/log/auth.log", "log": line}) + b"\n"

    def rule_ids(records: bytes) -> list[str]:
        result = run_hidsctl("analyze", "--state-dir", str(tmp_path), input=records,
                             timeout=300)
        assert result.returncode == 0, result.stderr.decode()
        return [orjson.loads(line)["rule"]["id"] for line in result.stdout.splitlines()
                if b'"type":"alert"' in line]

    one_source = b"".join(failure(n, "203.0.113.77") for n in range(16))
    assert rule_ids(one_source) == ["5710"] * 7 + ["5712"] + ["5710"] * 7
    per_round = b"".join(failure(n, f"203.0.113.{10 + n // 5}") for n in range(20))
    assert rule_ids(per_round) == ["5710"] * 20
