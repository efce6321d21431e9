"""OSSEC rules: read from XML into typed :class:`Rule` objects and arranged in OSSEC's tree.

Arrangement (OSSEC's rules_list): rules with an id below 10 are the category templates at
the top; every other rule is a child of the rules its ``if_sid`` names (the first place
each id appears), of every rule whose groups contain its ``if_group``, of every rule at or
above its ``if_level``, or else of the template of its category. ``overwrite="yes"``
replaces a rule's options in place. Siblings are kept in descending level, level 0 first
(OSSEC evaluates ignore rules before alerting ones), ties in file order.

Reading: ``RULE_ATTRIBUTES`` and ``RULE_ELEMENTS`` map each attribute and element a
``<rule>`` may hold to the function that reads it; they are the list of what is
supported (anything else is warned about and ignored). Once the whole ruleset is loaded
(``RuleTree.finish``) a rule is read-only: what analysis learns from events is the
engine's (correlation.CorrelationState).
"""

from __future__ import annotations

import ipaddress
import re
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator

from hidsctl.analysis.decoders import CATEGORIES
from hidsctl.analysis.languages import compile_pattern
from hidsctl.analysis.mitre import mitre_object
from hidsctl.analysis.patterns import Pattern, PatternError
from hidsctl.analysis.xmlload import Node
from hidsctl.errors import RuleError, SourceLocation

# The event list a correlating rule searches when it names no rule or group: every
# alerted event (rules with only if_matched_regex). Its other lists are "sid N", "group N".
RECENT = "events"

# Rule elements matched against an event field: element -> (field, plain language).
FIELD_ELEMENTS = {
    "program_name": ("program_name", "match"),
    "id": ("id", "match"),
    "url": ("url", "match"),
    "srcport": ("srcport", "match"),
    "dstport": ("dstport", "match"),
    "user": ("user", "match"),
    "extra_data": ("extra_data", "match"),
    "hostname": ("hostname", "match"),
    "status": ("status", "match"),
    "protocol": ("protocol", "match"),
    "system_name": ("system_name", "match"),
    "data": ("extra_data", "match"),
    "location": ("location", "match"),
    "action": ("action", "exact"),
}
# OSSEC's evaluation order of those checks.
FIELD_ORDER = ("program_name", "id", "match", "regex", "pcre2", "action", "url", "srcip",
               "dstip", "srcport", "dstport", "protocol", "system_name", "location")
EXTRA_ORDER = ("user", "extra_data", "hostname", "status")
CONTEXT_OPTIONS = {
    "same_source_ip": "srcip", "same_src_port": "srcport", "same_dst_port": "dstport",
    "same_user": "dstuser", "same_location": "hostname", "same_id": "id",
    "same_srcip": "srcip", "same_dstip": "dstip", "same_agent": "agent",
}
NOT_SAME = {"not_same_source_ip": "srcip", "not_same_user": "dstuser",
            "not_same_id": "id", "not_same_agent": "agent"}
ALERT_OPTIONS = ("alert_by_email", "no_email_alert", "log_alert", "no_log", "no_ar",
                 "no_full_log")
# <field name=> with an OSSEC field's name reads that field, as in <order>.
ORDER_NAMES = {"user": "dstuser", "data": "extra_data"}
IGNORE_FIELDS = ("user", "srcip", "dstip", "id", "location", "data", "name")
COMPLIANCE_PREFIXES = ("pci_dss_", "gdpr_", "hipaa_", "nist_800_53_", "gpg13_", "tsc_")


@dataclass(eq=False)
class IpList:
    """``<srcip>``/``<dstip>`` entries with CIDR and ``!``: OSSEC's OS_IPFoundList."""

    entries: list[tuple[bool, Any]] = field(default_factory=list)

    def add(self, text: str) -> None:
        negate = text.startswith("!")
        value = text[1:] if negate else text
        net = ipaddress.ip_network(value.strip(), strict=False)
        self.entries.append((negate, net))

    def found(self, ip: str) -> bool:
        addr = _ip(ip)
        result_if_none = False
        for negate, net in self.entries:
            if negate:
                result_if_none = True
            if addr is not None and addr.version == net.version and addr in net:
                return not negate
        return result_if_none


