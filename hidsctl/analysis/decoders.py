"""OSSEC decoders: loaded from XML, arranged as OSSEC arranges them, run as OSSEC runs them.

Top-level decoders live in two lists in file order: those with a ``program_name`` (tried for
lines whose syslog header gave a program name) and those without (tried for lines without
one). A child names its parent; it is attached to every top-level decoder of that name.
Several children of one parent with the same name form one decoder whose regexes run in
turn (OSSEC's "get_next" chain). A child reports its parent's name unless it says
``use_own_name``; ``decoded_as`` compares against that reported name.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from hidsctl.analysis.languages import compile_pattern
from hidsctl.analysis.patterns import Pattern, PatternError
from hidsctl.analysis.xmlload import Node
from hidsctl.errors import DecoderError, SourceLocation

# OSSEC's names in <order>, mapped to the event field they fill (alerts.json names).
ORDER_FIELDS = {
    "srcip": "srcip", "dstip": "dstip", "srcport": "srcport", "dstport": "dstport",
    "protocol": "protocol", "action": "action", "srcuser": "srcuser", "dstuser": "dstuser",
    "user": "dstuser", "id": "id", "url": "url", "status": "status",
    "extra_data": "extra_data", "data": "extra_data", "system_name": "system_name",
    "filename": "filename",
}
CATEGORIES = ("syslog", "firewall", "ids", "web-log", "squid", "windows", "ossec",
              "host-information")
OFFSETS = ("after_parent", "after_prematch", "after_regex")


class Decodable(Protocol):
    """What decoding reads and sets of an event (events.Event): named here rather than
    imported, because events builds on this module."""

    log: str
    lower: str
    program_name: str | None
    decoder: Decoder
    fields: dict[str, str]


@dataclass(eq=False)
class Decoder:
    name: str                      # the name in the file
    where: SourceLocation
    parent: str | None = None
    program_name: Pattern | None = None
    prematch: Pattern | None = None
    prematch_after_parent: bool = False
    regex: Pattern | None = None
    regex_offset: str | None = None
    order: list[str | None] = field(default_factory=list)
    fts: list[str] = field(default_factory=list)
    type: str = "syslog"
    use_own_name: bool = False
    plugin: Callable[..., None] | None = None
    plugin_name: str | None = None
    plugin_offset: str | None = None   # after_parent or after_prematch (JSON_Decoder)
    get_next: bool = False
    reported: str = ""             # the name alerts and decoded_as see
    parent_reported: str | None = None
    # The prematch's cheap necessary condition (see _prefilter): kind 0 none, 1 one of
    # ``pre_literals`` starts the text, 2 the one literal is in it, 3 one of them is.
    pre_kind: int = 0
    pre_literals: Any = None

    def as_dict(self) -> dict[str, str]:
        out = {"name": self.reported}
        if self.parent_reported:
            out["parent"] = self.parent_reported
        return out


@dataclass(eq=False)
class DecoderNode:
    decoder: Decoder
    children: list[Decoder] = field(default_factory=list)
    # (index, child) for the children decoding tries, in order: a child continuing a
    # sibling's regex (OSSEC's get_next chain) is never tried on its own.
    tried: tuple[tuple[int, Decoder], ...] = ()

    def arrange(self) -> None:
        tried = []
        kids = self.children
        i = 0
        while i < len(kids):
            tried.append((i, kids[i]))
            if kids[i].prematch is None:
                break  # always chosen: nothing after it is reached
            if kids[i].get_next:
                while i < len(kids) and kids[i].get_next:
                    i += 1
            i += 1
        self.tried = tuple(tried)


class DecoderSet:
    """All decoders of a ruleset, ready to decode events."""

    def __init__(self) -> None:
        self.with_program: list[DecoderNode] = []
        self.without_program: list[DecoderNode] = []
        self.names: set[str] = set()
        self.count = 0
        self._by_program: dict[tuple[str | None, str], tuple[DecoderNode, ...]] = {}
        self._plans: dict[tuple[str | None, str], tuple[_Step, ...]] = {}

    # --- loading --------------------------------------------------------------------------

    def add(self, dec: Decoder) -> None:
        self.names.add(dec.name)
        self.count += 1
        dec.pre_kind, dec.pre_literals = _prefilter(dec.prematch)
        if dec.parent is None:
            if dec.regex_offset == "after_regex":
                raise DecoderError("offset after_regex needs an earlier regex of the same "
                                   "decoder", dec.where)
            dec.reported = dec.name
            target = self.with_program if dec.program_name else self.without_program
            target.append(DecoderNode(dec))
            self._by_program.clear()
            self._plans.clear()
            return
        parents = [n for n in self.with_program + self.without_program
                   if n.decoder.name == dec.parent]
        if not parents:
            raise DecoderError(f"unknown parent decoder {dec.parent!r}", dec.where)
        dec.reported = dec.name if dec.use_own_name else dec.parent
        dec.parent_reported = dec.parent
        for node in parents:
            self._add_child(node, dec)
        self._plans.clear()  # a plan knows which candidates have no children

    @staticmethod
    def _add_child(node: DecoderNode, dec: Decoder) -> None:
        chained = False
        for sibling in node.children:
            if sibling.name != dec.name:
                continue
            if dec.prematch is not None:
                raise DecoderError(f"decoder {dec.name!r} repeats a sibling's name, so it "
                                   "continues its regex and cannot have a prematch", dec.where)
            if dec.fts:
                raise DecoderError(f"decoder {dec.name!r} repeats a sibling's name and cannot "
                                   "have fts", dec.where)
            if not _decodes(sibling) or not _decodes(dec) or \
                    sibling.regex is not None and dec.regex is not None and \
                    sibling.regex.kind != dec.regex.kind and \
                    "pcre2" in (sibling.regex.kind, dec.regex.kind):
                raise DecoderError(f"duplicate decoder name {dec.name!r} without a regex to "
                                   "chain", dec.where)
            if sibling.prematch is not None or sibling.regex is not None:
                chained = True
            sibling.get_next = True
        if dec.regex_offset == "after_regex" and not chained:
            raise DecoderError("offset after_regex needs an earlier regex of the same "
                               "decoder", dec.where)
        node.children.append(dec)
        node.arrange()

    # --- decoding -------------------------------------------------------------------------

    def candidates(self, program_name: str | None, first: str) -> tuple[DecoderNode, ...]:
        """Top-level decoders worth trying for a program name and a text starting with
        ``first`` (its first character, or ""), cached per pair. A decoder whose prematch
        is anchored at the start is left out when that character cannot begin a match."""
        key = (program_name, first)
        found = self._by_program.get(key)
        if found is None:
            if program_name is None:
                nodes = self.without_program
            else:
                nodes = [n for n in self.with_program if n.decoder.program_name is not None
                         and n.decoder.program_name.test(program_name)]
            found = tuple(n for n in nodes if _may_start(n.decoder.prematch, first))
            if len(self._by_program) > 10000:
                self._by_program.clear()
            self._by_program[key] = found
        return found

    def _plan(self, key: tuple[str | None, str]) -> tuple[_Step, ...]:
        """The candidates for ``key`` with what their prefilter needs, unpacked once."""
        plan = tuple((node, node.decoder, node.decoder.prematch, node.decoder.pre_kind,
                      node.decoder.pre_literals, None if node.children else [node.decoder])
                     for node in self.candidates(*key))
        if len(self._plans) > 10000:
            self._plans.clear()
        self._plans[key] = plan
        return plan

    def decode(self, ev: Decodable) -> None:
        """Set ``ev.decoder`` and decoded fields, following OSSEC's DecodeEvent."""
        log = ev.log
        low: str | None = ev.lower
        if len(ev.lower) != len(log):
            low = None  # lowercasing moved offsets: no prefilters for this text
        key = (ev.program_name, log[:1])
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plan(key)
        # The candidates come unpacked (no attribute look-ups) and their prefilters are
        # written out here rather than called: most candidates of a line fail them, and a
        # call or look-up per candidate was a large part of all decoding time.
        for node, top, prematch, kind, literals, alone in plan:
            pmatch = 0
            if prematch is not None:
                if kind and low is not None:
                    if kind == 2:
                        if literals not in low:
                            continue
                    elif kind == 1:
                        if not low.startswith(literals):
                            continue
                    else:
                        for literal in literals:
                            if literal in low:
                                break
                        else:
                            continue
                m = prematch.search(log)
                if m is None:
                    continue
                pmatch = m.end()
            ev.decoder = top
            if alone is not None:
                self._run_regexes(ev, alone, 0, pmatch, pmatch)
                return
            for i, kid in node.tried:
                prematch = kid.prematch
                if prematch is None:
                    self._run_regexes(ev, node.children, i, pmatch, pmatch)
                    return
                base = pmatch if kid.prematch_after_parent else 0
                kind = kid.pre_kind
                # The top-level prefilter above again, on purpose: a hot-path copy (see there).
                if kind and low is not None:
                    literals = kid.pre_literals
                    if kind == 1:
                        if not low.startswith(literals, base):
                            continue
                    elif kind == 2:
                        if literals not in low:
                            continue
                    elif not _any_in(literals, low):
                        continue
                m = prematch.search(log[base:] if base else log)
                if m is not None:
                    ev.decoder = kid
                    self._run_regexes(ev, node.children, i, pmatch, base + m.end())
                    return
            return

    @staticmethod
    def _run_regexes(ev: Decodable, chain: list[Decoder], idx: int, pmatch: int,
                     cmatch: int | None) -> None:
        log = ev.log
        dec = chain[idx]
        regex_prev: int | None = None
        fields = ev.fields
        while True:
            if dec.plugin is not None:
                # A plugin may start a chain that regexes of the same name continue.
                if dec.plugin_offset is None:
                    dec.plugin(ev)
                else:
                    dec.plugin(ev, pmatch if dec.plugin_offset == "after_parent"
                               else (cmatch or 0))
                if dec.get_next and idx + 1 < len(chain):
                    idx += 1
                    dec = chain[idx]
                    continue
                return
            if dec.regex is None:
                return
            offset = dec.regex_offset
            if offset is None:
                base = 0
            elif offset == "after_parent":
                base = pmatch
            elif offset == "after_prematch":
                base = cmatch if cmatch is not None else 0
            else:
                base = regex_prev if regex_prev is not None else (cmatch or 0)
            m = dec.regex.search(log[base:] if base else log)
            if m is None:
                if dec.get_next and idx + 1 < len(chain):
                    idx += 1
                    dec = chain[idx]
                    continue
                return
            ev.decoder = dec
            regex_prev = base + m.end()
            order = dec.order
            n = 0
            for value in m.groups():
                if value is None:
                    continue
                if n < len(order):
                    name = order[n]
                    if name is not None:
                        fields[name] = value
                n += 1
            if dec.get_next and idx + 1 < len(chain):
                idx += 1
                dec = chain[idx]
                continue
            return


