"""hidsctl scan: file integrity, end to end with the real command over real files."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import invoke_hidsctl, root_only, run_hidsctl


def scan(state: Path, *args: str, ok: bool = True) -> list[dict]:
    proc = run_hidsctl("scan", "--state-dir", str(state), *map(str, args))
    if ok:
        assert proc.returncode == 0, proc.stderr.decode()
    scan.last = proc  # type: ignore[attr-defined]
    return [json.loads(line) for line in proc.stdout.splitlines()]


def by_path(found: list[dict]) -> dict[str, dict]:
    return {r["path"]: r for r in found}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.conf").write_text("alpha\n")
    (root / "sub" / "b.conf").write_text("bravo\n")
    (root / "sub" / "deeper" / "c.conf").write_text("charlie\n")
    return root


def test_first_scan_is_the_baseline_then_changes_are_reported(tmp_path, tree):
    state = tmp_path / "state"
    assert scan(state, tree) == []
    (tree / "new.conf").write_text("new\n")
    (tree / "sub" / "b.conf").unlink()
    stamp = (tree / "a.conf").stat().st_mtime_ns
    with open(tree / "a.conf", "a") as handle:
        handle.write("more\n")
    os.utime(tree / "a.conf", ns=(stamp, stamp))
    found = by_path(scan(state, tree))
    assert set(found) == {str(tree / "new.conf"), str(tree / "sub" / "b.conf"), str(tree / "a.conf")}
    added = found[str(tree / "new.conf")]
    assert added["type"] == "syscheck" and added["event"] == "added" and "old" not in added
    assert added["new"]["size"] == 4 and added["new"]["mode"] == "100644"
    assert isinstance(added["new"]["mtime"], int) and isinstance(added["new"]["inode"], int)
    deleted = found[str(tree / "sub" / "b.conf")]
    assert deleted["event"] == "deleted" and "new" not in deleted and deleted["old"]["size"] == 6
    modified = found[str(tree / "a.conf")]
    assert modified["event"] == "modified"
    assert modified["changed"] == ["size", "sha256"]
    assert modified["old"]["size"] == 6 and modified["new"]["size"] == 11
    assert modified["old"]["sha256"] != modified["new"]["sha256"]
    assert modified["agent"]["id"] == "000" and modified["timestamp"].endswith("Z")
    assert scan(state, tree) == []  # the baseline moved on


def test_each_attribute_change_is_named(tmp_path, tree):
    state = tmp_path / "state"
    target = tree / "a.conf"
    scan(state, tree)
    stamp = target.stat().st_mtime_ns

    target.chmod(0o600)
    [record] = scan(state, tree)
    assert record["changed"] == ["mode"]
    assert (record["old"]["mode"], record["new"]["mode"]) == ("100644", "100600")

    os.utime(target, ns=(stamp, stamp + 5_000_000_000))
    [record] = scan(state, tree)
    assert record["changed"] == ["mtime"]
    assert record["new"]["mtime"] - record["old"]["mtime"] == 5

    # Same size, same mtime, other content: only the hash tells.
    target.write_text("ALPHA\n")
    os.utime(target, ns=(stamp, stamp + 5_000_000_000))
    [record] = scan(state, tree)
    assert record["changed"] == ["sha256"]

    # Replaced by a copy (editors do this): a new inode, nothing else.
    copy = tree / "a.conf.tmp"
    copy.write_bytes(target.read_bytes())
    copy.chmod(0o600)
    os.utime(copy, ns=(stamp, stamp + 5_000_000_000))
    os.replace(copy, target)
    [record] = scan(state, tree)
    assert record["changed"] == ["inode"]
    assert record["old"]["inode"] != record["new"]["inode"]


@root_only
def test_owner_and_group_changes(tmp_path, tree):
    state = tmp_path / "state"
    scan(state, tree)
    os.chown(tree / "a.conf", 65534, 65534)
    [record] = scan(state, tree)
    assert set(record["changed"]) == {"uid", "uname", "gid", "gname"}
    assert (record["old"]["uid"], record["new"]["uid"]) == (0, 65534)
    assert (record["old"]["gid"], record["new"]["gid"]) == (0, 65534)
    assert record["old"]["uname"] == "root" and record["new"]["uname"] == "nobody"
    assert isinstance(record["new"]["gname"], str)


def test_symlinks_are_recorded_as_links(tmp_path, tree):
    state = tmp_path / "state"
    outside = tmp_path / "outside.txt"
    outside.write_text("not in the tree\n")
    (tree / "link").symlink_to(outside)
    scan(state, tree)
    outside.write_text("changed outside the tree\n")
    assert scan(state, tree) == []  # never followed out of the tree
    (tree / "link").unlink()
    (tree / "link").symlink_to("a.conf")
    [record] = scan(state, tree)
    assert "target" in record["changed"]
    assert (record["old"]["target"], record["new"]["target"]) == (str(outside), "a.conf")


def config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hidsctl.toml"
    path.write_text(text)
    return path


def test_ignore_restrict_recursion_and_checks(tmp_path, tree):
    state = tmp_path / "state"
    (tree / "cache").mkdir()
    (tree / "cache" / "x").write_text("x")
    (tree / "app.log").write_text("log")
    cfg = config_file(tmp_path, f"""
