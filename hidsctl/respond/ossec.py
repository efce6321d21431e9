"""Import OSSEC's active-response configuration from an ``ossec.conf``: ``<command>``,
``<active-response>`` and ``<global><white_list>``, translated to the ``[respond]`` table's
shape (the same dict a TOML config gives), so one checker validates both."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from typing import Any

from hidsctl import resources
from hidsctl.errors import ConfigError, SourceLocation

_DECLARATION = re.compile(r"<\?xml[^>]*\?>")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_BARE_AMPERSAND = re.compile(r"&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)")


def import_respond(path: str | os.PathLike) -> dict[str, Any]:
    """``{"command": [...], "response": [...], "allow": [...], "repeated_offenders": [...]}``
    from the file; keys with nothing to say are left out."""
    root = parse_ossec_conf(path)
    blocks = [child for config in root for child in config]  # children of <ossec_config>
    commands = [_command(block, path) for block in blocks if block.tag == "command"]
    responses: list[dict[str, Any]] = []
    offenders: list[int] = []
    for block in (b for b in blocks if b.tag == "active-response"):
        if block.find("command") is None:  # an agent's global block: repeated offenders only
            offenders = _minutes(_text(block, "repeated_offenders"), path) or offenders
            continue
        responses.append(_response(block, path))
    out: dict[str, Any] = {}
    if commands:
        out["command"] = commands
    if responses:
        out["response"] = responses
    allow = [element.text.strip() for element in root.iter("white_list") if element.text and element.text.strip()]
    if allow:
        out["allow"] = allow
    if offenders:
        out["repeated_offenders"] = offenders
    return out


def parse_ossec_conf(path: str | os.PathLike) -> ET.Element:
    """The file as one element whose children are its ``<ossec_config>`` blocks.

    OSSEC's own XML reader is lenient where XML is not: several top-level blocks, ``--``
    inside comments, bare ``&`` in commands. Those are accepted here too (comments are
    dropped with their line breaks kept, so error lines stay right)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise ConfigError("ossec.conf not found", SourceLocation(str(path))) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", SourceLocation(str(path))) from None
    # OSSEC accepts several <ossec_config> blocks in one file: wrap them in one root.
    try:
        text = _COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), _DECLARATION.sub("", text))
        return ET.fromstring(f"<root>{_BARE_AMPERSAND.sub('&amp;', text)}</root>")
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else None
        raise ConfigError(f"not valid XML: {exc.msg if hasattr(exc, 'msg') else exc}",
                          SourceLocation(str(path), line)) from None


def _text(block: ET.Element, tag: str) -> str:
    element = block.find(tag)
    return (element.text or "").strip() if element is not None else ""


def _split(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,|]", text) if part.strip()]


def _command(block: ET.Element, path: str | os.PathLike) -> dict[str, Any]:
    name = _text(block, "name")
    if not name:
        raise ConfigError("<command> without <name>", SourceLocation(str(path)))
    return {
        "name": name,
        "executable": bundled_name(_text(block, "executable") or name),
        "expect": _split(_text(block, "expect")),
        "timeout_allowed": _text(block, "timeout_allowed").lower() == "yes",
    }


def bundled_name(executable: str) -> str:
    """OSSEC's ``firewall-drop.sh`` is the bundled ``firewall-drop``."""
    stem = executable[:-3] if executable.endswith(".sh") else executable
    if "/" not in stem and (resources.scripts_dir() / stem).is_file():
        return stem
    return executable


def _minutes(text: str, path: str | os.PathLike) -> list[int]:
    """OSSEC's "30,60,120" as [30, 60, 120]."""
    parts = _split(text)
    if not all(part.isdigit() for part in parts):
        raise ConfigError(f"<repeated_offenders> must be minutes separated by commas, not {text!r}",
                          SourceLocation(str(path)))
    return [int(part) for part in parts]


def _response(block: ET.Element, path: str | os.PathLike) -> dict[str, Any]:
    out: dict[str, Any] = {"command": _text(block, "command"),
                           "location": _text(block, "location").lower() or "local"}
    if out["location"] == "analysis-server":  # an older spelling of "server"
        out["location"] = "server"
    for tag in ("agent_id",):
        if _text(block, tag):
            out[tag] = _text(block, tag)
    for tag in ("level", "timeout"):
        value = _text(block, tag)
        if value:
            out[tag] = int(value) if value.isdigit() else value
    if _text(block, "rules_id"):
        out["rules_id"] = _split(_text(block, "rules_id"))
    if _text(block, "rules_group"):
        out["rules_group"] = _split(_text(block, "rules_group"))
    if _text(block, "repeated_offenders"):
        out["repeated_offenders"] = _minutes(_text(block, "repeated_offenders"), path)
    if _text(block, "disabled").lower() == "yes":
        out["disabled"] = True
    return out
