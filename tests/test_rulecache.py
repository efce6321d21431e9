"""The compiled-ruleset cache (hidsctl/analysis/rulecache.py): a warm start gives the same
alerts as a cold one, an edit invalidates it, an untrusted or broken file is ignored with a
notice, concurrent writers leave a whole file, and ``--workers 2`` starts from it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from conftest import ROOT, is_root, run_hidsctl
from ossec_fixture import OSSEC, OSSEC_CONF, needs_ossec

LINE = ("Nov 25 13:50:47 web1 sshd[811]: Failed password for root from 203.0.113.9 port "
        "52144 ssh2")


def _record(line: str, i: int = 0) -> bytes:
    return orjson.dumps({"type": "log", "timestamp": f"2026-11-25T13:50:{i % 60:02d}.000Z",
                         "agent": {"id": f"{i % 4:03d}", "name": f"host{i % 4}"},
                         "location": "/var/log/auth.log", "log": line}) + b"\n"


def _fixture_corpus() -> bytes:
    """Every log line of OSSEC's rule tests, one record each."""
    import configparser

    out = []
    for ini in sorted((OSSEC / "tests").glob("*.ini")):
        parser = configparser.RawConfigParser(strict=False)
        parser.read(ini)
        for section in parser.sections():
            for name, value in parser.items(section):
                if name.startswith("log ") and value.strip():
                    out.append(_record(value, len(out)))
    return b"".join(out)


def _alerts(stdout: bytes) -> list[tuple]:
    """What each alert says, without the run's own timestamps and ids."""
    found = []
    for line in stdout.splitlines():
        rec = orjson.loads(line)
        if rec.get("type") == "alert":
            found.append((rec["rule"]["id"], rec["rule"]["level"], rec["rule"].get("firedtimes"),
                          rec.get("decoder", {}).get("name"), rec.get("full_log"),
                          orjson.dumps(rec.get("data", {}), option=orjson.OPT_SORT_KEYS)))
    return found


def _cache_files(state: Path) -> list[Path]:
    return sorted((state / "cache").glob("ruleset-*.cache"))


def _analyze(state: Path | None, *args: str, corpus: bytes = b"",
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    extra = ["--state-dir", str(state)] if state is not None else []
    return run_hidsctl("analyze", *extra, *args, input=corpus, timeout=300,
                       env={**os.environ, **(env or {})})


def _rules_dir(tmp_path: Path, level: int = 7) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "local.xml").write_text(
        '<group name="local,">\n'
        '  <rule id="1" level="0" noalert="1">\n'
        '    <category>syslog</category>\n'
        '    <description>syslog template</description>\n'
        '  </rule>\n'
        f'  <rule id="100100" level="{level}">\n'
        '    <if_sid>1</if_sid>\n'
        '    <match>Failed password</match>\n'
        '    <pcre2>from (?&lt;ip>[\\d.]+) port</pcre2>\n'
        '    <description>a failed password</description>\n'
        '  </rule>\n'
        '</group>\n')
    return rules


def _local_args(rules: Path) -> list[str]:
    return ["--no-default-rules", "--rules", str(rules)]


@needs_ossec
def test_a_cache_hit_gives_the_alerts_of_no_cache_on_the_ossec_corpus(tmp_path):
    corpus = _fixture_corpus()
    state = tmp_path / "state"
    conf = ["--ossec-conf", str(OSSEC_CONF)]
    plain = _analyze(None, *conf, corpus=corpus, env={"HIDSCTL_RULE_CACHE": "off"})
    cold = _analyze(state, *conf, corpus=corpus)
    [cache] = _cache_files(state)
    written = cache.stat()
    warm = _analyze(state, *conf, corpus=corpus)
    for run in (plain, cold, warm):
        assert run.returncode == 0, run.stderr.decode()
    assert cache.stat().st_ino == written.st_ino  # read, not written again
    assert b"hidsctl rule-cache:" not in warm.stderr
    expected = _alerts(plain.stdout)
    assert len(expected) > 150
    assert _alerts(cold.stdout) == expected
    assert _alerts(warm.stdout) == expected