_ip_cache: dict[str, Any] = {}


def _ip(text: str) -> Any:
    addr = _ip_cache.get(text, False)
    if addr is False:
        try:
            addr = ipaddress.ip_address(text.strip())
        except ValueError:
            addr = None
        if len(_ip_cache) > 65536:
            _ip_cache.clear()
        _ip_cache[text] = addr
    return addr


@dataclass(eq=False)
class ListRule:
    field: str
    lookup: str
    path: str
    check_value: Pattern | None
    where: SourceLocation
    table: Any = None  # set by the ruleset loader (cdb.CdbList)


@dataclass(eq=False)
class Rule:
    id: int
    level: int
    where: SourceLocation
    groups_text: str = ""
    description: str = ""
    maxsize: int = 0
    frequency: int = 0
    timeframe: int = 360
    ignore_time: int = 0
    noalert: bool = False
    overwrite: bool = False
    accuracy: bool = True
    category: str = "syslog"
    decoded_as: str | None = None
    patterns: dict[str, Pattern] = field(default_factory=dict)  # element -> pattern
    action: str | None = None
    srcip: IpList | None = None
    dstip: IpList | None = None
    day_time: tuple[int, int, bool] | None = None
    week_day: frozenset[int] | None = None
    if_sid: list[int] = field(default_factory=list)
    if_group: str | None = None
    if_level: int = 0
    if_matched_sid: int = 0
    if_matched_group: Pattern | None = None
    if_matched_regex: Pattern | None = None
    same: list[str] = field(default_factory=list)
    different_url: bool = False
    context: bool = False
    check_diff: bool = False
    if_fts: bool = False
    options: set[str] = field(default_factory=set)
    ignore_fields: tuple[str, ...] = ()
    check_if_ignored: tuple[str, ...] = ()
    lists: list[ListRule] = field(default_factory=list)
    compiled_rule: str | None = None
    info: list[dict[str, str]] = field(default_factory=list)
    cve: list[str] = field(default_factory=list)
    field_patterns: list[tuple[str, Pattern]] = field(default_factory=list)  # <field name=>
    mitre: list[str] = field(default_factory=list)  # ATT&CK technique ids
    # built at load (RuleTree.link_correlation, finish_rule)
    search_key: str | None = None      # the event list its correlation reads
    record_keys: tuple[str, ...] = ()  # the event lists its alerted events go to
    groups: list[str] = field(default_factory=list)
    alert_rule: dict[str, Any] = field(default_factory=dict)
    finished: bool = False             # read-only from then on

    def __setattr__(self, name: str, value: Any) -> None:
        # What an engine learns at run time lives in correlation.CorrelationState; a rule
        # is the same definition for every engine and partition that uses it.
        if self.__dict__.get("finished"):
            raise AttributeError(f"rule {self.id} is read-only once loaded ({name})")
        object.__setattr__(self, name, value)

    @property
    def sort_level(self) -> int:
        base = 99 if self.level == 0 else self.level
        return base * 100 if self.accuracy else base


# Bounds on the tree a ruleset builds (RuleTree._placed), which rule files could otherwise
# grow without limit. OSSEC's and the bundled rulesets stay far below both (see tests).
MAX_DEPTH = 100
MAX_PLACES = 200_000


@dataclass(eq=False)
class RuleNode:
    rule: Rule
    children: list["RuleNode"] = field(default_factory=list)
    depth: int = 1  # a template is 1, its children 2, ...

    def add_child(self, rule: Rule) -> "RuleNode":
        node = RuleNode(rule, depth=self.depth + 1)
        level = rule.sort_level
        for i, sibling in enumerate(self.children):
            if level > sibling.rule.sort_level:
                self.children.insert(i, node)
                break
        else:
            self.children.append(node)
        return node


