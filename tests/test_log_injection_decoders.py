"""Text a client chooses (a user name, a path, a Referer, a mail address, a principal) can
imitate the words around an address; a decoder must take the address the server wrote, or
an active response would block whoever the attacker named and a brute force would be pinned
on the wrong host (the log-injection denial of service known from fail2ban and OSSEC).

Each hostile line names 10.9.9.9 in the client's text, before (and sometimes after) the real
203.0.113.9. Where the format pins the real address, the decoder takes it; where the client's
text on both sides makes the line ambiguous, or the line holds no address of the server's at
all, the decoder takes none rather than the named one. The rule still fires either way. Each
ordinary line of the same format keeps its address. (sshd: test_log_injection_sshd.py.)"""

from __future__ import annotations

import orjson
import pytest

from conftest import run_hidsctl

REAL = "203.0.113.9"
NAMED = "10.9.9.9"  # the address the attacker wrote into its own text
SYSLOG = "Nov 25 13:57:32 "
NGINX = "2026/11/25 13:57:32 [error] 812#812: *41 "
VSFTPD = "Wed Nov 25 13:57:32 2026 [pid 4320] "
PG = "2026-11-25 13:57:32.118 UTC [2231] "
SMB_AUTH = ("smbd[812]:   Auth: [SMB2,(null)] user [WORKGROUP]\\[bob] at [Wed, 25 Nov 2026 "
            "13:57:32.118237 UTC] with [NTLMv2] status [NT_STATUS_WRONG_PASSWORD] workstation [{}] "
            "remote host [ipv4:{}:51234] mapped to [WORKGROUP]\\[bob]. local host "
            "[ipv4:192.0.2.30:445]")
FGT = ('date=2026-11-25 time=13:57:32 devname="FGT60F" devid="FGT60FTK22090001" '
       'logid="0100032002" type="event" subtype="system" level="alert" vd="root" '
       'logdesc="Admin login failed" sn="0" user="{}" ui="https({})" method="https" srcip={} '
       'dstip=192.0.2.1 action="login" status="failed" reason="name_invalid"')

KEYCLOAK = ('2026-11-25 13:57:32,118 WARN  [org.keycloak.events] (executor-thread-54) '
            'type="LOGIN_ERROR", realmId="master", realmName="master", clientId="{}", '
            'userId="null", ipAddress="{}", error="user_not_found", username="{}"')