# One top-level candidate: its node, decoder, prematch, prefilter kind and literals, and
# the decoder alone as a chain when it has no children.
_Step = tuple[DecoderNode, Decoder, Any, int, Any, "list[Decoder] | None"]


def _decodes(dec: Decoder) -> bool:
    """Whether a decoder fills fields (a regex or a plugin), so a chain can go through it."""
    return dec.regex is not None or dec.plugin is not None


def _may_start(prematch: Pattern | None, first: str) -> bool:
    """Whether a text starting with ``first`` could pass this prematch."""
    if prematch is None or prematch.first is None or prematch.negate:
        return True
    if not first:
        return False
    return not first.isascii() or first in prematch.first


def _prefilter(pattern: Pattern | None) -> tuple[int, Any]:
    """(kind, literals) of a prematch's necessary condition on the lowercased text; a
    literal is in it wherever the prematch starts, as the decoder may search from an
    offset."""
    if pattern is None or pattern.negate or pattern.literals is None:
        return 0, None
    if pattern.anchored:
        return 1, pattern.literals
    if len(pattern.literals) == 1:
        return 2, pattern.literals[0]
    return 3, pattern.literals


def _any_in(literals: tuple[str, ...], text: str) -> bool:
    for literal in literals:
        if literal in text:
            return True
    return False