[scan]
ignore = ["{tree}/cache", "r:\\\\.log$"]
directories = [
  {{ path = "{tree}", recursion-level = 1, check-mtime = false }},
]
""")
    scan(state, "--config", cfg)
    (tree / "cache" / "x").write_text("changed")
    (tree / "app.log").write_text("changed")
    (tree / "sub" / "deeper" / "c.conf").write_text("too deep to see")
    os.utime(tree / "a.conf", (1, 1))  # mtime is not checked here
    (tree / "sub" / "b.conf").write_text("level one is seen\n")
    found = by_path(scan(state, "--config", cfg))
    assert list(found) == [str(tree / "sub" / "b.conf")]
    assert "mtime" not in found[str(tree / "sub" / "b.conf")]["changed"]

    restricted = config_file(tmp_path, f"""
[scan]
directories = [{{ path = "{tree}", restrict = "\\\\.conf$" }}]
""")
    state2 = tmp_path / "state2"
    scan(state2, "--config", restricted)
    (tree / "notes.txt").write_text("not a .conf")
    (tree / "extra.conf").write_text("a .conf")
    assert [r["path"] for r in scan(state2, "--config", restricted)] == [str(tree / "extra.conf")]


def test_report_changes_diffs_text_but_not_binary_or_nodiff(tmp_path, tree):
    state = tmp_path / "state"
    (tree / "secret.conf").write_text("password=one\n")
    (tree / "blob.bin").write_bytes(b"\x00\x01binary")
    (tree / "a.conf").write_text("line one\nline two\nline three\n")
    cfg = config_file(tmp_path, f"""
