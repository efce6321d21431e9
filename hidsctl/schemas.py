"""The record schemas: one msgspec Struct per record type, a union tagged by ``type``
(docs/records.md). records.py checks every record read against them.

They live apart from records.py because msgspec takes a Struct's options (``tag``,
``kw_only``, ``gc``) as class keywords, which mypyc drops: records.py is one of the modules
the accelerated build compiles (setup.py), this one never is.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union, get_args

import msgspec

# They only check: readers keep the record as the dict parsed from the line (unknown fields
# pass through unchanged), so a field is typed here where code relies on its type, and left
# out where nothing does. Optional fields may be absent or null.

Scalar = Union[str, int, float]  # a decoded field's value, printed as text by the outputs


# Agent ids are digits ('000' the host itself): never a path or a name, wherever one is used.
AgentId = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,16}$")]
Level = Annotated[int, msgspec.Meta(ge=0, le=16)]  # OSSEC's rule levels


class Agent(msgspec.Struct, gc=False):
    id: Optional[AgentId] = None
    name: Optional[str] = None
    ip: Optional[str] = None


class Common(msgspec.Struct, tag_field="type", kw_only=True, gc=False):
    """The fields every record has (``type`` is the tag)."""
    timestamp: Optional[str] = None
    agent: Optional[Agent] = None


class LogRecord(Common, tag="log", gc=False):
    location: str
    log: str
    data: Optional[dict[str, Any]] = None
    truncated: Optional[bool] = None
    format: Optional[str] = None


class Attributes(msgspec.Struct, gc=False):
    size: Optional[int] = None
    mode: Optional[str] = None
    uid: Optional[Union[int, str]] = None
    gid: Optional[Union[int, str]] = None
    uname: Optional[str] = None
    gname: Optional[str] = None
    mtime: Optional[Union[int, float]] = None
    inode: Optional[int] = None
    sha256: Optional[str] = None
    sha1: Optional[str] = None
    md5: Optional[str] = None
    target: Optional[str] = None


class SyscheckRecord(Common, tag="syscheck", gc=False):
    path: str
    event: Literal["added", "modified", "deleted"]
    changed: Optional[list[str]] = None
    old: Optional[Attributes] = None
    new: Optional[Attributes] = None
    diff: Optional[str] = None
    location: Optional[str] = None


class RootcheckRecord(Common, tag="rootcheck", gc=False):
    title: str
    detail: Optional[str] = None
    file: Optional[str] = None
    policy: Optional[str] = None
    check: Optional[str] = None


class Mitre(msgspec.Struct, gc=False):
    """ATT&CK techniques of a rule, as Wazuh's ``rule.mitre``."""
    id: Optional[list[str]] = None
    tactic: Optional[list[str]] = None
    technique: Optional[list[str]] = None


class Rule(msgspec.Struct, gc=False):
    id: str
    level: Level
    description: Optional[str] = None
    groups: Optional[list[str]] = None
    firedtimes: Optional[int] = None
    mail: Optional[bool] = None
    mitre: Optional[Mitre] = None


class AlertData(msgspec.Struct, gc=False):
    """The decoded fields outputs and responses read; any other field is free-form."""
    srcip: Optional[Scalar] = None
    srcport: Optional[Scalar] = None
    dstip: Optional[Scalar] = None
    dstport: Optional[Scalar] = None
    srcuser: Optional[Scalar] = None
    dstuser: Optional[Scalar] = None
    url: Optional[Scalar] = None


class Manager(msgspec.Struct, gc=False):
    name: Optional[str] = None


class DecoderInfo(msgspec.Struct, gc=False):
    name: Optional[str] = None
    parent: Optional[str] = None


class Predecoder(msgspec.Struct, gc=False):
    hostname: Optional[str] = None
    program_name: Optional[str] = None
    timestamp: Optional[str] = None


class AlertSyscheck(msgspec.Struct, gc=False):
    path: Optional[str] = None
    event: Optional[str] = None
    changed_attributes: Optional[list[str]] = None
    diff: Optional[str] = None
    size_before: Optional[Scalar] = None
    size_after: Optional[Scalar] = None
    perm_before: Optional[Scalar] = None
    perm_after: Optional[Scalar] = None
    uid_before: Optional[Scalar] = None
    uid_after: Optional[Scalar] = None
    gid_before: Optional[Scalar] = None
    gid_after: Optional[Scalar] = None
    uname_before: Optional[Scalar] = None
    uname_after: Optional[Scalar] = None
    gname_before: Optional[Scalar] = None
    gname_after: Optional[Scalar] = None
    mtime_before: Optional[Scalar] = None
    mtime_after: Optional[Scalar] = None
    inode_before: Optional[Scalar] = None
    inode_after: Optional[Scalar] = None
    md5_before: Optional[Scalar] = None
    md5_after: Optional[Scalar] = None
    sha1_before: Optional[Scalar] = None
    sha1_after: Optional[Scalar] = None
    sha256_before: Optional[Scalar] = None
    sha256_after: Optional[Scalar] = None


class AlertRecord(Common, tag="alert", gc=False):
    rule: Rule
    id: Optional[str] = None
    manager: Optional[Manager] = None
    decoder: Optional[DecoderInfo] = None
    data: Optional[AlertData] = None
    full_log: Optional[str] = None
    location: Optional[str] = None
    predecoder: Optional[Predecoder] = None
    previous_output: Optional[str] = None
    syscheck: Optional[AlertSyscheck] = None


class ResponseFields(Common, gc=False):
    """What an ``ar`` command and the ``ar_result`` about it both carry (in no union)."""
    srcip: Optional[str] = None
    user: Optional[str] = None
    rule_id: Optional[str] = None
    alert_id: Optional[str] = None
    timeout: Optional[int] = None
    target: Optional[str] = None


class ArRecord(ResponseFields, tag="ar", kw_only=True, gc=False):
    command: str
    action: str
    alert: Optional[dict[str, Any]] = None


class ArResultRecord(ResponseFields, tag="ar_result", kw_only=True, gc=False):
    status: str
    reason: Optional[str] = None
    command: Optional[str] = None
    action: Optional[str] = None
    exit_code: Optional[int] = None
    output: Optional[str] = None
    offences: Optional[int] = None
    expires: Optional[str] = None


class AgentStatusRecord(Common, tag="agent_status", gc=False):
    status: str
    version: Optional[str] = None
    os: Optional[str] = None
    config_hash: Optional[str] = None
    last_keepalive: Optional[str] = None


class NoticeRecord(Common, tag="notice", gc=False):
    component: str
    message: str
    code: Optional[str] = None
    count: Optional[int] = None
    location: Optional[str] = None


class OtherRecord(msgspec.Struct, gc=False):
    """A record of a type outside the contract: only the common fields are checked."""
    type: str
    timestamp: Optional[str] = None
    agent: Optional[Agent] = None


AnyRecord = Union[LogRecord, SyscheckRecord, RootcheckRecord, AlertRecord, ArRecord,
                  ArResultRecord, AgentStatusRecord, NoticeRecord]
SCHEMAS: dict[str, type] = {cls.__struct_config__.tag: cls for cls in get_args(AnyRecord)}
RECORD_TYPES = frozenset(SCHEMAS)
