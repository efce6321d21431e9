"""The CLI as a whole: help for every command, docs generated from it, the package data."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import typer

from conftest import ROOT, run_hidsctl
from hidsctl.cli import build_app


def all_commands():
    command = typer.main.get_command(build_app())
    for name, sub in command.commands.items():
        yield name, sub
        for sub_name, leaf in getattr(sub, "commands", {}).items():
            yield f"{name} {sub_name}", leaf


def test_every_command_has_help_text():
    missing = [name for name, cmd in all_commands() if not (cmd.help or cmd.short_help)]
    assert missing == []


def test_help_lists_commands_and_python_m_works():
    result = run_hidsctl("--help")
    assert result.returncode == 0
    for name, _ in all_commands():
        if " " not in name:
            assert name in result.stdout.decode()
    version = run_hidsctl("--version")
    assert version.returncode == 0 and version.stdout.startswith(b"hidsctl ")


def test_unknown_command_is_a_usage_error():
    result = run_hidsctl("no-such-command")
    assert result.returncode == 2


def test_man_pages_and_completions_are_current():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "gendocs.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_man_pages_carry_examples_files_exit_status_and_no_type_labels():
    for page in (ROOT / "man").glob("*.1"):
        text = page.read_text()
        for section in ("EXAMPLES", "FILES", "ENVIRONMENT", "EXIT STATUS", "SEE ALSO"):
            assert f"\n.SH {section}\n" in text, f"{page.name}: no {section}"
        assert not re.search(r"<(list\[|str>|int>|float>|path>|file>)", text), page.name
    scan = (ROOT / "man" / "hidsctl-scan.1").read_text()
    assert "hidsctl scan \\-\\-fast /usr" in scan  # an example from the README
    assert "\\-\\-state\\-dir DIR" in scan


def test_completion_answers_from_the_cli():
    env = {**os.environ, "_HIDSCTL_COMPLETE": "complete_bash", "COMP_WORDS": "hidsctl --ver",
           "COMP_CWORD": "1"}
    result = subprocess.run([sys.executable, "-m", "hidsctl"], env=env, capture_output=True,
                            text=True)
    assert "--version" in result.stdout


def test_wheel_ships_rules_and_scripts(tmp_path):
    """A plain (non-editable) install finds the ruleset inside the package."""
    source = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "dist"), str(source)], check=True,
                   capture_output=True)
    wheel = next((tmp_path / "dist").glob("hidsctl-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    shipped_rules = sorted(n for n in names if n.startswith("hidsctl/rules/") and n.endswith(".xml"))
    checkout_rules = sorted("hidsctl/" + str(p.relative_to(ROOT))
                            for p in (ROOT / "rules").rglob("*.xml"))
    assert shipped_rules == checkout_rules
    assert any(n.startswith("hidsctl/scripts/") for n in names)
    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)
    probe = subprocess.run(
        [sys.executable, "-c", "from hidsctl.resources import rules_dir, scripts_dir;"
         "print(rules_dir()); print(scripts_dir())"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(installed)})
    rules, scripts = probe.stdout.split()
    assert Path(rules) == installed / "hidsctl" / "rules"
    assert Path(scripts) == installed / "hidsctl" / "scripts"