# --- reading XML ---------------------------------------------------------------------------

def _pattern(node: Node, kind: str, what: str) -> Pattern:
    negate = node.attrs.get("negate", "no").lower() == "yes"
    try:
        return compile_pattern(kind, node.text, negate=negate)
    except PatternError as exc:
        raise DecoderError(f"{what}: {exc}", node.where()) from None


def _offset(node: Node, decoder_name: str) -> str | None:
    value = node.attrs.get("offset")
    if value is None:
        return None
    if value not in OFFSETS:
        raise DecoderError(f"decoder {decoder_name!r}: invalid offset {value!r} (expected "
                           f"{', '.join(OFFSETS)})", node.where())
    return value


def _plugin_offset(node: Node, decoder_name: str) -> str | None:
    offset = _offset(node, decoder_name)
    if offset is None:
        return None
    if offset == "after_regex" or node.text != "JSON_Decoder":
        raise DecoderError(f"decoder {decoder_name!r}: a plugin_decoder offset is after_parent "
                           "or after_prematch, for JSON_Decoder only", node.where())
    return offset


JSON_OPTIONS = {"json_null_field": ("null", ("string", "discard", "empty")),
                "json_array_structure": ("arrays", ("array", "csv"))}


def _json_options(dec: Decoder, texts: dict[str, list[Node]]) -> None:
    """Bind <json_null_field> and <json_array_structure> to the decoder's JSON plugin."""
    options = {}
    for tag, (keyword, allowed) in JSON_OPTIONS.items():
        for node in texts.pop(tag, []):
            value = node.text.strip().lower()
            if value not in allowed:
                raise DecoderError(f"decoder {dec.name!r}: <{tag}> {node.text!r} is not one of "
                                   f"{', '.join(allowed)}", node.where())
            options[keyword] = value
    if options and dec.plugin is not None and dec.plugin_name == "JSON_Decoder":
        dec.plugin = functools.partial(dec.plugin, **options)


