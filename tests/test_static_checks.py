"""Lint (ruff) and type checks (mypy) as tests, so `python -m pytest` and CI run them on every
change. Their configuration lives in pyproject.toml ([tool.ruff], [tool.mypy])."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run_tool(module: str, *args: str, cache_dir: Path | None = None) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (pip install -e '.[test]')")
    extra = [f"--cache-dir={cache_dir}"] if cache_dir else []
    result = subprocess.run([sys.executable, "-m", module, *args, *extra], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (f"{module} {' '.join(args)} failed:\n"
                                    f"{result.stdout}{result.stderr}")


def test_ruff_finds_nothing(tmp_path: Path) -> None:
    _run_tool("ruff", "check", "--no-fix", "hidsctl", "tests", "tools", "bench",
              cache_dir=tmp_path / "ruff")


def test_mypy_finds_no_type_errors() -> None:
    # The default .mypy_cache in the checkout (git-ignored) keeps a re-run to a few seconds.
    _run_tool("mypy")
