"""hidsctl/directcall.py reads a plain command line into the very arguments typer gives the
command, and leaves every other command line to typer."""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Any, Callable

import pytest
import typer

from hidsctl import directcall
from hidsctl.cli import build_app
from hidsctl.commands import analyze, logtest, rules
from tests.conftest import run_hidsctl


def typer_kwargs(func: Callable[..., Any], argv: list[str]) -> dict[str, Any]:
    """What typer calls ``func`` with for ``argv``: the one command of an app of its own."""
    seen: dict[str, Any] = {}

    @functools.wraps(func)
    def capture(**kwargs: Any) -> None:
        seen.update(kwargs)

    app = typer.Typer()
    app.command("x")(capture)
    typer.main.get_command(app).main(argv, standalone_mode=False)
    return seen


def direct_kwargs(func: Callable[..., Any], argv: list[str]) -> dict[str, Any] | None:
    """directcall's arguments, with the function's defaults for the rest (as Python gives
    them when it calls the command)."""
    given = directcall.read(func, argv)
    if given is None:
        return None
    defaults = {name: p.default for name, p in inspect.signature(func).parameters.items()
                if p.default is not inspect.Parameter.empty}
    return {**defaults, **given}


def every_command() -> list[tuple[str, Callable[..., Any]]]:
    app = build_app()
    found = [(info.name, info.callback) for info in app.registered_commands]
    for group in app.registered_groups:
        found += [(f"{group.name} {info.name}", info.callback)
                  for info in group.typer_instance.registered_commands]
    return found


def sample(param: directcall.Param, tmp_path: Path) -> list[str]:
    value = {str: "text", int: "-3", float: "2.5", Path: str(tmp_path / "f.x")}
    return [value[param.kind]] + ([str(tmp_path / "g.x")] if param.many else [])


def plain_line(func: Callable[..., Any], tmp_path: Path) -> list[str]:
    """Every parameter of the command given once (a repeated one twice)."""
    argv: list[str] = []
    for param in directcall.params(func) or []:
        if param.kind is bool:
            argv.append(param.spellings[0])
        elif param.spellings:
            for value in sample(param, tmp_path):
                argv += [param.spellings[-1], value]
        else:
            argv += sample(param, tmp_path)
    return argv


@pytest.mark.parametrize("name,func", every_command(), ids=lambda v: v if isinstance(v, str)
                         else "")
def test_every_plain_command_line_reads_as_typer_reads_it(name, func, tmp_path):
    if directcall.params(func) is None:
        pytest.skip(f"{name}: left to typer")
    for argv in ([], plain_line(func, tmp_path)):
        direct = direct_kwargs(func, argv)
        if direct is None:  # a required parameter the empty line lacks
            assert argv == [] and any(p.required for p in directcall.params(func) or [])
            continue
        assert direct == typer_kwargs(func, argv), (name, argv)


def test_the_one_shot_commands_are_read_directly(tmp_path):
    conf = tmp_path / "ossec.conf"
    cases = [
        (analyze.analyze, ["--ossec-conf", str(conf), "--workers", "2", "--min-level=3",
                           "--rules", "a.xml", "--rules", "b.xml", "--event-budget", "1e2",
                           "--state-dir", str(tmp_path), "--crawler-dns"]),
        (logtest.logtest, ["-U", "5716:5:sshd", "-q", "--location", "-", "--json"]),
        (rules.rules_test, ["one.xml", "--no-default-rules", "two.xml", "-"]),
    ]
    for func, argv in cases:
        direct = direct_kwargs(func, argv)
        assert direct is not None, argv
        assert direct == typer_kwargs(func, argv)


@pytest.mark.parametrize("argv", [
    ["--help"], ["-h"], ["--min-level", "two"], ["--min-level", "1_0"], ["--workers"],
    ["--no-such-option"], ["--workers", "1", "--workers", "2"], ["--crawler-dns=yes"],
    ["--min", "3"], ["--", "x"], ["stray"], ["--event-budget", "nan"],
])
def test_anything_else_is_left_to_typer(argv):
    assert directcall.read(analyze.analyze, argv) is None


def test_a_path_option_that_would_refuse_its_value_is_left_to_typer(tmp_path):
    assert directcall.read(analyze.analyze, ["--alerts-json", str(tmp_path)]) is None
    assert directcall.read(rules.rules_test, []) is None  # FILES is required


def test_typer_reports_what_the_direct_reader_leaves(tmp_path):
    bad = run_hidsctl("analyze", "--min-level", "two", "--state-dir", str(tmp_path))
    assert bad.returncode == 2 and b"--min-level" in bad.stderr
    assert b"Usage: hidsctl analyze" in bad.stderr
    refused = run_hidsctl("analyze", "--alerts-log", str(tmp_path))
    assert refused.returncode == 2 and b"directory" in refused.stderr


def test_a_command_called_directly_exits_with_its_code():
    line = "Nov 25 13:50:47 web1 sshd[811]: Failed password for root from 203.0.113.9 port " \
           "52144 ssh2\n"
    good = run_hidsctl("logtest", "-q", "-U", "5716:5:sshd", input=line)
    wrong = run_hidsctl("logtest", "-q", "-U", "1:1:nothing", input=line)
    assert good.returncode == 0, good.stderr
    assert wrong.returncode != 0 and wrong.returncode != 2, wrong.stderr
