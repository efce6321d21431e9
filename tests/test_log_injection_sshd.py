"""A user name is the SSH client's own text, logged before the address sshd writes: a
client that names an address in its user name must not become that address, or an active
response would block whoever the attacker chose (the classic log-injection denial of
service). The bundled sshd decoders take the last address of the line, sshd's own."""

from __future__ import annotations

import orjson

from conftest import run_hidsctl

REAL, NAMED = "203.0.113.9", "10.9.9.9"
HEAD = "Nov 25 13:57:32 web1 sshd[811]: "

# (line after the syslog header, rule it must still reach, user it must show)
CASES = [
    (f"Failed password for invalid user x from {NAMED} port 22 ssh2 from {REAL} port 51234 ssh2",
     "5710", f"x from {NAMED} port 22 ssh2"),
    (f"Failed password for root from {NAMED} port 22 ssh2 from {REAL} port 51234 ssh2",
     "5716", f"root from {NAMED} port 22 ssh2"),
    (f"Invalid user x from {NAMED} port 22 from {REAL} port 51234", "5710",
     f"x from {NAMED} port 22"),
    (f"Connection closed by invalid user x {NAMED} port 22 {REAL} port 51234 [preauth]",
     "200105", f"x {NAMED} port 22"),
    (f"error: maximum authentication attempts exceeded for invalid user x from {NAMED} "
     f"port 22 ssh2 from {REAL} port 51234 ssh2 [preauth]", None, f"x from {NAMED} port 22 ssh2"),
    (f"User x from {NAMED} not allowed because y from {REAL} not allowed because not listed "
     "in AllowUsers", None, f"x from {NAMED} not allowed because y"),
]

# Ordinary lines keep decoding as before.
PLAIN = [
    (f"Failed password for invalid user admin from {REAL} port 40022 ssh2", "admin"),
    (f"Accepted publickey for alice from {REAL} port 51234 ssh2: ED25519-CERT SHA256:q1w2 "
     "ID alice@example (serial 7) CA ED25519 SHA256:e3r4", "alice"),
    (f"Invalid user  from {REAL} port 40022", ""),
]


def decoded(lines: list[str]) -> list[dict]:
    done = run_hidsctl("logtest", "--json", input="".join(HEAD + line + "\n" for line in lines))
    assert done.returncode == 0, done.stderr
    return [orjson.loads(out) for out in done.stdout.splitlines()]


def test_an_address_in_the_user_name_is_not_the_source():
    results = decoded([line for line, _, _ in CASES])
    for (line, rule, user), result in zip(CASES, results, strict=True):
        assert result["data"]["srcip"] == REAL, line
        assert result["data"]["dstuser"] == user, line
        if rule is not None:
            assert result["rule"]["id"] == rule, line


def test_ordinary_lines_decode_as_before():
    for (line, user), result in zip(PLAIN, decoded([line for line, _ in PLAIN]), strict=True):
        assert (result["data"]["srcip"], result["data"].get("dstuser", "")) == (REAL, user), line
