"""Property: a record either fails its schema (a one-line report, the stream goes on) or every
sink, respond and analyze handle it without raising, and the good record behind it too.

Records are built from the schemas themselves (every field filled, nested too), then one to
three fields anywhere in them are replaced by values of every JSON type, odd strings
(empty, CR/LF, control and non-ASCII characters, very long) and extreme numbers, or removed.
The sinks run in-process for speed; a sample goes through the real commands.
"""

from __future__ import annotations

import email
import email.policy
import random
import socket
import typing
from pathlib import Path

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from hidsctl import records
from hidsctl.alerttext import format_alert
from hidsctl.outputs.alertfiles import AlertFiles
from hidsctl.outputs.filters import AlertFilter
from hidsctl.outputs.formats import FORMATTERS
from hidsctl.outputs.mail import Mailer, MailSettings
from tests.conftest import run_hidsctl

# Values a field takes in a good record, by field name (else by type).
NAMED = {"timestamp": "2026-11-25T13:50:47.123Z", "srcip": "203.0.113.9", "ip": "10.0.0.1",
         "dstip": "198.51.100.1", "mode": "100644", "level": 10, "command": "rec",
         "action": "add", "status": "ran", "target": "local", "timeout": 60, "id": "001",
         "path": "/etc/passwd", "user": "alice", "dstuser": "alice", "srcuser": "alice"}
DELETE = object()


def example(kind: typing.Any, name: str = "") -> typing.Any:
    """A good value of the annotation ``kind``: structs with every field, lists of two."""
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return {f.encode_name: example(f.type, f.name) for f in msgspec.structs.fields(kind)}
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Literal:
        return args[0]
    if origin is typing.Union:
        return example(next(a for a in args if a is not type(None)), name)
    if name in NAMED and origin is not list:  # rule.mitre.id is a list of ids
        return NAMED[name]
    if origin is list:
        return [example(args[0]), example(args[0]) + "2" if args[0] is str else example(args[0])]
    if origin is dict:
        return {"field": "value", "nested": {"deeper": [1, "two", None]}}
    return {str: "text", int: 7, float: 1.5, bool: True}.get(kind, "any")


def full_record(rtype: str) -> dict:
    record = {"type": rtype, **example(records.SCHEMAS[rtype])}
    if rtype == "ar":
        record["alert"] = full_record("alert")
    return record