class RuleTree:
    """All rules, arranged for evaluation."""

    def __init__(self) -> None:
        self.top: list[RuleNode] = []
        self.by_id: dict[int, Rule] = {}
        self.first_node: dict[int, RuleNode] = {}  # a rule id's first node (it exists)
        self.nodes_of: dict[int, list[RuleNode]] = {}  # every node of a rule id
        self._sid_watched: set[int] = set()               # rules an if_matched_sid names
        self._group_watched: dict[int, list[str]] = {}    # rule id -> group lists it feeds
        self.places = 0  # nodes in the tree: a rule under several parents takes several

    # --- arrangement (OSSEC's rules_list) ---------------------------------------------------

    def _walk(self, nodes: list[RuleNode] | None = None) -> Iterator[RuleNode]:
        for node in self.top if nodes is None else nodes:
            yield node
            yield from self._walk(node.children)

    def add(self, rule: Rule) -> None:
        if rule.overwrite:
            old = self.by_id.get(rule.id)
            if old is None:
                raise RuleError(f"overwrite of rule {rule.id}, which does not exist", rule.where)
            self._overwrite(old, rule)
            return
        if rule.id in self.by_id:
            first = self.by_id[rule.id].where
            raise RuleError(f"duplicate rule id {rule.id} (first defined at {first.path}:"
                            f"{first.line})", rule.where)
        if rule.id < 10:
            node = RuleNode(rule)
            level = rule.sort_level
            for i, sibling in enumerate(self.top):
                if level > sibling.rule.sort_level:
                    self.top.insert(i, node)
                    break
            else:
                self.top.append(node)
            self._placed(rule, node)
        elif rule.if_sid:
            parents = []
            for sid in rule.if_sid:
                if sid not in self.first_node:
                    raise RuleError(f"if_sid {sid} names no rule loaded before it", rule.where)
                # OSSEC attaches to the first place the id appears in a depth-first walk;
                # only ids placed under several parents need the walk to find it.
                nodes = self.nodes_of[sid]
                parents.append(nodes[0] if len(nodes) == 1 else
                               next(n for n in self._walk() if n.rule.id == sid))
            for parent in parents:
                rule.category = parent.rule.category
                self._placed(rule, parent.add_child(rule))
        elif rule.if_level:
            parents = [n for n in self._walk()
                       if n.rule.level >= rule.if_level and n.rule.id != rule.id]
            if not parents:
                raise RuleError(f"if_level {rule.if_level} matches no rule", rule.where)
            for parent in parents:
                self._placed(rule, parent.add_child(rule))
        elif rule.if_group:
            wanted = rule.if_group.lower()
            parents = [n for n in self._walk()
                       if wanted in n.rule.groups_text.lower() and n.rule.id != rule.id]
            if not parents:
                raise RuleError(f"if_group {rule.if_group!r} matches no rule loaded before it",
                                rule.where)
            for parent in parents:
                self._placed(rule, parent.add_child(rule))
        else:
            template = next((n for n in self.top if n.rule.category == rule.category), None)
            if template is None:
                raise RuleError(f"no template rule for category {rule.category!r} (rules "
                                "below id 10 define them)", rule.where)
            self._placed(rule, template.add_child(rule))
        self.by_id[rule.id] = rule

    def _overwrite(self, old: Rule, new: Rule) -> None:
        """``overwrite="yes"``: the new definition takes the old one's place in the tree,
        keeping what placed it there (its parents, category and sort order)."""
        merged = replace(new, overwrite=False, accuracy=old.accuracy, category=old.category,
                         if_sid=old.if_sid, if_group=old.if_group, if_level=old.if_level)
        for node in self.nodes_of[old.id]:
            node.rule = merged
        self.by_id[old.id] = merged

    def _placed(self, rule: Rule, node: RuleNode) -> None:
        # Rule files are input: a chain of if_sid thousands deep, or if_group rules that
        # each join the group they follow (the places double with every rule), would end
        # the load in a RecursionError or exhaust memory. Refused here, by rule.
        if node.depth > MAX_DEPTH:
            raise RuleError(f"sits {node.depth} levels deep in the rule tree (if_sid, if_group "
                            f"and if_level chains); at most {MAX_DEPTH}", rule.where)
        self.places += 1
        if self.places > MAX_PLACES:
            raise RuleError(f"the rules take more than {MAX_PLACES:,} places in the rule tree "
                            "(if_group or if_level rules that match each other multiply)",
                            rule.where)
        self.first_node.setdefault(rule.id, node)
        self.nodes_of.setdefault(rule.id, []).append(node)

    def link_correlation(self, rule: Rule) -> None:
        """Name the event list a correlating rule searches and note the rules it watches
        (OSSEC's OS_MarkID/Group); the lists themselves are CorrelationState's."""
        if rule.if_matched_sid:
            target = self.by_id.get(rule.if_matched_sid)
            if target is None:
                raise RuleError(f"if_matched_sid {rule.if_matched_sid} names no rule",
                                rule.where)
            rule.search_key = f"sid {target.id}"
            self._sid_watched.add(target.id)
        elif rule.if_matched_group is not None:
            rule.search_key = f"group {rule.id}"
            for other in self.by_id.values():
                if other is not rule and rule.if_matched_group.test(other.groups_text):
                    self._group_watched.setdefault(other.id, []).append(rule.search_key)
        elif rule.context and not rule.check_diff:
            rule.search_key = RECENT

    def finish(self) -> None:
        """Once every rule is loaded and linked: give each the lists its alerted events go
        to (a rule watched by id keeps its own list only, as OSSEC's does), build its
        alert, and make it read-only."""
        for rule in self.by_id.values():
            if rule.id in self._sid_watched:
                rule.record_keys = (f"sid {rule.id}",)
            else:
                rule.record_keys = tuple(self._group_watched.get(rule.id, ()))
            finish_rule(rule)

    def rules(self) -> list[Rule]:
        return list(self.by_id.values())


