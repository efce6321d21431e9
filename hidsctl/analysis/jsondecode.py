"""Wazuh's JSON decoder (``<plugin_decoder>JSON_Decoder</plugin_decoder>``), written for hidsctl.

The message (from an offset, when the decoder gives one) must begin with a JSON object;
what follows the object is ignored, as Wazuh ignores it. Nested objects become dotted
field names (``{"user": {"name": "bob"}}`` gives ``user.name``), every value is kept as
text for the rules (numbers as written, ``true``/``false``), and a top-level key with an
OSSEC field name (``srcip``, ``user``, ``data``, …) fills that field. ``null`` is kept as
``null`` (``json_null_field`` ``string``), as ``""`` (``empty``) or dropped (``discard``);
an array is matched as its compact JSON text and shown in the alert as a JSON array
(``json_array_structure`` ``array``) or is one comma-separated text (``csv``).

Hostile documents are bounded: a message past :data:`MAX_INPUT` characters, nesting
past :data:`MAX_DEPTH` levels, or anything that is not valid JSON (NaN and Infinity
included) decodes nothing; past :data:`MAX_FIELDS` fields the rest are dropped.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from hidsctl.analysis.decoders import ORDER_FIELDS

if TYPE_CHECKING:
    from hidsctl.analysis.events import Event

MAX_INPUT = 65536      # characters of JSON read (Wazuh's whole event is at most 64 KiB)
MAX_DEPTH = 32         # nesting of objects and arrays
MAX_FIELDS = 512       # fields taken from one document
# Fields the alert schema types as scalars: never nested objects or arrays under these.
SCALAR_FIELDS = frozenset(("srcip", "srcport", "dstip", "dstport", "srcuser", "dstuser",
                           "url"))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# Numbers stay as written: no float rounding, and no int() of a 5000-digit number.
_DECODER = json.JSONDecoder(parse_int=str, parse_float=str, parse_constant=_no_constant)


def parse_object(text: str) -> dict[str, Any] | None:
    """The JSON object ``text`` begins with (after blanks), or None."""
    text = text.lstrip()
    if not text.startswith("{") or len(text) > MAX_INPUT:
        return None
    try:
        doc, _ = _DECODER.raw_decode(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or _depth(doc) > MAX_DEPTH:
        return None
    return doc


def _depth(value: Any) -> int:
    """Nesting depth, counted without recursion (a hostile document may be deep)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > deepest:
            deepest = level
            if deepest > MAX_DEPTH:
                return deepest
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item if isinstance(v, (dict, list)))
    return deepest


def _scalar(value: Any, null: str) -> str | None:
    if value is None:
        return None if null == "discard" else ("" if null == "empty" else "null")
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def flatten(doc: dict[str, Any], *, null: str = "string", arrays: str = "array"
            ) -> tuple[dict[str, str], dict[str, list[Any]]]:
    """(fields as text, the arrays to show as JSON arrays in the alert) of a document."""
    fields: dict[str, str] = {}
    shown: dict[str, list[Any]] = {}
    stack: list[tuple[str, dict[str, Any]]] = [("", doc)]
    while stack and len(fields) < MAX_FIELDS:
        prefix, obj = stack.pop()
        nested = []
        for key, value in obj.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict):
                nested.append((f"{name}.", value))
                continue
            if not prefix:
                name = ORDER_FIELDS.get(name, name)
            if isinstance(value, list):
                text, items = _array(value, null, arrays)
                if text is None:
                    continue
                if items is not None and name not in SCALAR_FIELDS:
                    shown[name] = items
            else:
                text = _scalar(value, null)
                if text is None:
                    continue
            fields[name] = text
            if len(fields) >= MAX_FIELDS:
                break
        stack.extend(reversed(nested))  # objects in document order
    return fields, shown


def _array(value: list[Any], null: str, arrays: str) -> tuple[str | None, list[Any] | None]:
    """(the text rules match, the list the alert shows or None) of an array."""
    items = [_scalar(v, null) if not isinstance(v, (dict, list)) else
             json.dumps(v, separators=(",", ":"), ensure_ascii=False) for v in value]
    kept = [i for i in items if i is not None]
    if arrays == "csv":
        return ",".join(kept), None
    return json.dumps(kept, separators=(",", ":"), ensure_ascii=False), kept


def json_decoder(ev: Event, start: int = 0, *, null: str = "string", arrays: str = "array") -> None:
    """Fill the event's fields from the JSON object at ``start`` of its message."""
    doc = parse_object(ev.log[start:] if start else ev.log)
    if doc is None:
        return
    fields, shown = flatten(doc, null=null, arrays=arrays)
    ev.fields.update(fields)
    if shown:
        ev.structured = dict(ev.structured or {}, **shown)
