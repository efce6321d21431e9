"""Generate man pages (man/) and shell completions (completions/) from the CLI itself.

    python tools/gendocs.py            # rewrite man/ and completions/
    python tools/gendocs.py --check    # exit 1 naming what is stale

A page carries the command's help and options, then EXAMPLES (the README's pipeline
examples that name the command), FILES, EXIT STATUS and SEE ALSO; so editing an example in
the README means regenerating. tests/test_cli.py runs the check, so the committed files
never drift from the CLI or the README. tools/install copies them into place.
"""

from __future__ import annotations

import re
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


TYPE_LABEL = re.compile(r"\s*<([^>]*)>$")


def metavar(param, label: str, help_text: str) -> str:
    """A man-page placeholder for typer's type label: `--state-dir DIR`, not `<path>`."""
    if param.metavar:
        return param.metavar
    kind = label.removeprefix("list[").removesuffix("]").lower()
    name = (param.name or "value").upper()
    if kind == "path":
        return "DIR" if name.endswith("DIR") else "FILE" if "file" in help_text.lower() else "PATH"
    if kind == "int":
        return "N"
    if kind == "float":
        return "SECONDS" if "second" in help_text.lower() else "NUMBER"
    return name


def option_lines(command: click.Command, ctx: click.Context) -> list[str]:
    out: list[str] = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, help_text = record
        label = TYPE_LABEL.search(names)
        if label:
            names = names[:label.start()]
            if getattr(param, "param_type_name", "") == "argument":
                names += "..." if param.nargs == -1 else ""
            else:
                names += " " + metavar(param, label.group(1), help_text or "")
        out += [".TP", f"\\fB{roff_escape(names)}\\fR", roff_escape(help_text or "")]
    return out


def arguments_of(command, ctx) -> list[str]:
    """SOURCE... as OPTIONS lists it (typer's singular name), not the parameter's."""
    names = []
    for param in command.get_params(ctx):
        if getattr(param, "param_type_name", "") == "argument":
            record = param.get_help_record(ctx)
            name = TYPE_LABEL.sub("", record[0]) if record else (param.name or "").upper()
            names.append(roff_escape(name + ("..." if param.nargs == -1 else "")))
    return names


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
    lines += examples_section(name if parent is not None else None)
    lines += files_section(name if parent is not None else None)
    lines += environment_section() + exit_status_section(name) + see_also_section(name, command, parent)
    return "\n".join(lines) + "\n"


# --- sections after the options ----------------------------------------------------------

# What each command keeps in the state directory (STATE below), checked against the code.
STATE_FILES = {
    "collect": [("collect.db", "file offsets, so a restart resumes without losing a line")],
    "scan": [("syscheck.db", "the integrity baseline (SQLite)"),
             ("diff/local/", "last copies of report-changes files, for diffs")],
    "send": [("send-queue/", "records not yet acknowledged by the server"),
             ("client.keys", "this agent's key, imported with hidsctl keys import")],
    "receive": [("client.keys", "agent keys (OSSEC's client.keys layout)"),
                ("agents.db", "what is known of each agent: status, address, version")],
    "keys": [("client.keys", "agent keys (OSSEC's client.keys layout)")],
    "agents": [("agents.db", "agent status as receive records it")],
    "respond": [("respond.db", "active responses waiting to be undone")],
    "agentless": [("agentless-known_hosts", "host keys seen, in OpenSSH's known_hosts format")],
    "logs": [("logs/alerts/", "default --dir: alerts.log, alerts.json and the dated, sealed "
                              "YYYY/Mon/ossec-alerts-DD files")],
    "mail": [("mail/", "the outgoing queue and the hourly and daily counters")],
    "forward": [("forward/", "the queue of messages not yet delivered")],
    "supervise": [("supervise.sock", "control socket that hidsctl status asks"),
                  ("queues/", "the durable queues joining the components"),
                  ("logs/alerts/", "alert files of the local and server roles")],
    "status": [("supervise.sock", "control socket of the running supervise")],
}
DOCS = {"collect": "configuration.md", "scan": "rootcheck.md", "analyze": "rules.md",
        "logtest": "rules.md", "rules": "rules.md", "send": "protocol.md",
        "receive": "protocol.md", "keys": "protocol.md", "agents": "protocol.md",
        "respond": "active-response.md", "agentless": "agentless.md", "logs": "outputs.md",
        "mail": "outputs.md", "forward": "outputs.md", "supervise": "supervise.md",
        "status": "supervise.md", "config": "configuration.md"}
EXIT_NOTES = {
    "scan": "A scan started while another holds the same baseline exits 1, naming its pid.",
    "logs": "hidsctl logs verify exits 1 naming a modified, truncated or missing day.",
    "config": "hidsctl config check exits 2 naming the file, table and key.",
    "rules": "hidsctl rules test exits 1 when a test fails; rules check 2 on an invalid rule.",
}


def tp(term: str, text: str) -> list[str]:
    return [".TP", f"\\fB{roff_escape(term)}\\fR", roff_escape(text)]


def examples_section(name: str | None) -> list[str]:
    snippets = readme_blocks("Run") + readme_blocks("Try it") if name is None else [
        s for s in readme_snippets("Pipelines") if re.search(rf"\bhidsctl {name}\b(?!-)", s)]
    lines = [".SH EXAMPLES"] if snippets else []
    for snippet in snippets:
        lines += [".PP", ".nf", ".RS 4", roff_escape(snippet), ".RE", ".fi"]
    return lines