# --- reading XML ---------------------------------------------------------------------------

def _int_attr(node: Node, name: str, value: str, low: int, high: int) -> int:
    text = value.strip()
    if not text.isdigit():
        raise RuleError(f"rule attribute {name}={value!r} must be a whole number", node.where())
    number = int(text)
    if not low <= number <= high:
        raise RuleError(f"rule attribute {name}={number} is outside {low}..{high}", node.where())
    return number


def rule_from_xml(node: Node, group_name: str, decoder_names: set[str] | None,
                  *, default_timeframe: int = 360) -> Rule:
    """One ``<rule>``: its attributes and elements read by the handlers of
    ``RULE_ATTRIBUTES`` and ``RULE_ELEMENTS``; an unknown element is warned about and
    ignored, as OSSEC does."""
    attrs = {k.lower(): v for k, v in node.attrs.items()}
    if "id" not in attrs or "level" not in attrs:
        raise RuleError("<rule> needs an id and a level", node.where())
    rid = _int_attr(node, "id", attrs["id"], 1, 999999)
    where = node.where(f"rule {rid}")
    rule = Rule(id=rid, level=_int_attr(node, "level", attrs["level"], 0, 16), where=where,
                timeframe=default_timeframe, groups_text=group_name)
    for key, value in attrs.items():
        if key in ("id", "level"):
            continue
        attribute = RULE_ATTRIBUTES.get(key)
        if attribute is None:
            raise RuleError(f"unknown rule attribute {key!r}", where)
        attribute(rule, node, key, value)
    reading = _Reading(rule, decoder_names)
    for child in node.children:
        handler = RULE_ELEMENTS.get(child.tag.lower())
        if handler is None:
            warnings.warn(f"{child.where()}: rule {rid}: unknown option <{child.tag}> ignored",
                          stacklevel=2)
        else:
            handler(reading, child)
    _text_patterns(reading)
    if (rule.same or rule.frequency or rule.different_url) and not rule.context:
        raise RuleError("frequency and same_*/different_* options need an if_matched_sid, "
                        "if_matched_group or if_matched_regex", where)
    if rule.if_matched_group is not None and not rule.if_sid and not rule.if_group:
        rule.if_group = rule.if_matched_group.source
    if rule.if_matched_sid and not rule.if_sid and not rule.if_group:
        rule.if_sid = [rule.if_matched_sid]
    return rule


# --- <rule> attributes ----------------------------------------------------------------------

def _number_attr(name: str, low: int, high: int) -> Callable[[Rule, Node, str, str], None]:
    def read(rule: Rule, node: Node, key: str, value: str) -> None:
        setattr(rule, name, _int_attr(node, key, value, low, high))
    return read


