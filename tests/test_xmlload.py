"""The rule-file XML reader: where each element starts, and where a mistake is."""

from __future__ import annotations

import pytest

from hidsctl.analysis.xmlload import parse_text
from hidsctl.errors import RuleError

TEXT = """<!-- line 1 -->
<group name="a">
  <rule id="1" level="3">

    <match>x</match>
  </rule>
</group>
<group name="b"><rule id="2" level="3"><match>y</match></rule>
</group>
"""


def test_every_element_knows_its_line():
    groups = parse_text(TEXT, "t.xml")
    lines = [(n.tag, n.line) for g in groups for n in [g, *g.children, *g.children[0].children]]
    assert lines == [("group", 2), ("rule", 3), ("match", 5), ("group", 8), ("rule", 8),
                     ("match", 8)]


def test_a_mismatched_close_names_both_lines():
    bad = TEXT.replace("</rule>\n</group>\n<group", "</group>\n</group>\n<group", 1)
    with pytest.raises(RuleError) as err:
        parse_text(bad, "t.xml")
    assert "<rule> (line 3) closed by </group>" in str(err.value)
    assert "t.xml:6" in str(err.value)