def paths(value: typing.Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a record a value sits (not ``type``)."""
    found = []
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        if prefix == () and key == "type":
            continue
        found.append(prefix + (key,))
        found.extend(paths(child, prefix + (key,)))
    return found


def replaced(record: dict, path: tuple, value: typing.Any) -> dict:
    copy = orjson.loads(orjson.dumps(record))
    parent = copy
    for key in path[:-1]:
        parent = parent[key]
    if value is DELETE:
        if isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent.pop(path[-1])
    else:
        parent[path[-1]] = value
    return copy


ODD_TEXT = ["", " ", "\r\n", "x\r\nBcc: victim@example.com", "a\nb", "\r", "\x00", "\x1b[31m",
            "\u2028", "\x85", "é✓😀", "-", "'", '"', "|", "=", "]", "\\", "%s%n{0}", "x" * 5000,
            "2026-11-25T13:50:47\r000Z", "9999-12-31T23:59:59-14:00", "../../etc", "$(id)",
            "1.2.3.4\nforged", "7" * 40, "-1", "777777777777777777777777"]
ODD_INTS = [0, -1, 2 ** 63 - 1, -2 ** 63, 2 ** 64 - 1, 10 ** 15, 17]
texts = st.sampled_from(ODD_TEXT) | st.text(max_size=20)
scalars = (st.none() | st.booleans() | st.sampled_from(ODD_INTS)
           | st.integers(min_value=-2 ** 63, max_value=2 ** 64 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | texts)
values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=3)
                      | st.dictionaries(texts, kids, max_size=3), max_leaves=6)


def at(record: dict, path: tuple) -> typing.Any:
    for key in path:
        record = record[key]
    return record


def same_kind(value: typing.Any) -> st.SearchStrategy:
    """Odd values of the JSON type ``value`` has: the ones a schema lets through."""
    if isinstance(value, str):
        return texts
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.sampled_from(ODD_INTS) | st.integers(min_value=-2 ** 63, max_value=2 ** 64 - 1)
    if isinstance(value, float):
        return st.floats(allow_nan=False, allow_infinity=False)
    if isinstance(value, list):
        return st.lists(texts, max_size=3)
    return values


@st.composite
def poisons(draw) -> dict:
    record = full_record(draw(st.sampled_from(sorted(records.SCHEMAS))))
    for _ in range(draw(st.integers(1, 5))):
        path = draw(st.sampled_from(paths(record) or [("extra",)]))
        current = at(record, path) if path != ("extra",) else None
        record = replaced(record, path, draw(same_kind(current) | st.just(DELETE) | values))
    return record


GOOD_ALERT = dict(full_record("alert"), id="1795614647.999", full_log="the good one")


class Sinks:
    """logs write, forward's formats, mail (with a transport that serialises as SMTP would),
    respond and analyze, in-process."""

    def __init__(self, root: Path):
        from hidsctl.analysis.engine import Engine
        from hidsctl.analysis.run import AnalyzeSettings, load_ruleset
        from hidsctl.respond.allowlist import AllowList
        from hidsctl.respond.engine import Responder
        from hidsctl.respond.settings import RespondOptions, build
        from hidsctl.respond.timers import Timers

        self.files = AlertFiles(root / "logs", archives=True, now=lambda: 1795614647.0)
        self.filter = AlertFilter.build(0)
        self.messages: list[bytes] = []
        self.mailer = Mailer(MailSettings(to=["soc@example.com"], level=0, group_window=0,
                                          max_per_hour=10 ** 9, daily_report=True),
                             root / "mail", transport=self, now=lambda: 1795614647.0)
        script = root / "bin" / "ok"
        script.parent.mkdir()
        script.write_text("#!/bin/sh\nexit 0\n")
        script.chmod(0o755)
        respond = build(RespondOptions(
            command=[{"name": "rec", "executable": str(script), "expect": ["srcip"]}],
            response=[{"command": "rec", "level": 7, "timeout": 60}]))
        self.timers = Timers(root)
        self.responder = Responder(respond, self.timers, AllowList(respond.allow,
                                                                    read_host=lambda: ()))
        self.engine = Engine(load_ruleset(AnalyzeSettings()))

    def send(self, message) -> None:  # the mail transport
        data = message.as_bytes(policy=email.policy.SMTP)
        parsed = email.message_from_bytes(data)
        assert sorted(parsed.keys()) == sorted(message.keys())  # no header forged by a field
        self.messages.append(data)

    def feed(self, raw: bytes) -> None:
        """One record through every sink; anything raised fails the test."""
        fresh = lambda: orjson.loads(raw)  # noqa: E731 - each sink gets its own copy
        record = fresh()
        self.files.handle(fresh())
        if record["type"] == "alert" and self.filter.matches(record):
            for name, formatter in FORMATTERS.items():
                message = formatter(fresh(), 16, "host")
                assert b"\n" not in message and b"\r" not in message, (name, message)
        self.mailer.handle(fresh())
        self.mailer.tick(final=True)
        self.responder.handle(fresh())
        outcome = self.engine.process_record(fresh())
        if outcome is not None and outcome.alert is not None:
            format_alert(outcome.alert)
            records.dumps(outcome.alert)


@pytest.fixture(scope="module")
def sinks(tmp_path_factory) -> Sinks:
    return Sinks(tmp_path_factory.mktemp("sinks"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(poison=poisons())
def test_no_record_that_passes_its_schema_crashes_a_sink(sinks, poison):
    raw = orjson.dumps(poison)
    problem = records.validate(orjson.loads(raw))
    if problem is not None:
        assert problem.isprintable() and problem, problem
        return  # the reader reports it and goes on (test_records)
    sent, written = len(sinks.messages), sinks.files.written
    sinks.feed(raw)
    sinks.feed(orjson.dumps(GOOD_ALERT))
    expected = 2 if poison["type"] == "alert" else 1
    assert sinks.files.written - written == expected
    assert len(sinks.messages) - sent == expected  # each alert mailed, none stuck in the queue
    assert b"the good one" in sinks.messages[-1]


# Every field of every type, one at a time, replaced by a value of each JSON type and by each
# odd string: exhaustive where the property test samples.
EVERY_KIND = [None, True, 0, -2 ** 63, 2 ** 64 - 1, 1.5, [], ["x", 1], {}, {"k": {"n": [None]}},
              "", "x\r\nBcc: victim@example.com\r\n\r\nbody", "\x00\x1b[31m\u2028\x85",
              "é✓😀", "x" * 3000, "9999-12-31T23:59:59-14:00", '"|=]\\']


@pytest.mark.parametrize("rtype", sorted(records.SCHEMAS))
def test_every_field_replaced_by_every_kind_of_value(sinks, rtype):
    record = full_record(rtype)
    passed = 0
    for path in paths(record):
        for value in EVERY_KIND:
            poison = replaced(record, path, value)
            if records.validate(poison) is not None:
                continue
            passed += 1
            written, sent = sinks.files.written, len(sinks.messages)
            sinks.feed(orjson.dumps(poison))
            alerts = 1 if rtype == "alert" else 0
            assert sinks.files.written - written == alerts and len(sinks.messages) - sent == alerts
    assert passed > len(paths(record))  # odd values of the right type got through to the sinks


@settings(max_examples=60, deadline=None)
@given(poison=poisons())
def test_the_reader_reports_or_passes_every_poison_and_keeps_the_next(poison):
    import io

    data = orjson.dumps(poison) + b"\n" + orjson.dumps(GOOD_ALERT) + b"\n"
    err = io.StringIO()
    reader = records.RecordReader(io.BytesIO(data), stderr=err)
    out = list(reader)
    assert out[-1] == GOOD_ALERT
    assert len(out) + reader.stats.bad == 2
    assert all(line.startswith("line 1: ") and line.isprintable() for line in err.getvalue().splitlines())


# --- a sample through the real commands ---------------------------------------------------------

def sample(count: int, seed: int = 7) -> list[dict]:
    """Poison records made the same way, without hypothesis: a fixed, varied sample."""
    rng = random.Random(seed)
    flat = ODD_TEXT + ODD_INTS + [None, True, 1.5, [], {}, ["x"], {"k": ["v"]}]
    out = []
    while len(out) < count:
        record = full_record(rng.choice(sorted(records.SCHEMAS)))
        for _ in range(rng.randint(1, 3)):
            record = replaced(record, rng.choice(paths(record)),
                              DELETE if rng.random() < 0.1 else rng.choice(flat))
        out.append(record)
    return out


@pytest.mark.parametrize("command", [
    ("logs", "write", "--archives", "--dir", "{tmp}/logs"),
    ("forward", "--to", "udp://127.0.0.1:{udp}", "--format", "cef", "--state-dir", "{tmp}"),
    ("forward", "--to", "udp://127.0.0.1:{udp}", "--format", "rfc5424", "--state-dir", "{tmp}"),
    ("analyze", "--state-dir", "{tmp}"),
])
def test_a_sample_through_the_real_commands(tmp_path, command):
    poisoned = sample(60)
    data = b"".join(orjson.dumps(r) + b"\n" + orjson.dumps(GOOD_ALERT) + b"\n" for r in poisoned)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:  # takes what forward sends
        listener.bind(("127.0.0.1", 0))
        port = str(listener.getsockname()[1])
        result = run_hidsctl(*[a.replace("{tmp}", str(tmp_path)).replace("{udp}", port)
                               for a in command], input=data)
    err = result.stderr.decode()
    assert result.returncode == 0 and "Traceback" not in err, err
    assert not (tmp_path / "deadletter").exists(), "a sink failed on a record its schema passed"
    bad = sum(records.validate(r) is not None for r in poisoned)
    assert len([line for line in err.splitlines() if line.startswith("line ")]) == bad