# name: (hostile line, address it must decode (None: no address), rule it must reach,
#        an ordinary line of the same format and its address)
CASES = {
    "junos-sshd": (
        SYSLOG + f"srx1 sshd[812]: SSHD_LOGIN_FAILED: Login failed for user 'x' from host "
        f"'{NAMED}' source {NAMED} y' from host '{REAL}'", REAL, "203853",
        SYSLOG + f"srx1 sshd[812]: SSHD_LOGIN_FAILED: Login failed for user 'admin' from host "
        f"'{REAL}'", REAL),
    "pam-vsftpd-ruser": (
        SYSLOG + "ftp1 vsftpd: pam_unix(vsftpd:auth): authentication failure; logname= uid=0 "
        f"euid=0 tty=ftp ruser=x rhost={NAMED} user=y rhost={REAL} ", REAL, "5503",
        SYSLOG + "web1 sshd[1264]: pam_unix(sshd:auth): authentication failure; logname= uid=0 "
        f"euid=0 tty=ssh ruser= rhost={REAL}  user=root", REAL),
    "kadmind": (
        SYSLOG + "kdc1 kadmind[1240](Notice): Unauthorized request: kadm5_get_principal, x, "
        f"client=y, service=z, addr={NAMED}, y@EXAMPLE.ORG, client=alice@EXAMPLE.ORG, "
        f"service=kadmin/admin@EXAMPLE.ORG, addr={REAL}", REAL, "204133",
        SYSLOG + "kdc1 kadmind[1240](Notice): Request: kadm5_get_principal, alice@EXAMPLE.ORG, "
        "success, client=admin/admin@EXAMPLE.ORG, service=kadmin/admin@EXAMPLE.ORG, "
        f"addr={REAL}, flavor=6", REAL),
    "krb5kdc": (
        SYSLOG + "kdc1 krb5kdc[1234](info): AS_REQ (2 etypes {aes256-cts-hmac-sha1-96(18), "
        f"aes128-cts-hmac-sha1-96(17)}}) {REAL}: CLIENT_NOT_FOUND: x AS_REQ (1 etypes {{18}}) "
        f"{NAMED}: CLIENT_NOT_FOUND: y@EXAMPLE.ORG for krbtgt/EXAMPLE.ORG@EXAMPLE.ORG, Client "
        "not found in Kerberos database", REAL, "204122",
        SYSLOG + f"kdc1 krb5kdc[1234]: AS_REQ (4 etypes {{18 17 16 23}}) {REAL}: PREAUTH_FAILED: "
        "bob@EXAMPLE.ORG for krbtgt/EXAMPLE.ORG@EXAMPLE.ORG, Preauthentication failed", REAL),
    # A BIND names no address: the ACCEPT line of its connection did.
    "slapd-bind": (
        SYSLOG + f'ldap1 slapd[812]: conn=1012 op=0 BIND dn="cn=x ACCEPT from IP={NAMED}:1 '
        ',dc=example,dc=org" method=128', None, "204100",
        SYSLOG + f"ldap1 slapd[812]: conn=1012 fd=15 ACCEPT from IP={REAL}:51234 "
        "(IP=0.0.0.0:389)", REAL),
    # The decoded path before client:, a Referer after it.
    "nginx-error": (
        NGINX + f'open() "/var/www/html/x, client: {NAMED}, server: www.example.com" failed '
        f"(2: No such file or directory), client: {REAL}, server: www.example.com, request: "
        '"GET /x%2C HTTP/1.1", host: "www.example.com", referrer: "http://x/, client: '
        f'{NAMED}, server: www.example.com"', REAL, "31301",
        NGINX + f'user "admin" was not found in "/etc/nginx/.htpasswd", client: {REAL}, server: '
        'www.example.com, request: "GET /admin/ HTTP/1.1", host: "www.example.com"', REAL),
    # A header check quotes the Subject first; the line of a header REJECT has no RCPT reply.
    "postfix-reject-header": (
        SYSLOG + "mx1 postfix/cleanup[2212]: 4F2A81C0A0: reject: header Subject: reject: RCPT "
        f"from x[{NAMED}]: 554 y from unknown[{REAL}]; from=<a@example.net> to=<b@example.com> "
        "proto=ESMTP helo=<mail.example.net>: 5.7.1 Message content rejected", None, "3300",
        SYSLOG + f"mx1 postfix/smtpd[2210]: NOQUEUE: reject: RCPT from unknown[{REAL}]: 554 "
        "5.7.1 <x@example.net>: Relay access denied; from=<a@example.org> to=<x@example.net> "
        "proto=ESMTP helo=<spam>", REAL),
    "postfix-header-check": (
        SYSLOG + "mx1 postfix/cleanup[2212]: 4F2A81C0A0: warning: header Subject: hello from "
        f"x[{NAMED}]; from unknown[{REAL}]; from=<a@example.net> to=<b@example.com> "
        "proto=ESMTP helo=<mail.example.net>", REAL, "3320",
        SYSLOG + f"mx1 postfix/smtpd[2210]: warning: unknown[{REAL}]: SASL LOGIN authentication "
        "failed: UGFzc3dvcmQ6", REAL),
    "vsftpd": (
        VSFTPD + f'[x] FAIL LOGIN: Client "{NAMED}" [y] FAIL LOGIN: Client "::ffff:{REAL}"',
        REAL, "11403",
        VSFTPD + f'[alice] OK UPLOAD: Client "::ffff:{REAL}", "/home/alice/report.pdf", 482113 '
        "bytes, 2311.45Kbyte/sec", REAL),
    # auth_username_chars emptied (any character allowed, as Mailu configures it).
    "dovecot-login": (
        SYSLOG + "mx1 dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): "
        f"user=<x>, method=PLAIN, rip={NAMED}, lip=192.0.2.1, y>, method=PLAIN, rip={REAL}, "
        "lip=192.0.2.1, TLS, session=<Ab1cD2e>", REAL, "9702",
        SYSLOG + "mx1 dovecot: imap-login: Login: user=<alice>, method=PLAIN, "
        f"rip={REAL}, lip=192.0.2.1, mpid=4321, TLS, session=<Xy1aBcD>", REAL),
    "courier": (
        SYSLOG + f"mx3 imapd-ssl: LOGIN FAILED, method=PLAIN, user=x relay={NAMED}, y, "
        f"ip=[{NAMED}], ip=[::ffff:{REAL}]", REAL, "204242",
        SYSLOG + f"mx3 imapd: LOGIN, user=alice, ip=[::ffff:{REAL}], port=[51234], "
        "protocol=IMAP", REAL),
    # With name resolution on the session names a host, and the message quotes the client.
    "pure-ftpd": (
        SYSLOG + "ftp2 pure-ftpd: (?@client.example.net) [WARNING] Authentication failed for "
        f"user [x@{NAMED}) [WARNING] ]", None, "204283",
        SYSLOG + f"ftp2 pure-ftpd: (?@{REAL}) [WARNING] Authentication failed for user [alice]",
        REAL),
    # Only the "connected" event names the client.
    "opensmtpd": (
        SYSLOG + f"mx2 smtpd[812]: 4f2a81c0a00b1c2d smtp authentication user=x address={NAMED} "
        "result=permfail", None, "204320",
        SYSLOG + f"mx2 smtpd[812]: 4f2a81c0a00b1c2d smtp connected address={REAL} "
        "host=client.example.org", REAL),
    "mysql": (
        f"2026-11-25 13:57:32 35 [Warning] Access denied for user 'x'@'{NAMED}' (using "
        f"password: YES) IP address '{NAMED}' '@'{REAL}' (using password: YES)", REAL, "50106",
        f"2026-11-25T13:57:32.123456Z 12 [Note] [MY-010926] [Server] Access denied for user "
        f"'root'@'{REAL}' (using password: YES)", REAL),
    # The user of %u@%d in log_line_prefix is quoted again after the host: ambiguous.
    "postgresql-pg_hba": (
        PG + f'x for host "{NAMED}"@postgres FATAL:  no pg_hba.conf entry for host "{REAL}", '
        f'user "x for host "{NAMED}"", database "postgres", no encryption', None, "203052",
        PG + f'postgres@postgres FATAL:  no pg_hba.conf entry for host "{REAL}", user '
        '"postgres", database "postgres", no encryption', REAL),
    "postgresql-password": (
        PG + f"connection received: host={NAMED} port=1@app FATAL:  password authentication "
        f'failed for user "connection received: host={NAMED} port=1"', None, "50512",
        PG + f"[unknown]@[unknown] LOG:  connection received: host={REAL} port=51234", REAL),
    "samba": (
        SYSLOG + "fs1 " + SMB_AUTH.format(f"x] remote host [ipv4:{NAMED}:445] y", REAL), REAL,
        "203352",
        SYSLOG + "fs1 " + SMB_AUTH.format("PC1", REAL), REAL),
    "cisco-login": (
        SYSLOG + "192.0.2.1 412: *Nov 25 13:57:31.214: %SEC_LOGIN-4-LOGIN_FAILED: Login failed "
        f"[user: x] [Source: {NAMED}] [localport: 22] [y] [Source: {REAL}] [localport: 22] "
        "[Reason: Login Authentication Failed] at 13:57:31 UTC Wed Nov 25 2026", REAL, "4724",
        SYSLOG + "192.0.2.1 412: *Nov 25 13:57:31.214: %SEC_LOGIN-4-LOGIN_FAILED: Login failed "
        f"[user: admin] [Source: {REAL}] [localport: 22] [Reason: Login Authentication Failed] "
        "at 13:57:31 UTC Wed Nov 25 2026", REAL),
    "cisco-ssh": (
        SYSLOG + "192.0.2.1 412: *Nov 25 13:57:31.214: %SSH-5-SSH2_USERAUTH: User 'x' "
        f"authentication for SSH2 Session from {NAMED} (tty = 0) y' authentication for SSH2 "
        f"Session from {REAL} (tty = 0) using crypto cipher 'aes256-ctr', hmac 'hmac-sha2-256' "
        "Failed", REAL, "201507",
        SYSLOG + "192.0.2.1 412: *Nov 25 13:57:31.214: %SSH-5-SSH2_USERAUTH: User 'admin' "
        f"authentication for SSH2 Session from {REAL} (tty = 0) using crypto cipher "
        "'aes256-ctr', hmac 'hmac-sha2-256' Failed", REAL),
    "mikrotik": (
        SYSLOG + f"192.0.2.2 system,error,critical login failure for user x from {NAMED} via "
        f"ssh proto TCP, {NAMED}:1->192.0.2.2:22, from {REAL} via ssh", REAL, "203903",
        SYSLOG + f"192.0.2.2 system,error,critical login failure for user admin from {REAL} "
        "via ssh", REAL),
    "fortigate": (
        SYSLOG + "fw1 " + FGT.format(f"x srcip={NAMED}", REAL, REAL), REAL, "203954",
        SYSLOG + "fw1 " + FGT.format("admin", REAL, REAL), REAL),
    "pfsense": (
        SYSLOG + "pf1 php-fpm[812]: /index.php: webConfigurator authentication error for user "
        f"'x' from: {NAMED} y' from: {REAL}", REAL, "204006",
        SYSLOG + "pf1 php-fpm[812]: /index.php: webConfigurator authentication error for user "
        f"'admin' from: {REAL}", REAL),
    # An EAP failure names the peer's identity only.
    "strongswan": (
        SYSLOG + "vpn1 charon[812]: 13[IKE] <rw-eap|3> EAP method EAP_MSCHAPV2 failed for peer "
        f"x...{NAMED}[y", None, "203254",
        SYSLOG + f"vpn1 charon[812]: 09[NET] received packet: from {REAL}[500] to "
        "192.0.2.1[500] (464 bytes)", REAL),
    # The identity a PSK failure names is whatever the peer claims: its user, not an address.
    "strongswan-psk": (
        SYSLOG + f"vpn1 charon[812]: 07[IKE] tried 1 shared key for 'vpn.example.org' - "
        f"'{NAMED}', but MAC mismatched", None, "203254",
        SYSLOG + f"vpn1 charon[812]: 09[NET] received packet: from {REAL}[500] to "
        "192.0.2.1[500] (464 bytes)", REAL),
    # Keycloak: the client's id before the address, its user name after: two addresses in
    # the line make it ambiguous, and it gets none.
    "keycloak-client-id": (
        KEYCLOAK.format(f"x, ipAddress={NAMED}, error=y", REAL, "alice"), None, "205151",
        KEYCLOAK.format("app", REAL, "alice"), REAL),
    "keycloak-username": (
        KEYCLOAK.format("app", REAL, f"x\", ipAddress=\"{NAMED}\", "), None, "205151",
        KEYCLOAK.format("app", REAL, "bob"), REAL),
    # Proxmox VE and Vaultwarden write the address before the name the client typed.
    "proxmox": (
        SYSLOG + f"pve1 pvedaemon[1234]: authentication failure; rhost=::ffff:{REAL} user=x "
        f"rhost={NAMED} user=y@pve msg=no such user ('x rhost={NAMED} user=y@pve')", REAL,
        "205201",
        SYSLOG + f"pve1 pvedaemon[1234]: authentication failure; rhost=::ffff:{REAL} "
        "user=root@pam msg=Authentication failure", REAL),
    "vaultwarden": (
        "[2026-11-25 13:57:32.118][vaultwarden::api::identity][ERROR] Username or password is "
        f"incorrect. Try again. IP: {REAL}. Username: x. IP: {NAMED}. Username: y.", REAL,
        "205251",
        "[2026-11-25 13:57:32.118][vaultwarden::api::identity][ERROR] Username or password is "
        f"incorrect. Try again. IP: {REAL}. Username: alice@example.org.", REAL),
    "elasticsearch": (
        "[2026-11-25T13:57:32,118][WARN ][o.o.s.a.BackendRegistry  ] [node-1] Authentication "
        f"finally failed for x from {NAMED}:1 remoteAddress=/{NAMED}:1}} from {REAL}:51234",
        REAL, "204772",
        "[2026-11-25T13:57:32,118][WARN ][o.o.s.a.BackendRegistry  ] [node-1] Authentication "
        f"finally failed for admin from {REAL}:51234", REAL),
    "grafana": (
        "logger=context userId=0 orgId=0 uname= t=2026-11-25T13:57:32.118230Z level=info "
        f'msg="Request Completed" method=GET path="/x remote_addr={NAMED} " status=404 '
        f"remote_addr={REAL} time_ms=1 duration=1.2ms size=0 referer= handler=notfound", REAL,
        "204751",
        "logger=context userId=0 orgId=0 uname= t=2026-11-25T13:57:32.118230Z level=info "
        f'msg="Request Completed" method=POST path=/login status=401 remote_addr={REAL} '
        "time_ms=12 duration=12.3ms size=94 referer= handler=/login", REAL),
    "roundcube": (
        f"[25-Nov-2026 13:57:32 +0000]: <fpqo3kar> Failed login for x from {NAMED} in session "
        f"y (error: 0) from {REAL} in session fpqo3kar (error: 0)", REAL, "204801",
        f"[25-Nov-2026 13:57:32 +0000]: <fpqo3kar> Failed login for alice from {REAL} in "
        "session fpqo3kar (error: 0)", REAL),
    "roundcube-imap": (
        "[25-Nov-2026 13:57:32 +0000]: <fpqo3kar> IMAP Error: Login failed for x against y "
        f"from {NAMED}. z against localhost from {REAL}. AUTHENTICATE PLAIN: Authentication "
        "failed. in /usr/share/roundcube/program/lib/Roundcube/rcube_imap.php on line 211 "
        "(POST /?_task=login&_action=login)", REAL + ".", "204804",
        "[25-Nov-2026 13:57:32 +0000]: <fpqo3kar> IMAP Error: Login failed for alice against "
        f"localhost from {REAL}. AUTHENTICATE PLAIN: Authentication failed. in "
        "/usr/share/roundcube/program/lib/Roundcube/rcube_imap.php on line 211 (POST "
        "/?_task=login&_action=login)", REAL + "."),
    # The recipient of a ruleset line is quoted before relay= and again in the reply after it.
    "sendmail-ruleset": (
        SYSLOG + 'mx2 sm-mta[2231]: 5APDvW1x002231: ruleset=check_rcpt, arg1=<"x, '
        f'relay=[{NAMED}], y"@other.example>, relay=host.example.net [{REAL}], reject=550 5.7.1 '
        f'<"x, relay=[{NAMED}], y"@other.example>... Relaying denied', None, "204574",
        SYSLOG + "mx2 sm-mta[2231]: 5APDvW1x002231: ruleset=check_rcpt, arg1=<x@other.example>, "
        f"relay=host.example.net [{REAL}], reject=550 5.7.1 <x@other.example>... Relaying "
        "denied", REAL),
    "sendmail-auth": (
        SYSLOG + "mx2 sm-mta[2231]: 5APDvW1x002231: AUTH failure (LOGIN): authentication "
        "failure (-13) SASL(-13): authentication failure: checkpass failed, user=x "
        f"relay=[{NAMED}], relay=[{REAL}]", REAL, "204579",
        SYSLOG + "mx2 sm-mta[2231]: 5APDvW1x002231: AUTH failure (LOGIN): authentication "
        f"failure (-13) SASL(-13): authentication failure: checkpass failed, user=admin, "
        f"relay=[{REAL}]", REAL),
    # The command exim quotes comes before its H=, the error text after.
    "exim": (
        f'2026-11-25 13:57:32 SMTP syntax error in "MAIL FROM:<x> H=(a) [{NAMED}]:1" H=(helo) '
        f"[{REAL}]:51234 unrecognized command", None, "203105",
        f"2026-11-25 13:57:32 dovecot_login authenticator failed for (User) [{REAL}]:51234: 535 "
        "Incorrect authentication data (set_id=admin@example.org)", REAL),
    # The lines after a SECURITY ALERT quote the client's User-Agent.
    "squid-cache": (
        "2026/11/25 13:57:32 kid1| SECURITY ALERT: By user agent: Host header forgery detected "
        f"on conn1 local=192.0.2.8:80 remote={NAMED}:1 FD 1 flags=33", None, "203757",
        "2026/11/25 13:57:32 kid1| SECURITY ALERT: Host header forgery detected on conn1234 "
        f"local=192.0.2.8:80 remote={REAL}:51234 FD 14 flags=33 (local IP does not match any "
        "domain IP)", REAL),
}


@pytest.fixture(scope="module")
def decoded() -> dict[str, tuple[dict, dict]]:
    """Every hostile and ordinary line through one `hidsctl logtest --json`: name ->
    (hostile result, ordinary result)."""
    names = sorted(CASES)
    lines = [line for name in names for line in (CASES[name][0], CASES[name][3])]
    done = run_hidsctl("logtest", "--json", input="".join(line + "\n" for line in lines))
    assert done.returncode == 0, done.stderr
    results = [orjson.loads(out) for out in done.stdout.splitlines()]
    assert len(results) == len(lines)
    return {name: (results[2 * i], results[2 * i + 1]) for i, name in enumerate(names)}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_client_cannot_name_the_source_address(decoded, name):
    _, expected, rule, _, _ = CASES[name]
    hostile, _ = decoded[name]
    assert hostile["data"].get("srcip") == expected, hostile["full_log"]
    assert hostile["rule"]["id"] == rule, hostile["full_log"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_ordinary_lines_keep_their_address(decoded, name):
    *_, expected = CASES[name]
    _, ordinary = decoded[name]
    assert ordinary["data"].get("srcip") == expected, ordinary["full_log"]
