"""What analyze keeps under supervise: its compiled-ruleset cache in a directory of the
supervise state directory that the service user owns, in every topology, and its
correlation state across a SIGKILL (analysis/statefile.py)."""

from __future__ import annotations

import json
import os
import signal
import stat
from pathlib import Path

import pytest

from nats_support import nats_server  # noqa: F401  (fixture)
from test_supervise_e2e import (NOBODY_OK, alerts, free_port, running, sshd_failure,
                                start, stop, wait_for, world)  # noqa: F401 (world: a fixture)
from test_supervise_setup import collect_config

from hidsctl.supervise import topology

needs_nobody = pytest.mark.skipif(
    not NOBODY_OK, reason="needs root and an interpreter `nobody` can run (CI installs one)")


def _state_dir_of(argv: list[str]) -> Path:
    return Path(argv[argv.index("--state-dir") + 1])


@pytest.mark.parametrize("role,bus", [("local", None), ("agent", None), ("server", None),
                                      ("server", "nats://127.0.0.1:4222")])
def test_every_analyze_gets_a_state_dir_of_its_own(tmp_path, role, bus):
    """supervise hands each --state-dir but its own to the user a component runs as
    (supervisor.py), so analyze's rule cache lands where that user may write."""
    settings = topology.SuperviseSettings(role=role, bus=bus, analyze_members=2)
    built = topology.build(settings, {}, None, tmp_path)
    analyzers = [spec for spec in built.components if spec.argv[3] == "analyze"]
    assert len(analyzers) == {"agent": 0, "local": 1}.get(role, 2 if bus else 1)
    for spec in analyzers:
        assert _state_dir_of(spec.argv) == tmp_path / "analyze", spec.argv


@needs_nobody
@pytest.mark.slow
def test_bus_members_cache_their_rules_in_the_state_dir_as_the_service_user(
        world, nats_server):  # noqa: F811
    config = world / "server.toml"
    config.write_text(f"""
[supervise]
role = "server"
analyze-members = 2
[receive]
listen = ["127.0.0.1:{free_port()}"]
[logs]
dir = "{world}/logs"
""")
    state = world / "state"
    proc = start(config, state, "--bus", nats_server.url, "--user", "nobody")
    cache = state / "analyze" / "cache"
    try:
        wait_for(lambda: running(state, {"analyze", "analyze-2"}), what="both members up")
        found = wait_for(lambda: list(cache.glob("ruleset-*.cache")), what="the rule cache")
    finally:
        stop(proc)
    err = (world / "supervise.err").read_text()
    assert "rule cache" not in err and "Permission denied" not in err, err
    for path, mode in ((cache, 0o700), (found[0], 0o600)):
        st = os.stat(path)
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (65534, mode), path


def _committed(state: Path) -> int | None:
    try:
        return int((state / "queues" / "events" / "consumers" / "analyze.offset").read_text())
    except (OSError, ValueError):
        return None


def _saved_at(state: Path) -> int | None:
    """The events offset of analyze's newest correlation snapshot."""
    try:
        head = (state / "analyze" / "correlation.snap").read_bytes().split(b"\n")[1]
        return int(json.loads(head)["entries"][0]["position"]["events"])
    except (OSError, IndexError, KeyError, ValueError):
        return None


@pytest.mark.slow
def test_a_killed_analyze_goes_on_counting_the_brute_force(world):
    """Five failed logins, analyze killed once its state of them is saved, five more: the
    brute-force rule (its eighth) fires once, as without the kill."""
    config = collect_config(world, f'[alerts]\njson = "{world}/alerts.json"\n')
    state = world / "state"
    proc = start(config, state, "--role", "local")
    try:
        first = wait_for(lambda: running(state, {"collect", "analyze"}), what="analyze up")
        pid = {c["name"]: c["pid"] for c in first["components"]}["analyze"]
        with open(world / "auth.log", "a") as log:
            log.writelines(sshd_failure(n) for n in range(5))
        wait_for(lambda: len(alerts(world / "alerts.json")) == 5, what="five alerts")
        wait_for(lambda: _saved_at(state) is not None and _saved_at(state) == _committed(state),
                 what="the state of the last checkpoint saved")
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: (r := running(state, {"analyze"})) and
                 {c["name"]: c["restarts"] for c in r["components"]}["analyze"] == 1,
                 what="analyze restarted")
        with open(world / "auth.log", "a") as log:
            log.writelines(sshd_failure(n) for n in range(5, 10))
        found = wait_for(lambda: len(a := alerts(world / "alerts.json")) >= 10 and a,
                         what="ten alerts")
    finally:
        stop(proc)
    assert [a["rule"]["level"] for a in found].count(10) == 1, found
    assert "correlation state" not in (world / "supervise.err").read_text()
