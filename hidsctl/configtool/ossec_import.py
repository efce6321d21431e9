"""Convert an existing ``ossec.conf`` into a hidsctl TOML config.

Each OSSEC block becomes the table of the command that does its job:

    <global> email_*, <alerts>, <email_alerts>   -> [mail]
    <global> white_list, <command>, <active-response> -> [respond]
    <rules>                                       -> [analyze], [logtest], [rules] ossec-conf
                                                     (read in place, from its install root)
    <alerts> log_alert_level                      -> [analyze] min-level
    <syscheck>                                    -> [scan], [supervise] scan-every
    <rootcheck>                                   -> [scan.rootcheck], [supervise] rootcheck
    <localfile>                                   -> [collect]
    <remote>                                      -> [receive]
    <syslog_output>                               -> [forward]
    <agentless>                                   -> [[agentless.host]]

What has no counterpart is reported as a warning, never dropped silently.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from hidsctl.respond.ossec import import_respond, parse_ossec_conf

YES = {"yes", "true", "1"}


class Importer:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.root = parse_ossec_conf(path)
        self.out: dict[str, Any] = {}
        self.warnings: list[str] = []

    def table(self, name: str) -> dict[str, Any]:
        return self.out.setdefault(name, {})

    def blocks(self, tag: str) -> list[ET.Element]:
        return [child for conf in self.root for child in conf if child.tag == tag]

    def run(self) -> dict[str, Any]:
        self.rules()
        self.globals_and_alerts()
        self.syscheck()
        self.rootcheck()
        self.localfiles()
        self.remote()
        self.syslog_output()
        self.agentless()
        respond = import_respond(self.path)
        if respond:
            self.table("respond").update(respond)
        known = {"global", "rules", "alerts", "syscheck", "rootcheck", "localfile", "remote",
                 "command", "active-response", "email_alerts", "syslog_output", "agentless",
                 "client"}
        for conf in self.root:
            for child in conf:
                if child.tag not in known:
                    self.warnings.append(f"<{child.tag}> has no hidsctl counterpart; skipped")
        return {name: value for name, value in self.out.items() if value}

    # --- blocks -----------------------------------------------------------------------

    def rules(self) -> None:
        if not self.blocks("rules"):
            return
        conf = str(self.path.resolve())
        for name in ("analyze", "logtest", "rules"):
            self.table(name)["ossec-conf"] = conf
        # Say now, not at the first `analyze`, when the files the conf names are not there.
        from hidsctl.analysis.ruleset import gather_sources
        from hidsctl.errors import HidsError

        try:
            gather_sources(Path(conf))
        except HidsError as exc:
            self.warnings.append(f"its ruleset does not load: {exc.message}")

    def globals_and_alerts(self) -> None:
        mail: dict[str, Any] = {}
        notify = False
        for block in self.blocks("global"):
            notify |= _text(block, "email_notification").lower() in YES
            if _text(block, "email_to"):
                mail.setdefault("to", []).extend(_texts(block, "email_to"))
            if _text(block, "smtp_server"):
                mail["smtp"] = _text(block, "smtp_server").rstrip(".")
            if _text(block, "email_from"):
                mail["sender"] = _text(block, "email_from").rstrip(".")
            if _text(block, "email_maxperhour"):
                mail["max-per-hour"] = int(_text(block, "email_maxperhour"))
        for block in self.blocks("alerts"):
            if _text(block, "email_alert_level"):
                mail["level"] = int(_text(block, "email_alert_level"))
            if _text(block, "log_alert_level"):
                self.table("analyze")["min-level"] = int(_text(block, "log_alert_level"))
        for _block in self.blocks("email_alerts"):
            self.warnings.append("<email_alerts> (per-recipient filters) is not imported; "
                                 "run one `hidsctl mail` per recipient with --level/--group")
        if notify and mail.get("to"):
            self.table("mail").update(mail)
        elif mail.get("to"):
            self.warnings.append("email_notification is off: [mail] not imported")

    def syscheck(self) -> None:
        for block in self.blocks("syscheck"):
            if _text(block, "disabled").lower() in YES:
                continue
            scan = self.table("scan")
            for element in block.findall("directories"):
                options = _directory_options(element.attrib)
                for path in _split(element.text or ""):
                    scan.setdefault("directories", []).append(
                        {"path": path, **options} if options else path)
            for element in block.findall("ignore"):
                value = (element.text or "").strip()
                if value:
                    scan.setdefault("ignore", []).append(
                        f"r:{value}" if element.get("type") == "sregex" else value)
            nodiff = [t for t in _texts(block, "nodiff") if t]
            if nodiff:
                scan["nodiff"] = nodiff
            if _text(block, "frequency").isdigit():
                self.table("supervise")["scan-every"] = f"{int(_text(block, 'frequency'))}s"

    def rootcheck(self) -> None:
        for block in self.blocks("rootcheck"):
            if _text(block, "disabled").lower() in YES:
                continue
            self.table("supervise")["rootcheck"] = True
            if _text(block, "frequency").isdigit():
                self.table("supervise")["rootcheck-every"] = f"{int(_text(block, 'frequency'))}s"
            rootcheck: dict[str, Any] = {}
            for tag in ("rootkit_files", "rootkit_trojans"):
                if _text(block, tag):
                    rootcheck[tag.replace("_", "-")] = _text(block, tag)
            policies = [t for t in _texts(block, "system_audit") if t]
            if policies:
                rootcheck["policies"] = policies
            if rootcheck:
                self.table("scan")["rootcheck"] = rootcheck

    def localfiles(self) -> None:
        formats = {"syslog": "syslog", "json": "json", "apache": "apache", "nginx": "nginx",
                   "snort-full": "syslog", "snort-fast": "syslog", "squid": "syslog",
                   "iis": "syslog", "mysql_log": "syslog", "postgresql_log": "syslog",
                   "audit": "syslog", "djb-multilog": "syslog"}
        for block in self.blocks("localfile"):
            fmt = _text(block, "log_format") or "syslog"
            alias = _text(block, "alias")
            if fmt in ("command", "full_command"):
                entry: dict[str, Any] = {"command": _text(block, "command")}
                if _text(block, "frequency").isdigit():
                    entry["frequency"] = int(_text(block, "frequency"))
                if alias:
                    entry["alias"] = alias
                self.table("collect").setdefault(fmt.replace("_", "-"), []).append(entry)
                continue
            location = _text(block, "location")
            if not location:
                continue
            entry = {"location": location}
            if fmt.replace("_", "-") == "multi-line-regex":
                pattern = _text(block, "multiline_regex")
                if pattern:
                    target, entry["multiline-regex"] = "multi-line-regex", pattern
                else:
                    self.warnings.append(f"<localfile> {location}: multi-line_regex without "
                                         f"<multiline_regex>; read as syslog")
                    target = "syslog"
            elif fmt.startswith("multi-line"):
                target = fmt
            elif fmt in formats:
                target = formats[fmt]
            else:
                self.warnings.append(f"<localfile> {location}: log_format {fmt!r} read as syslog")
                target = "syslog"
            if target != "syslog":
                entry["format"] = target
            if alias:
                entry["alias"] = alias
            files = self.table("collect").setdefault("files", [])
            files.append(entry if len(entry) > 1 else location)

    def remote(self) -> None:
        for block in self.blocks("remote"):
            connection = _text(block, "connection") or "secure"
            port = _text(block, "port")
            bind = _text(block, "local_ip") or "0.0.0.0"
            receive = self.table("receive")
            if connection == "syslog":
                receive.setdefault("syslog", []).append(f"{bind}:{port or 514}")
                allowed = _texts(block, "allowed-ips")
                if allowed:
                    receive.setdefault("allow", []).extend(allowed)
            else:
                key = "udp" if _text(block, "protocol") == "udp" else "listen"
                receive.setdefault(key, []).append(f"{bind}:{port or 1514}")

    def syslog_output(self) -> None:
        formats = {"default": "rfc3164", "cef": "cef", "json": "json", "splunk": "kv"}
        for block in self.blocks("syslog_output"):
            server = _text(block, "server")
            if not server:
                continue
            forward = self.table("forward")
            forward.setdefault("to", []).append(f"udp://{server}:{_text(block, 'port') or 514}")
            fmt = _text(block, "format") or "default"
            forward["format"] = formats.get(fmt, "rfc3164")
            if _text(block, "level").isdigit():
                forward["level"] = int(_text(block, "level"))
            if _text(block, "rule_id"):
                forward["rule-id"] = _split(_text(block, "rule_id"))
            if _text(block, "group"):
                forward["group"] = [g for g in _text(block, "group").split("|") if g]

    def agentless(self) -> None:
        # agentless accepts OSSEC's type names as they are, so records keep OSSEC's locations.
        known = {"ssh_integrity_check_linux", "ssh_integrity_check_bsd", "ssh_generic_diff",
                 "ssh_pixconfig_diff", "ssh_asa-fwsmconfig_diff"}
        for block in self.blocks("agentless"):
            kind = _text(block, "type")
            arguments = _text(block, "arguments")
            for host in _texts(block, "host"):
                user, _, address = host.rpartition("@")
                entry: dict[str, Any] = {"address": address, "user": user or "root"}
                if kind in known:
                    entry["type"] = kind
                else:
                    entry.update(type="device-config", profile="generic")
                    self.warnings.append(f"<agentless> type {kind!r} imported as a generic "
                                         f"device-config check; write a profile for it")
                if _text(block, "frequency").isdigit():
                    entry["interval"] = int(_text(block, "frequency"))
                if "integrity" in kind and arguments:
                    entry["directories"] = arguments.split()
                elif kind == "ssh_generic_diff" and arguments:
                    entry["commands"] = [c.strip() for c in arguments.split(";") if c.strip()]
                self.table("agentless").setdefault("host", []).append(entry)
                self.warnings.append(f"<agentless> {host}: store its password with "
                                     f"`hidsctl agentless add-host {host}`")


def _directory_options(attrib: dict[str, str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name, value in attrib.items():
        key = name.replace("_", "-")
        if name.startswith("check_") or name in ("realtime", "report_changes", "follow_symbolic_link"):
            if name == "follow_symbolic_link":
                key = "follow-symlinks"
            options[key] = value.strip().lower() in YES
        elif name == "restrict":
            options["restrict"] = value
        elif name == "recursion_level" and value.strip().isdigit():
            options["recursion-level"] = int(value)
    return options


def _text(block: ET.Element, tag: str) -> str:
    element = block.find(tag)
    return (element.text or "").strip() if element is not None else ""


def _texts(block: ET.Element, tag: str) -> list[str]:
    return [(element.text or "").strip() for element in block.findall(tag)]


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def import_ossec(path: str | os.PathLike) -> tuple[dict[str, Any], list[str]]:
    importer = Importer(path)
    return importer.run(), importer.warnings