def files_section(name: str | None) -> list[str]:
    lines = [".SH FILES"] + tp(
        "/var/lib/hidsctl", "STATE, the state directory of commands run as root; "
        "$XDG_STATE_HOME/hidsctl (~/.local/state/hidsctl) for other users; "
        "$HIDSCTL_STATE_DIR or --state-dir set it.")
    for file, what in STATE_FILES.get(name or "", []):
        lines += tp(f"STATE/{file}", what)
    return lines + tp("/etc/hidsctl/hidsctl.toml", "A usual place for the TOML file given "
                      "with --config: one table per command, keys spelled as its long options.")


def environment_section() -> list[str]:
    return [".SH ENVIRONMENT"] + tp(
        "HIDSCTL_STATE_DIR", "State directory when --state-dir is not given.") + tp(
        "XDG_STATE_HOME", "For users other than root, the state directory is "
        "$XDG_STATE_HOME/hidsctl when HIDSCTL_STATE_DIR is unset.")


def exit_status_section(name: str) -> list[str]:
    lines = [".SH EXIT STATUS"] + tp("0", "The command ran; findings are records, not exit "
                                     "codes.") + tp(
        "1", "A runtime failure, or a failed verification.") + tp(
        "2", "A usage or configuration error, named on stderr.") + tp(
        "130", "Interrupted (SIGINT).")
    if name in EXIT_NOTES:
        lines += [".PP", roff_escape(EXIT_NOTES[name])]
    return lines


def see_also_section(name: str, command, parent) -> list[str]:
    if parent is None:
        pages = [f"hidsctl-{s}" for s in sorted(command.commands)]
    else:
        partners = set()  # the commands named in the same README examples
        for block in readme_blocks("Pipelines"):
            if re.search(rf"\bhidsctl {name}\b(?!-)", block):
                partners |= set(re.findall(r"\bhidsctl ([a-z]+)", block))
        pages = ["hidsctl"] + [f"hidsctl-{p}" for p in sorted(partners - {name})
                               if p in ALL_COMMANDS]
    lines = [".SH SEE ALSO", ", ".join(f"\\fB{roff_escape(p)}\\fR(1)" for p in pages)]
    doc = DOCS.get(name)
    if doc:
        lines += [".PP", roff_escape(f"docs/{doc} and README.md in the hidsctl sources.")]
    return lines


ALL_COMMANDS: set[str] = set()


def readme_section(section: str) -> str:
    text = (ROOT / "README.md").read_text()
    return text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]


def readme_blocks(section: str) -> list[str]:
    return [block.rstrip("\n") for block in re.findall(r"```sh\n(.*?)```", readme_section(section), re.S)]


def readme_snippets(section: str) -> list[str]:
    """The README's sh examples under ``## section``, one snippet per command with the
    comment lines above it; a snippet with no hidsctl in it (a heredoc, a setup line)
    stays with the next one."""
    snippets: list[str] = []
    for block in readme_blocks(section):
        pending: list[str] = []
        current: list[str] = []
        heredoc = None
        for line in block.splitlines():
            if heredoc:
                current.append(line)
                heredoc = None if line.strip() == heredoc else heredoc
                continue
            continued = bool(current) and current[-1].rstrip().endswith("\\")
            if not line.strip() or (line.startswith("#") and not continued):
                if current:
                    pending, current = _flush(snippets, pending, current)
                if line.strip():
                    pending.append(line)
                continue
            if current and not continued and not current[-1].rstrip().endswith(("do", "|")) \
                    and not line.startswith((" ", "done")):
                pending, current = _flush(snippets, pending, current)
            current.append(line)
            match = re.search(r"<<-?'?(\w+)'?", line)
            heredoc = match.group(1) if match else None
        if current:
            _flush(snippets, pending, current)
    return snippets


def _flush(snippets: list[str], pending: list[str], current: list[str]):
    text = "\n".join(pending + current)
    if "hidsctl " in "\n".join(current):
        snippets.append(text)
        return [], []
    return pending + current, []


def _clean(text: str) -> str:
    # Drop click's \b paragraph markers; keep the text.
    return "\n".join(line for line in text.splitlines() if line.strip() != "\b").strip()


def generate() -> dict[Path, str]:
    command = typer.main.get_command(build_app())
    ALL_COMMANDS.update(command.commands)
    files: dict[Path, str] = {ROOT / "man" / "hidsctl.1": page("hidsctl", command, None)}
    root_ctx = click.Context(command, info_name="hidsctl")
    for name, sub in command.commands.items():
        files[ROOT / "man" / f"hidsctl-{name}.1"] = page(name, sub, root_ctx)
    for shell, suffix in (("bash", "bash"), ("zsh", "zsh"), ("fish", "fish")):
        script = get_completion_script(prog_name="hidsctl", complete_var="_HIDSCTL_COMPLETE",
                                       shell=shell)
        if shell == "zsh":
            # Autoloaded from fpath as _hidsctl, the file is the body of _hidsctl: complete
            # on this first call too, not only once compdef has registered the function.
            script = script.rstrip("\n") + ZSH_AUTOLOAD
        files[ROOT / "completions" / f"hidsctl.{suffix}"] = script.rstrip("\n") + "\n"
    return files


ZSH_AUTOLOAD = """

if [[ ${funcstack[1]} == _hidsctl ]]; then
  _hidsctl_completion "$@"
fi
"""


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
