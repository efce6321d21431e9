"""MITRE ATT&CK techniques the bundled rules name, for an alert's ``rule.mitre``.

Wazuh fills ``rule.mitre`` from its copy of the ATT&CK database: each ``<mitre><id>``
of the rule in ``id``, the technique's name in ``technique`` and its tactics in
``tactic``. hidsctl carries this small table instead, written from the public ATT&CK
Enterprise matrix (https://attack.mitre.org/) for the techniques its rules use; an id
not in it is kept in ``id`` alone.
"""

from __future__ import annotations

from typing import Any

CA, PE, DE, IA = "Credential Access", "Privilege Escalation", "Defense Evasion", "Initial Access"
PS, IM, RE, DI = "Persistence", "Impact", "Reconnaissance", "Discovery"
EX, LM, C2, XF, CO = ("Execution", "Lateral Movement", "Command and Control", "Exfiltration",
                      "Collection")

# id -> (technique name, tactics in ATT&CK's order)
TECHNIQUES: dict[str, tuple[str, tuple[str, ...]]] = {
    "T1014": ("Rootkit", (DE,)),
    "T1040": ("Network Sniffing", (CA, DI)),
    "T1046": ("Network Service Discovery", (DI,)),
    "T1053.003": ("Cron", (EX, PS, PE)),
    "T1059.004": ("Unix Shell", (EX,)),
    "T1068": ("Exploitation for Privilege Escalation", (PE,)),
    "T1070": ("Indicator Removal", (DE,)),
    "T1070.002": ("Clear Linux or Mac System Logs", (DE,)),
    "T1070.004": ("File Deletion", (DE,)),
    "T1071": ("Application Layer Protocol", (C2,)),
    "T1078": ("Valid Accounts", (DE, PS, PE, IA)),
    "T1078.001": ("Default Accounts", (DE, PS, PE, IA)),
    "T1078.003": ("Local Accounts", (DE, PS, PE, IA)),
    "T1090": ("Proxy", (C2,)),
    "T1098": ("Account Manipulation", (PS, PE)),
    "T1098.004": ("SSH Authorized Keys", (PS, PE)),
    "T1105": ("Ingress Tool Transfer", (C2,)),
    "T1110": ("Brute Force", (CA,)),
    "T1136": ("Create Account", (PS,)),
    "T1136.001": ("Local Account", (PS,)),
    "T1190": ("Exploit Public-Facing Application", (IA,)),
    "T1200": ("Hardware Additions", (IA,)),
    "T1485": ("Data Destruction", (IM,)),
    "T1486": ("Data Encrypted for Impact", (IM,)),
    "T1489": ("Service Stop", (IM,)),
    "T1496": ("Resource Hijacking", (IM,)),
    "T1499": ("Endpoint Denial of Service", (IM,)),
    "T1505.003": ("Web Shell", (PS,)),
    "T1529": ("System Shutdown/Reboot", (IM,)),
    "T1543.002": ("Systemd Service", (PS, PE)),
    "T1547.006": ("Kernel Modules and Extensions", (PS, PE)),
    "T1548": ("Abuse Elevation Control Mechanism", (PE, DE)),
    "T1548.001": ("Setuid and Setgid", (PE, DE)),
    "T1548.003": ("Sudo and Sudo Caching", (PE, DE)),
    "T1552": ("Unsecured Credentials", (CA,)),
    "T1555": ("Credentials from Password Stores", (CA,)),
    "T1556": ("Modify Authentication Process", (CA, DE, PS)),
    "T1557": ("Adversary-in-the-Middle", (CA, CO)),
    "T1562.001": ("Disable or Modify Tools", (DE,)),
    "T1564.001": ("Hidden Files and Directories", (DE,)),
    "T1565.001": ("Stored Data Manipulation", (IM,)),
    "T1566.001": ("Spearphishing Attachment", (IA,)),
    "T1574.006": ("Dynamic Linker Hijacking", (PS, PE, DE)),
    "T1589.002": ("Email Addresses", (RE,)),
    "T1590.002": ("DNS", (RE,)),
    "T1595": ("Active Scanning", (RE,)),
    "T1595.002": ("Vulnerability Scanning", (RE,)),
    "T1609": ("Container Administration Command", (EX,)),
    "T1610": ("Deploy Container", (DE, EX)),
    "T1611": ("Escape to Host", (PE,)),
    "T1613": ("Container and Resource Discovery", (DI,)),
}


def mitre_object(ids: list[str]) -> dict[str, Any]:
    """An alert's ``rule.mitre``: ``id`` as the rule gives them, with the ``technique``
    names and the ``tactic`` names (each once) of those the table knows."""
    techniques: list[str] = []
    tactics: list[str] = []
    for tid in ids:
        known = TECHNIQUES.get(tid)
        if known is None:
            continue
        techniques.append(known[0])
        tactics += [t for t in known[1] if t not in tactics]
    return {"id": list(ids), "tactic": tactics, "technique": techniques}
