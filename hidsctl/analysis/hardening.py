"""OSSEC's own sshd decoders, mended against log injection when hidsctl loads them.

An SSH client chooses its user name, and sshd logs it before the client's address, with
spaces kept: ``Invalid user x from 10.9.9.9 port 22 from 203.0.113.9 port 51234``. Seven
of OSSEC 4.3's sshd decoders take the first ``from ADDRESS`` (or the first word after the
user), so such a client names the address a brute-force rule pins on it and an active
response blocks: the administrator's workstation, the gateway. (hidsctl's bundled
decoders take the address sshd wrote: rules/decoders/0020-sshd.xml.)

A user running ``--ossec-conf`` on an OSSEC install gets OSSEC's decoders. Where one of
those is exactly OSSEC 4.3's (its name and every element, compared by a SHA-256 of their
text), its pattern is replaced here by one anchored where sshd writes the address, with
the same offset and the same fields, so ordinary lines decode as before and the rules
read the same fields. The user name is kept whole, as the client sent it. A decoder that
differs in any way is the user's own and is left as it is. One warning names the
decoders changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from hidsctl.analysis.xmlload import Node

# decoder name -> (fingerprint of OSSEC 4.3's decoder, the pattern put in its place)
MENDED: dict[str, tuple[str, str]] = {
    # after "Invalid user" / "Illegal user": the address of the line's end
    "ssh-invalid-user": ("5cf5bb2ac1d0e43957f163195749d1cc",
                         r" from (\S+)(?: port \d+)?(?: ssh\d?)?(?: \[preauth\])?\s*$"),
    # after "Connection closed by ": (invalid|authenticating) user USER ADDRESS port N
    "ssh-connection": ("53a8125b399df7bab21e20a3bd43c219",
                       r"user (.+) (\S+) port \d+(?: \[preauth\])?\s*$"),
    # the whole message: User USER from ADDRESS not allowed because REASON
    "ssh-denied": ("ad8e5183495f8fa959554b23d940e60a",
                   r"^User (.+) from (\S+) not allowed because "
                   r"(?:not |none |a group |shell |account |listed )"),
    # after "Failed/Postponed keyboard-interactive": ... user USER from ADDRESS port N ssh2
    "ssh-kbd": ("5fc12c9a1c311ee8b6cc86392afdcbf3",
                r" user (.+) from (\S+) port (\d+)(?: ssh\d?)?(?: \[preauth\])?\s*$"),
    # after "error: PAM: ": ... for illegal user USER from ADDRESS
    "ssh-pam-error": ("dd89052bcd65d4ab9c32f3c95629ff80", r"user (.+) from (\S+)\s*$"),
    # after "Disconnected from invalid user": USER ADDRESS port N
    "ssh-disconnected": ("9bf8c2c86069f46d710f222a0929dbfa",
                         r" (\S+) port \d+(?: \[preauth\])?\s*$"),
    # after " exceeded for ": [invalid user ]USER from ADDRESS port N ssh2
    "sshd-exceed": ("14245c53d341d4420f1bbead509ca615",
                    r"^(?:invalid user )?(.+) from (\S+) port (\d+)(?: ssh\d?)?"
                    r"(?: \[preauth\])?\s*$"),
}


def fingerprint(node: Node) -> str:
    """A decoder's identity: its name and each element's tag, attributes and text."""
    parts = [node.attrs.get("name", "")]
    for child in node.children:
        attrs = "\0".join(f"{key}={value}" for key, value in sorted(child.attrs.items()))
        parts.append(f"{child.tag.lower()}\0{attrs}\0{child.text.strip()}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def mend(node: Node) -> Node | None:
    """The decoder with its pattern replaced when it is one of OSSEC's injectable ones;
    None when it is not (it is then used as it is)."""
    known = MENDED.get(node.attrs.get("name", ""))
    if known is None or fingerprint(node) != known[0]:
        return None
    children = [replace(child, text=known[1]) if child.tag.lower() == "pcre2" else child
                for child in node.children]
    return replace(node, children=children)


def warning(names: list[str]) -> str:
    """The one warning of a load that mended ``names``."""
    return (f"OSSEC's sshd decoder{'s' if len(names) > 1 else ''} {', '.join(names)} let an "
            "SSH client choose the address decoded from its user name; hidsctl uses "
            "patterns anchored at the address sshd wrote (same fields; docs/rules.md, "
            "\"Log injection in OSSEC's own sshd decoders\")")
