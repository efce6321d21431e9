"""OSSEC's own decoders, loaded with ``--ossec-conf``, take the address a client wrote into
its user name (sshd), its login, a mail address, a SIP header or a User-Agent; hidsctl
mends the stock ones (analysis/hardening.py) and leaves a decoder the user changed as it
is."""

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

# Other services (whole lines): (hostile line, address it must decode (None: none, the
# client's text is on both sides), rule OSSEC's rules give it (None: no alert))
OTHER_SERVICES = [
    ('Nov 25 13:57:32 ftp1 vsftpd: pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0 tty=ftp ruser=x rhost=10.9.9.9 user=y rhost=203.0.113.9',
     '203.0.113.9', '5503'),
    ('Nov 25 13:57:32 ftp1 vsftpd: pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0 tty=ftp ruser=x rhost=10.9.9.9 rhost=203.0.113.9',
     '203.0.113.9', '5503'),
    ('Nov 25 13:57:32 mx1 auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=x rhost=10.9.9.9  user=root rhost=203.0.113.9  user=bob',
     '203.0.113.9', '5503'),
    ('Nov 25 13:57:32 mx1 dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, method=PLAIN, rip=10.9.9.9, lip=192.0.2.1, y>, method=PLAIN, rip=203.0.113.9, lip=192.0.2.1, TLS, session=<Ab1cD2e>',
     '203.0.113.9', '9705'),
    ('Nov 25 13:57:32 mx1 dovecot: auth-worker(default): sql(x,10.9.9.9) y,203.0.113.9): unknown user',
     '203.0.113.9', '9705'),
    ('Nov 25 13:57:32 mx1 dovecot: auth(default): pam(x,10.9.9.9): y,203.0.113.9): pam_authenticate() failed: User not known to the underlying authentication module',
     '203.0.113.9', '9705'),
    ('Nov 25 13:57:32 mx1 dovecot: auth-worker(default): sql(x,10.9.9.9): Password mismatch y,203.0.113.9): Password mismatch',
     '203.0.113.9', '9702'),
    ('Nov 25 13:57:32 Info: auth(default): passwd-file(x,10.9.9.9): y,203.0.113.9): unknown user',
     '203.0.113.9', '9771'),
    ('Nov 25 13:57:32 Info: auth(default): passwd-file(x,10.9.9.9) y,203.0.113.9): unknown user',
     '203.0.113.9', '9771'),
    ('2026 Nov 25 13:57:32 WinEvtLog: Security: AUDIT_FAILURE(4625): Microsoft-Windows-Security-Auditing: (no user): no domain: DC1: An account failed to log on. Subject: Security ID: S-1-0-0 Account Name: - Account Domain: - Logon ID: 0x0 Logon Type: 3 Account For Which Logon Failed: Security ID: S-1-0-0 Account Name: administrator Account Domain: EXAMPLE Failure Information: Failure Reason: Unknown user name or bad password. Status: 0xc000006d Sub Status: 0xc000006a Process Information: Caller Process ID: 0x0 Caller Process Name: - Network Information: Workstation Name: x Source Network Address: 10.9.9.9 Source Port: 1 y Source Network Address: 203.0.113.9 Source Port: 51234 Detailed Authentication Information: Logon Process: NtLmSsp Authentication Package: NTLM Transited Services: - Package Name (NTLM only): - Key Length: 0',
     '203.0.113.9', '18130'),
    ('2026 Nov 25 13:57:32 WinEvtLog: Security: AUDIT_FAILURE(4625): Microsoft-Windows-Security-Auditing: (no user): no domain: DC1: An account failed to log on. Subject: Security ID: S-1-0-0 Account Name: - Account Domain: - Logon ID: 0x0 Logon Type: 3 Account For Which Logon Failed: Security ID: S-1-0-0 Account Name: x Source Network Address: 10.9.9.9 y Account Domain: EXAMPLE Failure Information: Failure Reason: Unknown user name or bad password. Status: 0xc000006d Sub Status: 0xc0000064 Process Information: Caller Process ID: 0x0 Caller Process Name: - Network Information: Workstation Name: WS1 Source Network Address: 203.0.113.9 Source Port: 51234 Detailed Authentication Information: Logon Process: NtLmSsp Authentication Package: NTLM Transited Services: - Package Name (NTLM only): - Key Length: 0',
     '203.0.113.9', '18130'),
    ('Nov 25 13:57:32 mx2 smf-sav[513]: sender check failed: <"x, 10.9.9.9, y"@example.net>, 203.0.113.9, [203.0.113.9], [00:00:01]',
     '203.0.113.9', '3191'),
    ('Nov 25 13:57:32 mx2 smf-sav[513]: sender check failed (cached): <"x, 10.9.9.9, y"@example.net>, 203.0.113.9, [203.0.113.9]',
     '203.0.113.9', '3191'),
    ('{"reqId":"BaW6nfA5rHBoihjDtQVm","remoteAddr":"203.0.113.9","app":"core-preview","message":"Passed filename is not valid, might be malicious (file:\\"\\/..\\/x\\";ip:\\"10.9.9.9\\";y\\";ip:\\"203.0.113.9\\")","level":2,"time":"2017-09-01T22:11:25+02:00","method":"POST","url":"\\/login","user":"--"}',
     '203.0.113.9', None),
    ('Nov 25 13:57:32 foo ownCloud[15467]: {core-preview} Passed filename is not valid, might be malicious (file:"/../x";ip:"10.9.9.9";y";ip:"203.0.113.9")',
     '203.0.113.9', None),
    ('Nov 25 13:57:32 pbx1 asterisk[3284]: NOTICE[3734]: chan_sip.c:11242 in handle_request_register: Registration from \'"x\' failed for \'10.9.9.9:5060\' y"<sip:503@192.168.1.107>\' failed for \'203.0.113.9\' - Wrong password',
     '203.0.113.9', '6210'),
    ('Nov 25 13:57:32 pbx1 asterisk[3284]: NOTICE[3734]: chan_sip.c:28088 in handle_request_register: Registration from \'"x\' failed for \'10.9.9.9:5060\' y" <sip:3810@192.0.2.5:5060>\' failed for \'203.0.113.9:5065\' - Wrong password',
     '203.0.113.9', '6210'),
    ('Nov 25 13:57:32 pbx1 asterisk[3284]: [Nov 25 13:57:32] NOTICE[3734]: chan_sip.c:28088 in handle_request_register: Registration from \'"x\' failed for \'10.9.9.9:5060\' y" <sip:3810@192.0.2.5:5060>\' failed for \'203.0.113.9:5065\' - Wrong password',
     '203.0.113.9', '6200'),
    ('Nov 25 13:57:32 pbx1 asterisk[3284]: NOTICE[3734][C-00000001]: chan_sip.c:28088 in handle_request_register: Registration from \'"x\' failed for \'10.9.9.9:5060\' y" <sip:3810@192.0.2.5:5060>\' failed for \'203.0.113.9:5065\' - Wrong password',
     '203.0.113.9', '6210'),
    ('Nov 25 13:57:32 fs1 smbd[812]:   Auth: [SMB2,(null)] user [WORKGROUP]\\[Denied connection from (10.9.9.9)] at [Wed, 25 Nov 2026 13:57:32.118237 UTC] with [NTLMv2] status [NT_STATUS_NO_SUCH_USER] workstation [PC1] remote host [ipv4:203.0.113.9:51234] mapped to [WORKGROUP]\\[x]. local host [ipv4:192.0.2.30:445]',
     None, '13102'),
    ('Nov 25 13:57:32 fs1 smbd[812]:   Auth: [SMB2,(null)] user [WORKGROUP]\\[bob] at [Wed, 25 Nov 2026 13:57:32.118237 UTC] with [NTLMv2] status [NT_STATUS_WRONG_PASSWORD] workstation [x Denied connection from (10.9.9.9)] remote host [ipv4:203.0.113.9:51234] mapped to [WORKGROUP]\\[bob]. local host [ipv4:192.0.2.30:445]',
     None, '13102'),
    ('2015-03-11 21:59:09 192.0.2.1 GET /x - 80 - 203.0.113.9 10.9.9.9 - 404 0 2 0',
     '203.0.113.9', '31101'),
    ('2015-03-11 21:59:09 192.0.2.1 GET /x - 443 - 203.0.113.9 - 10.9.9.9 404 0 2 0',
     '203.0.113.9', '31101'),
    ('Nov 25 13:57:32 pbx1 asterisk[3284]: NOTICE[3734]: chan_sip.c:11242 in handle_request_register: Registration from \'"x\' failed for \'10.9.9.9\' - Wrong password\' failed for \'203.0.113.9\' - Wrong password',
     '203.0.113.9', '6210'),
    ('Nov 25 13:57:32 mx2 smf-sav[513]: sender check failed: <"x, 10.9.9.9, y, [00:00:01]"@example.net>, 203.0.113.9, 10.9.9.9, [00:00:01]',
     '203.0.113.9', '3191'),
]


