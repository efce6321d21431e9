"""Poison records through the real commands: a record of the wrong shape is reported as a bad
line and skipped, the good record behind it is handled, and the command exits 0; a record
a sink cannot handle becomes a dead letter and never blocks a durable queue."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import orjson
import pytest

from hidsctl.deadletter import DeadLetters
from hidsctl.outputs import run
from hidsctl.outputs.outbox import Outbox
from hidsctl.records import RecordWriter
from tests.conftest import run_hidsctl
from tests.netutil import (Inbox, StreamListener, free_port,  # noqa: F401  (inbox: fixture)
                           inbox, smtp_server)
from respond_helpers import calls, rec_config
from tests.test_alertfiles import alert

# Each is a well-formed record some older stage crashed on, with the report it now gets.
POISONS = [
    (dict(alert("2026-11-25T13:50:40.000Z", 1), data=["x"]),
     "line 1: field data: expected object, got array"),
    (dict(alert("2026-11-25T13:50:40.000Z", 1), manager="evil"),
     "line 1: field manager: expected object, got str"),
    (dict(alert("2026-11-25T13:50:40.000Z", 1),
          rule={"id": "5716", "level": 10, "groups": ["a", 7]}),
     "line 1: field rule.groups[1]: expected str, got int"),
]
GOOD = dict(alert("2026-11-25T13:50:47.000Z", 2, level=10), manager={"name": "hids"})


def lines(*records: dict) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def clean(stderr: bytes) -> str:
    text = stderr.decode()
    assert "Traceback" not in text, text
    return text


@pytest.mark.parametrize("poison, report", POISONS)
def test_logs_write_files_the_alert_behind_a_poison(tmp_path, poison, report):
    result = run_hidsctl("logs", "write", "--dir", str(tmp_path / "logs"),
                         input=lines(poison, GOOD))
    assert result.returncode == 0 and report in clean(result.stderr)
    day = tmp_path / "logs" / "alerts" / "2026" / "Nov" / "ossec-alerts-25"  # sealed: a past day
    written = gzip.decompress(Path(f"{day}.json.gz").read_bytes()).splitlines()
    assert [json.loads(line)["id"] for line in written] == [GOOD["id"]]
    assert b"Failed password for root (2)" in gzip.decompress(Path(f"{day}.log.gz").read_bytes())


def mail(inbox: Inbox, state: Path, data: bytes):
    return run_hidsctl("mail", "--smtp", f"127.0.0.1:{inbox.port}", "--to", "soc@example.com",
                       "--level", "0", "--group-window", "0", "--state-dir", str(state),
                       input=data)


@pytest.mark.parametrize("poison, report", POISONS)
def test_mail_sends_the_alert_behind_a_poison(tmp_path, inbox, poison, report):
    result = mail(inbox, tmp_path, lines(poison, GOOD))
    assert result.returncode == 0 and report in clean(result.stderr)
    assert [m["Subject"] for m in inbox.messages] == \
        ["[hidsctl] web1 level 10: sshd: authentication failed."]


def test_a_poison_at_the_head_of_the_mail_queue_is_set_aside_once(tmp_path, inbox):
    # queued by a mail that read records without the schema: it must not block the queue
    outbox = Outbox(tmp_path / "mail" / "queue", component="mail", what="test")
    outbox.put(orjson.dumps({"alert": POISONS[0][0]}))
    outbox.put(b"not json at all")
    outbox.close()
    result = mail(inbox, tmp_path, lines(GOOD))
    assert result.returncode == 0, clean(result.stderr)
    assert len(inbox.messages) == 1 and "(2)" in inbox.messages[0].get_payload()
    notices = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(n["type"], n["code"]) for n in notices] == [("notice", "dead_letter")] * 2
    dead = [json.loads(line) for line in (tmp_path / "deadletter" / "mail.jsonl").read_text().splitlines()]
    assert [d["record"] for d in dead] == [POISONS[0][0], "not json at all"]
    assert "AttributeError" in dead[0]["problem"]
    again = mail(inbox, tmp_path, b"")  # committed past them: nothing sent or set aside again
    assert again.returncode == 0 and again.stdout == b"" and len(inbox.messages) == 1


def test_header_injection_through_an_alert_is_impossible(tmp_path, inbox):
    evil = dict(GOOD, rule=dict(GOOD["rule"], description="x\r\nBcc: victim@example.com\r\n\r\nhi"),
                agent={"id": "001", "name": "a\nX-Evil: 1", "ip": "10.0.0.1"})
    result = mail(inbox, tmp_path, lines(evil))
    assert result.returncode == 0, clean(result.stderr)
    (message,) = inbox.messages
    assert message["X-Evil"] is None and message["Bcc"] is None
    assert inbox.envelopes[0].rcpt_tos == ["soc@example.com"]
    assert message["Subject"] == "[hidsctl] a X-Evil: 1 level 10: x Bcc: victim@example.com hi"


@pytest.mark.parametrize("fmt", ["rfc5424", "rfc3164", "json", "cef", "kv"])
def test_forward_sends_the_alert_behind_poisons_in_every_format(tmp_path, fmt):
    evil = dict(GOOD, id="1795614647.3", timestamp="2026-11-25T13:50:47\r000Z",
                rule=dict(GOOD["rule"], description="a\r\n<13>1 forged"),
                data={"srcip": "1.2.3.4\r\nforged", "odd": {"deep": [1, None]}})
    listener = StreamListener()
    try:
        result = run_hidsctl("forward", "--to", f"tcp://127.0.0.1:{listener.port}",
                             "--format", fmt, "--state-dir", str(tmp_path),
                             input=lines(*[p for p, _ in POISONS], evil, GOOD))
        received = listener.lines(2)
    finally:
        listener.close()
    err = clean(result.stderr)
    assert result.returncode == 0
    assert [line for line in err.splitlines() if "line " in line] == \
        [report.replace("line 1", f"line {n}") for n, (_, report) in enumerate(POISONS, 1)]
    assert len(received) == 2  # the odd alert stays one message: no CR/LF reaches the wire
    assert not any(b"\r" in message for message in received)
    assert b"(2)" in received[1]


def test_respond_acts_on_the_alert_behind_a_poison(tmp_path):
    cfg = rec_config(tmp_path)
    poison = dict(GOOD, data={"srcip": ["203.0.113.9"]})
    result = run_hidsctl("respond", "--state-dir", str(tmp_path / "state"), "--config", str(cfg),
                         input=lines(poison, GOOD))
    assert result.returncode == 0
    assert "line 1: field data.srcip: expected " in clean(result.stderr)
    assert [json.loads(r)["status"] for r in result.stdout.splitlines()] == ["ran"]
    assert len(calls(tmp_path / "bin")) == 1


SSHD = "Nov 25 13:50:47 web1 sshd[811]: Failed password for root from 203.0.113.9 port 52144 ssh2"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_analyze_goes_on_after_poison_records(tmp_path, workers):
    poisons = [{"type": "log", "location": "x", "log": ["x"]},
               {"type": "syscheck", "path": "/etc/x", "event": "modified", "old": []},
               {"type": "log", "location": "x", "log": "y", "agent": "000"}]
    good = {"type": "log", "timestamp": "2026-11-25T13:50:47.000Z", "location": "/var/log/auth.log",
            "log": SSHD}
    result = run_hidsctl("analyze", "--workers", workers, "--state-dir", str(tmp_path),
                         input=lines(*poisons, good))
    err = clean(result.stderr)
    assert result.returncode == 0
    assert "line 1: field log: expected str, got array" in err
    assert "line 2: field old: expected object, got array" in err
    assert "line 3: field agent: expected object, got str" in err
    (out,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert out["type"] == "alert" and out["full_log"] == SSHD


# --- dead letters -----------------------------------------------------------------------------

def test_stage_sets_aside_a_record_its_sink_fails_on_and_goes_on(tmp_path):
    handled = []

    def handle(record):
        if record.get("location") == "poison":
            raise KeyError("something the sink did not expect")
        handled.append(record["log"])

    out = io.BytesIO()
    dead = DeadLetters(tmp_path / "deadletter", "test")
    data = lines({"type": "log", "location": "poison", "log": "p"},
                 {"type": "log", "location": "ok", "log": "good"})
    run.run(handle, lambda: None, stream=io.BytesIO(data), writer=RecordWriter(out),
              dead_letters=dead)
    assert handled == ["good"]
    (notice,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert notice["type"] == "notice" and notice["code"] == "dead_letter"
    assert notice["location"] == str(tmp_path / "deadletter" / "test.jsonl")
    (kept,) = [json.loads(line) for line in (tmp_path / "deadletter" / "test.jsonl").read_text().splitlines()]
    assert kept["record"]["location"] == "poison" and kept["problem"].startswith("KeyError")


def test_a_machine_failure_is_not_the_records_fault(tmp_path):
    def handle(record):
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        run.run(handle, lambda: None, stream=io.BytesIO(lines({"type": "log", "location": "x",
                                                                 "log": "y"})),
                  dead_letters=DeadLetters(tmp_path, "test"))
    assert not (tmp_path / "test.jsonl").exists()


def test_dead_letter_file_is_bounded(tmp_path):
    dead = DeadLetters(tmp_path, "test", max_bytes=4096)
    for n in range(100):
        dead.put({"type": "log", "n": n, "pad": "x" * 100}, "problem\nwith a newline")
    current = (tmp_path / "test.jsonl").read_text().splitlines()
    older = (tmp_path / "test.jsonl.1").read_text().splitlines()
    assert (tmp_path / "test.jsonl").stat().st_size <= 4096
    assert json.loads(current[-1])["record"]["n"] == 99
    assert json.loads(older[-1])["record"]["n"] == 99 - len(current)
    assert json.loads(current[0])["problem"] == "problem\\nwith a newline"