@needs_ossec
def test_the_ossec_fixture_cases_hold_on_a_ruleset_from_the_cache(tmp_path):
    from hidsctl.analysis import rulecache
    from hidsctl.analysis.ruletests import read_cases, run_cases
    from hidsctl.analysis.run import RulesetSettings, load_ruleset

    settings = RulesetSettings(ossec_conf=OSSEC_CONF)
    rulecache.enable(tmp_path)
    try:
        load_ruleset(settings)
        [cache] = _cache_files(tmp_path)
        from_cache = rulecache.load(rulecache_sources(settings), OSSEC_CONF)
    finally:
        rulecache.disable()
    assert from_cache is not None and from_cache.compiled
    cases = [case for ini in sorted((OSSEC / "tests").glob("*.ini")) for case in read_cases(ini)]
    summary = run_cases(from_cache, cases)
    assert summary.passed == 250 and len(summary.failed) == 11
    assert cache.is_file()


def rulecache_sources(settings):
    from hidsctl.analysis.run import ruleset_sources

    return ruleset_sources(settings)


def test_editing_a_rule_file_invalidates_the_cache(tmp_path):
    rules, state = _rules_dir(tmp_path), tmp_path / "state"
    first = _analyze(state, *_local_args(rules), corpus=_record(LINE))
    assert [a[:2] for a in _alerts(first.stdout)] == [("100100", 7)], first.stderr.decode()
    [cache] = _cache_files(state)
    before = cache.stat().st_ino
    _rules_dir(tmp_path, level=9)
    second = _analyze(state, *_local_args(rules), corpus=_record(LINE))
    assert [a[:2] for a in _alerts(second.stdout)] == [("100100", 9)], second.stderr.decode()
    assert b"hidsctl rule-cache:" not in second.stderr  # a stale cache is routine: rebuilt silently
    assert _cache_files(state) == [cache] and cache.stat().st_ino != before


def test_a_corrupt_cache_is_ignored_with_one_notice_and_rebuilt(tmp_path):
    rules, state = _rules_dir(tmp_path), tmp_path / "state"
    assert _analyze(state, *_local_args(rules)).returncode == 0
    [cache] = _cache_files(state)
    blob = cache.read_bytes()
    for broken in (blob[:len(blob) // 2], blob[:-40] + b"\0" * 40, b"garbage"):
        cache.write_bytes(broken)
        run = _analyze(state, *_local_args(rules), corpus=_record(LINE))
        assert run.returncode == 0
        assert [a[:2] for a in _alerts(run.stdout)] == [("100100", 7)]
        notices = [line for line in run.stderr.decode().splitlines()
                   if line.startswith("hidsctl rule-cache:")]
        assert len(notices) == 1 and "corrupt" in notices[0], run.stderr.decode()
        assert cache.read_bytes() == blob  # rebuilt


def test_a_world_writable_cache_is_ignored_with_a_notice(tmp_path):
    rules, state = _rules_dir(tmp_path), tmp_path / "state"
    assert _analyze(state, *_local_args(rules)).returncode == 0
    [cache] = _cache_files(state)
    cache.chmod(0o666)
    run = _analyze(state, *_local_args(rules), corpus=_record(LINE))
    assert run.returncode == 0 and [a[:2] for a in _alerts(run.stdout)] == [("100100", 7)]
    assert "writable by others" in run.stderr.decode()
    assert cache.stat().st_mode & 0o777 == 0o600  # replaced by a private one


@pytest.mark.skipif(not is_root(), reason="needs root to give the file to another user")
def test_a_cache_owned_by_another_user_is_ignored_with_a_notice(tmp_path):
    rules, state = _rules_dir(tmp_path), tmp_path / "state"
    assert _analyze(state, *_local_args(rules)).returncode == 0
    [cache] = _cache_files(state)
    os.chown(cache, 65534, 65534)
    run = _analyze(state, *_local_args(rules), corpus=_record(LINE))
    assert run.returncode == 0 and [a[:2] for a in _alerts(run.stdout)] == [("100100", 7)]
    assert "owned by uid 65534" in run.stderr.decode()
    assert cache.stat().st_uid == os.geteuid()


def test_a_symlinked_cache_is_not_followed(tmp_path):
    rules, state = _rules_dir(tmp_path), tmp_path / "state"
    assert _analyze(state, *_local_args(rules)).returncode == 0
    [cache] = _cache_files(state)
    elsewhere = tmp_path / "elsewhere.cache"
    cache.rename(elsewhere)
    cache.symlink_to(elsewhere)
    run = _analyze(state, *_local_args(rules), corpus=_record(LINE))
    assert run.returncode == 0 and [a[:2] for a in _alerts(run.stdout)] == [("100100", 7)]
    assert "ignored" in run.stderr.decode()
    assert not cache.is_symlink()


def test_concurrent_writers_leave_a_whole_cache(tmp_path):
    rules, state = _rules_dir(tmp_path), tmp_path / "state"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "hidsctl", "analyze", "--state-dir", str(state),
           *_local_args(rules)]
    for _ in range(3):
        for cache in _cache_files(state):
            cache.unlink()
        procs = [subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env) for _ in range(4)]
        for proc in procs:
            _out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0 and b"hidsctl rule-cache:" not in err, err.decode()
        [cache] = _cache_files(state)
        assert not [p for p in (state / "cache").iterdir() if p.name.startswith(".")]
        warm = _analyze(state, *_local_args(rules), corpus=_record(LINE))
        assert [a[:2] for a in _alerts(warm.stdout)] == [("100100", 7)]
        assert b"hidsctl rule-cache:" not in warm.stderr
        assert _cache_files(state) == [cache]


