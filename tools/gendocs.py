"""Generate man pages (man/) and shell completions (completions/) from the CLI itself.

    python tools/gendocs.py            # rewrite man/ and completions/
    python tools/gendocs.py --check    # exit 1 naming what is stale

tests/test_docs.py runs the check, so the committed files never drift from the CLI.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:  # typer >= 0.26 carries its own copy of click
    from typer import _click as click
except ImportError:  # pragma: no cover
    import click
import typer
from typer.completion import get_completion_script

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hidsctl import __version__  # noqa: E402
from hidsctl.cli import build_app  # noqa: E402

DATE = "2026"  # fixed, so regeneration is reproducible


def roff_escape(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("-", "\\-")
    lines = []
    for line in text.splitlines():
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def option_lines(command: click.Command, ctx: click.Context) -> list[str]:
    out: list[str] = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, help_text = record
        out += [".TP", f"\\fB{roff_escape(names)}\\fR", roff_escape(help_text or "")]
    return out


def arguments_of(command, ctx) -> list[str]:
    return [roff_escape((param.name or "").upper()) for param in command.get_params(ctx)
            if getattr(param, "param_type_name", "") == "argument"]


def _is_group(command) -> bool:
    return isinstance(getattr(command, "commands", None), dict)


def page(name: str, command: click.Command, parent: click.Context | None) -> str:
    ctx = click.Context(command, info_name=name, parent=parent)
    title = ctx.command_path.replace(" ", "-")
    summary = (command.short_help or (command.help or "").split("\n")[0]).strip().rstrip(".")
    lines = [
        f'.TH {title.upper()} 1 "{DATE}" "hidsctl {__version__}" "hidsctl manual"',
        ".SH NAME",
        f"{roff_escape(title)} \\- {roff_escape(summary)}",
        ".SH SYNOPSIS",
        f"\\fB{roff_escape(ctx.command_path)}\\fR [OPTIONS] " + " ".join(arguments_of(command, ctx)),
        ".SH DESCRIPTION",
        roff_escape(_clean(command.help or summary)),
    ]
    if _is_group(command):
        lines += [".SH COMMANDS"]
        for sub_name, sub in sorted(command.commands.items()):
            sub_help = (sub.short_help or (sub.help or "").split("\n")[0]).strip()
            lines += [".TP", f"\\fB{roff_escape(sub_name)}\\fR", roff_escape(sub_help)]
    opts = option_lines(command, ctx)
    if opts:
        lines += [".SH OPTIONS"] + opts
    if _is_group(command):
        for sub_name, sub in sorted(command.commands.items()):
            sub_ctx = click.Context(sub, info_name=sub_name, parent=ctx)
            lines += [f".SH {roff_escape(ctx.command_path + ' ' + sub_name).upper()}",
                      f"\\fB{roff_escape(sub_ctx.command_path)}\\fR [OPTIONS] "
                      + " ".join(arguments_of(sub, sub_ctx)),
                      ".PP", roff_escape(_clean(sub.help or ""))]
            lines += option_lines(sub, sub_ctx)
    if parent is None:
        lines += [".SH SEE ALSO"]
        root = command if _is_group(command) else None
        subs = sorted(root.commands) if root else []
        lines.append(", ".join(f"\\fBhidsctl\\-{roff_escape(s)}\\fR(1)" for s in subs))
    return "\n".join(lines) + "\n"


def _clean(text: str) -> str:
    # Drop click's \b paragraph markers; keep the text.
    return "\n".join(line for line in text.splitlines() if line.strip() != "\b").strip()


def generate() -> dict[Path, str]:
    command = typer.main.get_command(build_app())
    files: dict[Path, str] = {ROOT / "man" / "hidsctl.1": page("hidsctl", command, None)}
    root_ctx = click.Context(command, info_name="hidsctl")
    for name, sub in command.commands.items():
        files[ROOT / "man" / f"hidsctl-{name}.1"] = page(name, sub, root_ctx)
    for shell, suffix in (("bash", "bash"), ("zsh", "zsh"), ("fish", "fish")):
        script = get_completion_script(prog_name="hidsctl", complete_var="_HIDSCTL_COMPLETE",
                                       shell=shell)
        files[ROOT / "completions" / f"hidsctl.{suffix}"] = script.rstrip("\n") + "\n"
    return files


def stale(files: dict[Path, str]) -> list[str]:
    problems = []
    for path, text in files.items():
        if not path.exists() or path.read_text() != text:
            problems.append(f"{path.relative_to(ROOT)} is stale")
    for directory in (ROOT / "man",):
        for existing in directory.glob("*.1"):
            if existing not in files:
                problems.append(f"{existing.relative_to(ROOT)} has no command")
    return problems


def main() -> int:
    files = generate()
    if "--check" in sys.argv[1:]:
        problems = stale(files)
        for problem in problems:
            print(problem)
        if problems:
            print("run: python tools/gendocs.py")
        return 1 if problems else 0
    for path, text in files.items():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    for existing in (ROOT / "man").glob("*.1"):
        if existing not in files:
            existing.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
