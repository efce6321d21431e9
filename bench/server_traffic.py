"""Ordinary server traffic, as hidsctl ``log`` records, for false-positive runs of the
bundled ruleset.

The lines follow the formats of Debian 12/13, Ubuntu 24.04 and RHEL 9 (rsyslog with
traditional and RFC 3339 timestamps, OpenSSH 9, sudo 1.9, Postfix 3, Dovecot 2.3, nginx and
Apache combined logs, BIND 9.18, Squid, Cisco IOS) and cover a working day of a small site:
web and proxy traffic, mail, DNS, SSH logins by admins (with the odd mistyped password),
sudo, cron, systemd timers, auditd, a router; PostgreSQL and MySQL, Exim, OpenVPN, WireGuard
and strongSwan, HAProxy, Samba, Docker events and Kubernetes audit, Unbound, dnsmasq, ClamAV,
firewalld, ModSecurity, Squid's cache.log, PHP-FPM, Junos, RouterOS, FortiGate and pfSense,
Suricata EVE and MongoDB's JSON log; slapd and a Kerberos KDC, sssd, polkit, chrony/ntpd,
Redis, Fail2ban, Keepalived, arpwatch, OpenSMTPD, Courier, Cyrus IMAP and Pure-FTPd; Tomcat,
Jenkins, OpenSearch, Grafana, Roundcube, Nagios, Icinga 2, Zabbix, Suricata's fast.log and
Sendmail. No
attacks: every alert of level 7 or more raised on this traffic is a false positive.

    python bench/server_traffic.py -n 100000 --seed 1 > traffic.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from typing import Callable, Iterator

START = 1795564800.0  # 2026-11-25 00:00:00 UTC
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
DAYS = "Mon Tue Wed Thu Fri Sat Sun".split()
ADMINS = ["alice", "bob", "carol"]
ADMIN_IPS = ["192.0.2.10", "192.0.2.11", "192.0.2.12"]
MAILBOXES = ["alice", "bob", "carol", "dave", "erin", "frank", "info", "sales"]
PAGES = ["/", "/index.html", "/about/", "/contact/", "/blog/", "/blog/2026/11/release-notes/",
         "/products/", "/products/widget-pro/", "/pricing/", "/docs/", "/docs/install/",
         "/search?q=widgets", "/search?q=blue+widget&page=2", "/search?q=how+to+select+a+widget+from+the+catalog", "/blog/union-station-select-menu/", "/cart", "/login", "/account/orders",
         "/api/v1/products?page=3", "/api/v1/cart/items", "/feed.xml", "/sitemap.xml"]
ASSETS = ["/static/css/site.4f2a1c.css", "/static/js/app.9b3e77.js", "/static/img/logo.svg",
          "/static/img/hero.webp", "/favicon.ico", "/static/fonts/inter.woff2",
          "/static/img/products/widget-pro.jpg", "/robots.txt"]
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "curl/8.5.0", "Uptime-Kuma/1.23.16",
]
SITES = ["deb.debian.org", "security.debian.org", "www.example.com", "cdn.example.net",
         "api.github.com", "pypi.org", "files.pythonhosted.org", "www.wikipedia.org"]
UNITS = [("logrotate.service", "Rotate log files"), ("man-db.service", "Daily man-db regeneration"),
         ("apt-daily.service", "Daily apt download activities"), ("phpsessionclean.service", "Clean php session files"),
         ("sysstat-collect.service", "system activity accounting tool"), ("fstrim.service", "Discard unused blocks on filesystems from /etc/fstab"),
         ("certbot.service", "Certbot"), ("e2scrub_all.service", "Online ext4 Metadata Check for All Filesystems")]


AGENT_IDS = {"web1": "000", "mx1": "001", "db1": "002", "ns1": "003", "wiki1": "004",
             "proxy1": "005", "ftp1": "006", "192.0.2.1": "000"}


class Traffic:
    def __init__(self, seed: int, span: float):
        self.rnd = random.Random(seed)
        self.span = span
        self.clients = [f"{self.rnd.choice([100, 151, 185, 2, 31, 45, 77, 88, 91, 109])}."
                        f"{self.rnd.randrange(1, 255)}.{self.rnd.randrange(0, 255)}."
                        f"{self.rnd.randrange(1, 255)}" for _ in range(4000)]
        self.qid = 0x4F2A81C0A00
        self.pid = 2000

    # --- line helpers ---------------------------------------------------------------------

    def syslog(self, when: float, host: str, prog: str, msg: str, pid: bool = True) -> str:
        tm = time.gmtime(when)
        if host in ("web1", "mx1"):  # Debian 13 / Ubuntu 24.04: RFC 3339 stamps
            micro = int((when % 1) * 1e6)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", tm) + f".{micro:06d}+00:00"
        else:
            stamp = f"{MONTHS[tm.tm_mon - 1]} {tm.tm_mday:2d} {time.strftime('%H:%M:%S', tm)}"
        if pid:
            self.pid += self.rnd.randrange(1, 9)
            return f"{stamp} {host} {prog}[{self.pid}]: {msg}"
        return f"{stamp} {host} {prog}: {msg}"

    def clf(self, when: float) -> str:
        return time.strftime("%d/", time.gmtime(when)) + MONTHS[time.gmtime(when).tm_mon - 1] + \
            time.strftime("/%Y:%H:%M:%S +0000", time.gmtime(when))

    # --- sources (each yields (location, host, line) tuples for one "event") ---------------

    def web(self, when: float):
        ip = self.rnd.choice(self.clients)
        ua = self.rnd.choice(AGENTS)
        r = self.rnd.random()
        if r < 0.55:
            path, status, size = self.rnd.choice(PAGES), self.rnd.choice([200] * 12 + [304, 301, 302]), self.rnd.randrange(300, 60000)
        elif r < 0.95:
            path, status, size = self.rnd.choice(ASSETS), self.rnd.choice([200, 200, 304]), self.rnd.randrange(200, 250000)
        elif r < 0.985:
            path, status, size = "/static/img/old-banner.png", 404, 162
        elif r < 0.995:
            path, status, size = self.rnd.choice(["/blog/2019/old-post/", "/products/discontinued/"]), 404, 162
        else:
            path, status, size = "/api/v1/cart/items", 499, 0
        method = "POST" if path in ("/api/v1/cart/items", "/login") and self.rnd.random() < 0.5 else "GET"
        proto = self.rnd.choice(["HTTP/1.1", "HTTP/2.0"])
        ref = self.rnd.choice(["-", "https://www.example.com/", "https://www.google.com/"])
        line = f'{ip} - - [{self.clf(when)}] "{method} {path} {proto}" {status} {size} "{ref}" "{ua}"'
        yield "/var/log/nginx/access.log", "web1", line
        if status == 404 and self.rnd.random() < 0.5:
            tm = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(when))
            yield "/var/log/nginx/error.log", "web1", (
                f'{tm} [error] 812#812: *{self.rnd.randrange(1, 99999)} open() "/var/www/html{path}" failed '
                f'(2: No such file or directory), client: {ip}, server: www.example.com, request: "GET {path} {proto}", host: "www.example.com"')

    def apache(self, when: float):
        ip = self.rnd.choice(self.clients)
        path = self.rnd.choice(["/wiki/Main_Page", "/wiki/Setup", "/index.php?title=Special:RecentChanges",
                                "/skins/common/shared.css", "/resources/assets/wiki.png"])
        line = (f'intranet.example.com:443 {ip} - - [{self.clf(when)}] "GET {path} HTTP/1.1" 200 '
                f'{self.rnd.randrange(500, 40000)} "-" "{self.rnd.choice(AGENTS[:4])}"')
        yield "/var/log/apache2/other_vhosts_access.log", "wiki1", line

    def ssh_login(self, when: float):
        user = self.rnd.choice(ADMINS)
        ip = ADMIN_IPS[ADMINS.index(user)]
        port = self.rnd.randrange(40000, 65000)
        host = self.rnd.choice(["web1", "mx1", "db1", "ns1"])
        prog = "sshd-session" if host in ("web1", "mx1") else "sshd"
        out = []
        if self.rnd.random() < 0.06:  # a mistyped password, then the right one
            out.append(f"Failed password for {user} from {ip} port {port} ssh2")
        if self.rnd.random() < 0.3:
            out.append(f"Failed publickey for {user} from {ip} port {port} ssh2: RSA SHA256:oldkeyoldkeyoldkeyoldkeyoldkeyoldkey12345")
        method = "password" if out and out[0].startswith("Failed password") else "publickey"
        extra = " ED25519 SHA256:q1w2e3r4t5y6u7i8o9p0asdfghjklzxcvbnm12345" if method == "publickey" else ""
        out.append(f"Accepted {method} for {user} from {ip} port {port} ssh2{':' + extra if extra else ''}")
        out.append(f"pam_unix(sshd:session): session opened for user {user}(uid=1000) by {user}(uid=0)")
        for msg in out:
            yield "/var/log/auth.log", host, self.syslog(when, host, prog, msg)
        yield "/var/log/auth.log", host, self.syslog(when, host, "systemd-logind", f"New session {self.rnd.randrange(1, 999)} of user {user}.")
        yield "/var/log/auth.log", host, self.syslog(when + 1, host, prog, f"Received disconnect from {ip} port {port}:11: disconnected by user")
        yield "/var/log/auth.log", host, self.syslog(when + 1, host, prog, f"Disconnected from user {user} {ip} port {port}")
        yield "/var/log/auth.log", host, self.syslog(when + 1, host, prog, f"pam_unix(sshd:session): session closed for user {user}")

    def sudo(self, when: float):
        user = self.rnd.choice(ADMINS)
        host = self.rnd.choice(["web1", "mx1", "db1"])
        cmd = self.rnd.choice(["/usr/bin/systemctl status nginx", "/usr/bin/journalctl -u postfix",
                               "/usr/bin/tail -n 100 /var/log/nginx/error.log", "/usr/sbin/nginx -t",
                               "/usr/bin/systemctl reload nginx", "/usr/bin/apt list --upgradable",
                               "/usr/bin/du -sh /var/lib/postgresql"])
        yield "/var/log/auth.log", host, self.syslog(when, host, "sudo", f"{user:>8} : TTY=pts/0 ; PWD=/home/{user} ; USER=root ; COMMAND={cmd}", pid=False)
        yield "/var/log/auth.log", host, self.syslog(when, host, "sudo", f"pam_unix(sudo:session): session opened for user root(uid=0) by {user}(uid=1000)", pid=False)
        yield "/var/log/auth.log", host, self.syslog(when + 2, host, "sudo", "pam_unix(sudo:session): session closed for user root", pid=False)

    def cron(self, when: float):
        host = self.rnd.choice(["web1", "mx1", "db1", "ns1"])
        prog = "CRON"
        cmd = self.rnd.choice(["command -v debian-sa1 > /dev/null && debian-sa1 1 1",
                               "[ -x /usr/lib/php/sessionclean ] && if [ ! -d /run/systemd/system ]; then /usr/lib/php/sessionclean; fi",
                               "cd / && run-parts --report /etc/cron.hourly", "/usr/local/bin/backup-db --quiet"])
        yield "/var/log/auth.log", host, self.syslog(when, host, prog, "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)")
        yield "/var/log/syslog", host, self.syslog(when, host, prog, f"(root) CMD ({cmd})")
        yield "/var/log/auth.log", host, self.syslog(when + 1, host, prog, "pam_unix(cron:session): session closed for user root")

    def systemd(self, when: float):
        host = self.rnd.choice(["web1", "mx1", "db1", "ns1"])
        unit, desc = self.rnd.choice(UNITS)
        yield "/var/log/syslog", host, self.syslog(when, host, "systemd", f"Starting {unit} - {desc}...", pid=False)
        yield "/var/log/syslog", host, self.syslog(when + 1, host, "systemd", f"{unit}: Deactivated successfully.", pid=False)
        yield "/var/log/syslog", host, self.syslog(when + 1, host, "systemd", f"Finished {unit} - {desc}.", pid=False)
        yield "/var/log/syslog", host, self.syslog(when + 1, host, "systemd", f"{unit}: Consumed {self.rnd.randrange(1, 900) / 100}s CPU time.", pid=False)

    def postfix(self, when: float):
        self.qid += self.rnd.randrange(1, 300)
        q = f"{self.qid:X}"
        peer = self.rnd.choice(["mail-ed1-f41.google.com[209.85.208.41]", "mail.example.net[198.51.100.25]",
                                "outbound.protection.outlook.com[40.107.22.50]"])
        box = self.rnd.choice(MAILBOXES)
        lines = [("smtpd", f"connect from {peer}"),
                 ("smtpd", f"Anonymous TLS connection established from {peer}: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"),
                 ("smtpd", f"{q}: client={peer}"),
                 ("cleanup", f"{q}: message-id=<{self.rnd.randrange(10**9)}@{peer.split('[')[0]}>"),
                 ("qmgr", f"{q}: from=<news@example.net>, size={self.rnd.randrange(2000, 90000)}, nrcpt=1 (queue active)"),
                 ("smtpd", f"disconnect from {peer} ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=7")]
        if self.rnd.random() < 0.85:
            lines.append(("lmtp", f"{q}: to=<{box}@example.org>, relay=mx1.example.org[private/dovecot-lmtp], delay=0.12, delays=0.05/0.01/0.02/0.04, dsn=2.0.0, status=sent (250 2.0.0 <{box}@example.org> Saved)"))
        elif self.rnd.random() < 0.7:
            lines.append(("smtp", f"{q}: to=<partner@example.com>, relay=mx.example.com[203.0.113.80]:25, delay=0.9, delays=0.1/0.01/0.3/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK)"))
        else:
            lines.append(("smtp", f"{q}: to=<partner@example.com>, relay=none, delay=31, delays=0.1/0/30/0, dsn=4.4.1, status=deferred (connect to mx.example.com[203.0.113.80]:25: Connection timed out)"))
        lines.append(("qmgr", f"{q}: removed"))
        for svc, msg in lines:
            yield "/var/log/mail.log", "mx1", self.syslog(when, "mx1", f"postfix/{svc}", msg)
            when += 0.05
        if lines[-2][0] == "lmtp":
            yield "/var/log/mail.log", "mx1", self.syslog(when, "mx1", "dovecot", f"lmtp({box})<{self.rnd.randrange(9999)}><aBcD{self.rnd.randrange(9999)}>: msgid=<{q}@example.net>: saved mail to INBOX", pid=False)

    def imap(self, when: float):
        box = self.rnd.choice(MAILBOXES)
        ip = self.rnd.choice(self.clients[:200])
        s = f"{self.rnd.randrange(10**6):x}"
        yield "/var/log/mail.log", "mx1", self.syslog(when, "mx1", "dovecot", f"imap-login: Login: user=<{box}>, method=PLAIN, rip={ip}, lip=192.0.2.25, mpid={self.rnd.randrange(2000, 9000)}, TLS, session=<{s}>", pid=False)
        yield "/var/log/mail.log", "mx1", self.syslog(when + 30, "mx1", "dovecot", f"imap({box})<{self.rnd.randrange(9999)}><{s}>: Logged out in={self.rnd.randrange(100, 5000)} out={self.rnd.randrange(500, 90000)} deleted=0 expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 body_count=0 body_bytes=0", pid=False)

    def dns(self, when: float):
        ip = self.rnd.choice(["192.0.2.20", "192.0.2.21", "192.0.2.30", "192.0.2.31"])
        name = self.rnd.choice(["www.example.org", "mail.example.org", "api.github.com", "deb.debian.org", "pool.ntp.org"])
        yield "/var/log/named/query.log", "ns1", self.syslog(when, "ns1", "named", f"client @0x7f3a1c0{self.rnd.randrange(100, 999)} {ip}#{self.rnd.randrange(1024, 65535)} ({name}): query: {name} IN {self.rnd.choice(['A', 'AAAA', 'MX'])} +E(0)K (192.0.2.53)")
        if self.rnd.random() < 0.05:
            yield "/var/log/syslog", "ns1", self.syslog(when, "ns1", "named", "network unreachable resolving './NS/IN': 2001:500:2::c#53")

    def squid(self, when: float):
        ip = f"192.0.2.{self.rnd.randrange(100, 160)}"
        site = self.rnd.choice(SITES)
        r = self.rnd.random()
        if r < 0.6:
            code, method, url = "TCP_TUNNEL/200", "CONNECT", f"{site}:443"
        elif r < 0.9:
            code, method, url = self.rnd.choice(["TCP_MISS/200", "TCP_HIT/200", "TCP_REFRESH_UNMODIFIED/304"]), "GET", f"http://{site}/debian/dists/bookworm/InRelease"
        elif r < 0.995:
            code, method, url = "TCP_MISS/301", "GET", f"http://{site}/"
        else:
            code, method, url = "TCP_MISS/404", "GET", f"http://{site}/missing-{self.rnd.randrange(999)}.html"
        yield "/var/log/squid/access.log", "proxy1", (f"{when:.3f} {self.rnd.randrange(5, 4000):6d} {ip} {code} {self.rnd.randrange(300, 900000)} "
                                                      f"{method} {url} - HIER_DIRECT/{self.rnd.choice(['151.101.2.132', '140.82.121.6'])} -")

    def audit(self, when: float):
        serial = self.rnd.randrange(10**6)
        stamp = f"{when:.3f}:{serial}"
        kind = self.rnd.choice(["USER_ACCT", "CRED_ACQ", "USER_START", "USER_END", "CRED_DISP", "SERVICE_START", "SERVICE_STOP"])
        if kind.startswith("SERVICE"):
            msg = f"type={kind} msg=audit({stamp}): pid=1 uid=0 auid=4294967295 ses=4294967295 subj=system_u:system_r:init_t:s0 msg='unit=sysstat-collect comm=\"systemd\" exe=\"/usr/lib/systemd/systemd\" hostname=? addr=? terminal=? res=success'"
        else:
            msg = f"type={kind} msg=audit({stamp}): pid={self.rnd.randrange(2000, 9000)} uid=0 auid=0 ses={self.rnd.randrange(1, 99)} subj=system_u:system_r:crond_t:s0-s0:c0.c1023 msg='op=PAM:accounting grantors=pam_access,pam_unix,pam_localuser acct=\"root\" exe=\"/usr/sbin/crond\" hostname=? addr=? terminal=cron res=success'"
        yield "/var/log/audit/audit.log", "db1", msg

    def router(self, when: float):
        r = self.rnd.random()
        if r < 0.5:
            m, t = "SEC_LOGIN-5-LOGIN_SUCCESS", "Login Success [user: netops] [Source: 192.0.2.50] [localport: 22] at 10:01:02 UTC Wed Nov 25 2026"
        elif r < 0.8:
            m, t = "SYS-5-CONFIG_I", "Configured from console by netops on vty0 (192.0.2.50)"
        else:
            m, t = "SSH-5-SSH2_USERAUTH", "User 'netops' authentication for SSH2 Session from 192.0.2.50 (tty = 0) using crypto cipher 'aes256-ctr', hmac 'hmac-sha2-256' Succeeded"
        tm = time.gmtime(when)
        stamp = f"{MONTHS[tm.tm_mon - 1]} {tm.tm_mday:2d} {time.strftime('%H:%M:%S', tm)}"
        yield "192.0.2.1", "192.0.2.1", f"{stamp} 192.0.2.1 {self.rnd.randrange(100, 999)}: *{stamp}.{self.rnd.randrange(100, 999)}: %{m}: {t}"

    def ftp(self, when: float):
        ip = self.rnd.choice(self.clients[:50])
        user = self.rnd.choice(["partner1", "partner2", "scanner-upload"])
        stamp = f"{DAYS[time.gmtime(when).tm_wday]} {MONTHS[time.gmtime(when).tm_mon - 1]} {time.gmtime(when).tm_mday:2d} {time.strftime('%H:%M:%S %Y', time.gmtime(when))}"
        pid = self.rnd.randrange(2000, 9000)
        yield "/var/log/vsftpd.log", "ftp1", f'{stamp} [pid {pid}] CONNECT: Client "::ffff:{ip}"'
        yield "/var/log/vsftpd.log", "ftp1", f'{stamp} [pid {pid + 1}] [{user}] OK LOGIN: Client "::ffff:{ip}"'
        yield "/var/log/vsftpd.log", "ftp1", f'{stamp} [pid {pid + 2}] [{user}] OK UPLOAD: Client "::ffff:{ip}", "/upload/report-{self.rnd.randrange(999)}.csv", {self.rnd.randrange(1000, 900000)} bytes, 912.40Kbyte/sec'

    def misc(self, when: float):
        host = self.rnd.choice(["web1", "mx1", "db1", "ns1"])
        choices: list[tuple[str, str, bool]] = [
            ("systemd-logind", f"Removed session {self.rnd.randrange(1, 999)}.", True),
            ("chronyd", "Selected source 192.0.2.123 (2.debian.pool.ntp.org)", True),
            ("kernel", "e1000e 0000:00:1f.6 eth0: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx", False),
            ("dbus-daemon", "[system] Successfully activated service 'org.freedesktop.timedate1'", True),
            ("rsyslogd", '[origin software="rsyslogd" swVersion="8.2302.0" x-pid="512" x-info="https://www.rsyslog.com"] rsyslogd was HUPed', False),
            ("postgres", "LOG:  checkpoint complete: wrote 312 buffers (1.9%); 0 WAL file(s) added, 0 removed, 1 recycled", True),
            ("app", "worker 3 finished 120 jobs in 4.2s", True),
        ]
        prog, msg, pid = self.rnd.choice(choices)
        yield "/var/log/syslog", host, self.syslog(when, host, prog, msg, pid=pid)

    def database(self, when: float):
        tm = time.gmtime(when)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", tm) + f".{int((when % 1) * 1000):03d} UTC"
        pid = self.rnd.randrange(2000, 60000)
        app = self.rnd.choice(["192.0.2.40", "192.0.2.41"])
        r = self.rnd.random()
        if r < 0.6:
            for msg in (f"[unknown]@[unknown] LOG:  connection received: host={app} port={self.rnd.randrange(30000, 60000)}",
                        "app@app LOG:  connection authorized: user=app database=app application_name=puma",
                        f"app@app LOG:  disconnection: session time: 0:00:0{self.rnd.randrange(1, 9)}.{self.rnd.randrange(100, 999)} user=app database=app host={app} port=51234"):
                yield "/var/log/postgresql/postgresql-16-main.log", "db1", f"{stamp} [{pid}] {msg}"
        elif r < 0.8:
            msg = self.rnd.choice([f"app@app LOG:  duration: {self.rnd.randrange(500, 3000)}.118 ms  statement: SELECT * FROM orders WHERE customer_id = {self.rnd.randrange(99999)}",
                                   'app@app ERROR:  duplicate key value violates unique constraint "users_email_key"',
                                   "LOG:  automatic vacuum of table \"app.public.sessions\": index scans: 1",
                                   "LOG:  checkpoint starting: time"])
            yield "/var/log/postgresql/postgresql-16-main.log", "db1", f"{stamp} [{pid}] {msg}"
        else:
            mstamp = time.strftime("%Y-%m-%dT%H:%M:%S", tm) + f".{int((when % 1) * 1e6):06d}Z"
            msg = self.rnd.choice([f"[Note] [MY-010914] [Server] Aborted connection {pid} to db: 'wiki' user: 'wiki' host: '192.0.2.42' (Got timeout reading communication packets).",
                                   "[Warning] [MY-010055] [Server] IP address '192.0.2.43' could not be resolved: Name or service not known",
                                   "[Warning] [MY-010068] [Server] CA certificate ca.pem is self signed."])
            yield "/var/log/mysql/error.log", "db1", f"{mstamp} {self.rnd.randrange(1, 900)} {msg}"

    def exim(self, when: float):
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(when))
        mid = f"1t{self.rnd.randrange(10**4):04d}Xy-000{self.rnd.randrange(10**3):03d}Abc-1x"
        peer, ip = self.rnd.choice([("mail.example.net", "198.51.100.25"), ("mail-ed1-f41.google.com", "209.85.208.41")])
        box = self.rnd.choice(MAILBOXES)
        lines = [f"SMTP connection from [{ip}]:{self.rnd.randrange(30000, 60000)} (TCP/IP connection count = 1)",
                 f"{mid} <= news@example.net H={peer} [{ip}] P=esmtps X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no S={self.rnd.randrange(2000, 90000)} id={self.rnd.randrange(10**9)}@{peer}",
                 f"{mid} => {box} <{box}@example.org> R=local_user T=mail_spool", f"{mid} Completed"]
        if self.rnd.random() < 0.2:
            lines = [f"{mid} <= {box}@example.org H=(laptop) [{self.rnd.choice(self.clients[:200])}]:{self.rnd.randrange(30000, 60000)} P=esmtpsa X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no A=dovecot_plain:{box} S=1821 id=x@laptop",
                     f"{mid} => partner@example.com R=dnslookup T=remote_smtp H=mx.example.com [203.0.113.80] X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes C=\"250 2.0.0 OK\"", f"{mid} Completed"]
        elif self.rnd.random() < 0.1:
            lines = [f"H=mail.example.net [198.51.100.25]:41234 F=<news@example.net> temporarily rejected RCPT <{box}@example.org>: greylisted",
                     "SMTP connection from mail.example.net [198.51.100.25]:41234 lost D=0.3s"]
        for msg in lines:
            yield "/var/log/exim4/mainlog", "mx2", f"{stamp} {msg}"

    def vpn(self, when: float):
        user = self.rnd.choice(MAILBOXES[:6])
        ip = self.rnd.choice(self.clients[:300])
        port = self.rnd.randrange(30000, 60000)
        r = self.rnd.random()
        if r < 0.4:
            msgs = [("ovpn-server", f"{ip}:{port} TLS: Initial packet from [AF_INET]{ip}:{port}, sid=1a2b3c4d 5e6f7a8b"),
                    ("ovpn-server", f"{ip}:{port} VERIFY OK: depth=0, CN={user}"),
                    ("ovpn-server", f"{ip}:{port} [{user}] Peer Connection Initiated with [AF_INET]{ip}:{port}"),
                    ("ovpn-server", f"{user}/{ip}:{port} MULTI_sva: pool returned IPv4=10.8.0.{self.rnd.randrange(2, 250)}, IPv6=(Not enabled)"),
                    ("ovpn-server", f"{user}/{ip}:{port} SIGUSR1[soft,ping-restart] received, client-instance restarting")]
        elif r < 0.6:
            msgs = [("kernel", f"wireguard: wg0: Receiving handshake initiation from peer {self.rnd.randrange(1, 9)} ({ip}:{port})"),
                    ("kernel", f"wireguard: wg0: Keypair {self.rnd.randrange(1, 999)} created for peer {self.rnd.randrange(1, 9)}")]
        elif r < 0.9:
            msgs = [("charon", f"09[NET] received packet: from {ip}[4500] to 192.0.2.1[4500] (464 bytes)"),
                    ("charon", f"09[IKE] {ip} is initiating an IKE_SA"),
                    ("charon", f"10[IKE] <rw|{self.rnd.randrange(1, 99)}> IKE_SA rw[3] established between 192.0.2.1[vpn.example.org]...{ip}[{user}@example.org]"),
                    ("charon", "10[IKE] <rw|3> CHILD_SA rw{2} established with SPIs c1a2b3c4_i c5d6e7f8_o and TS 0.0.0.0/0 === 10.10.0.2/32")]
        else:
            msgs = [("ovpn-server", f"TLS Error: cannot locate HMAC in incoming packet from [AF_INET]{self.rnd.choice(self.clients)}:{port}")]
        for prog, msg in msgs:
            yield "/var/log/syslog", "vpn1", self.syslog(when, "vpn1", prog, msg, pid=prog != "kernel")

    def haproxy(self, when: float):
        ip = self.rnd.choice(self.clients)
        port = self.rnd.randrange(30000, 60000)
        stamp = time.strftime("%d/", time.gmtime(when)) + MONTHS[time.gmtime(when).tm_mon - 1] + \
            time.strftime("/%Y:%H:%M:%S", time.gmtime(when)) + f".{int((when % 1) * 1000):03d}"
        r = self.rnd.random()
        if r < 0.85:
            path = self.rnd.choice(PAGES + ASSETS)
            status = self.rnd.choice([200] * 10 + [304, 301])
            msg = (f'{ip}:{port} [{stamp}] fe_https~ be_app/web{self.rnd.randrange(1, 3)} 0/0/1/{self.rnd.randrange(1, 90)}/{self.rnd.randrange(90, 200)} '
                   f'{status} {self.rnd.randrange(200, 90000)} - - ---- 12/12/0/0/0 0/0 "GET {path} HTTP/1.1"')
        elif r < 0.97:
            msg = f"{ip}:{port} [{stamp}] fe_https/1: SSL handshake failure"
        else:
            msg = f"192.0.2.50:{port} [{stamp}] fe_ssh be_ssh/ssh1 1/0/{self.rnd.randrange(100, 90000)} {self.rnd.randrange(200, 9000)} -- 1/1/0/0/0 0/0"
        yield "/var/log/haproxy.log", "lb1", self.syslog(when, "lb1", "haproxy", msg)

    def samba(self, when: float):
        user = self.rnd.choice(MAILBOXES[:6])
        ip = f"192.0.2.{self.rnd.randrange(70, 90)}"
        stamp = time.strftime("%a, %d %b %Y %H:%M:%S", time.gmtime(when)) + ".118237 UTC"
        hdr = time.strftime("[%Y/%m/%d %H:%M:%S", time.gmtime(when)) + ".118237,  1] ../../source3/auth/auth_log.c:760(log_authentication_event_human_readable)"
        msgs = [("smbd", hdr),
                ("smbd", f"  Auth: [SMB2,(null)] user [EXAMPLE]\\[{user}] at [{stamp}] with [NTLMv2] status [NT_STATUS_OK] workstation [PC{self.rnd.randrange(1, 40)}] remote host [ipv4:{ip}:{self.rnd.randrange(30000, 60000)}] mapped to [EXAMPLE]\\[{user}]. local host [ipv4:192.0.2.30:445]"),
                ("smbd", f"  Successful AuthZ: [SMB2,NTLMSSP] user [EXAMPLE]\\[{user}] [S-1-5-21-1-2-3-1104] at [{stamp}] with [(null)] remote host [ipv4:{ip}:51234] local host [ipv4:192.0.2.30:445]")]
        for op in self.rnd.sample(["openat|ok|r|/srv/share/report.docx", "openat|ok|w|/srv/share/notes.txt", "unlinkat|ok|/srv/share/~$report.docx",
                                   "renameat|ok|/srv/share/notes.txt~|/srv/share/notes.txt", "mkdirat|ok|/srv/share/2026-11"], 2):
            msgs.append(("smbd_audit", f"{user}|{ip}|pc1|share|{op}"))
        for prog, msg in msgs:
            yield "/var/log/syslog", "fs1", self.syslog(when, "fs1", prog, msg)

    def containers(self, when: float):
        sec, nano = int(when), int(when * 1e9)
        if self.rnd.random() < 0.5:
            name = self.rnd.choice(["web", "worker", "redis"])
            action = self.rnd.choice(["exec_create: /bin/sh -c curl -f http://localhost/ || exit 1", "exec_start: /bin/sh -c curl -f http://localhost/ || exit 1",
                                      "exec_die", "health_status: healthy", "start", "die", "create", "destroy", "pull"])
            attrs = {"image": "registry.example.org/app:2026.11.3", "name": name}
            if action == "die":
                attrs["exitCode"] = "0"
            actor = json.dumps({"ID": "4f2a81c0a00b1c2d3e4f5a6b7c8d9e0f", "Attributes": dict(sorted(attrs.items()))}, separators=(",", ":"))
            yield "/var/log/docker-events.json", "k8s1", f'{{"Type":"container","Action":"{action}","Actor":{actor},"scope":"local","time":{sec},"timeNano":{nano}}}'
            return
        user, verb, uri, ip = self.rnd.choice([
            ("system:kube-controller-manager", "list", "/api/v1/secrets?limit=500&resourceVersion=0", "192.0.2.5"),
            ("system:node:k8s1", "get", "/api/v1/namespaces/default/pods/web-1", "192.0.2.5"),
            ("system:serviceaccount:kube-system:coredns", "watch", "/api/v1/services?allowWatchBookmarks=true&watch=true", "10.244.0.3"),
            ("system:anonymous", "get", "/readyz", "192.0.2.1"), ("system:anonymous", "get", "/livez", "192.0.2.1"),
            ("alice@example.org", "get", "/api/v1/namespaces/default/pods/web-1/log?container=web", "192.0.2.60"),
            ("alice@example.org", "patch", "/apis/apps/v1/namespaces/default/deployments/web", "192.0.2.60")])
        parts = uri.split("?")[0].strip("/").split("/")
        res = parts[-1] if len(parts) % 2 == 1 else parts[-2]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + f".{int((when % 1) * 1e6):06d}Z"
        for stage in (["RequestReceived"] if self.rnd.random() < 0.3 else []) + ["ResponseComplete"]:
            ev = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": f"1f2e3d4c-5b6a-4789-8abc-{self.rnd.randrange(16**12):012x}",
                  "stage": stage, "requestURI": uri, "verb": verb, "user": {"username": user, "groups": ["system:authenticated"]},
                  "sourceIPs": [ip], "userAgent": "kubectl/v1.31.2", "objectRef": {"resource": res, "namespace": "default", "apiVersion": "v1"}}
            if stage == "ResponseComplete":
                ev["responseStatus"] = {"metadata": {}, "code": 200}
            ev.update({"requestReceivedTimestamp": stamp, "stageTimestamp": stamp,
                       "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""}})
            yield "/var/log/kubernetes/audit.log", "k8s1", json.dumps(ev, separators=(",", ":"))

    def infra(self, when: float):
        """Resolvers, DHCP, antivirus, firewalld and a WAF in front of the web server."""
        r = self.rnd.random()
        name = self.rnd.choice(["www.example.org", "mail.example.org", "api.github.com", "deb.debian.org", "pool.ntp.org", "www.wikipedia.org"])
        ip = self.rnd.choice(["192.0.2.20", "192.0.2.21", "192.0.2.30", "192.0.2.31"])
        if r < 0.35:
            yield "/var/log/syslog", "ns2", self.syslog(when, "ns2", "unbound", f"[812:0] info: {ip} {name}. {self.rnd.choice(['A', 'AAAA', 'MX', 'HTTPS'])} IN")
        elif r < 0.6:
            mac = f"52:54:00:{self.rnd.randrange(256):02x}:{self.rnd.randrange(256):02x}:{self.rnd.randrange(256):02x}"
            for prog, msg in (("dnsmasq", f"query[A] {name} from 192.168.1.{self.rnd.randrange(20, 200)}"), ("dnsmasq", f"forwarded {name} to 192.0.2.53"),
                              ("dnsmasq", f"reply {name} is 198.51.100.{self.rnd.randrange(1, 250)}"),
                              ("dnsmasq-dhcp", f"DHCPREQUEST(eth1) 192.168.1.{self.rnd.randrange(20, 200)} {mac}"),
                              ("dnsmasq-dhcp", f"DHCPACK(eth1) 192.168.1.{self.rnd.randrange(20, 200)} {mac} laptop-{self.rnd.randrange(99)}")):
                yield "/var/log/syslog", "gw1", self.syslog(when, "gw1", prog, msg)
        elif r < 0.75:
            msgs = self.rnd.choice([[("clamd", "SelfCheck: Database status OK.")],
                                    [("freshclam", f"ClamAV update process started at {time.strftime('%a %b %d %H:%M:%S %Y', time.gmtime(when))}"),
                                     ("freshclam", "daily.cld database is up-to-date (version: 27471, sigs: 2070000, f-level: 90, builder: raynman)"),
                                     ("freshclam", "main.cvd database is up-to-date (version: 62, sigs: 6647427, f-level: 90, builder: sigmgr)")],
                                    [("clamd", "SelfCheck: Database modification detected. Forcing reload."), ("clamd", "Reading databases from /var/lib/clamav"),
                                     ("clamd", "Database correctly reloaded (8712345 signatures)")],
                                    [("clamd", f"/srv/upload/report-{self.rnd.randrange(999)}.pdf: OK")]])
            for prog, msg in msgs:
                yield "/var/log/syslog", "mx1", self.syslog(when, "mx1", prog, msg)
        elif r < 0.8:
            yield "/var/log/firewalld", "web1", self.syslog(when, "web1", "firewalld", self.rnd.choice(["WARNING: ALREADY_ENABLED: 'http' already in 'public'", "INFO: Reloading firewall rules"]))
        else:
            client = self.rnd.choice(self.clients)
            msgs = "[]" if self.rnd.random() < 0.9 else ('[{"message":"Host header is a numeric IP address","details":{"match":"Matched \\"Operator `Rx\' with parameter","ruleId":"920350",'
                                                          '"file":"/usr/share/modsecurity-crs/rules/REQUEST-920-PROTOCOL-ENFORCEMENT.conf","lineNumber":"733","data":"192.0.2.10","severity":"4","ver":"OWASP_CRS/4.8.0","tags":["attack-protocol"]}}]')
            yield "/var/log/modsec_audit.log", "web1", ('{"transaction":{"client_ip":"%s","time_stamp":"%s","server_id":"0b1c2d3e","client_port":%d,"host_ip":"192.0.2.10","host_port":443,"unique_id":"%d",'
                                                       '"request":{"method":"GET","http_version":1.1,"uri":"%s","headers":{"Host":"www.example.com"}},"response":{"http_code":200,"headers":{}},'
                                                       '"producer":{"modsecurity":"ModSecurity v3.0.12 (Linux)","connector":"ModSecurity-nginx v1.0.3","secrules_engine":"Enabled","components":["OWASP_CRS/4.8.0"]},"messages":%s}}'
                                                       % (client, time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(when)), self.rnd.randrange(30000, 60000), self.rnd.randrange(10**12), self.rnd.choice(PAGES), msgs))

    def daemons(self, when: float):
        """Squid's cache.log and PHP-FPM's master log on an ordinary day."""
        if self.rnd.random() < 0.5:
            stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(when))
            msg = self.rnd.choice(["ERROR: negotiating TLS on FD 41: error:0A000086:SSL routines::certificate verify failed (1/-1/0)",
                                   f"WARNING: DNS lookup for 'host{self.rnd.randrange(99)}.invalid' failed!", "Logfile: opening log daemon:/var/log/squid/access.log",
                                   "storeDirWriteCleanLogs: Starting...", "helperOpenServers: Starting 1/20 'ssl_crtd' processes"])
            yield "/var/log/squid/cache.log", "proxy1", f"{stamp} kid1| {msg}"
        else:
            stamp = time.strftime("[%d-", time.gmtime(when)) + MONTHS[time.gmtime(when).tm_mon - 1] + time.strftime("-%Y %H:%M:%S]", time.gmtime(when))
            msg = self.rnd.choice([f"NOTICE: [pool www] child {self.rnd.randrange(2000, 9000)} started",
                                   f"NOTICE: [pool www] child {self.rnd.randrange(2000, 9000)} exited with code 0 after {self.rnd.randrange(100, 9000)}.5 seconds from start",
                                   "WARNING: [pool www] seems busy (you may need to increase pm.start_servers, or pm.min/max_spare_servers), spawning 8 children, there are 0 idle, and 9 total children",
                                   f"WARNING: [pool www] child {self.rnd.randrange(2000, 9000)}, script '/var/www/html/report.php' (request: \"GET /report.php\") executing too slow (5.{self.rnd.randrange(100, 999)} sec), logging",
                                   f"WARNING: [pool www] child {self.rnd.randrange(2000, 9000)} said into stderr: \"NOTICE: PHP message: PHP Deprecated:  strftime() is deprecated in /var/www/html/lib/date.php on line 12\""])
            yield "/var/log/php8.2-fpm.log", "web1", f"{stamp} {msg}"

    def devices(self, when: float):
        """Junos, RouterOS, FortiGate and pfSense on an ordinary day (allowed traffic, admin logins)."""
        tm = time.gmtime(when)
        stamp = f"{MONTHS[tm.tm_mon - 1]} {tm.tm_mday:2d} {time.strftime('%H:%M:%S', tm)}"
        lan = f"192.168.1.{self.rnd.randrange(20, 200)}"
        port = self.rnd.randrange(30000, 60000)
        r = self.rnd.random()
        if r < 0.3:
            msg = self.rnd.choice([f"RT_FLOW: RT_FLOW_SESSION_CREATE: session created {lan}/{port}->198.51.100.7/443 0x0 junos-https {lan}/{port}->198.51.100.7/443 0x0 N/A N/A N/A N/A 6 allow-out trust untrust 12345 N/A(N/A) ge-0/0/1.0 UNKNOWN UNKNOWN UNKNOWN",
                                   f"RT_FLOW: RT_FLOW_SESSION_CLOSE: session closed TCP FIN: {lan}/{port}->198.51.100.7/443 0x0 junos-https",
                                   "mgd[812]: UI_LOGIN_EVENT: User 'netops' login, class 'j-super-user' [812], ssh-connection '192.0.2.50 51234 192.0.2.1 22', client-mode 'cli'",
                                   "mgd[812]: UI_CMDLINE_READ_LINE: User 'netops', command 'show route summary '"])
            yield "192.0.2.3", "srx1", f"{stamp} srx1 {msg}"
        elif r < 0.5:
            msg = self.rnd.choice([f"dhcp,info dhcp1 assigned {lan} for 52:54:00:12:34:56 laptop", "system,info,account user netops logged in from 192.0.2.50 via winbox",
                                   "system,info,account user netops logged out from 192.0.2.50 via winbox", "interface,info ether2 link up (speed 1G, full duplex)"])
            yield "192.0.2.2", "192.0.2.2", f"{stamp} 192.0.2.2 {msg}"
        elif r < 0.8:
            fg = (f'date={time.strftime("%Y-%m-%d", tm)} time={time.strftime("%H:%M:%S", tm)} devname="FGT60F" devid="FGT60FTK22090001" eventtime={int(when * 1e9)} tz="+0000" ')
            msg = self.rnd.choice([f'logid="0000000013" type="traffic" subtype="forward" level="notice" vd="root" srcip={lan} srcport={port} srcintf="internal" dstip=198.51.100.7 dstport=443 dstintf="wan1" proto=6 action="close" policyid=1 service="HTTPS"',
                                   f'logid="0316013057" type="utm" subtype="webfilter" eventtype="ftgd_allow" level="notice" vd="root" srcip={lan} dstip=198.51.100.7 action="passthrough" cat=52 catdesc="Information Technology"',
                                   'logid="0100032001" type="event" subtype="system" level="information" vd="root" logdesc="Admin login successful" user="netops" ui="https(192.0.2.50)" srcip=192.0.2.50 action="login" status="success"'])
            yield "192.0.2.4", "fw1", f"{stamp} fw1 {fg}{msg}"
        else:
            if self.rnd.random() < 0.8:
                msg = f"filterlog[812]: 9,,,1000000201,igb1,match,pass,in,4,0x0,,64,{self.rnd.randrange(65535)},0,DF,6,tcp,60,{lan},192.0.2.10,{port},443,0,S,123,,64240,,mss"
            else:
                msg = f"filterlog[812]: 5,,,1000000103,igb0,match,block,in,4,0x0,,64,{self.rnd.randrange(65535)},0,DF,6,tcp,60,{self.rnd.choice(self.clients)},192.0.2.10,{port},23,0,S,123,,64240,,mss"
            yield "192.0.2.5", "pf1", f"{stamp} pf1 {msg}"

    def apps(self, when: float):
        """Tomcat, Jenkins, OpenSearch, Grafana and Roundcube on an ordinary day (one typo'd login
        now and then)."""
        tm = time.gmtime(when)
        ms = int((when % 1) * 1000)
        r = self.rnd.random()
        if r < 0.2:
            stamp = time.strftime("%d-", tm) + MONTHS[tm.tm_mon - 1] + time.strftime("-%Y %H:%M:%S", tm) + f".{ms:03d}"
            msg = self.rnd.choice([
                "INFO [http-nio-8080-exec-4] org.apache.coyote.http11.Http11Processor.service Error parsing HTTP request header",
                "INFO [Catalina-utility-1] org.apache.catalina.startup.HostConfig.deployWAR Deploying web application archive [/var/lib/tomcat10/webapps/app.war]",
                "INFO [Catalina-utility-1] org.apache.catalina.startup.HostConfig.deployWAR Deployment of web application archive [/var/lib/tomcat10/webapps/app.war] has finished in [2,112] ms",
                "WARNING [Catalina-utility-2] org.apache.catalina.loader.WebappClassLoaderBase.clearReferencesThreads The web application [app] appears to have started a thread named [pool-2-thread-1] but has failed to stop it. This is very likely to create a memory leak."])
            yield "/var/log/tomcat10/catalina.out", "app1", f"{stamp} {msg}"
            yield "/var/log/tomcat10/localhost_access_log.txt", "app1", (
                f'{self.rnd.choice(self.clients)} - - [{self.clf(when)}] "GET /app/api/status HTTP/1.1" 200 {self.rnd.randrange(17, 900)}')
        elif r < 0.4:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", tm) + f".{ms:03d}+0000 [id={self.rnd.randrange(20, 400)}]\t"
            job = self.rnd.choice(["app", "site", "backup-check"])
            msg = self.rnd.choice([
                f"INFO\thudson.model.Run#execute: {job} #{self.rnd.randrange(100, 999)} main build action completed: {self.rnd.choice(['SUCCESS'] * 8 + ['FAILURE', 'UNSTABLE'])}",
                "INFO\th.TcpSlaveAgentListener$ConnectionHandler#run: Accepted JNLP4-connect connection #12 from /192.0.2.31:51234",
                "INFO\thudson.model.DownloadService$Downloadable#load: Obtained the updated data file for hudson.tasks.Maven.MavenInstaller",
                "INFO\thudson.model.AsyncPeriodicWork#lambda$doRun$0: Started Download metadata",
                "INFO\thudson.model.AsyncPeriodicWork#lambda$doRun$0: Finished Download metadata. 1,234 ms"])
            yield "/var/log/jenkins/jenkins.log", "ci1", stamp + msg
        elif r < 0.6:
            stamp = time.strftime("[%Y-%m-%dT%H:%M:%S", tm) + f",{ms:03d}]"
            msg = self.rnd.choice([
                "[INFO ][o.o.j.s.JobSweeper       ] [node-1] Running full sweep",
                "[INFO ][o.o.c.m.MetadataMappingService] [node-1] [logs-2026.11.25/Ab12] update_mapping [_doc]",
                "[WARN ][o.o.m.j.JvmGcMonitorService] [node-1] [gc][81234] overhead, spent [612ms] collecting in the last [1s]",
                "[WARN ][o.o.s.a.BackendRegistry  ] [node-1] Authentication finally failed for null from 127.0.0.1:51234",
                "[INFO ][o.o.c.r.a.AllocationService] [node-1] Cluster health status changed from [YELLOW] to [GREEN] (reason: [shards started [[logs-2026.11.25][0]]])."])
            if self.rnd.random() < 0.01:
                msg = "[WARN ][o.o.s.a.BackendRegistry  ] [node-1] Authentication finally failed for admin from 192.0.2.11:51234"
            yield "/var/log/opensearch/cluster.log", "es1", f"{stamp}{msg}"
        elif r < 0.8:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", tm) + f".{int((when % 1) * 1e6):06d}Z"
            msg = self.rnd.choice([
                f"logger=cleanup t={stamp} level=info msg=\"Completed cleanup jobs\" duration=12.3ms",
                f"logger=infra.usagestats t={stamp} level=info msg=\"Usage stats are ready to report\"",
                f"logger=context userId=1 orgId=1 uname=admin t={stamp} level=info msg=\"Request Completed\" method=GET path=/api/live/ws status=-1 remote_addr=192.0.2.10 time_ms=1 duration=1.2ms size=0 referer= handler=/api/live/ws",
                f"logger=grafana.update.checker t={stamp} level=info msg=\"Update check succeeded\" duration=96.2ms"])
            if self.rnd.random() < 0.03:
                msg = (f"logger=context userId=0 orgId=0 uname= t={stamp} level=info msg=\"Request Completed\" method=POST path=/login status=401 "
                       f"remote_addr={self.rnd.choice(ADMIN_IPS)} time_ms=84 duration=84.1ms size=94 referer=https://grafana.example.com/login handler=/login")
            yield "/var/log/grafana/grafana.log", "mon1", msg
        else:
            stamp = time.strftime("[%d-", tm) + MONTHS[tm.tm_mon - 1] + time.strftime("-%Y %H:%M:%S +0000]:", tm)
            sess = "".join(self.rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
            user = self.rnd.choice(MAILBOXES)
            if self.rnd.random() < 0.97:
                yield "/var/log/roundcube/userlogins.log", "mx1", f"{stamp} <{sess}> Successful login for {user} (ID: {MAILBOXES.index(user) + 1}) from {self.rnd.choice(self.clients)} in session {sess}"
            else:
                yield "/var/log/roundcube/errors.log", "mx1", f"{stamp} <{sess}> Failed login for {user} from {self.rnd.choice(self.clients)} in session {sess} (error: 0)"

    def watch(self, when: float):
        """Nagios, Icinga 2, Zabbix, Suricata and Sendmail on an ordinary day: soft states that
        clear, informational IDS signatures, mail delivered and the odd spam bot refused."""
        tm = time.gmtime(when)
        r = self.rnd.random()
        host = self.rnd.choice(["web1", "db1", "mx1", "ns1"])
        if r < 0.2:
            svc = self.rnd.choice(["HTTP", "Disk /", "Load", "SSH", "NTP"])
            msg = self.rnd.choice([
                f"SERVICE ALERT: {host};{svc};WARNING;SOFT;1;{svc.upper()} WARNING - check took 9.8 seconds",
                f"SERVICE ALERT: {host};{svc};OK;SOFT;2;{svc.upper()} OK - check took 0.2 seconds",
                f"SERVICE ALERT: {host};{svc};OK;HARD;3;{svc.upper()} OK",
                f"SERVICE ALERT: {host};Load;WARNING;HARD;3;WARNING - load average: 6.12, 4.20, 3.10",
                f"SERVICE NOTIFICATION: admins;{host};{svc};OK;notify-service-by-email;{svc.upper()} OK",
                f"EXTERNAL COMMAND: PROCESS_SERVICE_CHECK_RESULT;{host};backup;0;OK - last backup 3h ago",
                "Auto-save of retention data completed successfully."])
            yield "/var/log/nagios4/nagios.log", "mon1", f"[{int(when)}] {msg}"
        elif r < 0.3:
            stamp = time.strftime("[%Y-%m-%d %H:%M:%S +0000]", tm)
            msg = self.rnd.choice(["information/ConfigItem: Committing config item(s).", "information/WorkQueue: #5 (ApiListener, SyncQueue) items: 0, rate: 0/s",
                                   f"information/ApiListener: New client connection for identity '{host}.example.com' from [192.0.2.41]:51234",
                                   f"warning/PluginCheckTask: Check command for object '{host}!http' (PID: 3311, arguments: '/usr/lib/nagios/plugins/check_http') terminated with exit code 128"])
            yield "/var/log/icinga2/icinga2.log", "mon1", f"{stamp} {msg}"
        elif r < 0.45:
            stamp = f"{self.rnd.randrange(1000, 3000):>6}:" + time.strftime("%Y%m%d:%H%M%S", tm) + f".{int((when % 1) * 1000):03d}"
            msg = self.rnd.choice([f"item \"{host}:vfs.fs.size[/srv,pused]\" became not supported: Cannot obtain filesystem information: [2] No such file or directory",
                                   f"item \"{host}:vfs.fs.size[/srv,pused]\" became supported",
                                   "housekeeper [deleted 1234 hist/trends, 0 items/triggers, 12 events, 3 problems, 0 sessions, 0 alarms, 0 audit records, 0 autoreg_host, 0 records in 1.204 sec, idle for 1 hour(s)]",
                                   f"resuming Zabbix agent checks on host \"{host}\": interface available"])
            yield "/var/log/zabbix/zabbix_server.log", "mon1", f"{stamp} {msg}"
        elif r < 0.7:
            stamp = time.strftime("%m/%d/%Y-%H:%M:%S", tm) + f".{int((when % 1) * 1e6):06d}"
            lan = f"192.168.1.{self.rnd.randrange(20, 200)}"
            port = self.rnd.randrange(30000, 60000)
            msg = self.rnd.choice([
                f"[1:2013504:6] ET POLICY GNU/Linux APT User-Agent Outbound likely related to package management [**] [Classification: Not Suspicious Traffic] [Priority: 3] {{TCP}} {lan}:{port} -> 151.101.2.132:80",
                f"[1:2210045:2] SURICATA STREAM Packet with invalid ack [**] [Classification: Generic Protocol Command Decode] [Priority: 3] {{TCP}} {self.rnd.choice(self.clients)}:{port} -> 192.0.2.10:443",
                f"[1:2260002:1] SURICATA Applayer Detect protocol only one direction [**] [Classification: Generic Protocol Command Decode] [Priority: 3] {{TCP}} {lan}:{port} -> 198.51.100.7:443",
                f"[1:2027757:4] ET INFO DNS Query for .to TLD [**] [Classification: Potentially Bad Traffic] [Priority: 2] {{UDP}} {lan}:{port} -> 192.0.2.53:53"])
            yield "/var/log/suricata/fast.log", "ids1", f"{stamp}  [**] {msg}"
        else:
            qid = f"5AP{time.strftime('%H%M', tm)}{self.rnd.randrange(10**6):06d}"
            peer = self.rnd.choice(self.clients)
            r = self.rnd.random()
            if r < 0.8:
                lines = [f"{qid}: from=<news@lists.example.net>, size={self.rnd.randrange(2000, 90000)}, class=0, nrcpts=1, msgid=<{qid}@lists.example.net>, proto=ESMTPS, daemon=MTA-v4, relay=mail.example.net [198.51.100.7]",
                         f"{qid}: to=<{self.rnd.choice(MAILBOXES)}@example.com>, delay=00:00:01, xdelay=00:00:01, mailer=local, pri=32211, dsn=2.0.0, stat=Sent"]
            elif r < 0.9:
                lines = [f"{qid}: [{peer}] did not issue MAIL/EXPN/VRFY/ETRN during connection to MTA-v4"]
            else:
                lines = [f"{qid}: ruleset=check_rcpt, arg1=<x{self.rnd.randrange(99)}@other.example>, relay=[{peer}], reject=550 5.7.1 <x@other.example>... Relaying denied"]
            for line in lines:
                yield "/var/log/mail.log", "mx3", self.syslog(when, "mx3", "sm-mta", line)

    def json_services(self, when: float):
        """Suricata EVE (flows, DNS, HTTP, TLS, stats, the odd low-severity decoder alert) and
        MongoDB's JSON log (connections, logins, slow queries, a mistyped password)."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + f".{int((when % 1) * 1e6):06d}+0000"
        lan = f"192.0.2.{self.rnd.randrange(10, 90)}"
        port = self.rnd.randrange(30000, 60000)
        if self.rnd.random() < 0.6:
            site = self.rnd.choice(SITES)
            head = {"timestamp": stamp, "flow_id": self.rnd.randrange(10**15, 10**16), "in_iface": "eth0"}
            r = self.rnd.random()
            if r < 0.3:
                ev = {**head, "event_type": "dns", "src_ip": lan, "src_port": port, "dest_ip": "192.0.2.53", "dest_port": 53, "proto": "UDP",
                      "dns": {"type": "query", "id": self.rnd.randrange(65536), "rrname": site, "rrtype": self.rnd.choice(["A", "AAAA", "HTTPS"]), "tx_id": 0}}
            elif r < 0.55:
                ev = {**head, "event_type": "tls", "src_ip": lan, "src_port": port, "dest_ip": f"198.51.100.{self.rnd.randrange(1, 250)}", "dest_port": 443, "proto": "TCP",
                      "tls": {"sni": site, "version": "TLS 1.3", "ja3": {}, "ja3s": {}}}
            elif r < 0.75:
                ev = {**head, "event_type": "http", "src_ip": self.rnd.choice(self.clients), "src_port": port, "dest_ip": "192.0.2.10", "dest_port": 80, "proto": "TCP", "tx_id": 0,
                      "http": {"hostname": "www.example.com", "url": self.rnd.choice(PAGES), "http_user_agent": self.rnd.choice(AGENTS), "http_method": "GET",
                               "protocol": "HTTP/1.1", "status": self.rnd.choice([200, 200, 304, 301]), "length": self.rnd.randrange(200, 90000)}}
            elif r < 0.95:
                ev = {**head, "event_type": "flow", "src_ip": lan, "src_port": port, "dest_ip": f"198.51.100.{self.rnd.randrange(1, 250)}", "dest_port": 443, "proto": "TCP",
                      "app_proto": "tls", "flow": {"pkts_toserver": self.rnd.randrange(5, 90), "pkts_toclient": self.rnd.randrange(5, 90), "bytes_toserver": self.rnd.randrange(500, 9000),
                                                   "bytes_toclient": self.rnd.randrange(500, 90000), "start": stamp, "end": stamp, "age": self.rnd.randrange(0, 60),
                                                   "state": "closed", "reason": "timeout", "alerted": False}}
            else:
                ev = {**head, "event_type": "alert", "src_ip": lan, "src_port": port, "dest_ip": f"198.51.100.{self.rnd.randrange(1, 250)}", "dest_port": 443, "proto": "TCP",
                      "alert": {"action": "allowed", "gid": 1, "signature_id": 2210020, "rev": 2, "signature": "SURICATA STREAM ESTABLISHED packet out of window",
                                "category": "Generic Protocol Command Decode", "severity": 3}, "app_proto": "tls"}
            yield "/var/log/suricata/eve.json", "ids1", json.dumps(ev, separators=(",", ":"))
            return
        date = '{"t":{"$date":"' + time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + f'.{int((when % 1) * 1000):03d}+00:00"}}'
        conn = self.rnd.randrange(100, 9000)
        user = self.rnd.choice(["app", "reporting", "backup"])
        ip = self.rnd.choice(["192.0.2.40", "192.0.2.41", "192.0.2.42"])
        lines = [f'"s":"I",  "c":"NETWORK",  "id":22943,   "ctx":"listener","msg":"Connection accepted","attr":{{"remote":"{ip}:{port}","connectionId":{conn},"connectionCount":{self.rnd.randrange(3, 40)}}}',
                 f'"s":"I",  "c":"NETWORK",  "id":51800,   "ctx":"conn{conn}","msg":"client metadata","attr":{{"remote":"{ip}:{port}","client":"conn{conn}","doc":{{"driver":{{"name":"PyMongo","version":"4.10.1"}},"os":{{"type":"Linux"}}}}}}}}',
                 f'"s":"I",  "c":"ACCESS",   "id":20250,   "ctx":"conn{conn}","msg":"Authentication succeeded","attr":{{"mechanism":"SCRAM-SHA-256","speculative":true,"principalName":"{user}","authenticationDatabase":"admin","remote":"{ip}:{port}","extraInfo":{{}}}}',
                 f'"s":"I",  "c":"NETWORK",  "id":22944,   "ctx":"conn{conn}","msg":"Connection ended","attr":{{"remote":"{ip}:{port}","connectionId":{conn},"connectionCount":{self.rnd.randrange(3, 40)}}}']
        r = self.rnd.random()
        if r < 0.1:
            lines.insert(2, f'"s":"I",  "c":"ACCESS",   "id":20249,   "ctx":"conn{conn}","msg":"Authentication failed","attr":{{"mechanism":"SCRAM-SHA-256","speculative":false,"principalName":"{user}","authenticationDatabase":"admin","remote":"{ip}:{port}","extraInfo":{{}},"error":"AuthenticationFailed: SCRAM authentication failed, storedKey mismatch"}}')
        elif r < 0.4:
            lines.insert(3, f'"s":"I",  "c":"COMMAND",  "id":51803,   "ctx":"conn{conn}","msg":"Slow query","attr":{{"type":"command","ns":"app.orders","command":{{"find":"orders","filter":{{"status":"open"}},"$db":"app"}},"planSummary":"IXSCAN {{ status: 1 }}","durationMillis":{self.rnd.randrange(100, 900)}}}')
        elif r < 0.5:
            lines = ['"s":"I",  "c":"STORAGE",  "id":22430,   "ctx":"Checkpointer","msg":"WiredTiger message","attr":{"message":{"ts_sec":' + str(int(when)) + ',"thread":"812:0x7f3a","session_name":"WT_SESSION.checkpoint","category":"WT_VERB_CHECKPOINT_PROGRESS","category_id":6,"verbose_level":"DEBUG_1","verbose_level_id":1,"msg":"saving checkpoint snapshot min: 12, snapshot max: 12"}}']
        for line in lines:
            yield "/var/log/mongodb/mongod.log", "db1", date + "," + line + "}"

    def identity(self, when: float):
        """A directory server, its KDC, and clients of both (sssd, polkit, pkexec)."""
        r = self.rnd.random()
        user = self.rnd.choice(ADMINS + ["dave", "erin"])
        lan = f"192.0.2.{self.rnd.randrange(20, 60)}"
        conn = self.rnd.randrange(1000, 99999)
        if r < 0.4:
            dn = f"uid={user},ou=people,dc=example,dc=org"
            err = 49 if self.rnd.random() < 0.02 else 0  # the odd mistyped password
            for msg in (f"conn={conn} fd=15 ACCEPT from IP={lan}:{self.rnd.randrange(30000, 60000)} (IP=0.0.0.0:389)",
                        f"conn={conn} op=0 EXT oid=1.3.6.1.4.1.1466.20037", f"conn={conn} op=0 STARTTLS",
                        f"conn={conn} fd=15 TLS established tls_ssf=256 ssf=256 tls_proto=TLSv1.3 tls_cipher=TLS_AES_256_GCM_SHA384",
                        f'conn={conn} op=1 BIND dn="{dn}" method=128',
                        f"conn={conn} op=1 RESULT tag=97 err={err} qtime=0.000011 etime=0.000352 text=",
                        f'conn={conn} op=2 SRCH base="dc=example,dc=org" scope=2 deref=0 filter="(&(objectClass=posixAccount)(uid={user}))"',
                        f"conn={conn} op=2 SEARCH RESULT tag=101 err=0 qtime=0.000010 etime=0.000210 nentries=1 text=",
                        f"conn={conn} op=3 UNBIND", f"conn={conn} fd=15 closed"):
                yield "/var/log/syslog", "ldap1", self.syslog(when, "ldap1", "slapd", msg)
        elif r < 0.7:
            et = "(4 etypes {aes256-cts-hmac-sha1-96(18), aes128-cts-hmac-sha1-96(17), aes256-cts-hmac-sha384-192(20), aes128-cts-hmac-sha256-128(19)})"
            tkt = "etypes {rep=aes256-cts-hmac-sha1-96(18), tkt=aes256-cts-hmac-sha1-96(18), ses=aes256-cts-hmac-sha1-96(18)}"
            auth = int(when)
            tm = time.gmtime(when)
            stamp = f"{MONTHS[tm.tm_mon - 1]} {tm.tm_mday:2d} {time.strftime('%H:%M:%S', tm)}"
            for msg in (f"AS_REQ {et} {lan}: NEEDED_PREAUTH: {user}@EXAMPLE.ORG for krbtgt/EXAMPLE.ORG@EXAMPLE.ORG, Additional pre-authentication required",
                        f"AS_REQ {et} {lan}: ISSUE: authtime {auth}, {tkt}, {user}@EXAMPLE.ORG for krbtgt/EXAMPLE.ORG@EXAMPLE.ORG",
                        f"TGS_REQ {et} {lan}: ISSUE: authtime {auth}, {tkt}, {user}@EXAMPLE.ORG for host/{self.rnd.choice(['web1', 'db1', 'mx1'])}.example.org@EXAMPLE.ORG"):
                yield "/var/log/krb5kdc.log", "ldap1", f"{stamp} ldap1 krb5kdc[1234](info): {msg}"
            if self.rnd.random() < 0.1:
                yield "/var/log/kadmin.log", "ldap1", (f"{stamp} ldap1 kadmind[1240](Notice): Request: kadm5_get_principal, {user}@EXAMPLE.ORG, success, "
                                                      "client=admin/admin@EXAMPLE.ORG, service=kadmin/admin@EXAMPLE.ORG, addr=192.0.2.10, flavor=6")
        elif r < 0.85:
            msg = self.rnd.choice(["Backend is online", "Enumeration requested but not enabled", "Marking port 389 of server 'ldap1.example.org' as 'working'"])
            yield "/var/log/syslog", "web1", self.syslog(when, "web1", self.rnd.choice(["sssd_be", "sssd"]), msg)
        else:
            admin = self.rnd.choice(ADMINS)
            proc = f"unix-process:{self.rnd.randrange(3000, 9000)}:{self.rnd.randrange(10**5, 10**6)}"
            for prog, msg in (("polkitd", f"Registered Authentication Agent for {proc} (system bus name :1.{self.rnd.randrange(40, 400)} [/usr/bin/pkttyagent --notify-fd 5 --fallback], object path /org/freedesktop/PolicyKit1/AuthenticationAgent, locale en_US.UTF-8)"),
                              ("polkitd", f"Operator of {proc} successfully authenticated as unix-user:{admin} to gain TEMPORARY authorization for action org.freedesktop.systemd1.manage-units for system-bus-name::1.42 [systemctl restart nginx] (owned by unix-user:{admin})"),
                              ("polkitd", f"Unregistered Authentication Agent for {proc} (system bus name :1.42, object path /org/freedesktop/PolicyKit1/AuthenticationAgent, locale en_US.UTF-8) (disconnected from bus)")):
                yield "/var/log/syslog", "web1", self.syslog(when, "web1", prog, msg)

    def services(self, when: float):
        """Time sync, Redis, Fail2ban, Keepalived, arpwatch and the smaller mail and FTP servers."""
        r = self.rnd.random()
        tm = time.gmtime(when)
        client = self.rnd.choice(self.clients)
        lan = f"192.168.1.{self.rnd.randrange(20, 200)}"
        if r < 0.12:
            prog, msg = self.rnd.choice([("chronyd", "Selected source 192.0.2.123 (2.debian.pool.ntp.org)"), ("chronyd", "Source 192.0.2.124 replaced with 192.0.2.125 (2.debian.pool.ntp.org)"),
                                         ("ntpd", "Listen normally on 3 eth0 192.0.2.10:123"), ("systemd-timesyncd", "Contacted time server 192.0.2.123:123 (ntp.ubuntu.com).")])
            yield "/var/log/syslog", "db1", self.syslog(when, "db1", prog, msg)
        elif r < 0.3:
            stamp = f"{tm.tm_mday:02d} {MONTHS[tm.tm_mon - 1]} {tm.tm_year} {time.strftime('%H:%M:%S', tm)}.{int((when % 1) * 1000):03d}"
            for mark, msg in self.rnd.choice([[("*", "100 changes in 300 seconds. Saving..."), ("*", "Background saving started by pid 4411"), ("*", "DB saved on disk"),
                                               ("*", "Fork CoW for RDB: current 1 MB, peak 1 MB, average 1 MB"), ("*", "Background saving terminated with success")],
                                              [("*", "Connection with replica 192.0.2.41:6379 lost."), ("*", "Replica 192.0.2.41:6379 asks for synchronization"),
                                               ("*", "Partial resynchronization request from 192.0.2.41:6379 accepted. Sending 0 bytes of backlog starting from offset 812345.")]]):
                yield "/var/log/redis/redis-server.log", "db1", f"812:M {stamp} {mark} {msg}"
        elif r < 0.4:
            f2b = time.strftime("%Y-%m-%d %H:%M:%S", tm) + f",{int((when % 1) * 1000):03d}"
            msg = self.rnd.choice([f"{'fail2ban.filter':<24} [812]: INFO    [sshd] Found {client} - {time.strftime('%Y-%m-%d %H:%M:%S', tm)}",
                                   f"{'fail2ban.actions':<24} [812]: NOTICE  [sshd] Unban {client}",
                                   f"{'fail2ban.filter':<24} [812]: INFO    [postfix-sasl] Found {client} - {time.strftime('%Y-%m-%d %H:%M:%S', tm)}"])
            if self.rnd.random() < 0.05:  # now and then a scanner gets banned
                msg = f"{'fail2ban.actions':<24} [812]: NOTICE  [sshd] Ban {client}"
            yield "/var/log/fail2ban.log", "web1", f"{f2b} {msg}"
        elif r < 0.5:
            prog, msg = self.rnd.choice([("Keepalived_vrrp", "(VI_1) received lower priority advert"), ("Keepalived_healthcheckers", "TCP connection to [192.0.2.21]:tcp:80 success."),
                                         ("Keepalived_vrrp", "VRRP_Script(chk_haproxy) succeeded")])
            yield "/var/log/syslog", "lb1", self.syslog(when, "lb1", prog, msg)
        elif r < 0.55:
            mac = f"52:54:00:{self.rnd.randrange(256):02x}:{self.rnd.randrange(256):02x}:{self.rnd.randrange(256):02x}"
            yield "/var/log/syslog", "gw1", self.syslog(when, "gw1", "arpwatch", f"{self.rnd.choice(['new activity', 'new activity', 'new station'])} {lan} {mac} eth1")
        elif r < 0.7:
            sid = f"{self.rnd.randrange(16**16):016x}"
            user = self.rnd.choice(MAILBOXES)
            for msg in (f"{sid} smtp connected address={client} host=mail{self.rnd.randrange(99)}.example.net",
                        f"{sid} smtp tls ciphers=TLSv1.3:TLS_AES_256_GCM_SHA384:256",
                        f"{sid} smtp message msgid={self.rnd.randrange(16**8):08x} size={self.rnd.randrange(900, 90000)} nrcpt=1 proto=ESMTP",
                        f"{sid} smtp envelope evpid={self.rnd.randrange(16**16):016x} from=<news@example.net> to=<{user}@example.org>",
                        f"{sid} smtp disconnected reason=quit"):
                yield "/var/log/maillog", "mx2", self.syslog(when, "mx2", "smtpd", msg)
        elif r < 0.85:
            user = self.rnd.choice(MAILBOXES)
            ip = f"192.0.2.{self.rnd.randrange(20, 60)}"
            if self.rnd.random() < 0.5:
                for prog, msg in (("imapd-ssl", f"Connection, ip=[::ffff:{ip}]"), ("imapd-ssl", f"LOGIN, user={user}, ip=[::ffff:{ip}], port=[{self.rnd.randrange(30000, 60000)}], protocol=IMAP"),
                                  ("imapd-ssl", f"LOGOUT, user={user}, ip=[::ffff:{ip}], headers=0, body=0, rcvd=195, sent=1032, time=28, starttls=1")):
                    yield "/var/log/mail.log", "mx3", self.syslog(when, "mx3", prog, msg, pid=False)
            else:
                for msg in ("accepted connection", f"login: client.example.org [{ip}] {user} plaintext+TLS User logged in SESSIONID=<mx4-{self.rnd.randrange(9999)}-{int(when)}-1-{self.rnd.randrange(9999)}>",
                            f"USAGE {user} user: 0.012 sys: 0.008"):
                    yield "/var/log/mail.log", "mx4", self.syslog(when, "mx4", "cyrus/imaps", msg)
        else:
            ip = self.rnd.choice(self.clients[:50])
            user = self.rnd.choice(["partner1", "partner2"])
            for msg in (f"(?@{ip}) [INFO] New connection from {ip}", f"(?@{ip}) [INFO] {user} is now logged in",
                        f"({user}@{ip}) [NOTICE] /srv/ftp/{user}//report-{self.rnd.randrange(999)}.csv uploaded  ({self.rnd.randrange(1000, 900000)} bytes, 912.40KB/sec)",
                        f"({user}@{ip}) [INFO] Logout."):
                yield "/var/log/syslog", "ftp2", self.syslog(when, "ftp2", "pure-ftpd", msg, pid=False)

    def sources(self) -> list[tuple[float, Callable]]:
        return [(40, self.web), (4, self.apache), (3, self.ssh_login), (3, self.sudo), (8, self.cron),
                (6, self.systemd), (7, self.postfix), (5, self.imap), (8, self.dns), (8, self.squid),
                (3, self.audit), (0.5, self.router), (1, self.ftp), (4, self.misc),
                (3, self.database), (3, self.exim),
                (2, self.vpn), (6, self.haproxy), (2, self.samba),
                (4, self.containers), (6, self.infra), (3, self.daemons), (4, self.devices),
                (4, self.json_services), (3, self.identity), (4, self.services),
                (3, self.apps), (4, self.watch)]

    def records(self, count: int) -> Iterator[dict]:
        weights, makers = zip(*self.sources())
        made = 0
        step = self.span / max(count, 1) * 2.5  # events average about 2.5 lines
        when = START
        while made < count:
            maker = self.rnd.choices(makers, weights)[0]
            for location, host, line in maker(when):
                if made >= count:
                    break
                yield {"type": "log", "timestamp": _rfc3339(when), "location": location,
                       "agent": {"id": AGENT_IDS.get(host, "099"), "name": host, "ip": "any"},
                       "log": line}
                made += 1
            when += step * self.rnd.uniform(0.2, 1.8)


def _rfc3339(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + f".{int((when % 1) * 1e6):06d}Z"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=100000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hours", type=float, default=24.0, help="time the records span")
    args = parser.parse_args(argv)
    out = sys.stdout
    for record in Traffic(args.seed, args.hours * 3600).records(args.count):
        out.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
