"""The rule tree compiled to Python source, once per engine.

Walking the tree with a list of predicate closures per rule costs a function call per
check and a loop per level; OSSEC's rule tree is wide (the syslog template alone has over
a hundred children), so that overhead was most of analysis. Here every rule node with
children becomes one generated function whose body tests each child's conditions inline,
in OSSEC's order, as plain expressions (``'sshd' in low``, ``f.get('action') == 'deny'``,
a bound regex search), and descends into a child by calling the child's function.

Generated functions take the event and the values every condition reads, as locals:
``ev``, ``log`` (the text after pre-decoding), ``low`` (its lowercase, for literal
prefilters), ``f`` (the decoded fields), ``dn`` (the decoder name rules see) and ``pn``
(the program name). A node's children are split by ``decoded_as``: one function per
decoder name holds the children that can match it (those without ``decoded_as``
included, in order), and a dictionary picks it, so an event never tests a child meant for
another decoder.

Each rule's test line and function ends with a comment naming the bound rule (``# R12``),
so a traceback's line in the generated code says which rule was running (budget.py).

Semantics are _descend's: a node whose conditions pass runs its correlation search (when
it correlates), then its children in order (the first that yields a rule wins), then
itself, unless it is ``noalert``. (The engine counts the winner's ``firedtimes``.)

The source is registered with ``linecache`` under its file name (``<hidsctl rules N>``),
so a traceback through a generated function shows the generated line.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import linecache
from collections import Counter
import marshal
from types import CodeType
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable

from hidsctl.analysis.patterns import Pattern
from hidsctl.analysis.rules import (FIELD_ELEMENTS, FIELD_ORDER, EXTRA_ORDER, Rule, RuleNode,
                                    in_time_range)

GENERATED = "<hidsctl rules "  # how the generated rule code's file names begin
ARGS = "ev, log, low, f, dn, pn"
SPLIT_AT = 4  # children with this many distinct decoded_as values are split per decoder


class _Keeper:
    """Lives exactly as long as the namespace of generated code that holds it."""


Binding = tuple[str, str, Any]  # a bound name, how its object is made (_remake), from what


@dataclass
class Generated:
    """A ruleset's generated rule code, kept with the ruleset (and so in the
    compiled-ruleset cache, rulecache.py): generating the source is a third of a warm
    start-up, and the same tree makes the same source. ``top`` names the tree it was made
    for; the bindings are the ruleset's objects, or how to make an engine's own."""

    top: tuple[int, ...]
    source: str
    entries: dict[str, str]  # category -> its entry function's name
    bindings: list[Binding] = field(default_factory=list)


def _top_key(top: tuple[RuleNode, ...]) -> tuple[int, ...]:
    return tuple(node.rule.id for node in top)


class RuleCompiler:
    """Turns rule nodes into generated functions sharing one namespace."""

    def __init__(self, services: Any):
        self.services = services  # the engine: compiled rules, lists, fts, diffs, correlation
        self.ns: dict[str, Any] = {"in_time_range": in_time_range, "E": services}
        self._names: dict[int, str] = {}
        self._kept: list[Any] = []   # bound objects stay alive, so their ids stay unique
        self._source: list[str] = []
        self._tables: list[str] = []  # decoder name -> children function, defined last
        self._node_functions: dict[int, str] = {}
        self._count = 0
        # Per function being built (innermost last): uses of each field value, and of its
        # lowercase, by the value's slot (see _value_test and _function).
        self._uses: list[Counter[str]] = []
        self._slots: dict[str, int] = {}
        self.patterns: dict[str, Pattern] = {}  # bound search name -> its pattern
        self._made: list[Binding] = []  # how each bound name's object was made, in order

    # --- public ------------------------------------------------------------------------------

    def compile(self, top: tuple[RuleNode, ...]) -> dict[str, Callable[..., Rule | None]]:
        """One entry function per category: the templates of that category, in order.
        A ruleset compiled before (by another engine, or kept in the compiled-ruleset
        cache) has its source and bindings kept in ``ruleset.generated``: those are used
        instead of generating the same source again."""
        ruleset = getattr(self.services, "ruleset", None)
        kept: Generated | None = getattr(ruleset, "generated", None)
        if kept is not None and kept.top == _top_key(top):
            return self._replay(kept, ruleset)
        categories: dict[str, list[RuleNode]] = {}
        for node in top:
            categories.setdefault(node.rule.category, []).append(node)
        entries = {}
        for category, nodes in categories.items():
            name = self._fresh("category")
            self._uses.append(Counter())
            body = []
            for node in nodes:
                body += self._child_block(node, skip_decoded_as=False)
            body.append("return None")
            if len(nodes) == 1 and body[0] == f"if True:  # {self._bind(nodes[0].rule, 'R')}":
                # One template, no conditions: the entry is the template's own function
                # (category -> template -> per-decoder table was three calls per event).
                self._uses.pop()
                entries[category] = self._node_function(nodes[0])
                continue
            self._function(name, body)
            entries[category] = name
        self.lines = self._source + self._tables
        source = "\n".join(self.lines) + "\n"
        if ruleset is not None and hasattr(ruleset, "generated"):
            ruleset.generated = Generated(_top_key(top), source, entries, self._made)
        return self._run(source, entries, ruleset)

    def _replay(self, kept: Generated, ruleset: Any) -> dict[str, Callable[..., Rule | None]]:
        """The kept source, its names bound again: the ruleset's own objects, and what
        this engine makes for them (correlation, lists, compiled checks)."""
        for name, how, arg in kept.bindings:
            obj = self._remake(how, arg)
            self.ns[name] = obj
            self._kept.append(obj)
            if how in ("exists", "memo"):
                self.patterns[name] = arg
        self.lines = kept.source.split("\n")[:-1]
        return self._run(kept.source, kept.entries, ruleset)

    def _remake(self, how: str, arg: Any) -> Any:
        services = self.services
        if how == "object":
            return arg
        if how == "exists":
            return arg.exists
        if how == "found":
            return arg.found
        if how == "memo":
            return _memoised(arg)
        if how == "outcomes":
            return _outcomes([self.ns[test] for test in arg])
        if how == "compiled":
            return services.compiled_check(arg)
        if how == "diff":
            return services.diff_check(arg)
        if how == "fts":
            return services.fts_check()
        if how == "list":
            return services.list_check(arg)
        raise ValueError(f"unknown binding {how!r}")

    def _run(self, source: str, entries: dict[str, str],
             ruleset: Any) -> dict[str, Callable[..., Rule | None]]:
        name = f"<hidsctl rules {next(_serial)}>"
        run_generated(source, name, self.ns, getattr(ruleset, "compiled", None))
        # The source stays in linecache (for tracebacks) while the generated namespace
        # lives: a plain object kept in it carries the finalizer (the engine itself may be
        # a compiled class, which takes no weak references).
        keeper = self.ns["_linecache_keeper"] = _Keeper()
        weakref.finalize(keeper, linecache.cache.pop, name, None)
        return {category: self.ns[name] for category, name in entries.items()}

    # --- nodes -------------------------------------------------------------------------------

    def _node_function(self, node: RuleNode) -> str:
        """The function for a node whose own conditions passed."""
        name = self._node_functions.get(id(node))
        if name is not None:
            return name
        name = self._node_functions[id(node)] = self._fresh(f"rule{node.rule.id}_")
        rule = node.rule
        r = self._bind(rule, "R")
        self._uses.append(Counter())
        body = []
        if rule.search_key is not None:
            body += [f"p = E.state.search({r}, ev)",
                     "if p is None:", "    return None",
                     "ev.previous = p or None"]
        children = self._children(node)
        if rule.noalert and children and children[0].startswith("r = ") and len(children) == 3:
            # A silent node whose children are picked by decoder (OSSEC's syslog template):
            # its result is the picked function's, so return that call directly.
            body += [f"return {children[0][4:]}"]
        else:
            body += children
            body.append("return None" if rule.noalert else f"return {r}")
        self._function(name, body, rule=r)
        return name

    def _children(self, node: RuleNode) -> list[str]:
        children = node.children
        wanted = {c.rule.decoded_as for c in children if c.rule.decoded_as is not None}
        if len(wanted) < SPLIT_AT:
            lines = []
            for child in children:
                lines += self._child_block(child, skip_decoded_as=False)
            return lines
        # One function per decoder name, plus one for the others (generic children only).
        table = {}
        for decoder in sorted(wanted):
            table[decoder] = self._children_function(
                [c for c in children if c.rule.decoded_as in (None, decoder)])
        default = self._children_function([c for c in children if c.rule.decoded_as is None])
        pick = self._fresh("by_decoder")
        entries = ", ".join(f"{decoder!r}: {function}" for decoder, function in table.items())
        self._tables.append(f"{pick} = {{{entries}}}")
        return [f"r = {pick}.get(dn, {default})({ARGS})",
                "if r is not None:", "    return r"]

    def _children_function(self, children: list[RuleNode]) -> str:
        name = self._fresh("children")
        self._uses.append(Counter())
        body = []
        for child in children:
            body += self._child_block(child, skip_decoded_as=True)
        body.append("return None")
        self._function(name, body)
        return name

    def _child_block(self, node: RuleNode, *, skip_decoded_as: bool) -> list[str]:
        """Test one child; on success descend (or, for a leaf, take it)."""
        rule = node.rule
        conditions = self.conditions(rule, skip_decoded_as=skip_decoded_as)
        test = " and ".join(conditions) if conditions else "True"
        r = self._bind(rule, "R")
        if node.children:
            call = self._node_function(node)
            return [f"if {test}:  # {r}", f"    r = {call}({ARGS})", "    if r is not None:",
                    "        return r"]
        lines = [f"if {test}:  # {r}"]
        if rule.search_key is not None:
            lines += [f"    p = E.state.search({r}, ev)", "    if p is not None:",
                      "        ev.previous = p or None"]
            indent = "        "
        else:
            indent = "    "
        if rule.noalert:
            lines.append(f"{indent}pass")
        else:
            lines.append(f"{indent}return {r}")
        return lines

    # --- conditions --------------------------------------------------------------------------

    def conditions(self, rule: Rule, *, skip_decoded_as: bool = False) -> list[str]:
        """A rule's conditions as Python expressions, in OSSEC's order."""
        out: list[str] = []
        if rule.decoded_as is not None and not skip_decoded_as:
            out.append(f"dn == {rule.decoded_as!r}")
        p = rule.patterns
        for key in FIELD_ORDER:
            if key in ("match", "regex", "pcre2"):
                if key in p:
                    out.append(self._log_test(p[key]))
            elif key == "action":
                if rule.action is not None:
                    out.append(f"f.get('action') == {rule.action!r}")
                elif "action" in p:
                    out.append(self._value_test("f.get('action')", p["action"]))
            elif key in ("srcip", "dstip"):
                iplist = getattr(rule, key)
                if iplist is not None:
                    ips = self._bind(iplist.found, "IP", ("found", iplist))
                    out.append(f"((v := f.get({key!r})) is not None and {ips}(v))")
            elif key in p:
                out.append(self._field_test(FIELD_ELEMENTS[key][0], p[key]))
        if rule.compiled_rule:
            check = self._bind(self.services.compiled_check(rule.compiled_rule), "C",
                               ("compiled", rule.compiled_rule))
            out.append(f"{check}(ev)")
        for key in EXTRA_ORDER:
            if key in p:
                out.append(self._field_test(FIELD_ELEMENTS[key][0], p[key]))
            if key == "user":
                out += self._size_and_time(rule)
        for name, pat in rule.field_patterns:
            out.append(self._value_test(f"f.get({name!r})", pat))
        if rule.check_diff:
            out.append(f"{self._bind(self.services.diff_check(rule), 'D', ('diff', rule))}(ev)")
        if rule.if_fts:
            out.append(f"{self._bind(self.services.fts_check(), 'FTS', ('fts', None))}(ev)")
        for list_rule in rule.lists:
            check = self._bind(self.services.list_check(list_rule), "L", ("list", list_rule))
            out.append(f"{check}(ev)")
        return out

    def _size_and_time(self, rule: Rule) -> list[str]:
        out = []
        if rule.maxsize:
            out.append(f"len(log) >= {rule.maxsize}")
        if rule.day_time:
            out.append(f"in_time_range(ev.minute_of_day(), {self._bind(rule.day_time, 'TR')})")
        if rule.week_day:
            out.append(f"ev.weekday() in {self._bind(rule.week_day, 'WD')}")
        return out

    def _search(self, pat: Pattern) -> str:
        name = self._bind(pat.exists, "S", ("exists", pat))
        self.patterns[name] = pat
        return name

    def _log_test(self, pat: Pattern) -> str:
        search = self._search(pat)
        lits = pat.literals
        if lits is None:
            test = f"{search}(log) is not None"
        else:
            if pat.anchored:
                pre = f"low.startswith({lits[0]!r})" if len(lits) == 1 else \
                    f"low.startswith({lits!r})"
            else:
                pre = " or ".join(f"{lit!r} in low" for lit in lits)
            test = pre if pat.exact else f"({pre}) and {search}(log) is not None"
        return f"not ({test})" if pat.negate else f"({test})"

    def _value_test(self, value: str, pat: Pattern, *, memo: bool = False) -> str:
        """``memo``: the field takes few distinct values (program names, hosts), so each
        value's outcome is remembered instead of searched again."""
        if memo:
            test = self._bind(_memoised(pat), "M", ("memo", pat))
            self.patterns[test] = pat
            if value == "pn":
                self._uses[-1][f"P{test}"] += 1
                return f"\0P{'!' if pat.negate else ''}{test}\0"
            return f"((v := {value}) is not None and {'not ' if pat.negate else ''}{test}(v))"
        search = self._search(pat)
        lits = pat.literals
        slot = self._slots.setdefault(value, len(self._slots))
        uses = self._uses[-1]
        uses[f"G{slot}"] += 1
        value = f"\0G{slot}\0"
        if lits is None:
            found = "is None" if pat.negate else "is not None"
            return f"((v := {value}) is not None and {search}(v) {found})"
        # A required literal first, on the lowercased value: a long alternation searched
        # case-insensitively costs ten times what the substring tests do.
        uses[f"L{slot}"] += 1
        lower = f"\0L{slot}\0"
        lits = tuple(dict.fromkeys(lits))  # the same literal twice is tested once
        if pat.anchored:
            pre = f"(vl := {lower}).startswith({lits!r})"
        else:
            pre = " or ".join([f"{lits[0]!r} in (vl := {lower})"]
                              + [f"{lit!r} in vl" for lit in lits[1:]])
        test = pre if pat.exact else f"({pre}) and {search}(v) is not None"
        return f"((v := {value}) is not None and {'not ' if pat.negate else ''}({test}))"

    def _field_test(self, name: str, pat: Pattern) -> str:
        if name == "user":
            return self._value_test("f.get('dstuser', f.get('srcuser'))", pat)
        if name == "program_name":
            return self._value_test("pn", pat, memo=True)
        if name in ("hostname", "location"):
            return self._value_test(f"ev.{name}", pat, memo=True)
        return self._value_test(f"f.get({name!r})", pat)

    # --- source and namespace ----------------------------------------------------------------

    def _bind(self, obj: Any, prefix: str, made: tuple[str, Any] | None = None) -> str:
        """A name for ``obj`` in the generated code; ``made`` says how to make it again
        for another engine (_remake), when it is not one of the ruleset's own objects."""
        key = id(obj)
        name = self._names.get(key)
        if name is None:
            name = self._names[key] = f"{prefix}{len(self._names)}"
            self.ns[name] = obj
            self._kept.append(obj)
            how, arg = made if made is not None else ("object", obj)
            self._made.append((name, how, arg))
        return name

    def _fresh(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}{self._count}"

    def _function(self, name: str, body: list[str], rule: str | None = None) -> None:
        self._source.append(f"def {name}({ARGS}):" + (f"  # {rule}" if rule else ""))
        self._source += [f"    {line}" for line in self._hoisted(body)]
        self._source.append("")

    def _hoisted(self, body: list[str]) -> list[str]:
        """The body with its field values read once, before the first test, and each
        lowercased at most once (on first need), where more than one test reads it: the
        children of a web-log rule test the URL's lowercase a dozen times per event.
        (Nothing a rule tests changes the fields while the rules run.)"""
        uses = self._uses.pop()
        values = {slot: value for value, slot in self._slots.items()}
        top: list[str] = []
        subs: dict[str, str] = {}
        self._program_tests(uses, top, subs)
        for key, count in uses.items():
            if key[0] == "P":
                continue
            slot = int(key[1:])
            if key[0] == "G":
                if count > 1:
                    top.append(f"_f{slot} = {values[slot]}")
                    subs[key] = f"_f{slot}"
                else:
                    subs[key] = values[slot]
            elif count > 1:
                top.append(f"_l{slot} = None")
                subs[key] = f"_l{slot} or (_l{slot} := v.lower())"
            else:
                subs[key] = "v.lower()"
        parts = "\n".join(body).split("\0")
        for i in range(1, len(parts), 2):
            parts[i] = subs[parts[i]]
        return top + "".join(parts).split("\n")

    def _program_tests(self, uses: Counter[str], top: list[str], subs: dict[str, str]) -> None:
        """Where a function tests the program name against several patterns (the syslog
        template's children test it some forty times), all its outcomes for one name come
        from one remembered call, as a tuple, instead of one call per test."""
        tests = [key[1:] for key in uses if key[0] == "P"]
        for i, test in enumerate(tests):
            if len(tests) > 1:
                subs[f"P{test}"] = f"(_pm is not None and _pm[{i}])"
                subs[f"P!{test}"] = f"(_pm is not None and not _pm[{i}])"
            else:
                subs[f"P{test}"] = f"((v := pn) is not None and {test}(v))"
                subs[f"P!{test}"] = f"((v := pn) is not None and not {test}(v))"
        if len(tests) > 1:
            outcomes = self._bind(_outcomes([self.ns[test] for test in tests]), "PM",
                                  ("outcomes", list(tests)))
            top.append(f"_pm = None if pn is None else {outcomes}(pn)")


