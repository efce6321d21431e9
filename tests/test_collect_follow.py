"""Following files through rotation, truncation, restarts and signals, with the real
``hidsctl collect`` process, real files and real signals; every line is counted."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from collect_support import Follower, append, collect_once, exactly_once


def batch(tag: str, count: int = 20) -> list[str]:
    return [f"{tag} line {i}" for i in range(count)]


@pytest.mark.parametrize("inotify", ["--inotify", "--no-inotify"])
def test_rename_and_recreate_keeps_lines_written_just_before_and_after(
        tmp_path: Path, inotify: str) -> None:
    log = tmp_path / "app.log"
    log.write_text("old content, before collect started\n")
    follower = Follower(tmp_path, inotify, str(log))
    try:
        before, late, new = batch("before"), batch("late"), batch("new")
        append(log, *before)
        os.rename(log, tmp_path / "app.log.1")
        # The writer has not reopened yet: these still go to the renamed file.
        append(tmp_path / "app.log.1", *late)
        append(log, *new)
        got = follower.wait_for(60)
        exactly_once(before + late + new, [r["log"] for r in got])
        assert all(r["location"] == str(log) for r in got)
    finally:
        assert follower.stop() == 0


def test_copytruncate_reads_lines_written_just_before_from_the_copy(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    follower = Follower(tmp_path, str(log))
    try:
        first = batch("first")
        append(log, *first)
        assert len(follower.wait_for(20)) == 20
        # Written just before rotation: collect may not have read them when the copy is taken.
        follower.proc.send_signal(signal.SIGSTOP)
        just_before = batch("just-before")
        append(log, *just_before)
        shutil.copyfile(log, tmp_path / "app.log.1")
        with open(log, "r+") as handle:
            handle.truncate(0)
        after = batch("after", 3)  # shorter than what was read: the truncation shows in size
        append(log, *after)
        follower.proc.send_signal(signal.SIGCONT)
        got = follower.wait_for(43)
        exactly_once(first + just_before + after, [r["log"] for r in got])
    finally:
        assert follower.stop() == 0


def test_truncated_and_regrown_past_the_offset_is_read_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    follower = Follower(tmp_path, str(log))
    try:
        append(log, "short one")
        follower.wait_for(1)
        follower.proc.send_signal(signal.SIGSTOP)
        log.write_text("rewritten and longer than before\nsecond\n")
        follower.proc.send_signal(signal.SIGCONT)
        got = follower.wait_for(3)
        assert [r["log"] for r in got] == ["short one", "rewritten and longer than before", "second"]
    finally:
        assert follower.stop() == 0


def test_delete_and_recreate(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    follower = Follower(tmp_path, str(log))
    try:
        before, new = batch("before"), batch("new")
        with open(log, "a") as writer:
            writer.write("".join(f"{line}\n" for line in before))
            writer.flush()
            os.unlink(log)
            writer.write("written after the unlink\n")  # still reachable through the old inode
        append(log, *new)
        got = follower.wait_for(41)
        exactly_once(before + ["written after the unlink"] + new, [r["log"] for r in got])
    finally:
        assert follower.stop() == 0


def test_sigkill_and_restart_resume_exactly(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    state = tmp_path / "state"
    expected: list[str] = []
    outputs: list[str] = []
    follower = Follower(tmp_path, str(log), state=state)
    for round_no in range(3):
        lines = batch(f"round{round_no}", 200)
        expected += lines
        seen = len(follower.records())
        append(log, *lines[:100])
        # A partial line at the moment of the kill must be neither split nor lost.
        with open(log, "a") as handle:
            handle.write(lines[100][:5])
        assert len(follower.wait_for(seen + 100)) == seen + 100
        follower.wait_committed(log, log.stat().st_size - 5)  # up to the partial line
        follower.kill()
        outputs += follower.logs()
        with open(log, "a") as handle:
            handle.write(lines[100][5:] + "\n")
        append(log, *lines[101:150])
        if round_no == 1:  # rotated while collect was down: the rest is in app.log.1
            os.rename(log, tmp_path / "app.log.1")
            log.write_text("")
        append(log, *lines[150:])
        follower = Follower(tmp_path, str(log), state=state)
        assert len(follower.wait_for(100)) == 100
    assert follower.stop() == 0
    outputs += follower.logs()
    exactly_once(expected, outputs)


def test_sigterm_flushes_saves_offsets_and_exits_zero(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("before start\n")
    state = tmp_path / "state"
    follower = Follower(tmp_path, str(log), state=state)
    append(log, *batch("a", 50))
    assert len(follower.wait_for(50)) == 50
    assert follower.stop(signal.SIGTERM) == 0
    assert len(follower.records()) == 50
    with sqlite3.connect(state / "collect.db") as db:
        (pos,) = db.execute("SELECT pos FROM files WHERE path = ?", (str(log),)).fetchone()
    assert pos == log.stat().st_size
    append(log, *batch("b", 5))
    out, err, code = collect_once(str(log), "--from-start", state=state)
    assert code == 0, err
    assert [r["log"] for r in out] == batch("b", 5)


def test_new_files_from_start_with_once_from_end_when_following(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("old 1\nold 2\n")
    out, _, _ = collect_once(str(log), state=tmp_path / "s1")
    assert [r["log"] for r in out] == ["old 1", "old 2"]
    out, _, _ = collect_once("--from-end", str(log), state=tmp_path / "s2")
    assert out == []
    append(log, "new 1")
    out, _, _ = collect_once("--from-start", str(log), state=tmp_path / "s2")
    assert [r["log"] for r in out] == ["new 1"], "a file seen before resumes whatever the flags"

    follower = Follower(tmp_path, str(log), state=tmp_path / "s3")
    try:
        append(log, "new 2")
        assert [r["log"] for r in follower.wait_for(1)] == ["new 2"]
    finally:
        follower.stop()
    follower = Follower(tmp_path, "--from-start", str(log), state=tmp_path / "s4")
    try:
        assert [r["log"] for r in follower.wait_for(4)] == ["old 1", "old 2", "new 1", "new 2"]
    finally:
        follower.stop()


def test_glob_picks_up_new_files_from_their_start(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text("existing, before start\n")
    (logs / "skip.txt").write_text("")
    follower = Follower(tmp_path, str(logs / "*.log"))
    try:
        append(logs / "a.log", "a new")
        append(logs / "b.log", "b 1", "b 2")
        append(logs / "skip.txt", "not matched")
        got = follower.wait_for(3)
        assert sorted((Path(r["location"]).name, r["log"]) for r in got) == [
            ("a.log", "a new"), ("b.log", "b 1"), ("b.log", "b 2")]
        (logs / "sub").mkdir()
        append(logs / "sub" / "c.log", "in a subdirectory")
        time.sleep(0.5)
        assert len(follower.records()) == 3
    finally:
        assert follower.stop() == 0


def test_glob_that_matches_the_rotated_name_does_not_read_it_twice(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    log.write_text("")
    follower = Follower(tmp_path, str(logs / "app.log*"))
    try:
        first, late, new = batch("first"), batch("late"), batch("new")
        append(log, *first)
        follower.wait_for(20)
        os.rename(log, logs / "app.log.1")
        append(logs / "app.log.1", *late)
        append(log, *new)
        follower.wait_for(60, timeout=60)
        time.sleep(1.0)  # a second read of app.log.1 would show within a few polls
        exactly_once(first + late + new, follower.logs())
    finally:
        assert follower.stop() == 0


def test_unreadable_file_is_reported_and_the_others_keep_going(tmp_path: Path) -> None:
    from collect_support import drop_read_access

    secret, public = tmp_path / "secret.log", tmp_path / "public.log"
    secret.write_text("hidden\n")
    secret.chmod(0)
    public.write_text("visible\n")
    missing = tmp_path / "missing.log"
    import subprocess
    import sys

    proc = subprocess.run(
        [*drop_read_access(), sys.executable, "-m", "hidsctl", "collect", "--once",
         "--state-dir", str(tmp_path / "state"), str(secret), str(missing), str(public)],
        capture_output=True, timeout=60)
    assert proc.returncode == 1  # two named files gave nothing; the third was still read
    assert [line for line in proc.stdout.splitlines() if b"visible" in line]
    assert b"hidden" not in proc.stdout
    err = proc.stderr.decode()
    assert f"{secret}: cannot read: Permission denied" in err
    assert f"{missing}: no such file" in err
    notices = [json.loads(line) for line in proc.stdout.splitlines() if b'"notice"' in line]
    assert [(n["component"], n["code"], n["location"], n["message"]) for n in notices] == \
        [("collect", "unreadable", str(secret), f"{secret}: cannot read: Permission denied")]


def test_multi_line_entry_held_at_sigkill_is_written_whole_after_restart(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    state = tmp_path / "state"
    args = ["--format", "multi-line-regex", "--multiline-regex", "^START", "--multiline-timeout",
            "30", str(log)]
    follower = Follower(tmp_path, *args, state=state)
    append(log, "START one", "  a", "START two", "  b")
    assert [r["log"] for r in follower.wait_for(1)] == ["START one\n  a"]
    follower.wait_committed(log, len("START one\n  a\n"))
    follower.kill()  # "START two" is held, waiting for its end: its offset was not saved
    append(log, "  c", "START three")
    follower = Follower(tmp_path, *args, state=state)
    try:
        assert [r["log"] for r in follower.wait_for(1)] == ["START two\n  b\n  c"]
    finally:
        assert follower.stop() == 0
    out, err, code = collect_once(*args[:-3], str(log), state=state)
    assert [r["log"] for r in out] == ["START three"]


def test_rotated_while_stopped_under_a_name_the_glob_matches(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    state = tmp_path / "state"
    first, late, new = batch("first"), batch("late"), batch("new")
    log.write_text("".join(f"{line}\n" for line in first))
    out, err, code = collect_once(str(logs / "app.log*"), state=state)
    assert [r["log"] for r in out] == first, err
    append(log, *late)
    os.rename(log, logs / "app.log.1")
    append(log, *new)
    out, err, code = collect_once(str(logs / "app.log*"), state=state)
    assert code == 0, err
    exactly_once(late + new, [r["log"] for r in out])