[scan]
nodiff = ["{tree}/secret.conf"]
directories = [{{ path = "{tree}", report-changes = true }}]
""")
    scan(state, "--config", cfg)
    copy = state / "diff" / "local" / str(tree / "a.conf").lstrip("/") / "last-entry.gz"
    assert gzip.decompress(copy.read_bytes()) == b"line one\nline two\nline three\n"
    assert not (state / "diff" / "local" / str(tree / "secret.conf").lstrip("/")).exists()
    (tree / "a.conf").write_text("line one\nline 2\nline three\nline four\n")
    (tree / "secret.conf").write_text("password=two\n")
    (tree / "blob.bin").write_bytes(b"\x00\x02binary")
    found = by_path(scan(state, "--config", cfg))
    diff = found[str(tree / "a.conf")]["diff"]
    assert "-line two\n+line 2\n" in diff and "+line four" in diff
    assert diff.startswith(f"--- {tree / 'a.conf'}")
    assert "diff" not in found[str(tree / "secret.conf")]
    assert "diff" not in found[str(tree / "blob.bin")]
    assert "password" not in json.dumps(found)
    (tree / "a.conf").write_text("line one\n")
    assert by_path(scan(state, "--config", cfg))[str(tree / "a.conf")]["diff"].count("\n-") == 3


def test_odd_files_never_crash_or_go_missing(tmp_path, tree):
    state = tmp_path / "state"
    odd = os.fsencode(tree) + b"/caf\xe9-\xff.conf"
    with open(odd, "wb") as handle:
        handle.write(b"latin-1 name\n")
    os.mkfifo(tree / "fifo")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tree / "sock"))
    try:
        assert scan(state, tree) == []
        with open(odd, "ab") as handle:
            handle.write(b"more\n")
        [record] = scan(state, tree)
        assert record["path"] == f"{tree}/caf\\xe9-\\xff.conf" and record["event"] == "modified"
        os.unlink(odd)
        [record] = scan(state, tree)
        assert record["event"] == "deleted"
    finally:
        server.close()


def test_a_backslash_name_and_a_non_utf8_name_never_show_alike(tmp_path, tree):
    state = tmp_path / "state"
    literal = os.fsencode(tree) + b"/bad\\xff"  # backslash, x, f, f
    raw = os.fsencode(tree) + b"/bad\xff"  # the byte 0xff
    for path, content in ((literal, b"literal\n"), (raw, b"raw byte, longer\n")):
        with open(path, "wb") as handle:
            handle.write(content)
    assert scan(state, tree) == []
    for path in (literal, raw):
        with open(path, "ab") as handle:
            handle.write(b"more\n")
    found = by_path(scan(state, tree))
    shown_literal, shown_raw = f"{tree}/bad\\\\xff", f"{tree}/bad\\xff"
    assert set(found) == {shown_literal, shown_raw}
    assert found[shown_literal]["new"]["size"] == 13 and found[shown_raw]["new"]["size"] == 22
    for shown, size in ((shown_literal, 13), (shown_raw, 22)):  # --query takes what records show
        proc = invoke_hidsctl("scan", "--state-dir", str(state), "--query", shown)
        assert proc.returncode == 0, proc.stderr
        [entry] = [json.loads(line) for line in proc.stdout.splitlines()]
        assert entry["path"] == shown and entry["size"] == size
    os.unlink(raw)
    [record] = scan(state, tree)
    assert record["path"] == shown_raw and record["event"] == "deleted"


@root_only
def test_unreadable_files_and_directories_are_no_false_changes(tmp_path, tree):
    """Run as root without the capabilities that bypass file permissions: an unreadable
    file is reported on stderr and as a notice record, and keeps its entry; a directory that
    cannot be listed any more does not turn its files into 'deleted'."""
    state = tmp_path / "state"
    closed = tree / "closed.conf"
    closed.write_text("nobody may read this\n")
    closed.chmod(0o000)

    def without_dac(*args):
        return subprocess.run(["setpriv", "--bounding-set", "-dac_override,-dac_read_search",
                               sys.executable, "-m", "hidsctl", "scan", "--state-dir", str(state),
                               *map(str, args)], capture_output=True, timeout=60)

    def notices(proc) -> list[tuple]:
        out = [json.loads(line) for line in proc.stdout.splitlines()]
        assert all(r["type"] == "notice" and r["component"] == "scan" for r in out), out
        return [(r["code"], r["location"], r["message"]) for r in out]

    first = without_dac(tree)
    assert first.returncode == 0
    assert f"cannot read {closed}: permission denied" in first.stderr.decode()
    assert notices(first) == [("unreadable", str(closed), f"cannot read {closed}: permission denied")]
    (tree / "sub").chmod(0o000)  # can no longer be listed
    again = without_dac(tree)
    (tree / "sub").chmod(0o755)
    assert again.returncode == 0, again.stderr
    # neither closed.conf nor sub/* reported as changed; both named in notices
    assert sorted(notices(again)) == [
        ("unreadable", str(closed), f"cannot read {closed}: permission denied"),
        ("unreadable", str(tree / "sub"), f"cannot list {tree / 'sub'}: Permission denied")]
    assert f"cannot list {tree / 'sub'}" in again.stderr.decode()
    closed.chmod(0o644)  # readable again: the hash is taken and nothing has changed but mode
    [record] = scan(state, tree)
    assert record["changed"] == ["mode"]


def test_file_vanishing_between_walk_and_hash_is_not_deleted(tmp_path, tree):
    from hidsctl.scan.engine import Scanner
    from hidsctl.scan.settings import DirOptions
    from hidsctl.scan.walk import Root, WalkStats, walk

    state = tmp_path / "state"
    state.mkdir()
    root = Root.of(DirOptions(path=str(tree)))
    emitted: list[dict] = []
    scanner = Scanner(state, emit=emitted.append)
    try:
        scanner.scan([root])
        listed = list(walk(root, frozenset(), WalkStats()))  # the walk saw b.conf ...
        (tree / "sub" / "b.conf").unlink()                  # ... then it vanished

        original = scanner.scan.__globals__["walk"]
        scanner.scan.__globals__["walk"] = lambda *a, **k: iter(listed)
        try:
            scanner.scan([root])
        finally:
            scanner.scan.__globals__["walk"] = original
        assert emitted == []
        assert scanner.baseline.get(os.fsencode(tree / "sub" / "b.conf")) is not None
        scanner.scan([root])  # the next scan settles it
        assert [(r["event"], r["path"]) for r in emitted] == [("deleted", str(tree / "sub" / "b.conf"))]
    finally:
        scanner.close()


def big_tree(tmp_path: Path, count: int) -> Path:
    root = tmp_path / "big"
    for i in range(count // 100):
        part = root / f"d{i:03d}"
        part.mkdir(parents=True)
        for j in range(100):
            (part / f"f{j:03d}").write_text(f"{i} {j}\n")
    return root


def start_blocked_scan(state: Path, root: Path) -> subprocess.Popen:
    """A scan with far more records than a pipe holds, stdout unread: it blocks mid-scan."""
    proc = subprocess.Popen([sys.executable, "-m", "hidsctl", "scan", "--state-dir", str(state),
                             "--threads", "1", str(root)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    assert json.loads(first)["event"] == "modified"
    return proc


@pytest.mark.slow
def test_sigkill_mid_scan_keeps_the_baseline_and_a_second_scan_is_refused(tmp_path):
    state = tmp_path / "state"
    root = big_tree(tmp_path, 2000)
    scan(state, root)
    for path in root.rglob("f*"):
        path.write_text("changed\n")
    proc = start_blocked_scan(state, root)
    try:
        refused = run_hidsctl("scan", "--state-dir", str(state), str(root))
        assert refused.returncode == 1
        assert b"the integrity baseline is in use by another hidsctl process" in refused.stderr
        assert f"(pid {proc.pid})".encode() in refused.stderr
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    conn = sqlite3.connect(state / "syscheck.db")
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    found = scan(state, root)
    assert len(found) == 2000 and {r["event"] for r in found} == {"modified"}
    assert scan(state, root) == []


def test_fast_rescan_hashes_only_what_moved(tmp_path, tree):
    state = tmp_path / "state"
    scan(state, tree)
    target = tree / "a.conf"
    stamp = target.stat().st_mtime_ns
    target.write_text("ALPHA\n")  # same size, mtime put back: only ctime moved
    os.utime(target, ns=(stamp, stamp))
    [record] = scan(state, "--fast", "--verbose", tree)
    assert record["changed"] == ["sha256"]
    assert "(1 hashed" in scan.last.stderr.decode()
    assert scan(state, "--fast", "--verbose", tree) == []
    assert "(0 hashed" in scan.last.stderr.decode()


def test_fast_rescan_reports_every_kind_of_change(tmp_path, tree):
    """--fast compares stamps only, but what moved is reported as a full scan reports it."""
    state = tmp_path / "state"
    (tree / "link").symlink_to("a.conf")
    (tree / "gone.conf").write_text("going\n")
    scan(state, tree)
    assert scan(state, "--fast", "--verbose", tree) == []
    assert "(0 hashed" in scan.last.stderr.decode()  # an unchanged symlink is not looked at
    (tree / "sub" / "b.conf").write_text("bravo, longer\n")
    (tree / "sub" / "deeper" / "c.conf").chmod(0o600)
    (tree / "gone.conf").unlink()
    (tree / "new.conf").write_text("new\n")
    (tree / "link").unlink()
    (tree / "link").symlink_to("sub/b.conf")
    found = by_path(scan(state, "--fast", "--verbose", tree))
    assert "(3 hashed" in scan.last.stderr.decode()  # b.conf, new.conf; c.conf (ctime)
    assert {p: r["event"] for p, r in found.items()} == {
        str(tree / "sub" / "b.conf"): "modified",
        str(tree / "sub" / "deeper" / "c.conf"): "modified",
        str(tree / "gone.conf"): "deleted", str(tree / "new.conf"): "added",
        str(tree / "link"): "modified"}
    assert found[str(tree / "sub" / "b.conf")]["changed"][:1] == ["size"]
    assert "sha256" in found[str(tree / "sub" / "b.conf")]["changed"]
    assert found[str(tree / "sub" / "deeper" / "c.conf")]["changed"] == ["mode"]
    assert found[str(tree / "gone.conf")]["old"]["sha256"] == \
        hashlib.sha256(b"going\n").hexdigest()
    assert found[str(tree / "link")]["new"]["target"] == "sub/b.conf"
    assert scan(state, "--fast", tree) == [] and scan(state, tree) == []
    # A hash the baseline does not hold yet is taken, though nothing moved.
    cfg = config_file(tmp_path, f"""
