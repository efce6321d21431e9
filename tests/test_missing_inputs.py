"""Mistakes on the command line are said, not passed over with exit 0: a missing file for
``collect --once`` or ``scan``, a glob that matches nothing, plain text piped into
``analyze``."""

from __future__ import annotations

import json
from pathlib import Path

from collect_support import Follower, append, collect_once
from conftest import run_hidsctl
from transport_support import wait_for


def test_collect_once_names_a_missing_file_and_exits_1(tmp_path: Path) -> None:
    present = tmp_path / "app.log"
    present.write_text("one\n")
    missing = tmp_path / "no" / "such.log"
    out, err, code = collect_once(str(missing), str(present), state=tmp_path / "state")
    assert code == 1
    assert f"{missing}: no such file" in err
    assert [r["log"] for r in out] == ["one"]  # the others are still read


def test_collect_once_says_once_that_a_glob_matches_nothing(tmp_path: Path) -> None:
    pattern = str(tmp_path / "nginx" / "*.log")
    out, err, code = collect_once(pattern, state=tmp_path / "state")
    assert code == 1 and out == []
    assert err.count(f"{pattern}: matches no file") == 1


def test_collect_once_glob_with_files_is_quiet(tmp_path: Path) -> None:
    (tmp_path / "nginx").mkdir()
    (tmp_path / "nginx" / "access.log").write_text("GET /\n")
    out, err, code = collect_once(str(tmp_path / "nginx" / "*.log"), state=tmp_path / "state")
    assert code == 0 and err == ""
    assert [r["log"] for r in out] == ["GET /"]


def test_following_a_glob_that_matches_nothing_yet_warns_and_waits(tmp_path: Path) -> None:
    pattern = str(tmp_path / "nginx" / "*.log")
    follower = Follower(tmp_path, pattern)
    try:
        wait_for(lambda: "matches no file yet" in follower.stderr(), 15, "the warning")
        (tmp_path / "nginx").mkdir()
        append(tmp_path / "nginx" / "access.log", "GET /late")
        assert [r["log"] for r in follower.wait_for(1)] == ["GET /late"]
        assert follower.stderr().count("matches no file") == 1
    finally:
        assert follower.stop() == 0


def test_scan_names_a_missing_path_and_exits_1(tmp_path: Path) -> None:
    present = tmp_path / "etc"
    present.mkdir()
    (present / "hosts").write_text("127.0.0.1 localhost\n")
    missing = tmp_path / "does" / "not" / "exist"
    result = run_hidsctl("scan", "--state-dir", str(tmp_path / "state"), str(missing),
                         str(present))
    assert result.returncode == 1
    assert result.stderr.decode().count(f"{missing}: no such file or directory") == 1
    again = run_hidsctl("scan", "--state-dir", str(tmp_path / "state"), str(present))
    assert again.returncode == 0, again.stderr.decode()


def test_scan_of_a_removed_directory_the_baseline_knows_reports_deletions(tmp_path: Path) -> None:
    watched = tmp_path / "conf"
    watched.mkdir()
    (watched / "app.conf").write_text("x=1\n")
    state = str(tmp_path / "state")
    assert run_hidsctl("scan", "--state-dir", state, str(watched)).returncode == 0
    (watched / "app.conf").unlink()
    watched.rmdir()
    result = run_hidsctl("scan", "--state-dir", state, str(watched))
    assert result.returncode == 0, result.stderr.decode()
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["path"], r["event"]) for r in records] == [(str(watched / "app.conf"), "deleted")]


def test_plain_text_into_analyze_gets_one_hint(tmp_path: Path) -> None:
    lines = "".join(f"Nov 25 13:50:{n:02d} web1 sshd[811]: Failed password for root\n"
                    for n in range(3))
    for workers in ("1", "2"):
        result = run_hidsctl("analyze", "--workers", workers, input=lines)
        assert result.returncode == 0
        err = result.stderr.decode().splitlines()
        assert [e for e in err if "not valid JSON" in e] == [
            f"line {n}: not valid JSON (unexpected character, expected a JSON value)"
            for n in (1, 2, 3)]
        hints = [e for e in err if "hint:" in e]
        assert len(hints) == 1 and "hidsctl collect FILE | hidsctl analyze" in hints[0]
        assert err.index(hints[0]) == 1  # right after the first such line


def test_good_records_get_no_hint_and_bad_ones_one() -> None:
    record = json.dumps({"type": "log", "location": "x", "log": "hello"}) + "\n"
    assert b"hint:" not in run_hidsctl("analyze", input=record * 3).stderr
    result = run_hidsctl("analyze", input=record + '{"type": "log", "log":\n' + "x\n" + record)
    assert b"line 2: not valid JSON" in result.stderr and b"line 3: not valid JSON" in result.stderr
    # a broken JSON line gets the hint too: it says what analyze reads, once
    assert result.stderr.count(b"hint:") == 1
