"""Drive a network device's interactive shell with its profile: log in, enter privileged
mode, turn paging off, run the configuration command (answering any pager), leave."""

from __future__ import annotations

import re

import paramiko

from hidsctl.agentless.credentials import Credential
from hidsctl.agentless.expect import Expect
from hidsctl.agentless.failures import CheckFailed
from hidsctl.agentless.profiles import Profile
from hidsctl.agentless.settings import Host
from hidsctl.agentless.ssh import Session

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]")
BACKSPACE_ERASE = re.compile(r"\x08+[ \t]*\x08*")  # how a pager erases its own prompt


def fetch(session: Session, profile: Profile, credential: Credential | None,
          commands: tuple[str, ...]) -> dict[str, str]:
    """The output of each command, cleaned of echo, pager and terminal noise."""
    host = session.host
    try:
        channel = session.transport.open_session(timeout=host.timeout)
        channel.get_pty(term="vt100", width=512, height=24)
        channel.invoke_shell()
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise CheckFailed("unexpected_output", f"device gives no interactive shell: {exc}") from None
    try:
        shell = Expect(channel, newline=profile.newline)
        name, privileged = _login(shell, host, profile, credential)
        user_prompt, privileged_prompt = profile.prompts_for(name)
        if not privileged and profile.enable_command:
            _enable(shell, host, profile, credential, user_prompt, privileged_prompt)
            privileged = True
        prompt = privileged_prompt if privileged else user_prompt
        for command in profile.pager_off:
            _run(shell, command, prompt, profile, host.timeout)  # a refusal is fine: pages are answered
        outputs = {}
        for command in commands:
            output = _run(shell, command, prompt, profile, host.timeout)
            _check_errors(output, command, profile)
            outputs[command] = output
        if profile.exit_command:
            try:
                shell.sendline(profile.exit_command)
            except CheckFailed:
                pass
        return outputs
    finally:
        channel.close()


def _login(shell: Expect, host: Host, profile: Profile,
           credential: Credential | None) -> tuple[str, bool]:
    """Answer any username and password prompts until the device shows a prompt; the
    device's name (from the prompt) and whether the session is already privileged."""
    password = credential.password if credential else None
    patterns = [profile.user_prompt, profile.privileged_prompt, profile.username_prompt,
                profile.password_prompt, *profile.login_failed]
    users_sent = passwords_sent = 0
    while True:
        found = shell.expect(patterns, host.connect_timeout, "prompt after login")
        if found.index in (0, 1):
            return found.match.group("name"), found.index == 1
        if found.index == 2:
            if users_sent:
                raise CheckFailed("login_failed", "device asked for the username again: login refused")
            shell.sendline(host.user)
            users_sent += 1
        elif found.index == 3:
            if password is None:
                raise CheckFailed("login_failed", "device asks for a password and none is stored "
                                  f"(hidsctl agentless add-host {host.target})")
            if passwords_sent:
                raise CheckFailed("login_failed", "device asked for the password again: password refused")
            shell.sendline(password)
            passwords_sent += 1
        else:
            raise CheckFailed("login_failed", f"device refused the login: {found.match.group(0).strip()!r}")


def _enable(shell: Expect, host: Host, profile: Profile, credential: Credential | None,
            user_prompt: re.Pattern[str], privileged_prompt: re.Pattern[str]) -> None:
    patterns = [privileged_prompt, profile.enable_password_prompt, user_prompt, *profile.enable_failed]
    shell.sendline(profile.enable_command)
    found = shell.expect(patterns, host.timeout, "privileged prompt after enable")
    if found.index == 0:
        return
    if found.index != 1:
        raise CheckFailed("enable_failed", f"device refused {profile.enable_command!r}: "
                          f"{(found.before + found.match.group(0)).strip()[-80:]!r}")
    enable_password = credential.enable_password if credential else None
    if enable_password is None:
        raise CheckFailed("enable_failed", "device asks for an enable password and none is stored "
                          f"(hidsctl agentless add-host --enable {host.target})")
    shell.sendline(enable_password)
    found = shell.expect(patterns, host.timeout, "privileged prompt after the enable password")
    if found.index != 0:
        raise CheckFailed("enable_failed", "wrong enable password: the device refused it")


def _run(shell: Expect, command: str, prompt: re.Pattern[str], profile: Profile,
         timeout: float) -> str:
    """Send one command and collect its output up to the next prompt, answering pagers."""
    patterns = [prompt, profile.more] if profile.more is not None else [prompt]
    shell.sendline(command)
    pieces = []
    while True:
        found = shell.expect(patterns, timeout, f"prompt after {command!r}")
        pieces.append(found.before)
        if found.index == 0:
            break
        shell.send(profile.more_answer)
    return clean("".join(pieces), command)


def clean(text: str, command: str) -> str:
    """Terminal output as plain lines: no escapes, no pager erasures, no echo of the command."""
    text = ANSI.sub("", text)
    text = BACKSPACE_ERASE.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "")
    lines = text.split("\n")
    if lines and lines[0].strip().endswith(command.strip()):
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(line.rstrip() for line in lines) + ("\n" if lines else "")


def _check_errors(output: str, command: str, profile: Profile) -> None:
    for pattern in profile.command_error:
        found = pattern.search(output)
        if found:
            line = output[found.start():].split("\n", 1)[0].strip()
            raise CheckFailed("unexpected_output", f"device rejected {command!r}: {line!r}")
