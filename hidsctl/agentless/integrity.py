"""Integrity of a remote host's files, read with the remote's own tools (find, stat and a
checksum tool: sha256, else sha1, else md5) and compared with the baseline kept here."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any, Iterable

from hidsctl import records
from hidsctl.diagnostics import logger
from hidsctl.agentless import ssh
from hidsctl.agentless.settings import INTEGRITY_TYPES, Host
from hidsctl.agentless.store import Store

log = logger("agentless")

# Per file: size, mode, uid, gid, user, group, mtime, inode, path. GNU find ends each
# entry with NUL, so any file name survives; BSD stat cannot, so its entries end a line.
LINUX_LIST = "find {dirs} -type f -printf '%s\\t%m\\t%U\\t%G\\t%u\\t%g\\t%T@\\t%i\\t%p\\0'"
BSD_LIST = "find {dirs} -type f -exec stat -f '%z%t%p%t%u%t%g%t%Su%t%Sg%t%m%t%i%t%N' {{}} +"

# The first line names the algorithm and output style; checksums follow, one file a line.
HASH_TOOLS = {
    "linux": [("sha256", "sha256sum", "gnu"), ("sha1", "sha1sum", "gnu"), ("md5", "md5sum", "gnu")],
    "bsd": [("sha256", "sha256 -r", "bsd"), ("sha256", "sha256sum", "gnu"),
            ("sha1", "sha1 -r", "bsd"), ("md5", "md5 -r", "bsd")],
}
HASH_ALGORITHMS = ("sha256", "sha1", "md5")


def list_command(flavour: str, directories: Iterable[str]) -> str:
    dirs = " ".join(shlex.quote(d) for d in directories)
    template = LINUX_LIST if flavour == "linux" else BSD_LIST
    return "LC_ALL=C; export LC_ALL; " + template.format(dirs=dirs)


def hash_command(flavour: str, directories: Iterable[str]) -> str:
    dirs = " ".join(shlex.quote(d) for d in directories)
    branches = []
    for algorithm, tool, style in HASH_TOOLS[flavour]:
        program = tool.split()[0]
        branches.append(f"if command -v {program} >/dev/null 2>&1; then "
                        f"echo '{algorithm} {style}'; exec find {dirs} -type f -exec {tool} {{}} +; fi")
    return "LC_ALL=C; export LC_ALL; " + "; ".join(branches) + "; echo 'none none'"


def parse_listing(output: bytes, flavour: str) -> dict[str, dict]:
    """path -> attributes from the listing command's output; malformed entries are skipped."""
    separator = b"\0" if flavour == "linux" else b"\n"
    files = {}
    for entry in output.split(separator):
        fields = entry.decode("utf-8", "replace").split("\t", 8)
        if len(fields) != 9:
            continue
        size, mode, uid, gid, uname, gname, mtime, inode, path = fields
        try:
            files[path] = {
                "size": int(size), "mode": _mode(mode), "uid": uid, "gid": gid,
                "uname": uname, "gname": gname, "mtime": int(float(mtime)), "inode": int(inode),
            }
        except ValueError:
            continue
    return files


def _mode(text: str) -> str:
    """Octal mode with the file type, as records carry it: GNU find prints only the
    permission bits (644), BSD stat the whole mode (100644)."""
    value = int(text, 8)
    if value < 0o10000:
        value |= 0o100000
    return f"{value:o}"


GNU_LINE = re.compile(r"^(\\?)([0-9a-fA-F]+) [ *](.*)$", re.S)
BSD_LINE = re.compile(r"^([0-9a-fA-F]+) (.*)$", re.S)


