"""Shared test fixtures: the ``hidsctl`` on PATH is the one of the tree under test."""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The benchmarks some tests load as modules import their sibling bench/interpreter.py.
sys.path.append(str(ROOT / "bench"))


def _shared_dir() -> Path:
    """../shared beside the checkout (a worktree may sit one level deeper)."""
    if os.environ.get("HIDSCTL_SHARED"):
        return Path(os.environ["HIDSCTL_SHARED"])
    for parent in ROOT.parents:
        if (parent / "shared" / "fixtures").is_dir():
            return parent / "shared"
    return ROOT.parent / "shared"


FIXTURES = _shared_dir() / "fixtures"


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """With ``-p no:xdist`` the suite runs in one process: the ``-n``/``--dist`` of
    pyproject's addopts are then taken and ignored, not refused as unknown."""
    if not pluginmanager.has_plugin("xdist"):
        group = parser.getgroup("xdist", "one process (pytest-xdist disabled)")
        group._addoption("-n", "--numprocesses", dest="numprocesses", default=None,
                         help="ignored without pytest-xdist")
        group._addoption("--dist", dest="dist", default="no",
                         help="ignored without pytest-xdist")
        group._addoption("--no-loadscope-reorder", dest="loadscopereorder",
                         action="store_false", help="ignored without pytest-xdist")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files holding a slow test first, then the files of most tests. With ``--dist
    loadfile`` a file is one unit of work: a long one handed out last would leave the
    other process idle at the end (xdist's own order, by test count, puts the few long
    end-to-end tests last)."""
    from collections import Counter

    counts = Counter(item.path for item in items)
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: (item.path not in slow, -counts[item.path], str(item.path)))


@pytest.fixture(scope="session", autouse=True)
def hidsctl_on_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Put a ``hidsctl`` wrapper running this checkout first on PATH, for shell pipelines."""
    bindir = tmp_path_factory.mktemp("bin")
    wrapper = bindir / "hidsctl"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m hidsctl "$@"\n')
    wrapper.chmod(0o755)
    os.environ["PATH"] = f"{bindir}{os.pathsep}{os.environ['PATH']}"
    # The compiled-ruleset cache of commands run without a state directory goes here, not
    # into the host's ~/.cache or /var/cache.
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    return wrapper


def run_hidsctl(*args: str, input: bytes | str | None = None, timeout: float = 60,
                check: bool = False, **kwargs) -> subprocess.CompletedProcess:
    """Run the real ``hidsctl`` command in a subprocess; bytes in, bytes out."""
    if isinstance(input, str):
        input = input.encode()
    return subprocess.run([sys.executable, "-m", "hidsctl", *args], input=input,
                          capture_output=True, timeout=timeout, check=check, **kwargs)


# What a stage changes in its process: a one-shot command run in-process must not.
WATCHED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPROF)


@functools.cache
def _app():
    from hidsctl.cli import build_app

    return build_app()


def invoke_hidsctl(*args: str, input: bytes | str | None = None) -> subprocess.CompletedProcess:
    """``hidsctl ARGS`` run in this process by typer's CliRunner, with run_hidsctl's result
    (bytes in, bytes out), for a one-shot command whose parsing, messages, exit status or
    output is the point: no pipes, signals, daemons or entry point to prove, so no
    interpreter to start. An exception the command lets out is raised here, not hidden in
    an exit status."""
    from typer.testing import CliRunner

    handlers = {signum: signal.getsignal(signum) for signum in WATCHED_SIGNALS}
    result = CliRunner().invoke(_app(), list(args), input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert {signum: signal.getsignal(signum) for signum in WATCHED_SIGNALS} == handlers, \
        f"hidsctl {' '.join(args)} left a signal handler behind: run it with run_hidsctl"
    return subprocess.CompletedProcess(["hidsctl", *args], result.exit_code,
                                       result.stdout_bytes, result.stderr_bytes)


def checkout_copy(dest: Path) -> Path:
    """The checkout's files (tracked and new, as git lists them) copied under ``dest``:
    what a wheel built from a clean clone would package."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def is_root() -> bool:
    return os.geteuid() == 0


root_only = pytest.mark.skipif(not is_root(), reason="needs root")