def _accuracy(rule: Rule, node: Node, key: str, value: str) -> None:
    rule.accuracy = value.strip() != "0"


def _noalert(rule: Rule, node: Node, key: str, value: str) -> None:
    rule.noalert = True


def _overwrite_attr(rule: Rule, node: Node, key: str, value: str) -> None:
    if value not in ("yes", "no"):
        raise RuleError(f"overwrite must be yes or no, not {value!r}", rule.where)
    rule.overwrite = value == "yes"


RULE_ATTRIBUTES: dict[str, Callable[[Rule, Node, str, str], None]] = {
    "maxsize": _number_attr("maxsize", 1, 99999),
    "frequency": _number_attr("frequency", 0, 9999),
    "timeframe": _number_attr("timeframe", 1, 999999),
    "ignore": _number_attr("ignore_time", 0, 999999),
    "accuracy": _accuracy,
    "noalert": _noalert,
    "overwrite": _overwrite_attr,
}


# --- <rule> elements ------------------------------------------------------------------------

@dataclass
class _Reading:
    """A ``<rule>`` being read: the rule, and the pattern texts kept for the end (an
    element given several times is one pattern of its joined texts)."""

    rule: Rule
    decoder_names: set[str] | None
    texts: dict[str, list[Node]] = field(default_factory=dict)


def _text(r: _Reading, child: Node) -> None:
    r.texts.setdefault(child.tag.lower(), []).append(child)


def _decoded_as(r: _Reading, child: Node) -> None:
    if r.decoder_names is not None and child.text not in r.decoder_names:
        raise RuleError(f"decoded_as names unknown decoder {child.text!r}", child.where())
    r.rule.decoded_as = child.text


def _category(r: _Reading, child: Node) -> None:
    if child.text not in CATEGORIES:
        raise RuleError(f"unknown category {child.text!r}", child.where())
    r.rule.category = child.text


def _description(r: _Reading, child: Node) -> None:
    r.rule.description += child.text.replace("\n", " ")


def _group(r: _Reading, child: Node) -> None:
    r.rule.groups_text += child.text


def _info(r: _Reading, child: Node) -> None:
    r.rule.info.append({"type": child.attrs.get("type", "text"), "value": child.text})


def _cve(r: _Reading, child: Node) -> None:
    r.rule.cve.append(child.text)


def _time(r: _Reading, child: Node) -> None:
    r.rule.day_time = parse_time_range(child.text, child)


def _weekday(r: _Reading, child: Node) -> None:
    r.rule.week_day = parse_weekdays(child.text, child)


def _ip_list(r: _Reading, child: Node) -> None:
    tag = child.tag.lower()
    iplist = getattr(r.rule, tag) or IpList()
    try:
        iplist.add(child.text)
    except ValueError:
        raise RuleError(f"<{tag}> {child.text!r} is not an address or CIDR block",
                        child.where()) from None
    setattr(r.rule, tag, iplist)


def _if_sid(r: _Reading, child: Node) -> None:
    for part in re.split(r"[,\s]+", child.text.strip()):
        if not part:
            continue
        if not part.isdigit():
            raise RuleError(f"if_sid {part!r} is not a rule id", child.where())
        r.rule.if_sid.append(int(part))


def _if_group(r: _Reading, child: Node) -> None:
    r.rule.if_group = (r.rule.if_group or "") + child.text


def _if_level(r: _Reading, child: Node) -> None:
    text = child.text
    if not text.strip().isdigit() or not 1 <= int(text) <= 16:
        raise RuleError(f"if_level {text!r} must be 1..16", child.where())
    r.rule.if_level = int(text)


def _if_matched_sid(r: _Reading, child: Node) -> None:
    if not child.text.strip().isdigit():
        raise RuleError(f"if_matched_sid {child.text!r} is not a rule id", child.where())
    r.rule.if_matched_sid = int(child.text)
    r.rule.context = True


def _if_matched_group(r: _Reading, child: Node) -> None:
    r.rule.if_matched_group = _pattern(child, "match", r.rule)
    r.rule.context = True


