"""hidsctl scan against files an intruder shaped: times past 2262 or before 1970, names with
control characters, special files, files that grow while read, terabyte sparse files. No
single file may crash, stall or steer a scan; each case runs the real command where it can."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import root_only, run_hidsctl
from test_scan_realtime import Running, hidsctl as realtime_argv

FUTURE = 10413792000  # 2300-01-01T00:00:00Z: past 2**63 nanoseconds
PAST = -2145916800    # 1902-01-01T00:00:00Z (ext4 keeps times from 1901-12-13 on)
HANG_GUARD = 120      # seconds before a test gives up on a scan (not a timing check)


def scan(state: Path, *args: str | Path) -> list[dict]:
    proc = run_hidsctl("scan", "--state-dir", str(state), *map(str, args), timeout=HANG_GUARD)
    assert proc.returncode == 0, proc.stderr.decode()
    scan.stderr = proc.stderr.decode()  # type: ignore[attr-defined]
    return [json.loads(line) for line in proc.stdout.splitlines()]


def set_mtime(path: Path, seconds: int, nanos: int = 0) -> int:
    """Set and return the file's mtime in ns, as the file system took it (it may clamp)."""
    os.utime(path, ns=(seconds * 10**9 + nanos, seconds * 10**9 + nanos))
    return path.stat().st_mtime_ns


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "plain.conf").write_text("plain\n")
    return root


def stored(state: Path, path: Path) -> dict:
    from hidsctl.scan.baseline import Baseline

    base = Baseline(state)
    try:
        entry = base.get(os.fsencode(path))
    finally:
        base.close()
    assert entry is not None, path
    return entry


@pytest.mark.parametrize("fast", [False, True], ids=["full", "fast"])
def test_a_time_past_2262_is_stored_exactly_and_compared(tmp_path, tree, fast):
    state, odd = tmp_path / "state", tree / "future.conf"
    odd.write_text("from the future\n")
    first = set_mtime(odd, FUTURE, 123456789)
    assert first > 2**63  # the file system keeps it: the case under test
    assert scan(state, tree) == []
    assert stored(state, odd)["mtime_ns"] == first
    flags = ["--fast"] if fast else []
    assert scan(state, *flags, tree) == []  # nothing moved, nothing reported
    later = set_mtime(odd, FUTURE + 86400, 1)
    [record] = scan(state, *flags, tree)
    assert record["event"] == "modified" and record["changed"] == ["mtime"]
    assert (record["old"]["mtime"], record["new"]["mtime"]) == (FUTURE, FUTURE + 86400)
    assert stored(state, odd)["mtime_ns"] == later
    set_mtime(odd, FUTURE + 86400, 2)  # one nanosecond: kept exactly, not reported (seconds)
    assert scan(state, *flags, tree) == []
    assert stored(state, odd)["mtime_ns"] == later + 1
    odd.write_text("changed, longer content\n")
    set_mtime(odd, FUTURE + 86400, 2)
    [record] = scan(state, *flags, tree)
    assert record["changed"] == ["size", "sha256"]
    odd.unlink()
    [record] = scan(state, *flags, tree)
    assert record["event"] == "deleted" and record["old"]["mtime"] == FUTURE + 86400


def test_a_time_before_1970_is_stored_and_shown_in_seconds(tmp_path, tree):
    state, old = tmp_path / "state", tree / "old.conf"
    old.write_text("older than epoch\n")
    first = set_mtime(old, PAST)
    assert first < 0
    assert scan(state, tree) == []
    second = set_mtime(old, PAST + 3600)
    [record] = scan(state, "--fast", tree)
    assert record["changed"] == ["mtime"]
    assert (record["old"]["mtime"], record["new"]["mtime"]) == (first // 10**9, second // 10**9)
    proc = run_hidsctl("scan", "--state-dir", str(state), "--query", str(old))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["mtime"] == second // 10**9


def test_wide_inodes_and_times_round_trip_through_the_baseline(tmp_path):
    """Values no test file system can give (an inode using all 64 bits, as overlayfs makes,
    a time far past 2262) stored and read back exactly, with a stamp no packed one equals."""
    from hidsctl.scan import attributes
    from hidsctl.scan.baseline import Baseline

    entry = attributes.from_stat(os.stat(tmp_path))
    entry.update(mtime_ns=2**70 + 1, ctime_ns=-(2**64), inode=2**64 - 1, sha256="0" * 64)
    base = Baseline(tmp_path)
    try:
        base.write([(b"/wide", entry)], [], 0.0)
        assert base.get(b"/wide") == entry
        assert base.row(b"/wide") == attributes.row_of(entry)
        [(path, row)] = list(base.under(b"/"))
        assert row == attributes.row_of(entry)
        wide = base.stamps(b"/")[b"/wide"]
        assert wide == attributes.stamp_of(entry) and len(wide) > attributes.STAMP.size
    finally:
        base.close()


def test_realtime_reports_a_file_from_the_future(tmp_path, tree):
    run = Running(realtime_argv("--realtime", "--state-dir", tmp_path / "state", tree))
    try:
        run.wait_stderr("watching 1 directories")
        odd = tree / "future.conf"
        odd.write_text("x\n")
        assert run.next_record()["event"] == "added"
        set_mtime(odd, FUTURE)
        record = run.next_record()
        assert record["event"] == "modified" and record["new"]["mtime"] == FUTURE
        (tree / "after.conf").write_text("still watching\n")
        assert run.next_record()["path"] == str(tree / "after.conf")
        assert run.proc.poll() is None
    finally:
        run.stop()


def test_control_characters_in_names_stay_on_one_line(tmp_path, tree):
    state = tmp_path / "state"
    name = b"big\nhidsctl scan: all clear \x1b[0m"
    path = os.fsencode(tree) + b"/" + name
    with open(path, "wb") as handle:
        handle.write(b"x" * 100)
    cfg = tmp_path / "scan.toml"
    cfg.write_text("[scan]\nhash-size-limit = 10\n")
    assert scan(state, "--config", cfg, tree) == []
    shown = f"{tree}/big\\x0ahidsctl scan: all clear \\x1b[0m"
    [line] = scan.stderr.splitlines()  # type: ignore[attr-defined]
    assert shown in line and "not hashed" in line
    with open(path, "ab") as handle:
        handle.write(b"more")
    [record] = scan(state, "--config", cfg, tree)
    assert record["path"] == shown and record["changed"][0] == "size"
    proc = run_hidsctl("scan", "--state-dir", str(state), "--query", shown)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["size"] == 104


@root_only
def test_device_fifo_and_socket_nodes_are_skipped_without_opening(tmp_path, tree):
    state = tmp_path / "state"
    os.mkfifo(tree / "fifo")
    os.mknod(tree / "null", 0o600 | 0o020000, os.makedev(1, 3))
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tree / "sock"))
    (tree / "to-fifo").symlink_to(tree / "fifo")
    cfg = tmp_path / "scan.toml"
    cfg.write_text(textwrap.dedent(f"""\
        [scan]
        directories = [{{ path = "{tree}", follow-symlinks = true, report-changes = true }}]
        """))
    try:
        assert scan(state, "--config", cfg) == []
        (tree / "plain.conf").write_text("changed\n")
        [record] = scan(state, "--config", cfg)
        assert record["path"] == str(tree / "plain.conf")
    finally:
        server.close()


