"""The CLI as a whole: help for every command, docs generated from it, the package data."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import typer

from conftest import ROOT, checkout_copy, invoke_hidsctl, run_hidsctl
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


def _command_modules():
    for path in sorted((ROOT / "hidsctl" / "commands").glob("*.py")):
        if path.name != "__init__.py":
            yield path.name, ast.parse(path.read_text())


def _commands_of(tree: ast.Module) -> list[ast.FunctionDef]:
    return [node for node in tree.body if isinstance(node, ast.FunctionDef)
            and any(isinstance(d, ast.Name) and d.id == "handle_errors"
                    for d in node.decorator_list)]


def test_commands_register_one_way():
    """The one style cli.py describes: module-level command functions, named only by the
    module's register(app); options shared between commands come from hidsctl.options."""
    for name, tree in _command_modules():
        functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert "register" in functions, f"{name}: no register(app)"
        register = functions["register"]
        nested = [n.name for n in ast.walk(register) if isinstance(n, ast.FunctionDef)][1:]
        assert nested == [], f"{name}: commands defined inside register(): {nested}"
        registered = {arg.id for call in ast.walk(register) if isinstance(call, ast.Call)
                      for arg in call.args if isinstance(arg, ast.Name)}
        commands = _commands_of(tree)
        assert commands, f"{name}: no command function"
        for function in commands:
            assert function.name in registered, f"{name}: {function.name} is not registered"
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                others = [d for d in node.decorator_list
                          if not (isinstance(d, ast.Name) and d.id == "handle_errors")]
                assert others == [], f"{name}: {node.name} is registered by a decorator"
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("hidsctl.commands"), \
                    f"{name} imports from {node.module}: shared options go to hidsctl/options.py"
        module_level_apps = [n for n in tree.body if isinstance(n, ast.Assign)
                             and "typer.Typer(" in ast.unparse(n.value)]
        assert module_level_apps == [], f"{name}: a Typer app outside register()"


def test_output_stages_take_their_shared_options_as_groups():
    """--level/--rule-id/--group and --from/--bus-group come only through AlertFilter and
    StageOptions, so every output stage has them alike; the groups' commands show them."""
    grouped = {"LevelOption", "RuleIdOption", "RuleGroupOption", "FromOption", "BusGroupOption"}
    for name, tree in _command_modules():
        named = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert not named & grouped, f"{name} names {named & grouped}: use the option groups"
    options = {name: {opt for param in cmd.params for opt in param.opts}
               for name, cmd in all_commands()}
    for name in ("mail", "forward", "respond"):
        assert {"--from", "--bus-group", "--state-dir", "--config"} <= options[name], name
    for name in ("mail", "forward"):
        assert {"--level", "--rule-id", "--group", "--linger"} <= options[name], name


def test_no_command_takes_an_option_it_ignores():
    """Every parameter of every command is read by the command (an option accepted and
    ignored makes a script look right while it does nothing)."""
    unused = []
    for name, tree in _command_modules():
        for function in _commands_of(tree):
            read = {n.id for stmt in function.body for n in ast.walk(stmt)
                    if isinstance(n, ast.Name)}
            unused += [f"{name}: {function.name}({a.arg})" for a in function.args.args
                       if a.arg not in read]
    assert unused == []


def test_commands_without_state_or_settings_take_no_such_option():
    for args, option in ((["rules", "list"], "--state-dir"), (["logtest"], "--state-dir"),
                         (["keys", "list"], "--config"), (["status"], "--config"),
                         (["agentless", "remove", "a@b"], "--config")):
        result = invoke_hidsctl(*args, option, "/nonexistent")
        assert result.returncode == 2 and b"No such option" in result.stderr, (args, option)


def test_options_of_another_mode_are_refused_not_ignored(tmp_path):
    result = invoke_hidsctl("supervise", "--install-users", "--role", "local", "--state-dir",
                            str(tmp_path))
    assert result.returncode == 2
    assert result.stderr == b"hidsctl: error: --install-users takes no --role, --state-dir\n"


def test_unknown_command_is_a_usage_error():
    result = invoke_hidsctl("no-such-command")
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
    checkout_copy(source)
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