def _if_matched_regex(r: _Reading, child: Node) -> None:
    kind = "regex" if child.tag.lower() == "if_matched_regex" else "pcre2"
    r.rule.if_matched_regex = _pattern(child, kind, r.rule)
    r.rule.context = True


def _same(r: _Reading, child: Node) -> None:
    name = CONTEXT_OPTIONS[child.tag.lower()]
    if name not in r.rule.same:
        r.rule.same.append(name)


def _not_same(r: _Reading, child: Node) -> None:
    # OSSEC clears the matching same_* flag.
    name = NOT_SAME[child.tag.lower()]
    if name in r.rule.same:
        r.rule.same.remove(name)


def _different_url(r: _Reading, child: Node) -> None:
    r.rule.different_url = True


def _check_diff(r: _Reading, child: Node) -> None:
    r.rule.check_diff = True
    r.rule.context = True


def _if_fts(r: _Reading, child: Node) -> None:
    r.rule.if_fts = True


def _options(r: _Reading, child: Node) -> None:
    for option in re.split(r"[,\s]+", child.text.strip()):
        if option and option not in ALERT_OPTIONS:
            raise RuleError(f"unknown option {option!r}", child.where())
        if option:
            r.rule.options.add(option)


def _ignore(r: _Reading, child: Node) -> None:
    r.rule.ignore_fields = _ignore_fields(child.text, child)


def _check_if_ignored(r: _Reading, child: Node) -> None:
    r.rule.check_if_ignored = _ignore_fields(child.text, child)


def _list(r: _Reading, child: Node) -> None:
    r.rule.lists.append(_list_rule(child, r.rule))


def _compiled_rule(r: _Reading, child: Node) -> None:
    from hidsctl.analysis.compiled import COMPILED_RULES
    if child.text not in COMPILED_RULES:
        raise RuleError(f"unknown compiled_rule {child.text!r} (known: "
                        f"{', '.join(sorted(COMPILED_RULES))})", child.where())
    r.rule.compiled_rule = child.text


def _field(r: _Reading, child: Node) -> None:
    r.rule.field_patterns.append(_field_pattern(child, r.rule))


def _mitre(r: _Reading, child: Node) -> None:
    r.rule.mitre += _mitre_ids(child, r.rule)


def _nothing(r: _Reading, child: Node) -> None:
    """``<var>`` inside a rule: variables are expanded when the file is read."""


TEXT_ELEMENTS = ("match", "regex", "pcre2", "match_pcre2", "regex_pcre2",
                 *FIELD_ELEMENTS, *(f"{tag}_pcre2" for tag in FIELD_ELEMENTS))

# Every element a <rule> may hold, and what reading it does: the index of what is supported.
RULE_ELEMENTS: dict[str, Callable[[_Reading, Node], None]] = {
    **dict.fromkeys(TEXT_ELEMENTS, _text),
    "decoded_as": _decoded_as,
    "category": _category,
    "description": _description,
    "group": _group,
    "info": _info,
    "cve": _cve,
    "time": _time,
    "weekday": _weekday,
    "srcip": _ip_list,
    "dstip": _ip_list,
    "if_sid": _if_sid,
    "if_group": _if_group,
    "if_level": _if_level,
    "if_matched_sid": _if_matched_sid,
    "if_matched_group": _if_matched_group,
    "if_matched_regex": _if_matched_regex,
    "if_matched_pcre2": _if_matched_regex,
    "if_matched_regex_pcre2": _if_matched_regex,
    **dict.fromkeys(CONTEXT_OPTIONS, _same),
    **dict.fromkeys(NOT_SAME, _not_same),
    "different_url": _different_url,
    "check_diff": _check_diff,
    "if_fts": _if_fts,
    "options": _options,
    "ignore": _ignore,
    "check_if_ignored": _check_if_ignored,
    "list": _list,
    "compiled_rule": _compiled_rule,
    "field": _field,
    "mitre": _mitre,
    "var": _nothing,
}