def test_a_followed_link_swapped_to_a_device_is_never_opened(tmp_path, monkeypatch):
    """The walk saw a link to a regular file; by the time of hashing it leads to a device
    (here a FIFO and /dev/null stand in for a tape drive). The target is pinned with
    O_PATH and only a regular file is opened for reading."""
    from hidsctl.scan import attributes

    real = tmp_path / "real.conf"
    real.write_text("content\n")
    os.mkfifo(tmp_path / "fifo")
    opened: list[tuple[str, int]] = []
    real_open = os.open

    def recording_open(path, flags, *args):
        fd = real_open(path, flags, *args)
        if not flags & os.O_PATH:
            opened.append((os.readlink(f"/proc/self/fd/{fd}"), flags))
        return fd

    monkeypatch.setattr(attributes.os, "open", recording_open)
    link = tmp_path / "link"
    for device in (tmp_path / "fifo", Path("/dev/null")):
        link.unlink(missing_ok=True)
        link.symlink_to(device)
        digests, st = attributes.hash_file(bytes(link), ("sha256",), follow=True)
        assert digests == {} and not stat.S_ISREG(st.st_mode)
    assert opened == []
    link.unlink()
    link.symlink_to(real)  # a regular target is still read, through its pinned inode
    digests, st = attributes.hash_file(bytes(link), ("sha256",), follow=True)
    assert digests["sha256"] == hashlib.sha256(b"content\n").hexdigest()
    assert [target for target, _ in opened] == [str(real)]


def test_a_copy_for_diffs_never_blocks_on_a_fifo(tmp_path):
    """The report_changes copy is read after the hash: a file swapped for a FIFO (or a link
    to one) in between must not hang the scan. Run apart, so a hang fails, not stalls."""
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to(tmp_path / "fifo")
    code = textwrap.dedent(f"""\
        from pathlib import Path
        from hidsctl.scan.diffs import DiffStore
        store = DiffStore(Path({str(tmp_path)!r}), 1 << 20)
        print(store.read_text_file(b"{tmp_path}/fifo"), store.read_text_file(b"{tmp_path}/link"))
        """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=HANG_GUARD)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [b"None", b"None"]


def test_a_terabyte_sparse_file_is_not_read(tmp_path, tree):
    state, sparse = tmp_path / "state", tree / "sparse.img"
    with open(sparse, "wb") as handle:
        handle.truncate(1 << 40)
    assert scan(state, tree) == []  # the hang guard fails it if the terabyte is read
    assert "larger than hash_size_limit" in scan.stderr  # type: ignore[attr-defined]
    entry = stored(state, sparse)
    assert entry["size"] == 1 << 40 and entry["sha256"] is None
    assert scan(state, "--fast", tree) == [] and scan(state, tree) == []
    assert "hash_size_limit" not in scan.stderr  # type: ignore[attr-defined]  # said once
    mtime = sparse.stat().st_mtime_ns
    with open(sparse, "r+b") as handle:
        handle.truncate(2 << 40)
    os.utime(sparse, ns=(mtime, mtime))
    [record] = scan(state, "--fast", tree)
    assert record["changed"] == ["size"] and "sha256" not in record["new"]


def test_a_file_growing_while_hashed_is_read_a_bounded_amount(tmp_path):
    """A file extended (sparsely, costing no disk) as fast as it can be while hashed: the
    hash ends, reading no more than fstat's size and the limit. Run apart: a hang fails."""
    code = textwrap.dedent(f"""\
        import os, threading
        from hidsctl.scan.attributes import hash_file
        path = {str(tmp_path / "growing")!r}
        with open(path, "wb") as handle:
            handle.write(b"x" * (1 << 20))
        done = threading.Event()
        def grow():
            fd = os.open(path, os.O_WRONLY)
            size = 1 << 20
            while not done.is_set() and size < (1 << 43):
                size += 1 << 30
                os.ftruncate(fd, size)
            os.close(fd)
        threading.Thread(target=grow, daemon=True).start()
        digests, st = hash_file(os.fsencode(path), ("sha256",), limit=64 << 20)
        done.set()
        print(len(digests) <= 1)
        """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=HANG_GUARD)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == b"True"
