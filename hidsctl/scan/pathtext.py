"""File paths as text in records and messages, and back.

A path is bytes; records are UTF-8 text. Valid UTF-8 shows as itself, every byte that is
not part of valid UTF-8 and every control character (newline, escape, …) as ``\\xHH``,
and a backslash as ``\\\\``: so a file literally named
``bad\\xff`` (``bad\\\\xff``) and one whose name ends in the byte 0xff (``bad\\xff``) never
show the same, and ``parse`` gives back the exact bytes of any shown path.
"""

from __future__ import annotations

import os
import re

# Control characters show as \xHH too: a file named "x\nscan: all clear" must not
# start a line of its own in a message on stderr or in a text log.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ESCAPE = re.compile(r"\\(\\|x[0-9a-fA-F]{2})")


def show(path: bytes) -> str:
    """The path as record text (see the module's docstring)."""
    if b"\\" in path:
        path = path.replace(b"\\", b"\\\\")
    text = path.decode("utf-8", "backslashreplace")
    if _CONTROL.search(text):
        text = _CONTROL.sub(_hex, text)
    return text


def _hex(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def show_str(path: str) -> str:
    """The same for a path Python decoded from the file system (surrogate escapes)."""
    return show(os.fsencode(path))


def parse(text: str) -> bytes:
    """The bytes of a path shown by ``show``. A backslash not followed by ``\\`` or
    ``xHH`` stands for itself, so a plain path typed by hand still works."""
    if "\\" not in text:
        return os.fsencode(text)
    out = bytearray()
    position = 0
    for match in _ESCAPE.finditer(text):
        out += os.fsencode(text[position:match.start()])
        escape = match.group(1)
        out += b"\\" if escape == "\\" else bytes([int(escape[1:], 16)])
        position = match.end()
    out += os.fsencode(text[position:])
    return bytes(out)