def _text_patterns(r: _Reading) -> None:
    """The pattern elements, each compiled once from its joined texts."""
    rule = r.rule
    for tag, parts in r.texts.items():
        joined = Node(parts[0].tag, parts[0].attrs, "".join(p.text for p in parts),
                      parts[0].line, parts[0].path)
        base = tag.removesuffix("_pcre2")
        if tag == "pcre2" or tag in ("match_pcre2", "regex_pcre2"):
            kind, key = "pcre2", ("regex" if tag != "match_pcre2" else "match")
            key = "pcre2" if tag == "pcre2" else key
        elif tag in ("match", "regex"):
            kind, key = tag, tag
        else:
            plain = FIELD_ELEMENTS[base][1]
            kind = "pcre2" if tag.endswith("_pcre2") else plain
            key = base
        if key == "action" and kind == "exact":
            rule.action = joined.text
            continue
        if key in rule.patterns:
            raise RuleError(f"<{tag}> given in both plain and pcre2 forms", joined.where())
        rule.patterns[key] = _pattern(joined, kind, rule)


def _pattern(node: Node, kind: str, rule: Rule) -> Pattern:
    negate = node.attrs.get("negate", "no").lower() == "yes"
    try:
        return compile_pattern(kind, node.text, negate=negate)
    except PatternError as exc:
        raise RuleError(f"rule {rule.id}: <{node.tag}>: {exc}", node.where()) from None


# <field type=...>: Wazuh's names for the pattern languages.
FIELD_TYPES = {"osregex": "regex", "osmatch": "match", "pcre2": "pcre2"}
_FIELD_NAME = re.compile(r"[^\s.][^\s]*")
_TECHNIQUE = re.compile(r"T\d{4}(?:\.\d{3})?")


def _field_pattern(node: Node, rule: Rule) -> tuple[str, Pattern]:
    """``<field name="user.name" type="osregex">``: a pattern on a decoded field by name."""
    name = node.attrs.get("name", "").strip()
    if not _FIELD_NAME.fullmatch(name) or name.endswith("."):
        raise RuleError(f"rule {rule.id}: <field> needs a name= such as user.name",
                        node.where())
    kind = FIELD_TYPES.get(node.attrs.get("type", "osregex").lower())
    if kind is None:
        raise RuleError(f"rule {rule.id}: <field> type= must be one of "
                        f"{', '.join(FIELD_TYPES)}", node.where())
    return ORDER_NAMES.get(name, name), _pattern(node, kind, rule)


def _mitre_ids(node: Node, rule: Rule) -> list[str]:
    ids = []
    for child in node.children:
        text = child.text.strip()
        if child.tag.lower() != "id" or not _TECHNIQUE.fullmatch(text):
            raise RuleError(f"rule {rule.id}: <mitre> holds <id> elements with ATT&CK "
                            f"technique ids such as T1110 or T1548.003, not <{child.tag}> "
                            f"{text!r}", child.where())
        if text not in rule.mitre and text not in ids:
            ids.append(text)
    return ids


def _ignore_fields(text: str, node: Node) -> tuple[str, ...]:
    found = tuple(f for f in IGNORE_FIELDS if f in text)
    if not found:
        raise RuleError(f"<{node.tag}> {text!r} names none of {', '.join(IGNORE_FIELDS)}",
                        node.where())
    return found


LIST_FIELDS = ("srcip", "srcport", "dstip", "dstport", "user", "url", "id", "hostname",
               "program_name", "status", "action", "system_name", "protocol", "data",
               "extra_data")
LIST_LOOKUPS = ("match_key", "not_match_key", "match_key_value", "address_match_key",
                "not_address_match_key", "address_match_key_value")


def _list_rule(node: Node, rule: Rule) -> ListRule:
    fieldname = node.attrs.get("field")
    if fieldname not in LIST_FIELDS:
        raise RuleError(f"<list> needs field= one of {', '.join(LIST_FIELDS)}", node.where())
    lookup = node.attrs.get("lookup", "match_key")
    if lookup not in LIST_LOOKUPS:
        raise RuleError(f"<list> lookup={lookup!r} is not one of {', '.join(LIST_LOOKUPS)}",
                        node.where())
    check = None
    if "check_value" in node.attrs:
        try:
            check = compile_pattern("match", node.attrs["check_value"])
        except PatternError as exc:
            raise RuleError(f"<list> check_value: {exc}", node.where()) from None
    return ListRule(fieldname, lookup, node.text, check, node.where())


