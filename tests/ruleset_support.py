"""Decoder and rule XML the analysis tests share: OSSEC's syslog template rule, a small
sshd set (a failed-login rule and a brute-force rule on it) and a probe word with a
frequency rule on it."""

from __future__ import annotations

SSHD_DECODERS = """
<decoder name="sshd">
  <program_name>^sshd</program_name>
</decoder>
<decoder name="sshd-failed">
  <parent>sshd</parent>
  <prematch>^Failed \\S+ </prematch>
  <regex offset="after_prematch">^for (\\S+) from (\\S+) port </regex>
  <order>user, srcip</order>
</decoder>
"""

# Rule 1: every syslog event, the parent of a ruleset's if_sid 1 rules.
SYSLOG_TEMPLATE = """
  <rule id="1" level="0" noalert="1">
    <category>syslog</category>
    <description>syslog template</description>
  </rule>
"""


def sshd_rules(failed_extra: str = "") -> str:
    """Rules 100 (sshd), 101 (a failed password, plus ``failed_extra`` elements) and 102
    (two of 101 from one source within a minute)."""
    return """  <rule id="100" level="0">
    <decoded_as>sshd</decoded_as>
    <description>sshd messages</description>
  </rule>
  <rule id="101" level="5">
    <if_sid>100</if_sid>
    <match>Failed password</match>
    <description>sshd: authentication failed.</description>
""" + failed_extra + """  </rule>
  <rule id="102" level="10" frequency="2" timeframe="60">
    <if_matched_sid>101</if_matched_sid>
    <same_source_ip />
    <description>sshd: brute force</description>
  </rule>
"""


def probe_rules(word: str, flood: str = "probe flood", extra: str = "") -> str:
    """A group with the syslog template, 100001 (a line holding ``word``), 100002 (four of
    100001 within ten minutes, described as ``flood``) and ``extra`` rules."""
    return f"""
<group name="test,">{SYSLOG_TEMPLATE}  <rule id="100001" level="3">
    <match>{word}</match>
    <description>probe</description>
  </rule>
  <rule id="100002" level="10" frequency="4" timeframe="600">
    <if_matched_sid>100001</if_matched_sid>
    <description>{flood}</description>
  </rule>
{extra}</group>
"""
