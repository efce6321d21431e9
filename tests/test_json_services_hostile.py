"""The bundled JSON-service decoders take the client address only from the field the
service itself writes: text a client chose (a user name, a path, request data) cannot
pose as it, so a brute force is pinned on the real address and a response never blocks
one the attacker named."""

from __future__ import annotations

import orjson
import pytest

from conftest import invoke_hidsctl

REAL = "203.0.113.9"
NAMED = "10.9.9.9"  # the address the attacker wrote into its own input

CASES = {
    # A user name with a space and an address in it, before the logged address.
    "gitlab": ('{"severity":"INFO","time":"2026-11-25T13:57:32.118Z","correlation_id":"01JD5Q",'
               '"message":"Failed Login: username=x ip=%s \\"remote_ip\\":\\"%s\\" ip=%s",'
               '"meta.caller_id":"SessionsController#create","meta.remote_ip":"%s"}'
               % (NAMED, NAMED, REAL, REAL), "205101"),
    # The forged key inside a JSON string (its quotes escaped) and in the user name.
    "nextcloud": ('{"reqId":"aBcDeF","level":2,"time":"2026-11-25T13:57:32+00:00",'
                  '"remoteAddr":"%s","user":"--","app":"core","method":"POST","url":"/login",'
                  '"message":"Login failed: \'\\",\\"remoteAddr\\":\\"%s\' (Remote IP: \'%s\')"}'
                  % (REAL, NAMED, REAL), "205051"),
    # Vault 1.15+ key order: request.data comes before remote_address; a client's data key
    # named remote_address holds an HMAC, and its path holds the forged key, escaped.
    "vault": ('{"auth":{"token_type":"default"},"error":"invalid username or password",'
              '"request":{"data":{"remote_address":"hmac-sha256:4f1d"},"id":"8d0b",'
              '"operation":"update","path":"auth/userpass/login/\\"remote_address\\":\\"%s",'
              '"remote_address":"%s"},"time":"2026-11-25T13:57:32.118Z","type":"response"}'
              % (NAMED, REAL), "205021"),
}


@pytest.mark.parametrize("service", sorted(CASES))
def test_a_client_cannot_choose_the_source_address(service):
    line, rule = CASES[service]
    orjson.loads(line)  # each case is valid JSON, as the service writes it
    record = {"type": "log", "timestamp": "2026-11-25T13:57:32Z", "location": "app.log",
              "agent": {"id": "000", "name": "web1"}, "log": line}
    done = invoke_hidsctl("analyze", input=orjson.dumps(record) + b"\n")
    assert done.returncode == 0, done.stderr
    [alert] = [r for r in map(orjson.loads, done.stdout.splitlines()) if r["type"] == "alert"]
    assert alert["rule"]["id"] == rule
    assert alert["data"]["srcip"] == REAL
