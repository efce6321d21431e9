"""hidsctl scan --realtime and --every: a real long-running process, real inotify."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import root_only

WAIT = 20  # seconds before a test gives up on a record (a hang guard, not a timing check)


class Running:
    """A ``hidsctl scan`` process whose stdout records and stderr lines are read as they come."""

    def __init__(self, argv: list[str]):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.records: queue.Queue = queue.Queue()
        self.errors: queue.Queue = queue.Queue()
        self.stderr_seen: list[str] = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.records), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.errors), daemon=True).start()

    @staticmethod
    def _pump(stream, into: queue.Queue) -> None:
        for line in stream:
            into.put(line.decode())

    def wait_stderr(self, text: str) -> str:
        while True:
            try:
                line = self.errors.get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError(f"no {text!r} on stderr; saw {self.stderr_seen}") from None
            self.stderr_seen.append(line)
            if text in line:
                return line

    def next_record(self) -> dict:
        return json.loads(self.records.get(timeout=WAIT))

    def no_more_records(self) -> bool:
        return self.records.empty()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def hidsctl(*args) -> list[str]:
    return [sys.executable, "-m", "hidsctl", "scan", *map(str, args)]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "watched"
    (root / "sub").mkdir(parents=True)
    (root / "a.conf").write_text("alpha\n")
    return root


def test_realtime_reports_create_write_chmod_rename_delete(tmp_path, tree):
    run = Running(hidsctl("--realtime", "--state-dir", tmp_path / "state", tree))
    try:
        run.wait_stderr("watching 2 directories")

        (tree / "new.conf").write_text("created\n")
        record = run.next_record()
        assert (record["event"], record["path"]) == ("added", str(tree / "new.conf"))

        with open(tree / "a.conf", "a") as handle:
            handle.write("written\n")
        record = run.next_record()
        assert (record["event"], record["path"]) == ("modified", str(tree / "a.conf"))
        assert {"size", "sha256"} <= set(record["changed"])

        (tree / "a.conf").chmod(0o640)
        record = run.next_record()
        assert record["changed"] == ["mode"] and record["new"]["mode"] == "100640"

        os.rename(tree / "a.conf", tree / "sub" / "renamed.conf")
        moved = {(r["event"], r["path"]) for r in (run.next_record(), run.next_record())}
        assert moved == {("deleted", str(tree / "a.conf")), ("added", str(tree / "sub" / "renamed.conf"))}

        (tree / "new.conf").unlink()
        record = run.next_record()
        assert (record["event"], record["path"]) == ("deleted", str(tree / "new.conf"))

        # A new subdirectory is watched too, files made in it at once included.
        (tree / "fresh" / "deep").mkdir(parents=True)
        (tree / "fresh" / "deep" / "f.conf").write_text("in a new directory\n")
        record = run.next_record()
        assert (record["event"], record["path"]) == ("added", str(tree / "fresh" / "deep" / "f.conf"))
        (tree / "fresh" / "deep" / "f.conf").write_text("changed in a new directory\n")
        record = run.next_record()
        assert (record["event"], record["path"]) == ("modified", str(tree / "fresh" / "deep" / "f.conf"))
    finally:
        run.stop()
    assert run.no_more_records()
    # The baseline kept up: a one-shot scan now has nothing to say.
    check = subprocess.run(hidsctl("--state-dir", tmp_path / "state", tree), capture_output=True)
    assert check.returncode == 0 and check.stdout == b"", check.stdout.decode()


@root_only
def test_watch_limit_falls_back_to_periodic_scans(tmp_path, tree):
    """In a user namespace of our own, allow 2 inotify watches for 4 directories."""
    for name in ("one", "two"):
        (tree / name).mkdir()
    script = ("echo 2 > /proc/sys/user/max_inotify_watches && exec \"$@\"")
    run = Running(["unshare", "--user", "--map-root-user", "sh", "-c", script, "sh",
                   *hidsctl("--realtime", "--every", "1s", "--state-dir", tmp_path / "state", tree)])
    try:
        warning = run.wait_stderr("watch limit")
        assert "falling back to a full scan every 1s" in warning
        (tree / "two" / "late.conf").write_text("seen by a periodic scan\n")
        record = run.next_record()
        assert (record["event"], record["path"]) == ("added", str(tree / "two" / "late.conf"))
    finally:
        run.stop()


def test_every_repeats_full_scans(tmp_path, tree):
    run = Running(hidsctl("--every", "1s", "--verbose", "--state-dir", tmp_path / "state", tree))
    try:
        run.wait_stderr("hidsctl scan: 1 files")  # the baseline
        (tree / "sub" / "later.conf").write_text("x\n")
        record = run.next_record()
        assert (record["event"], record["path"]) == ("added", str(tree / "sub" / "later.conf"))
    finally:
        run.stop()


def test_concurrent_realtime_holds_the_baseline(tmp_path, tree):
    """Realtime for a directory configured with it (no --realtime flag)."""
    cfg = tmp_path / "hidsctl.toml"
    cfg.write_text(f'[scan]\ndirectories = [{{ path = "{tree}", realtime = true }}]\n')
    run = Running(hidsctl("--config", cfg, "--state-dir", tmp_path / "state"))
    try:
        run.wait_stderr("watching")
        second = subprocess.run(hidsctl("--state-dir", tmp_path / "state", tree), capture_output=True)
        assert second.returncode == 1
        assert b"hidsctl: error: the integrity baseline is in use" in second.stderr
    finally:
        run.stop()
