"""Today's open alert files are verified too: each is covered by a running hash chain the
writer extends with every append, so a line changed after it was written fails
``hidsctl logs verify`` before the day is ever sealed."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from conftest import invoke_hidsctl, run_hidsctl
from hidsctl.outputs import runchain
from hidsctl.outputs.alertfiles import AlertFiles, verify
from test_alertfiles import FakeClock, alert, day_dir


def today_alerts(count: int) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return "".join(json.dumps(alert(stamp, n)) + "\n" for n in range(1, count + 1))


def open_log(directory: Path) -> Path:
    return (directory / "alerts" / "alerts.log").resolve()


def write_today(directory: Path, count: int = 3) -> Path:
    result = run_hidsctl("logs", "write", "--dir", str(directory), input=today_alerts(count))
    assert result.returncode == 0, result.stderr
    return open_log(directory)


def shown(directory: Path, path: Path) -> str:
    return path.relative_to(directory).as_posix()


def verify_cli(directory: Path):
    return invoke_hidsctl("logs", "verify", "--dir", str(directory))


def test_untouched_open_files_verify_with_a_coverage_statement(tmp_path):
    log = write_today(tmp_path, 3)
    result = verify_cli(tmp_path)
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    lines = len(log.read_text().splitlines())
    assert (f"open {shown(tmp_path, log)}: {lines} lines intact up to its running chain; "
            "lines after the last chain update: 0 not yet covered") in out
    assert "0 sealed files over 0 days intact; 2 open file(s) not sealed yet" in out


def test_an_edited_line_of_todays_file_fails_naming_file_and_line(tmp_path):
    log = write_today(tmp_path, 3)
    text = log.read_text().splitlines(keepends=True)
    edited = next(i for i, line in enumerate(text) if "root (2)" in line)
    text[edited] = text[edited].replace("203.0.113.9", "198.51.100.1").replace("root", "toor")
    log.write_text("".join(text))
    result = verify_cli(tmp_path)
    assert result.returncode == 1
    out, err = result.stdout.decode(), result.stderr.decode()
    # the record holding the edit: from its "** Alert" line to the line before the next
    first = max(i for i, line in enumerate(text[:edited + 1]) if line.startswith("** Alert"))
    last = next(i for i, line in enumerate(text) if i > edited and line.startswith("** Alert"))
    assert f"modified: {shown(tmp_path, log)} lines {first + 1}-{last} (one record)" in out
    assert shown(tmp_path, log) in err and "modified" in err
    # the json file is untouched and still said to be intact
    assert f"open {shown(tmp_path, log.with_suffix('.json'))}: 3 lines intact" in out


def test_truncated_and_unchained_open_files_fail(tmp_path):
    log = write_today(tmp_path, 2)
    data = log.read_bytes()
    log.write_bytes(data[: len(data) // 2])
    result = verify_cli(tmp_path)
    assert result.returncode == 1 and b"truncated: " + shown(tmp_path, log).encode() in result.stdout
    log.write_bytes(data)
    assert verify_cli(tmp_path).returncode == 0
    runchain.sidecar(log).unlink()
    result = verify_cli(tmp_path)
    assert result.returncode == 1 and b"unchained: " + shown(tmp_path, log).encode() in result.stdout


def test_lines_after_the_last_chain_update_are_counted_not_failed(tmp_path):
    log = write_today(tmp_path, 1)
    with open(log, "a") as handle:  # as a writer would leave it, crashed before its chain entry
        handle.write("** Alert 1.9: - extra\nsecond line\n")
    result = verify_cli(tmp_path)
    assert result.returncode == 0
    assert b"lines after the last chain update: 2 not yet covered" in result.stdout
    # the next writer takes those lines in, and covers what it appends
    write_today(tmp_path, 1)
    result = verify_cli(tmp_path)
    assert result.returncode == 0, result.stdout
    assert b"lines after the last chain update: 0 not yet covered" in result.stdout


def test_a_torn_chain_entry_is_dropped_on_restart(tmp_path):
    log = write_today(tmp_path, 1)
    with open(runchain.sidecar(log), "ab") as handle:
        handle.write(b"99999 deadbeef")  # a crash in the middle of an entry
    assert verify_cli(tmp_path).returncode == 0  # a torn entry is not an entry yet
    write_today(tmp_path, 2)
    assert verify_cli(tmp_path).returncode == 0


def test_the_chain_never_runs_ahead_of_flushed_data(tmp_path):
    clock = FakeClock("2026-11-20T12:00:00")
    files = AlertFiles(tmp_path, now=clock)
    try:
        for n in range(200):  # more than one buffer of data
            files.handle(alert("2026-11-20T10:00:00.000Z", n))
        log = day_dir(tmp_path) / "ossec-alerts-20.log"
        # nothing flushed yet by the writer: whatever reached the disk is never "truncated"
        result = verify(tmp_path)
        assert result.problems == []
        files.tick()
        result = verify(tmp_path)
        assert result.problems == [] and {f.uncovered for f in result.open_files} == {0}
        assert log.exists()
    finally:
        files.close()


def test_a_day_changed_while_open_is_sealed_with_a_warning_and_its_chain_removed(tmp_path, capsys):
    clock = FakeClock("2026-11-20T12:00:00")
    files = AlertFiles(tmp_path, now=clock)
    files.handle(alert("2026-11-20T10:00:00.000Z", 1))
    files.handle(alert("2026-11-20T10:00:01.000Z", 2))
    files.tick()
    log = day_dir(tmp_path) / "ossec-alerts-20.log"
    text = log.read_text()
    second = text.splitlines().index(next(line for line in text.splitlines()[1:]
                                          if line.startswith("** Alert"))) + 1
    log.write_text(text.replace("root (2)", "toor (2)"))
    clock.set("2026-11-21T00:00:01")
    files.tick()
    files.close()
    err = capsys.readouterr().err
    assert f"2026/Nov/ossec-alerts-20.log: line {second}: modified before sealing" in err
    assert (day_dir(tmp_path) / "ossec-alerts-20.log.gz").exists()
    assert not list(day_dir(tmp_path).glob(".*.chain"))
    assert verify(tmp_path).problems == []


def test_running_chain_unit_links_every_append():
    assert runchain.link(runchain.start("a"), b"x") != runchain.link(runchain.start("b"), b"x")
    assert len(runchain.start("a")) == runchain.WIDTH