@dataclass
class _Reading:
    """A ``<decoder>`` being read: the decoder, the plugins it may name, and the texts kept
    for the end (patterns and JSON options, checked and compiled together)."""

    decoder: Decoder
    plugins: dict[str, Callable[..., None]]
    texts: dict[str, list[Node]] = field(default_factory=dict)


def _text(r: _Reading, child: Node) -> None:
    r.texts.setdefault(child.tag.lower(), []).append(child)


def _parent(r: _Reading, child: Node) -> None:
    r.decoder.parent = child.text


def _order(r: _Reading, child: Node) -> None:
    r.decoder.order = [ORDER_FIELDS.get(w.strip(), w.strip()) or None
                       for w in child.text.split(",")]


def _fts(r: _Reading, child: Node) -> None:
    r.decoder.fts = [w.strip() for w in child.text.split(",") if w.strip()]


def _type(r: _Reading, child: Node) -> None:
    if child.text not in CATEGORIES:
        raise DecoderError(f"decoder {r.decoder.name!r}: invalid type {child.text!r}",
                           child.where())
    r.decoder.type = child.text


def _use_own_name(r: _Reading, child: Node) -> None:
    r.decoder.use_own_name = child.text.strip().lower() in ("true", "yes")


def _plugin_decoder(r: _Reading, child: Node) -> None:
    dec = r.decoder
    plugin = r.plugins.get(child.text)
    if plugin is None:
        raise DecoderError(f"decoder {dec.name!r}: unknown plugin decoder {child.text!r}",
                           child.where())
    dec.plugin = plugin
    dec.plugin_name = child.text
    dec.plugin_offset = _plugin_offset(child, dec.name)


