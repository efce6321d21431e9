"""OSSEC's XML dialect, read leniently and with source line numbers.

OSSEC rule and decoder files are not well-formed XML documents: they hold several
top-level elements, and pattern text carries raw ``\\<``, ``&`` and ``$``. This reader
accepts what OSSEC's own parser accepts: elements with quoted attributes, comments
anywhere, text content up to the next ``<`` that is not escaped by a backslash, and
``<var name="X">value</var>`` definitions that later ``$X`` references expand to.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from hidsctl.analysis.sourcefile import open_text
from hidsctl.errors import HidsError, RuleError, SourceLocation


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    text: str
    line: int
    path: str
    children: list["Node"] = field(default_factory=list)

    def where(self, detail: str | None = None) -> SourceLocation:
        return SourceLocation(self.path, self.line, detail)


MAX_DEPTH = 64  # OSSEC's and Wazuh's files nest 4 deep at most
MAX_EXPANDED = 1 << 16  # a text with its variables expanded (OSSEC's longest: under 2,000)
_NAME = re.compile(r"[A-Za-z_][\w.\-]*")
_ATTR = re.compile(r"""\s*([A-Za-z_][\w.\-]*)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s>/]+)))?""")
_VAR_REF = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_ENTITIES = {"&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"', "&apos;": "'"}
_ENTITY_RE = re.compile("|".join(_ENTITIES))


class _Reader:
    def __init__(self, text: str, path: str, error_cls: type[HidsError]):
        self.text = text
        self.path = path
        self.pos = 0
        self.error_cls = error_cls
        self.variables: dict[str, str] = {}
        self._counted = (0, 1)  # (position, its line): nodes are read front to back
        self.depth = 0

    def line_at(self, pos: int) -> int:
        start, line = self._counted
        if pos >= start:
            line += self.text.count("\n", start, pos)
        else:
            line = self.text.count("\n", 0, pos) + 1
        self._counted = (pos, line)
        return line

    def fail(self, message: str, pos: int | None = None) -> HidsError:
        where = SourceLocation(self.path, self.line_at(self.pos if pos is None else pos))
        return self.error_cls(message, where)

    def skip_misc(self) -> None:
        """Whitespace, comments, processing instructions and doctype declarations."""
        text = self.text
        while True:
            while self.pos < len(text) and text[self.pos].isspace():
                self.pos += 1
            if text.startswith("<!--", self.pos):
                end = text.find("-->", self.pos + 4)
                if end < 0:
                    raise self.fail("comment is never closed")
                self.pos = end + 3
            elif text.startswith("<?", self.pos) or text.startswith("<!", self.pos):
                end = text.find(">", self.pos)
                if end < 0:
                    raise self.fail("declaration is never closed")
                self.pos = end + 1
            else:
                return

    def parse_nodes(self, closing: str | None) -> list[Node]:
        nodes: list[Node] = []
        text = self.text
        while True:
            self.skip_misc()
            if self.pos >= len(text):
                if closing is not None:
                    raise self.fail(f"<{closing}> is never closed")
                return nodes
            if text.startswith("</", self.pos):
                if closing is None:
                    raise self.fail("closing tag without an opening one")
                return nodes
            if text[self.pos] != "<":
                # Stray text between elements: OSSEC ignores it; so do we, but only
                # up to the next tag.
                nxt = text.find("<", self.pos)
                self.pos = len(text) if nxt < 0 else nxt
                continue
            node = self.parse_element()
            if node.tag == "var" and closing is None:
                name = node.attrs.get("name")
                if not name:
                    raise self.error_cls("<var> without a name", node.where())
                self.variables[name] = node.text
                continue
            nodes.append(node)

    def parse_element(self) -> Node:
        # Elements nest by recursion: a file nested absurdly deep is refused, by line,
        # before Python's own recursion limit would end the whole load in a traceback.
        if self.depth >= MAX_DEPTH:
            raise self.fail(f"elements nested more than {MAX_DEPTH} deep")
        self.depth += 1
        try:
            return self._element()
        finally:
            self.depth -= 1

    def _element(self) -> Node:
        text = self.text
        start = self.pos
        match = _NAME.match(text, self.pos + 1)
        if not match:
            raise self.fail("expected an element name after '<'")
        tag = match.group(0)
        self.pos = match.end()
        attrs: dict[str, str] = {}
        while True:
            while self.pos < len(text) and text[self.pos].isspace():
                self.pos += 1
            if text.startswith("/>", self.pos):
                self.pos += 2
                return Node(tag, attrs, "", self.line_at(start), self.path)
            if text.startswith(">", self.pos):
                self.pos += 1
                break
            amatch = _ATTR.match(text, self.pos)
            if not amatch or amatch.end() == self.pos:
                raise self.fail(f"malformed attribute in <{tag}>")
            value = amatch.group(2) if amatch.group(2) is not None else (
                amatch.group(3) if amatch.group(3) is not None else (amatch.group(4) or ""))
            attrs[amatch.group(1)] = self.expand(value)
            self.pos = amatch.end()
        node = Node(tag, attrs, "", self.line_at(start), self.path)
        content_start = self.pos
        # Text content runs to the next '<' that a backslash does not escape.
        scan = self.pos
        while True:
            lt = text.find("<", scan)
            if lt < 0:
                raise self.fail(f"<{tag}> is never closed", start)
            if lt > 0 and text[lt - 1] == "\\":
                scan = lt + 1
                continue
            break
        raw = text[content_start:lt]
        self.pos = lt
        if not text.startswith("</", lt) and raw.strip() == "":
            node.children = self.parse_nodes(tag)
        else:
            node.text = self.expand(_unescape(raw))  # verbatim: a lone space is a pattern
            if not text.startswith("</", self.pos):
                # Text followed by child elements: keep the children, as OSSEC would.
                node.children = self.parse_nodes(tag)
        end = self.pos
        close = re.compile(r"</\s*" + re.escape(tag) + r"\s*>")
        cmatch = close.match(text, end)
        if not cmatch:
            other = _NAME.match(text, end + 2)
            found = other.group(0) if other else "?"
            raise self.fail(f"<{tag}> (line {self.line_at(start)}) closed by </{found}>")
        self.pos = cmatch.end()
        return node

    def expand(self, value: str) -> str:
        """``value`` with its ``$name`` references to <var>s replaced. A <var> may name
        others, so each could double the text: the result is bounded, and a file whose
        variables would grow past it is refused rather than left to fill memory."""
        if "$" not in value or not self.variables:
            return value
        room = MAX_EXPANDED - len(value)

        def replace(match: re.Match[str]) -> str:
            nonlocal room
            text = self.variables.get(match.group(1))
            if text is None:
                return match.group(0)
            room -= len(text)
            if room < 0:
                raise self.fail(f"variables expand past {MAX_EXPANDED:,} characters")
            return text

        return _VAR_REF.sub(replace, value)


def _unescape(text: str) -> str:
    if "&" not in text:
        return text
    return _ENTITY_RE.sub(lambda m: _ENTITIES[m.group(0)], text)


def parse_text(text: str, path: str, error_cls: type = RuleError) -> list[Node]:
    """The top-level elements of one OSSEC XML file's text (variables applied)."""
    reader = _Reader(text, path, error_cls)
    return reader.parse_nodes(None)


def parse_file(path: str | os.PathLike[str], error_cls: type[HidsError] = RuleError
               ) -> list[Node]:
    try:
        with open_text(path) as handle:
            text = handle.read()
    except OSError as exc:
        raise error_cls(f"cannot read: {exc.strerror}", SourceLocation(str(path))) from None
    return parse_text(text, str(path), error_cls)
