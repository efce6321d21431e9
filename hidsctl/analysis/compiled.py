"""OSSEC's ``compiled_rule`` checks, by name.

``is_valid_crawler`` in OSSEC confirms a search-engine crawler by its address. hidsctl
checks the well-known crawler address blocks offline; a reverse DNS confirmation
(``--crawler-dns``) is off by default and, when on, runs with a short timeout in a worker
thread and is cached, so a slow resolver never stalls analysis.
"""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from hidsctl.analysis.events import Event

CRAWLER_PREFIXES = ("66.249.", "72.14.", "209.85.", "65.55.", "207.46.", "74.6.", "72.30.",
                    "67.195.", "157.55.", "40.77.")
CRAWLER_DOMAINS = (".googlebot.com", ".google.com", ".search.msn.com", ".crawl.yahoo.net")


def is_simple_http_request(ev: Event) -> bool:
    """A GET-style request without a query string; a POST is never simple."""
    url = ev.fields.get("url")
    if url is None:
        return False
    log = ev.log
    if '"POST ' in log or " POST " in log:
        return False
    return url == "/" or "?" not in url


def comp_srcuser_dstuser(ev: Event) -> bool:
    src, dst = ev.fields.get("srcuser"), ev.fields.get("dstuser")
    return src is not None and dst is not None and src != dst


def comp_mswin_targetuser_calleruser_diff(ev: Event) -> bool:
    # Windows events carry "target user" and "caller user" in the text OSSEC compares.
    log = ev.log
    t = log.find("Target Account Name:")
    c = log.find("Caller User Name:")
    if t < 0 or c < 0:
        return False
    target = log[t + 20:].split()[0] if log[t + 20:].split() else ""
    caller = log[c + 17:].split()[0] if log[c + 17:].split() else ""
    return target != caller


def check_id_size(ev: Event) -> bool:
    value = ev.fields.get("id")
    return value is not None and len(value) > 3


class CrawlerCheck:
    """is_valid_crawler: address prefixes, optionally confirmed by reverse DNS."""

    def __init__(self, use_dns: bool = False, timeout: float = 0.5, ttl: float = 3600.0):
        self.use_dns = use_dns
        self.timeout = timeout
        self.ttl = ttl
        self.cache: dict[str, tuple[float, bool]] = {}
        self.pool: ThreadPoolExecutor | None = None

    def __call__(self, ev: Event) -> bool:
        ip = ev.fields.get("srcip") or ev.log.split(" ", 1)[0]
        if not ip.startswith(CRAWLER_PREFIXES):
            return False
        if not self.use_dns:
            return True
        now = time.monotonic()
        hit = self.cache.get(ip)
        if hit is not None and hit[0] > now:
            return hit[1]
        from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout

        if self.pool is None:
            self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="crawler-dns")
        future = self.pool.submit(self._resolve, ip)
        try:
            verdict = future.result(timeout=self.timeout)
        except FutureTimeout:
            verdict = False
        if len(self.cache) > 10000:
            self.cache.clear()
        self.cache[ip] = (now + self.ttl, verdict)
        return verdict

    @staticmethod
    def _resolve(ip: str) -> bool:
        try:
            name = socket.gethostbyaddr(ip)[0]
        except OSError:
            return False
        return name.endswith(CRAWLER_DOMAINS)


COMPILED_RULES: dict[str, Callable[[Event], bool]] = {
    "is_simple_http_request": is_simple_http_request,
    "is_valid_crawler": CrawlerCheck(),
    "comp_srcuser_dstuser": comp_srcuser_dstuser,
    "comp_mswin_targetuser_calleruser_diff": comp_mswin_targetuser_calleruser_diff,
    "check_id_size": check_id_size,
}
