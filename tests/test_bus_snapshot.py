"""Partition state: installed in and captured from one engine, serialised against its
ruleset; a restored state continues exactly where the original would have."""

from __future__ import annotations

import pytest

from hidsctl.analysis.run import AnalyzeSettings, new_engine
from hidsctl.bus.snapshot import Codec, capture, install


def record(n: int, agent: str = "001") -> dict:
    return {"type": "log", "timestamp": f"2026-12-03T10:00:{n:02d}Z",
            "agent": {"id": agent, "name": "web", "ip": "10.0.0.1"},
            "location": "/var/log/auth.log",
            "log": f"Dec  3 10:00:{n:02d} web sshd[{n}]: Invalid user u{n} from 192.0.2.7 port 22"}


def alerts(engine, records) -> list[tuple[str, int, str]]:
    out = []
    for rec in records:
        outcome = engine.process_record(rec)
        if outcome is not None and outcome.alert is not None:
            a = outcome.alert
            out.append((a["rule"]["id"], a["rule"]["firedtimes"], a["id"]))
    return out


@pytest.fixture
def engine():
    return new_engine(AnalyzeSettings())


def test_a_restored_snapshot_continues_a_brute_force(engine):
    codec = Codec(engine)
    reference = new_engine(AnalyzeSettings())
    expected = alerts(reference, [record(n) for n in range(10)])
    assert [rule for rule, _, _ in expected].count("5712") == 1

    install(engine, codec.fresh())
    first = alerts(engine, [record(n) for n in range(4)])
    blob = codec.dumps(capture(engine), 4)
    install(engine, codec.fresh())  # another partition's turn in between
    alerts(engine, [record(n, "002") for n in range(6)])
    last_seq, state = codec.loads(blob)
    assert last_seq == 4
    install(engine, state)
    rest = alerts(engine, [record(n) for n in range(4, 10)])
    assert first + rest == expected  # same rules, fired counts and alert ids


def test_partitions_do_not_share_state(engine):
    codec = Codec(engine)
    a, b = codec.fresh(), codec.fresh()
    install(engine, a)
    alerts(engine, [record(n) for n in range(7)])
    a = capture(engine)
    install(engine, b)
    assert [r for r, _, _ in alerts(engine, [record(7, "003")])] == ["5710"]
    install(engine, a)
    assert [r for r, _, _ in alerts(engine, [record(7)])] == ["5712"]


def test_a_snapshot_of_another_ruleset_or_garbage_is_refused(engine, tmp_path):
    codec = Codec(engine)
    blob = codec.dumps(codec.fresh(), 1)
    rules = tmp_path / "local.xml"
    rules.write_text('<group name="local,"><rule id="100100" level="3"><match>zzz</match>'
                     '<description>local</description></rule></group>')
    other = Codec(new_engine(AnalyzeSettings(rules=[rules])))
    with pytest.raises(ValueError, match="another ruleset"):
        other.loads(blob)
    with pytest.raises(ValueError, match="unreadable"):
        codec.loads(b"not a snapshot")


class _Touch:
    """Unpickling this creates a file: what a pickle snapshot would have let a writer do."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        import pathlib
        return (pathlib.Path.touch, (self.path,))


def test_a_snapshot_is_data_only_and_checked_against_its_schema(engine, tmp_path):
    import json
    import pickle
    import zlib

    codec = Codec(engine)
    alerts(engine, [record(n) for n in range(9)])
    blob = codec.dumps(capture(engine), 9)
    doc = json.loads(zlib.decompress(blob))
    assert doc["format"] == 2 and doc["ruleset"] == codec.fingerprint
    assert {"sid 5710", "events"} <= set(doc["lists"])
    assert "record" not in doc["seen"][0] and len(doc["seen"][0]) == 6

    planted = tmp_path / "planted"
    with pytest.raises(ValueError, match="unreadable"):
        codec.loads(zlib.compress(pickle.dumps({"format": 2, "x": _Touch(str(planted))})))
    assert not planted.exists()

    def altered(**changes) -> bytes:
        return zlib.compress(json.dumps({**doc, **changes}).encode())

    with pytest.raises(ValueError, match="another format"):
        codec.loads(altered(format=1))
    with pytest.raises(ValueError, match=r"unreadable snapshot: Expected `int`.*\$\.sequence"):
        codec.loads(altered(sequence="many"))
    with pytest.raises(ValueError, match="unreadable snapshot: event list 'sid 1' is not"):
        codec.loads(altered(lists={"sid 1": doc["lists"]["sid 5710"]}))
    with pytest.raises(ValueError, match="unreadable snapshot: list index out of range"):
        codec.loads(altered(seen=[]))
    with pytest.raises(ValueError, match="unreadable snapshot: larger than 64 MiB"):
        codec.loads(zlib.compress(b" " * (65 << 20)))
    assert codec.loads(altered())[0] == 9


def test_rootcheck_findings_go_into_the_snapshot_as_rows(engine):
    codec = Codec(engine)
    state = codec.fresh()
    assert state.rootcheck.sighting("001", "rootkit a", 100.0)
    blob = codec.dumps(state, 1)
    _, restored = codec.loads(blob)
    assert restored.rootcheck.held("001") == ["rootkit a"]
    assert not restored.rootcheck.sighting("001", "rootkit a", 200.0)  # held: not new
    assert restored.rootcheck.sighting("001", "rootkit b", 200.0)
    assert restored.rootcheck.forget == state.rootcheck.forget
