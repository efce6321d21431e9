"""The accelerated build (``HIDSCTL_COMPILE=1``, setup.py): the modules mypyc compiles to C
give the same alerts, notices and bad-line reports as the pure-Python modules they come
from, and the compiled-ruleset cache they write loads again."""

from __future__ import annotations

import ast
import importlib.machinery
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import orjson
import pytest

from conftest import ROOT, checkout_copy
from ossec_fixture import OSSEC, OSSEC_CONF, needs_ossec

pytestmark = [
    pytest.mark.slow,  # the build: mypy type-checks the modules, the C compiler builds them
    pytest.mark.skipif(shutil.which("cc") is None or not Path(
        sysconfig.get_paths()["include"], "Python.h").is_file(),
        reason="no C compiler or Python headers (tools/install --test installs them)"),
]


def accelerated_modules() -> list[str]:
    """setup.py's ACCELERATED, as module names."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    paths = next(ast.literal_eval(node.value) for node in tree.body
                 if isinstance(node, ast.Assign) and node.targets[0].id == "ACCELERATED")
    return [p.removesuffix(".py").replace("/", ".") for p in paths]


@pytest.fixture(scope="module")
def compiled_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel HIDSCTL_COMPILE=1 builds from the checkout's files, unpacked."""
    tmp = tmp_path_factory.mktemp("accelerated")
    source = tmp / "src"
    checkout_copy(source)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-q", "-w", str(tmp / "dist"), str(source)],
                           env={**os.environ, "HIDSCTL_COMPILE": "1"}, capture_output=True,
                           text=True, timeout=900)
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = next((tmp / "dist").glob("hidsctl-*.whl"))
    site = tmp / "site"
    zipfile.ZipFile(wheel).extractall(site)
    return site


def test_the_accelerated_modules_are_extensions(compiled_site: Path) -> None:
    names = accelerated_modules()
    probe = subprocess.run(
        [sys.executable, "-c", "import importlib, sys\n"
         "for name in sys.argv[1:]: print(importlib.import_module(name).__file__)", *names],
        cwd=compiled_site.parent, env={**os.environ, "PYTHONPATH": str(compiled_site)},
        capture_output=True, text=True, check=True)
    files = probe.stdout.split()
    assert len(files) == len(names)
    for name, file in zip(names, files):
        assert file.startswith(str(compiled_site)), name
        assert file.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), (name, file)


def bench_corpus(path: Path, count: int, agents: int) -> None:
    """bench/analyze's corpus: OSSEC's rule-test log lines with varied addresses and users."""
    from siblings import script

    script("analyze").build(path, count, OSSEC, agents)


def other_records() -> bytes:
    """Records of the other types analysis decodes, and lines each reader must refuse."""
    stamp = "2026-11-25T13:50:47.123Z"
    agent = {"id": "001", "name": "web", "ip": "10.0.0.2"}
    records = [
        {"type": "syscheck", "timestamp": stamp, "agent": agent, "path": "/etc/passwd",
         "event": "modified", "changed": ["size", "sha256"], "old": {"size": 1, "sha256": "a"},
         "new": {"size": 2, "sha256": "b"}},
        {"type": "syscheck", "timestamp": stamp, "agent": agent, "path": "/etc/sudoers",
         "event": "deleted"},
        {"type": "rootcheck", "timestamp": stamp, "agent": agent,
         "title": "Trojaned version of file '/bin/ls' detected."},
        {"type": "log", "timestamp": stamp, "agent": agent, "location": "/var/log/app.json",
         "log": '{"user": {"name": "bob"}, "action": "login", "srcip": "10.1.2.3"}'},
        {"type": "notice", "timestamp": stamp, "component": "collect", "message": "hello"},
    ]
    bad = [b"not json", b'{"type": "log", "log": 3}', b"[1, 2]",
           b'{"type": "syscheck", "path": "/x", "event": "renamed"}']
    return b"".join(orjson.dumps(r) + b"\n" for r in records) + b"\n".join(bad) + b"\n"


def analyze(site: Path, corpus: Path, state: Path, *args: str,
            workers: int = 1) -> tuple[bytes, bytes]:
    with open(corpus, "rb") as stdin:
        result = subprocess.run(
            [sys.executable, "-m", "hidsctl", "analyze", "--workers", str(workers), "--state-dir",
             str(state), *args], stdin=stdin, capture_output=True, timeout=300,
            cwd=state.parent, env={**os.environ, "PYTHONPATH": str(site)})
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    return result.stdout, result.stderr


@needs_ossec
@pytest.mark.parametrize("ruleset", ["ossec", "own"])
def test_compiled_and_pure_modules_give_the_same_output(compiled_site: Path, tmp_path: Path,
                                                         ruleset: str) -> None:
    corpus = tmp_path / "corpus.jsonl"
    bench_corpus(corpus, 3000, agents=3)
    with open(corpus, "ab") as out:
        out.write(other_records())
    args = ["--ossec-conf", str(OSSEC_CONF)] if ruleset == "ossec" else []
    pure = analyze(ROOT, corpus, tmp_path / "pure-state", *args)
    cold = analyze(compiled_site, corpus, tmp_path / "compiled-state", *args)
    # A fresh state (fts, counts) but the compiled-ruleset cache the cold run wrote.
    shutil.copytree(tmp_path / "compiled-state" / "cache", tmp_path / "warm-state" / "cache")
    warm = analyze(compiled_site, corpus, tmp_path / "warm-state", *args)
    alerts = [orjson.loads(line) for line in pure[0].splitlines()]
    assert sum(a["type"] == "alert" for a in alerts) > 100
    assert pure[1].count(b"line ") >= 4  # the bad lines were reported
    assert cold == pure
    assert warm == pure  # no notice of a cache file ignored, either


@needs_ossec
def test_compiled_decoding_processes_give_one_process_output(compiled_site: Path,
                                                             tmp_path: Path) -> None:
    """One agent's stream with --workers 2: the compiled readers of the decoded chunks
    (readers.py) give what one pure-Python process gives, bad lines reported alike."""
    corpus = tmp_path / "corpus.jsonl"
    bench_corpus(corpus, 3000, agents=1)
    with open(corpus, "ab") as out:
        out.write(other_records())
    args = ["--ossec-conf", str(OSSEC_CONF)]
    pure = analyze(ROOT, corpus, tmp_path / "pure-state", *args)
    spread = analyze(compiled_site, corpus, tmp_path / "spread-state", *args, workers=2)
    assert sum(b'"type":"alert"' in line for line in pure[0].splitlines()) > 100
    assert spread[0] == pure[0]
    assert spread[1] == pure[1]