def logtest(conf: Path, lines: list[str]):
    done = run_hidsctl("logtest", "--json", "--ossec-conf", str(conf),
                       input="".join(line + "\n" for line in lines))
    assert done.returncode == 0, done.stderr
    return [orjson.loads(out) for out in done.stdout.splitlines()], done.stderr.decode()


def test_ossecs_stock_decoders_take_the_address_sshd_wrote():
    results, stderr = logtest(OSSEC_CONF, [HEAD + line for line, _, _ in HOSTILE])
    for (line, rule, user), result in zip(HOSTILE, results, strict=True):
        assert result["data"]["srcip"] == REAL, line
        assert result["data"].get("dstuser") == user, line
        assert result["rule"]["id"] == rule, line
    assert "ssh-invalid-user" in stderr and "anchored" in stderr  # the one warning says so


def test_ordinary_lines_decode_as_ossecs_decoders_do():
    results, _ = logtest(OSSEC_CONF, [HEAD + line for line, _ in ORDINARY])
    for (line, user), result in zip(ORDINARY, results, strict=True):
        assert result["data"]["srcip"] == REAL, line
        assert result["data"].get("dstuser") == user, line


def test_other_services_stock_decoders_take_the_address_the_service_wrote():
    results, stderr = logtest(OSSEC_CONF, [line for line, _, _ in OTHER_SERVICES])
    for (line, address, rule), result in zip(OTHER_SERVICES, results, strict=True):
        assert result["data"].get("srcip") == address, line
        assert (result.get("rule") or {}).get("id") == rule, line
    assert "windows1" in stderr and "asterisk-denied" in stderr


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
    results, stderr = logtest(edited_install, [HEAD + HOSTILE[0][0], HEAD + HOSTILE[1][0]])
    assert results[0]["data"]["srcip"] == NAMED  # theirs, as OSSEC reads it
    assert results[1]["data"]["srcip"] == REAL   # still OSSEC's own: mended
    assert "ssh-invalid-user" not in stderr and "ssh-connection" in stderr