def parse_hashes(output: bytes) -> tuple[str | None, dict[str, str]]:
    """(algorithm or None, path -> checksum) from the checksum command's output."""
    lines = output.decode("utf-8", "replace").split("\n")
    algorithm, _, style = lines[0].partition(" ")
    if algorithm not in HASH_ALGORITHMS:
        return None, {}
    hashes = {}
    for line in lines[1:]:
        if style == "gnu":
            found = GNU_LINE.match(line)
            if not found:
                continue
            escaped, digest, path = found.groups()
            if escaped:  # GNU tools escape a name holding a newline or a backslash
                path = path.replace("\\\\", "\0").replace("\\n", "\n").replace("\0", "\\")
        else:
            found = BSD_LINE.match(line)
            if not found:
                continue
            digest, path = found.groups()
        hashes[path] = digest.lower()
    return algorithm, hashes


def scan(session: ssh.Session, host: Host) -> dict[str, dict]:
    """Every file under the host's directories with its attributes and checksum."""
    flavour = INTEGRITY_TYPES[host.type]
    status, listing, errors = ssh.run(session, list_command(flavour, host.directories), host.timeout)
    if status != 0:
        _report_stderr(host, errors, "listing files")
    files = parse_listing(listing, flavour)
    status, hashed, errors = ssh.run(session, hash_command(flavour, host.directories), host.timeout)
    algorithm, hashes = parse_hashes(hashed)
    if algorithm is None:
        log.warning(f"{host.target}: no sha256, sha1 or md5 tool; comparing attributes only")
    for path, digest in hashes.items():
        if path in files:
            files[path][algorithm] = digest
    return files


def _report_stderr(host: Host, errors: bytes, what: str) -> None:
    """The remote command's stderr, in one line: its first line and how many more."""
    lines = [line for line in errors.decode("utf-8", "replace").splitlines() if line.strip()]
    if lines:
        more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
        log.warning(f"{host.target}: {what}: {lines[0]}{more}")


@dataclass
class Change:
    event: str  # added, modified, deleted
    path: str
    changed: list[str]
    old: dict | None
    new: dict | None


def compare(old: dict[str, dict], new: dict[str, dict], directories: Iterable[str]) -> list[Change]:
    """Changes from the baseline ``old`` to the listing ``new`` of ``directories``; files
    in the baseline outside those directories are not this check's business."""
    prefixes = tuple(d if d.endswith("/") else d + "/" for d in directories)
    changes = []
    for path in sorted(new):
        if path not in old:
            changes.append(Change("added", path, [], None, new[path]))
            continue
        before, after = old[path], new[path]
        changed = [name for name in records.SYSCHECK_ATTRIBUTES
                   if name in before and name in after and before[name] != after[name]]
        if changed:
            changes.append(Change("modified", path, changed, before, after))
    for path in sorted(old):
        if path not in new and path.startswith(prefixes):
            changes.append(Change("deleted", path, [], old[path], None))
    return changes


def check(session: ssh.Session, host: Host, store: Store, emit) -> None:
    """Scan the host, emit a syscheck record per change, then move the baseline forward.
    Directories never seen before are stored silently: their files are the baseline."""
    current = scan(session, host)
    baseline = store.files(host.key)
    known_dirs = store.baselined(host.key)
    new_dirs = [d for d in host.directories if d not in known_dirs]
    changes = compare(baseline, current, host.directories)
    location = host.location("syscheck")
    reported = []
    for change in changes:
        if change.event == "added" and _under(change.path, new_dirs):
            continue
        reported.append(change)
        fields: dict[str, Any] = {"path": change.path, "event": change.event}
        if change.changed:
            fields["changed"] = change.changed
        if change.old is not None:
            fields["old"] = change.old
        if change.new is not None:
            fields["new"] = change.new
        emit(records.make("syscheck", location=location, **fields))
    if new_dirs:
        count = sum(1 for path in current if _under(path, new_dirs))
        log.info(f"{host.target}: baseline of {count} files stored for {', '.join(new_dirs)}")
    store.update_files(
        host.key,
        {c.path: c.new for c in changes if c.new is not None},
        [c.path for c in changes if c.event == "deleted"],
        host.directories)


def _under(path: str, directories: Iterable[str]) -> bool:
    return any(path.startswith(d.rstrip("/") + "/") for d in directories)