[scan]
directories = [{{ path = "{tree}", check_md5sum = true }}]
""")
    scan(state, "--fast", "--verbose", "--config", cfg)
    assert "(4 hashed" in scan.last.stderr.decode()
    assert scan(state, "--fast", "--verbose", "--config", cfg) == []
    assert "(0 hashed" in scan.last.stderr.decode()


def reported(found: list[dict]) -> list[dict]:
    """Records as a comparison sees them: by path, without their time and agent."""
    return sorted(({k: v for k, v in r.items() if k not in ("timestamp", "agent")}
                   for r in found), key=lambda r: r["path"])


def test_fast_and_full_rescans_report_alike(tmp_path, tree):
    """--fast compares a stamp of each file's stat with the baseline's; a file it lets
    through is compared as a full scan compares it. Both report the same records."""
    (tree / "link").symlink_to("a.conf")
    (tree / "to-link.conf").write_text("a file\n")
    (tree / "to-file").symlink_to("a.conf")
    (tree / "replaced.conf").write_text("same\n")
    (tree / "gone.conf").write_text("going\n")
    fast, full = tmp_path / "fast", tmp_path / "full"
    scan(fast, tree)
    shutil.copytree(fast, full)
    alpha = tree / "a.conf"
    stamp = alpha.stat().st_mtime_ns
    alpha.write_text("ALPHA\n")  # same size, mtime put back: only ctime moved
    os.utime(alpha, ns=(stamp, stamp))
    (tree / "sub" / "b.conf").write_text("bravo, longer\n")
    (tree / "sub" / "deeper" / "c.conf").chmod(0o600)
    old = (tree / "replaced.conf").stat()
    (tree / "replaced.tmp").write_text("same\n")  # renamed over it: a new inode, all else equal
    os.utime(tree / "replaced.tmp", ns=(old.st_atime_ns, old.st_mtime_ns))
    (tree / "replaced.tmp").replace(tree / "replaced.conf")
    (tree / "link").unlink()
    (tree / "link").symlink_to("sub/b.conf")
    (tree / "to-link.conf").unlink()
    (tree / "to-link.conf").symlink_to("a.conf")
    (tree / "to-file").unlink()
    (tree / "to-file").write_text("now a file\n")
    (tree / "gone.conf").unlink()
    (tree / "new").mkdir()
    (tree / "new" / "d.conf").write_text("delta\n")
    found = reported(scan(fast, "--fast", tree))
    assert found == reported(scan(full, tree))
    names = ["a.conf", "gone.conf", "link", "new/d.conf", "replaced.conf", "sub/b.conf",
             "sub/deeper/c.conf", "to-file", "to-link.conf"]
    assert [r["path"] for r in found] == [str(tree / name) for name in names]
    assert scan(fast, "--fast", tree) == [] and scan(full, tree) == []
    # The baseline holds a hash no longer wanted: --fast takes the others again, and
    # neither scan reports anything.
    md5 = config_file(tmp_path, f"""