# --- time and weekday (OSSEC's OS_IsValidTime / OS_IsValidDay) ------------------------------

_CLOCK = re.compile(r"\s*(\d{1,2})(?::(\d{2}))?\s*(am|pm)?\s*", re.I)


def _minutes(text: str, node: Node) -> int:
    m = _CLOCK.fullmatch(text)
    if not m:
        raise RuleError(f"<time> {text!r}: expected hh:mm or hh am/pm", node.where())
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    suffix = (m.group(3) or "").lower()
    if suffix == "pm" and hour < 12:
        hour += 12
    elif suffix == "am" and hour == 12:
        hour = 0
    if hour > 23 or minute > 59:
        raise RuleError(f"<time> {text!r} is not a time of day", node.where())
    return hour * 60 + minute


def parse_time_range(text: str, node: Node) -> tuple[int, int, bool]:
    negate = text.strip().startswith("!")
    body = text.strip().lstrip("!")
    parts = body.split("-")
    if len(parts) != 2:
        raise RuleError(f"<time> {text!r}: expected a range such as 6 pm - 8:30 am",
                        node.where())
    return _minutes(parts[0], node), _minutes(parts[1], node), negate


def in_time_range(minute_of_day: int, spec: tuple[int, int, bool]) -> bool:
    start, end, negate = spec
    inside = start <= minute_of_day < end if start <= end else (
        minute_of_day >= start or minute_of_day < end)
    return inside is not negate


_DAYS = {"sunday": 6, "sun": 6, "monday": 0, "mon": 0, "tuesday": 1, "tue": 1,
         "wednesday": 2, "wed": 2, "thursday": 3, "thu": 3, "friday": 4, "fri": 4,
         "saturday": 5, "sat": 5}


def parse_weekdays(text: str, node: Node) -> frozenset[int]:
    body = text.strip().lower()
    negate = body.startswith("!")
    body = body.lstrip("!")
    days: set[int] = set()
    for part in re.split(r"\s*,\s*", body):
        if part in ("weekdays", "weekday"):
            days.update(range(5))
        elif part in ("weekends", "weekend"):
            days.update((5, 6))
        elif "-" in part:
            a, _, b = (p.strip() for p in part.partition("-"))
            if a not in _DAYS or b not in _DAYS:
                raise RuleError(f"<weekday> {text!r}: unknown day", node.where())
            i = _DAYS[a]
            while True:
                days.add(i)
                if i == _DAYS[b]:
                    break
                i = (i + 1) % 7
        elif part in _DAYS:
            days.add(_DAYS[part])
        else:
            raise RuleError(f"<weekday> {text!r}: unknown day {part!r}", node.where())
    if negate:
        days = set(range(7)) - days
    return frozenset(days)


# --- compiling checks -------------------------------------------------------------------------

def finish_rule(rule: Rule) -> None:
    """Split a rule's groups from its compliance tags, build its alert's ``rule`` object
    and make it read-only. (Its conditions are compiled with the whole tree, per engine:
    analysis/compiler.py.)"""
    groups = [g.strip() for g in rule.groups_text.split(",") if g.strip()]
    rule.groups = [g for g in groups if not g.startswith(COMPLIANCE_PREFIXES)]
    alert_rule: dict[str, Any] = {"id": str(rule.id), "level": rule.level,
                                  "description": rule.description, "groups": rule.groups}
    for prefix in COMPLIANCE_PREFIXES:
        values = [g[len(prefix):] for g in groups if g.startswith(prefix)]
        if values:
            alert_rule[prefix.rstrip("_")] = values
    if rule.frequency:
        alert_rule["frequency"] = rule.frequency
    if rule.info:
        alert_rule["info"] = "; ".join(i["value"] for i in rule.info)
    if rule.cve:
        alert_rule["cve"] = ", ".join(rule.cve)
    if rule.mitre:
        alert_rule["mitre"] = mitre_object(rule.mitre)
    alert_rule["mail"] = "alert_by_email" in rule.options
    rule.alert_rule = alert_rule
    rule.finished = True