def test_workers_start_from_the_cache(tmp_path):
    rules, state = _rules_dir(tmp_path), tmp_path / "state"
    assert _analyze(state, *_local_args(rules)).returncode == 0
    [cache] = _cache_files(state)
    written = cache.stat().st_ino
    corpus = b"".join(_record(LINE, i) for i in range(8))
    run = _analyze(state, *_local_args(rules), "--workers", "2", corpus=corpus)
    assert run.returncode == 0, run.stderr.decode()
    assert len(_alerts(run.stdout)) == 8
    assert cache.stat().st_ino == written


def test_without_a_state_dir_the_cache_goes_to_the_users_cache_dir(tmp_path):
    rules = _rules_dir(tmp_path)
    home = tmp_path / "xdg"
    env = {k: v for k, v in os.environ.items() if k != "HIDSCTL_STATE_DIR"}
    run = run_hidsctl("analyze", *_local_args(rules), input=b"",
                      env={**env, "XDG_CACHE_HOME": str(home)})
    assert run.returncode == 0, run.stderr.decode()
    assert len(list((home / "hidsctl").glob("ruleset-*.cache"))) == 1
    assert (home / "hidsctl").stat().st_mode & 0o777 == 0o700
    off = tmp_path / "xdg-off"
    run = run_hidsctl("analyze", *_local_args(rules), input=b"",
                      env={**env, "XDG_CACHE_HOME": str(off), "HIDSCTL_RULE_CACHE": "off"})
    assert run.returncode == 0 and not off.exists()


def test_logtest_and_rules_test_use_the_cache(tmp_path):
    """They take no --state-dir: their cache is $HIDSCTL_STATE_DIR's, else the user's."""
    rules, state = _rules_dir(tmp_path), tmp_path / "state"
    env = {**os.environ, "HIDSCTL_STATE_DIR": str(state)}
    run = run_hidsctl("logtest", *_local_args(rules), input=LINE + "\n", env=env)
    assert run.returncode == 0 and b"100100" in run.stdout, run.stderr.decode()
    [cache] = _cache_files(state)
    written = cache.stat().st_ino
    again = run_hidsctl("logtest", *_local_args(rules), input=LINE + "\n", env=env)
    assert again.returncode == 0 and b"100100" in again.stdout
    assert cache.stat().st_ino == written
    ini = tmp_path / "local.ini"
    ini.write_text(f"[failed password]\nlog 1 pass = {LINE}\nrule = 100100\nalert = 7\n"
                   "decoder = \n")
    fresh = tmp_path / "fresh"
    tested = run_hidsctl("rules", "test", *_local_args(rules), str(ini),
                         env={**env, "HIDSCTL_STATE_DIR": str(fresh)})
    assert tested.returncode in (0, 1), tested.stderr.decode()
    assert len(_cache_files(fresh)) == 1