def _nothing(r: _Reading, child: Node) -> None:
    """Accepted, with no effect: ``<var>`` (variables are expanded when the file is read),
    ``<ftscomment>`` (a comment) and ``<accumulate>`` (accumulation across events is not
    performed; docs/rules.md)."""


# Every element a <decoder> may hold, and what reading it does: the index of what is
# supported.
DECODER_ELEMENTS: dict[str, Callable[[_Reading, Node], None]] = {
    **dict.fromkeys(("regex", "pcre2", "prematch", "prematch_pcre2", "program_name",
                     "program_name_pcre2", *JSON_OPTIONS), _text),
    "parent": _parent,
    "order": _order,
    "fts": _fts,
    "ftscomment": _nothing,
    "type": _type,
    "use_own_name": _use_own_name,
    "accumulate": _nothing,
    "plugin_decoder": _plugin_decoder,
    "var": _nothing,
}


def decoder_from_xml(node: Node, plugins: dict[str, Callable[..., None]]) -> Decoder:
    """One ``<decoder>``: its elements read by the handlers of ``DECODER_ELEMENTS``; an
    unknown element is warned about and ignored, as OSSEC does."""
    name = node.attrs.get("name")
    if not name:
        raise DecoderError("<decoder> without a name", node.where())
    dec = Decoder(name=name, where=node.where(f"decoder {name!r}"))
    reading = _Reading(dec, plugins)
    for child in node.children:
        handler = DECODER_ELEMENTS.get(child.tag.lower())
        if handler is None:
            warnings.warn(f"{child.where()}: decoder {name!r}: unknown option <{child.tag}> "
                          "ignored", stacklevel=2)
        else:
            handler(reading, child)
    texts = reading.texts
    _json_options(dec, texts)
    for plain, pcre in (("regex", "pcre2"), ("prematch", "prematch_pcre2"),
                        ("program_name", "program_name_pcre2")):
        if plain in texts and pcre in texts:
            raise DecoderError(f"decoder {name!r}: both <{plain}> and <{pcre}>",
                               texts[pcre][0].where())
    for tag, parts in texts.items():
        joined = Node(parts[0].tag, parts[0].attrs, "".join(p.text for p in parts),
                      parts[0].line, parts[0].path)
        for later in parts[1:]:
            if later.attrs.get("offset"):
                raise DecoderError(f"decoder {name!r}: only the first <{tag}> may have an "
                                   "offset", later.where())
        kind = "pcre2" if tag.endswith("_pcre2") or tag == "pcre2" else (
            "match" if tag == "program_name" else "regex")
        base = tag.replace("_pcre2", "") if tag != "pcre2" else "regex"
        pattern = _pattern(joined, kind, f"decoder {name!r} <{tag}>")
        if base == "regex":
            dec.regex = pattern
            dec.regex_offset = _offset(parts[0], name)
        elif base == "prematch":
            dec.prematch = pattern
            off = _offset(parts[0], name)
            if off not in (None, "after_parent"):
                raise DecoderError(f"decoder {name!r}: a prematch offset can only be "
                                   "after_parent", parts[0].where())
            dec.prematch_after_parent = off == "after_parent"
        else:
            dec.program_name = pattern
    if dec.plugin is not None and (dec.regex is not None or dec.order):
        raise DecoderError(f"decoder {name!r}: a plugin decoder cannot have a regex or order",
                           dec.where)
    if dec.regex is not None and dec.regex.rx.groups and not dec.order:
        warnings.warn(f"{dec.where}: decoder has capture groups but no <order>", stacklevel=2)
    return dec
