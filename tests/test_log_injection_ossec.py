"""OSSEC's own sshd decoders, loaded with ``--ossec-conf``, take the address a client wrote
into its user name; hidsctl mends the stock ones (analysis/hardening.py) and leaves a
decoder the user changed as it is."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import orjson
import pytest

from conftest import run_hidsctl
from ossec_fixture import OSSEC, OSSEC_CONF, needs_ossec

pytestmark = needs_ossec

REAL, NAMED = "203.0.113.9", "10.9.9.9"
HEAD = "Nov 25 13:57:32 web1 sshd[811]: "

# (line after the syslog header, rule OSSEC's rules give it, user shown whole)
HOSTILE = [
    (f"Invalid user x from {NAMED} port 22 from {REAL} port 51234", "5710", None),
    (f"Connection closed by invalid user x {NAMED} port 22 {REAL} port 51234 [preauth]",
     "5722", f"x {NAMED} port 22"),
    (f"error: maximum authentication attempts exceeded for invalid user x from {NAMED} port "
     f"22 ssh2 from {REAL} port 51234 ssh2 [preauth]", "5710", f"x from {NAMED} port 22 ssh2"),
    (f"User x from {NAMED} not allowed because y from {REAL} not allowed because not listed "
     "in AllowUsers", "5718", f"x from {NAMED} not allowed because y"),
    (f"Failed keyboard-interactive/pam for invalid user x from {NAMED} port 22 ssh2 from "
     f"{REAL} port 51234 ssh2", "5710", f"x from {NAMED} port 22 ssh2"),
    (f"Disconnected from invalid user x {NAMED} port 22 {REAL} port 51234 [preauth]", "5710",
     None),
]

# (line, user) decoded by the mended decoders exactly as OSSEC's decode them
ORDINARY = [
    (f"Invalid user admin from {REAL} port 40022", None),
    (f"Illegal user test from {REAL}", None),
    (f"Connection closed by authenticating user root {REAL} port 22 [preauth]", "root"),
    (f"error: maximum authentication attempts exceeded for root from {REAL} port 22 ssh2 "
     "[preauth]", "root"),
    (f"error: maximum authentication attempts exceeded for invalid user admin from {REAL} "
     "port 22 ssh2 [preauth]", "admin"),
    (f"User bob from {REAL} not allowed because not listed in AllowUsers", "bob"),
    (f"Failed keyboard-interactive/pam for invalid user admin from {REAL} port 22 ssh2",
     "admin"),
    (f"Disconnected from invalid user admin {REAL} port 22 [preauth]", None),
]


def logtest(conf: Path, lines: list[str]):
    done = run_hidsctl("logtest", "--json", "--ossec-conf", str(conf),
                       input="".join(HEAD + line + "\n" for line in lines))
    assert done.returncode == 0, done.stderr
    return [orjson.loads(out) for out in done.stdout.splitlines()], done.stderr.decode()


def test_ossecs_stock_decoders_take_the_address_sshd_wrote():
    results, stderr = logtest(OSSEC_CONF, [line for line, _, _ in HOSTILE])
    for (line, rule, user), result in zip(HOSTILE, results, strict=True):
        assert result["data"]["srcip"] == REAL, line
        assert result["data"].get("dstuser") == user, line
        assert result["rule"]["id"] == rule, line
    assert "ssh-invalid-user" in stderr and "anchored" in stderr  # the one warning says so


def test_ordinary_lines_decode_as_ossecs_decoders_do():
    results, _ = logtest(OSSEC_CONF, [line for line, _ in ORDINARY])
    for (line, user), result in zip(ORDINARY, results, strict=True):
        assert result["data"]["srcip"] == REAL, line
        assert result["data"].get("dstuser") == user, line


@pytest.fixture
def edited_install(tmp_path: Path) -> Path:
    """The fixture with ssh-invalid-user changed by its user (an element added)."""
    root = tmp_path / "ossec"
    shutil.copytree(OSSEC, root, ignore=shutil.ignore_patterns("*.tar.gz", "tests"))
    decoders = root / "decoder.xml"
    text, count = re.subn(r'(<decoder name="ssh-invalid-user">)', r"\1<type>syslog</type>",
                          decoders.read_text())
    assert count == 1
    decoders.write_text(text)
    return root / OSSEC_CONF.name


def test_a_decoder_the_user_changed_is_left_as_it_is(edited_install: Path):
    results, stderr = logtest(edited_install, [HOSTILE[0][0], HOSTILE[1][0]])
    assert results[0]["data"]["srcip"] == NAMED  # theirs, as OSSEC reads it
    assert results[1]["data"]["srcip"] == REAL   # still OSSEC's own: mended
    assert "ssh-invalid-user" not in stderr and "ssh-connection" in stderr