[scan]
directories = [{{ path = "{tree}", check_md5sum = true }}]
""")
    assert scan(fast, "--fast", "--config", md5) == [] and scan(full, "--config", md5) == []
    assert scan(fast, "--fast", tree) == [] and scan(full, tree) == []
    assert scan(fast, "--fast", "--verbose", tree) == []
    assert "(0 hashed" in scan.last.stderr.decode()


def test_fast_rescan_of_a_baseline_written_before_stamps(tmp_path, tree):
    """A baseline from before entries kept a stamp gains them when it is opened: --fast
    on it hashes nothing, reports nothing, and sees the next change."""
    state = tmp_path / "state"
    scan(state, tree)
    conn = sqlite3.connect(state / "syscheck.db")
    conn.execute("ALTER TABLE files DROP COLUMN stamp")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    assert scan(state, "--fast", "--verbose", tree) == []
    assert "(0 hashed" in scan.last.stderr.decode()
    (tree / "a.conf").write_text("changed\n")
    [record] = scan(state, "--fast", tree)
    assert record["path"] == str(tree / "a.conf") and "sha256" in record["changed"]


def test_fast_rescan_keeps_what_it_cannot_list(tmp_path, tree):
    """--fast lists directories on its own thread: one it cannot list (root without the
    capabilities that bypass permissions) still turns none of its files into 'deleted'."""
    state = tmp_path / "state"
    scan(state, tree)
    (tree / "sub").chmod(0o000)
    try:
        again = subprocess.run(["setpriv", "--bounding-set", "-dac_override,-dac_read_search",
                                sys.executable, "-m", "hidsctl", "scan", "--fast",
                                "--state-dir", str(state), str(tree)],
                               capture_output=True, timeout=60)
    finally:
        (tree / "sub").chmod(0o755)
    assert again.returncode == 0, again.stderr
    # No 'deleted' for the files it could not see; the unlistable directory is a notice.
    [notice] = [json.loads(line) for line in again.stdout.splitlines()]
    assert (notice["type"], notice["code"]) == ("notice", "unreadable")
    assert notice["location"] == str(tree / "sub")
    assert f"cannot list {tree / 'sub'}" in again.stderr.decode()
    assert scan(state, "--fast", tree) == []


def test_init_and_query(tmp_path, tree):
    state = tmp_path / "state"
    scan(state, tree)
    (tree / "a.conf").write_text("rebuilt\n")
    assert scan(state, "--init", tree) == []
    assert scan(state, tree) == []
    proc = invoke_hidsctl("scan", "--state-dir", str(state), "--query", str(tree / "a.conf"))
    assert proc.returncode == 0
    [entry] = [json.loads(line) for line in proc.stdout.splitlines()]
    assert entry["path"] == str(tree / "a.conf") and entry["size"] == 8
    assert entry["sha256"] == hashlib.sha256(b"rebuilt\n").hexdigest()
    whole = invoke_hidsctl("scan", "--state-dir", str(state), "--query", str(tree))
    assert len(whole.stdout.splitlines()) == 3
    missing = invoke_hidsctl("scan", "--state-dir", str(state), "--query", "/nowhere")
    assert missing.returncode == 1 and b"not in the integrity baseline" in missing.stderr
    # a query scans nothing: options of a scan beside it are refused, not ignored
    mixed = invoke_hidsctl("scan", "--state-dir", str(state), "--query", str(tree), "--fast", str(tree))
    assert mixed.returncode == 2
    assert b"--query takes no PATH..., --fast" in mixed.stderr and mixed.stdout == b""
    alone = invoke_hidsctl("scan", "--state-dir", str(state), "--json", str(tree))
    assert alone.returncode == 2 and b"--json goes with --query" in alone.stderr


def test_md5_and_sha1_on_request(tmp_path, tree):
    state = tmp_path / "state"
    cfg = config_file(tmp_path, f"""