def test_editing_a_cdb_list_or_a_decoder_invalidates_the_cache(tmp_path):
    rules, state = tmp_path / "rules", tmp_path / "state"
    (rules / "lists").mkdir(parents=True)
    (rules / "local.xml").write_text(
        '<group name="local,">\n'
        '  <rule id="1" level="0" noalert="1"><category>syslog</category>'
        '<description>t</description></rule>\n'
        '  <rule id="100101" level="8">\n'
        '    <if_sid>1</if_sid>\n'
        '    <list field="srcip" lookup="address_match_key">lists/blocked</list>\n'
        '    <description>a blocked host</description>\n'
        '  </rule>\n'
        '</group>\n')
    blocked = rules / "lists" / "blocked"
    blocked.write_text("203.0.113.9:bad\n")
    decoders = tmp_path / "decoders.xml"

    def write_decoder(field: str) -> None:
        decoders.write_text(
            '<decoder name="sshd">\n  <program_name>^sshd</program_name>\n</decoder>\n'
            '<decoder name="sshd-fail">\n  <parent>sshd</parent>\n'
            f'  <regex>from (\\S+) port</regex>\n  <order>{field}</order>\n</decoder>\n')

    def fired() -> list[str]:
        run = _analyze(state, "--decoders", str(decoders), *_local_args(rules),
                       corpus=_record(LINE))
        assert run.returncode == 0 and b"hidsctl rule-cache:" not in run.stderr, run.stderr.decode()
        return [a[0] for a in _alerts(run.stdout)]

    write_decoder("srcip")
    assert fired() == ["100101"]
    assert fired() == ["100101"]  # from the cache
    blocked.write_text("198.51.100.7:bad\n")
    assert fired() == []
    blocked.write_text("203.0.113.9:bad\n")
    assert fired() == ["100101"]
    write_decoder("dstip")  # the address no longer lands in srcip
    assert fired() == []


def test_a_second_engine_replays_the_kept_rule_code_with_state_of_its_own(monkeypatch):
    """An engine made from a ruleset compiled before (here by another engine; on a warm
    start, from the cache) binds the kept source again instead of generating it, and its
    correlation is its own: the brute-force rule counts only its own engine's failures."""
    from hidsctl.analysis.compiler import RuleCompiler
    from hidsctl.analysis.engine import Engine
    from hidsctl.analysis.events import from_log_line
    from hidsctl.analysis.run import AnalyzeSettings, load_ruleset

    def failure(second: int):
        return from_log_line(f"Nov 25 13:50:{second:02d} web1 sshd[811]: Failed password for "
                             f"root from 203.0.113.9 port 522{second:02d} ssh2",
                             "/var/log/auth.log", when=1795614600.0 + second)

    ruleset = load_ruleset(AnalyzeSettings())
    first = Engine(ruleset)
    assert ruleset.generated is not None
    monkeypatch.setattr(RuleCompiler, "_child_block",
                        lambda *_a, **_k: pytest.fail("the rule code was generated again"))
    second = Engine(ruleset)
    assert second._lines == first._lines
    won = [first.process(failure(s)).rule for s in range(1, 8)]
    assert [rule.id for rule in won if rule] == [5716] * 7
    # The eighth failure within the timeframe is a brute force for the first engine only.
    assert second.process(failure(8)).rule.id == 5716
    assert first.process(failure(9)).rule.id == 5720


def test_a_ruleset_from_the_cache_has_the_fingerprint_of_its_files(tmp_path, monkeypatch):
    """The cache's load and save give the ruleset the fingerprint its files give hashed
    afresh (``--workers N`` compares them across processes), without hashing them again."""
    from hidsctl.analysis import rulecache
    from hidsctl.analysis.run import AnalyzeSettings, load_ruleset

    settings = AnalyzeSettings(rules=[_rules_dir(tmp_path)], no_default_rules=True)
    monkeypatch.setattr(rulecache, "_directory", tmp_path / "cache")
    written = load_ruleset(settings)  # cold: loaded from the files, then saved
    read = load_ruleset(settings)     # warm: from the cache
    assert read is not written and read.fingerprint == written.fingerprint is not None
    monkeypatch.setattr(rulecache, "_directory", None)
    fresh = load_ruleset(settings)
    assert fresh.fingerprint is None
    assert rulecache.fingerprint(fresh, None) == read.fingerprint
