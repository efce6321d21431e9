"""OSSEC's own decoders, mended against log injection when hidsctl loads them.

An SSH client chooses its user name, and sshd logs it before the client's address, with
spaces kept: ``Invalid user x from 10.9.9.9 port 22 from 203.0.113.9 port 51234``. Seven
of OSSEC 4.3's sshd decoders take the first ``from ADDRESS`` (or the first word after the
user), so such a client names the address a brute-force rule pins on it and an active
response blocks: the administrator's workstation, the gateway. Twelve more, of pam,
dovecot, Windows, smf-sav, Asterisk, Samba, ownCloud and IIS, do the same with a login
name, a workstation name, a mail address, a SIP header, a file name or a User-Agent.
(hidsctl's bundled decoders take the address the service wrote: docs/rules.md,
"Conventions".)

A user running ``--ossec-conf`` on an OSSEC install gets OSSEC's decoders. Where one of
those is exactly OSSEC 4.3's (its name and every element, compared by a SHA-256 of their
text), its pattern is replaced here by one anchored where the service writes the address,
with the same offset and the same fields, so ordinary lines decode as before and the
rules read the same fields. A user name is kept whole, as the client sent it; a line whose
client text surrounds the address on both sides gets no address. A decoder that differs
in any way is the user's own and is left as it is. One warning names the decoders
changed.
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
    # --- other services: a login name, a workstation, a mail address, a SIP From header,
    # a file name or a User-Agent comes before the address the service wrote.
    # pam (vsftpd, dovecot): the client's login is ruser=, before rhost=
    "pam-host-user": ("e7112b4aaa80907888f6a90f04462d2f",
                      r"rhost=(\S+)[ ]+user=(\S+)\s*$|rhost=(\S+)\s*$"),
    "pam-ruser": ("3c70a44403a9015647ba00f37794dbd1", r" rhost=(\S+)\s*$"),
    # dovecot, where auth_username_chars lets a user name hold spaces (it does not by default)
    "dovecot-authfailed": ("dabfb848e3b6a3e7e89e8808cc337881",
                           r"\(auth failed, \d+? attempts in \d+? secs\): user=\<(.+)\>, "
                           r"method=\S+, rip=(\S+), lip=(\S+)"),
    "dovecot-fail": ("8f0a1c0309308232b9a2eeb76b01483d",
                     r"^: [^\s(]+\((.+),([^\s,()]+)\)(?::|$)"),
    "dovecot-info-auth": ("d8510f3ee24292dc326bae1b2e2bf795",
                          r"auth\([^)]*\): [^\s(]+\((.+),([^\s,()]+)\):"),
    # Windows logon failures: Account Name and Workstation Name come first
    "windows1": ("519c45b384007f249e4cc42cf7488cf9", r"^.* Source Network Address: (\S+)"),
    # smf-sav: the quoted MAIL FROM address (its two <pcre2> parts become one)
    "smf-sav-reject": ("51d5114d91f50d645d92581fb667fa04",
                       r"^ \(cached\): .*, (\S+), \S+\s*$|"
                       r"^: .*, (\S+), \S+, \[\d+:\d+:\d+\]\s*$"),
    # Asterisk: the SIP From header, quoted, before the peer address
    "asterisk-denied": ("2a91680e13d48e36c46336c60200d57d",
                        r"^'.+' failed for '(\S+):(\d+?)' - [^']*$|^'.+' failed for '(\S+)' - [^']*$"),
    "asterisk-denied2": ("2a28a03e17793956da21ab53b979e796",
                         r"^'.+' failed for '(\S+):(\d+?)' - [^']*$|"
                         r"^'.+' failed for '(\S+)' - [^']*$"),
    # Samba: its own "from (ADDRESS)" at the end; the Auth: audit line gets no address
    "smbd-ip": ("f66234364e7ff70c395a024ef6dc5b6e", r" from \((\S+)\)\s*$"),
    # ownCloud: the file name comes before ;ip:"ADDRESS")
    "owncloud-malicious": ("3971bc237b0d25c5c00c1d46afc2b49e",
                           r'^.*;ip:"([^"\s]+)"\)\s*$|^.*;ip:\\"([^"\\\s]+)\\"\)"'),
    # IIS (W3C default): the client address field, not a User-Agent or Referer token
    "web-accesslog-iis-default": ("d108358bb13e1b9fa2f2192975d674ac",
                                  r"^(\S+ \S*) \d+ \S+ (\S+) .* (\d{3}) \S+ \S+ \S+"),
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
    # The first <pcre2> takes the whole pattern and keeps its offset; later ones, which
    # are joined to the first (decoders.py), go (smf-sav-reject has two).
    children, replaced = [], False
    for child in node.children:
        if child.tag.lower() == "pcre2":
            if replaced:
                continue
            child, replaced = replace(child, text=known[1]), True
        children.append(child)
    return replace(node, children=children)


def warning(names: list[str]) -> str:
    """The one warning of a load that mended ``names``."""
    return (f"OSSEC's decoder{'s' if len(names) > 1 else ''} {', '.join(names)} let a client "
            "choose the address decoded from text it sends; hidsctl uses patterns anchored "
            "at the address the service wrote (same fields; docs/rules.md, \"Log injection "
            "in OSSEC's own decoders\")")