[scan]
directories = [{{ path = "{tree}", check_md5sum = true, check-sha1 = true, check-sha256 = false }}]
""")
    scan(state, "--config", cfg)
    stamp = (tree / "a.conf").stat().st_mtime_ns
    (tree / "a.conf").write_text("changed!\n")
    os.utime(tree / "a.conf", ns=(stamp, stamp))
    [record] = scan(state, "--config", cfg)
    assert record["changed"] == ["size", "sha1", "md5"]
    assert record["new"]["md5"] == hashlib.md5(b"changed!\n").hexdigest()
    assert "sha256" not in record["new"]


def test_config_errors_name_the_key(tmp_path, tree):
    cfg = config_file(tmp_path, f'[scan]\ndirectories = [{{ path = "{tree}", check-everything = true }}]\n')
    proc = run_hidsctl("scan", "--state-dir", str(tmp_path / "s"), "--config", str(cfg))
    assert proc.returncode == 2
    assert b"check_everything" in proc.stderr and b"directories[0]" in proc.stderr
    bad = invoke_hidsctl("scan", "--state-dir", str(tmp_path / "s"), "--every", "soon", str(tree))
    assert bad.returncode == 2 and b"bad interval" in bad.stderr


def test_path_text_round_trips_and_is_unambiguous():
    from hypothesis import given, strategies as st

    from hidsctl.scan import pathtext

    assert pathtext.show(b"/t/bad\\xff") == "/t/bad\\\\xff"
    assert pathtext.show(b"/t/bad\xff") == "/t/bad\\xff"
    assert pathtext.show("/t/café".encode()) == "/t/café"
    assert pathtext.parse("/t/a\\b") == b"/t/a\\b"  # a lone backslash stands for itself
    assert pathtext.show_str(os.fsdecode(b"/t/\xe9")) == "/t/\\xe9"

    @given(st.binary(max_size=40), st.binary(max_size=40))
    def round_trip(path: bytes, other: bytes) -> None:
        assert pathtext.parse(pathtext.show(path)) == path
        if other != path:
            assert pathtext.show(other) != pathtext.show(path)

    round_trip()
