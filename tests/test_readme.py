"""The README stays true: its runnable examples run, and its set-up and test commands are
the ones CI and tools/install actually have.

A block is runnable when the line before its ```sh fence is
``<!-- runnable -->`` or ``<!-- runnable: stdout has "TEXT" ... -->``; it runs under
bash -e -o pipefail in an empty temporary directory, with the state directory there too.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass

import pytest

from conftest import ROOT

README = ROOT / "README.md"
MARKER = re.compile(r"^<!-- runnable(?::\s*stdout has (?P<expect>.*?))?\s*-->$")


@dataclass
class Block:
    line: int  # of the fence, 1-based
    code: str
    expect: list[str]


def runnable_blocks(text: str) -> list[Block]:
    lines = text.splitlines()
    blocks = []
    for number, line in enumerate(lines):
        match = MARKER.match(line.strip())
        if not match:
            continue
        fence = number + 1
        if fence >= len(lines) or lines[fence].strip() != "```sh":
            raise AssertionError(f"README.md line {number + 1}: runnable marker not followed "
                                 "by a ```sh block")
        end = lines.index("```", fence + 1)
        blocks.append(Block(fence + 1, "\n".join(lines[fence + 1:end]) + "\n",
                            shlex.split(match.group("expect") or "")))
    return blocks


BLOCKS = runnable_blocks(README.read_text())


def test_the_readme_has_runnable_examples():
    assert len(BLOCKS) >= 3
    assert all(block.expect for block in BLOCKS), "say what each block's output shows"


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: f"line{b.line}")
def test_runnable_block(block: Block, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "HIDSCTL_STATE_DIR": str(tmp_path / "state"),
           "XDG_STATE_HOME": str(tmp_path / "xdg")}
    result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block.code], cwd=work,
                            env=env, capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL)
    where = f"README.md block at line {block.line}"
    assert result.returncode == 0, f"{where}: exit {result.returncode}\n{result.stderr}"
    assert "Traceback" not in result.stderr, f"{where}:\n{result.stderr}"
    for text in block.expect:
        assert text in result.stdout, f"{where}: no {text!r} in:\n{result.stdout}"
    if re.search(r"hidsctl (scan|collect|keys)", block.code):
        assert (tmp_path / "state").is_dir(), f"{where}: state went past $HIDSCTL_STATE_DIR"


def test_markers_are_recognised():
    text = ('x\n<!-- runnable: stdout has "a b" c -->\n```sh\necho a b c\n```\n'
            '<!-- runnable -->\n```sh\ntrue\n```\n')
    blocks = runnable_blocks(text)
    assert [(b.line, b.code, b.expect) for b in blocks] == [
        (3, "echo a b c\n", ["a b", "c"]), (7, "true\n", [])]
    with pytest.raises(AssertionError, match="line 1: runnable marker"):
        runnable_blocks("<!-- runnable -->\n\n```sh\ntrue\n```\n")


def section_commands(title: str) -> list[str]:
    """The command lines (comments dropped) of the sh blocks in README section ``title``."""
    text = README.read_text()
    body = text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", body, re.S):
        for line in block.splitlines():
            command = line.split("#", 1)[0].strip()
            if command:
                commands.append(command)
    return commands


def test_ci_runs_the_readme_test_set_up_and_command():
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    for command in section_commands("Test"):
        assert command.removeprefix("sudo ") in ci, f".ci/run lacks: {command}"


def test_the_readme_set_up_uses_options_tools_install_has():
    help_text = subprocess.run([str(ROOT / "tools" / "install"), "--help"], capture_output=True,
                               text=True, check=True).stdout
    text = README.read_text()
    set_up = text.split("\n## Set up\n", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(?:\./tools/install )?(--[a-z-]+)", set_up))
    assert {"--prefix", "--root", "--uninstall"} <= named
    for option in named:
        assert option in help_text, f"README names {option}, tools/install --help does not"
    for command in section_commands("Set up") + section_commands("Test"):
        for option in re.findall(r"(?<=\s)--[a-z-]+", command):
            if "tools/install" in command:
                assert option in help_text, command