def _memoised(pat: Pattern) -> Callable[[str], bool]:
    search = pat.exists

    @functools.lru_cache(maxsize=4096)
    def found(value: str) -> bool:
        return search(value) is not None
    return found


def _outcomes(tests: list[Callable[[str], bool]]) -> Callable[[str], tuple[bool, ...]]:
    @functools.lru_cache(maxsize=4096)
    def outcomes(value: str) -> tuple[bool, ...]:
        return tuple(test(value) for test in tests)
    return outcomes


_serial = itertools.count(1)


def run_generated(source: str, filename: str, namespace: dict[str, Any],
                  memo: dict[str, bytes] | None = None) -> None:
    """Compile and run generated source in ``namespace``, its text registered with
    ``linecache`` as ``filename`` so tracebacks through it show its lines.

    The source is compiled in pieces of about CHUNK_LINES lines, each cut before a
    top-level ``def``: Python's compiler holds a whole module's syntax tree at once, some
    70 MB for a full ruleset's source, the most a first start (no cache) ever holds.
    ``memo`` (the ruleset's, kept by the compiled-ruleset cache, rulecache.py) holds code
    compiled before, marshalled, by the hash of its piece of source: compiling a full
    ruleset's source is most of an engine's start-up, and the same ruleset makes the same
    source."""
    lines = source.splitlines(True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    for start, end in _chunks(lines):
        piece = "".join(lines[start:end])
        code = None
        digest = hashlib.sha256(f"{start}:{piece}".encode()).hexdigest()
        if memo is not None and digest in memo:
            code = _from_memo(memo[digest], filename)
        if code is None:
            # blank lines in front, so the piece's line numbers are the whole source's
            code = compile("\n" * start + piece, filename, "exec")
            if memo is not None:
                memo[digest] = marshal.dumps(code)
        exec(code, namespace)  # noqa: S102 - generated here


CHUNK_LINES = 2000


def _chunks(lines: list[str]) -> list[tuple[int, int]]:
    """(start, end) line ranges covering ``lines``, each cut before a top-level ``def``
    once it holds CHUNK_LINES lines (a ``def`` at the margin always begins a statement)."""
    cuts, start, number = [], 0, CHUNK_LINES
    while number < len(lines):
        if lines[number].startswith("def "):
            cuts.append((start, number))
            start, number = number, number + CHUNK_LINES
        else:
            number += 1
    cuts.append((start, len(lines)))
    return cuts


def _from_memo(blob: bytes, filename: str) -> CodeType | None:
    """The memo's code for a piece; None (compile it again) when the entry is not code."""
    try:
        code = marshal.loads(blob)
    except (EOFError, ValueError, TypeError):
        return None
    return _renamed(code, filename) if isinstance(code, CodeType) else None


def _renamed(code: CodeType, filename: str) -> CodeType:
    """``code`` and the functions in it as if compiled under ``filename`` (each engine's
    generated code has a name of its own, for linecache)."""
    if code.co_filename == filename:
        return code
    consts = tuple(_renamed(c, filename) if isinstance(c, CodeType) else c
                   for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)
