"""Diagnostics: one logging setup, one format, what supervise and people read on stderr."""

from __future__ import annotations

import ast
import io
import re
import sys

from conftest import ROOT, run_hidsctl
from hidsctl.diagnostics import STAMPED, logger


def test_one_format_for_components_and_for_hidsctl_itself(capsys):
    logger("scan").warning("cannot read /x: Permission denied")
    logger().error("bad option")
    logger().warning("careful")
    logger("supervise").info("scan: started", extra=STAMPED)
    lines = capsys.readouterr().err.splitlines()
    assert lines[:3] == ["hidsctl scan: cannot read /x: Permission denied",
                         "hidsctl: error: bad option", "hidsctl: warning: careful"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ hidsctl supervise: scan: started",
                        lines[3]), lines[3]
    assert len(lines) == 4  # once each: no second handler, nothing through the root logger


def test_a_closed_stderr_is_no_error(monkeypatch):
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr(sys, "stderr", closed)
    logger("collect").warning("nobody reads this")  # a stage goes on: nothing raised


def test_a_component_line_and_a_fatal_error_from_the_real_command(tmp_path):
    missing = tmp_path / "nothing-here"
    result = run_hidsctl("scan", str(missing), "--state-dir", str(tmp_path / "state"))
    assert result.returncode == 1
    assert f"hidsctl scan: {missing}: no such file or directory" in \
        result.stderr.decode().splitlines()
    # supervise takes a component's last stderr line, without this prefix, as its last_error
    bad = run_hidsctl("collect", "--once", "--format", "no-such-format", "--state-dir",
                      str(tmp_path / "state"))
    assert bad.returncode == 2
    assert bad.stderr.decode().splitlines()[-1].startswith("hidsctl: error: ")


def test_no_bare_prints_on_stderr():
    """Diagnostics go through hidsctl.diagnostics, not printed to stderr or to a stream
    passed in. The logtest prompt is output, not one; a bad input line's ``line N: …``
    (records.py, and analyze's hint after it, readers.py) keeps the bare format DESIGN.md fixes;
    directcall.py prints click's own "Aborted!", so a command reads the same either way."""
    found = []
    for path in sorted((ROOT / "hidsctl").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id == "print":
                target = [ast.unparse(k.value) for k in node.keywords if k.arg == "file"]
                if target and "err" in target[0]:
                    found.append(str(path.relative_to(ROOT)))
    assert found == ["hidsctl/analysis/readers.py", "hidsctl/analysis/run_logtest.py",
                     "hidsctl/directcall.py", "hidsctl/records.py"]
