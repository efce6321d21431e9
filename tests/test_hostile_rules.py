"""Rule files are input too: ones built to exhaust the loader (nesting, chains, rules
that multiply their own places) are refused by file and line, promptly, and a deep but
bounded chain still works."""

from __future__ import annotations

import os

import pytest
from conftest import invoke_hidsctl

from hidsctl.analysis.cdb import CdbList
from hidsctl.errors import RuleError

LINE = "Nov 25 13:50:47 web1 sshd[811]: test\n"
TEMPLATE = ('<rule id="1" level="0" noalert="1"><category>syslog</category>'
            '<description>template</description></rule>\n'
            '<rule id="100000" level="3"><if_sid>1</if_sid><match>test</match>'
            '<description>first</description></rule>\n')


def logtest(tmp_path, text: str):
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "local.xml").write_text(text)
    return invoke_hidsctl("logtest", "--rules", str(rules), "--no-default-rules", input=LINE)


def chain(length: int) -> str:
    """Rules 100001.. each an if_sid child of the one before: ``length`` levels below
    rule 100000."""
    rules = [f'<rule id="{100000 + i}" level="3"><if_sid>{100000 + i - 1}</if_sid>'
             f'<description>link {i}</description></rule>' for i in range(1, length + 1)]
    return '<group name="g,">\n' + TEMPLATE + "\n".join(rules) + "\n</group>\n"


def test_elements_nested_absurdly_deep_are_refused_by_line(tmp_path):
    done = logtest(tmp_path, "<group>\n" + "<a>" * 50_000 + "</a>" * 50_000 + "</group>\n")
    assert done.returncode == 2
    assert b"local.xml:2: elements nested more than 64 deep" in done.stderr
    assert b"Traceback" not in done.stderr


def test_an_if_sid_chain_past_the_bound_is_refused_at_the_rule_that_crosses_it(tmp_path):
    done = logtest(tmp_path, chain(5000))
    assert done.returncode == 2
    assert b"local.xml:102: rule 100099: sits 101 levels deep" in done.stderr
    assert b"Traceback" not in done.stderr


def test_a_chain_within_the_bound_matches_down_to_its_last_rule(tmp_path):
    done = logtest(tmp_path, chain(98))  # rule 100098 sits 100 deep
    assert done.returncode == 0, done.stderr
    assert b"Rule id: '100098'" in done.stdout


def test_if_group_rules_that_multiply_their_places_are_refused(tmp_path):
    """Each rule follows the group it is in: every one takes twice the places of the one
    before (as OSSEC places them), 2**40 in all."""
    rules = "\n".join(f'<rule id="{100000 + i}" level="3"><if_group>g</if_group>'
                      f'<description>joins {i}</description></rule>' for i in range(1, 41))
    done = logtest(tmp_path, '<group name="g,">\n' + TEMPLATE + rules + "\n</group>\n")
    assert done.returncode == 2
    assert b"more than 200,000 places in the rule tree" in done.stderr


def test_variables_that_double_each_other_are_refused_before_filling_memory(tmp_path):
    """A billion laughs in OSSEC's <var>s: each names the one before twice."""
    variables = ['<var name="v0">' + "x" * 32 + "</var>"] + [
        f'<var name="v{i}">$v{i - 1}$v{i - 1}</var>' for i in range(1, 40)]
    rule = ('<rule id="100001" level="3"><if_sid>100000</if_sid><match>$v39</match>'
            '<description>laughs</description></rule>')
    done = logtest(tmp_path, "\n".join(variables) + '\n<group name="g,">\n' + TEMPLATE + rule
                   + "\n</group>\n")
    assert done.returncode == 2
    assert b"local.xml:12: variables expand past 65,536 characters" in done.stderr


def test_variables_within_the_bound_are_expanded(tmp_path):
    rule = ('<var name="word">test</var>\n<group name="g,">\n' + TEMPLATE.replace(
        "<match>test</match>", "<match>$word</match>") + "</group>\n")
    done = logtest(tmp_path, rule)
    assert done.returncode == 0 and b"Rule id: '100000'" in done.stdout


LIST_RULE = ('<group name="g,">\n' + TEMPLATE + '<rule id="100001" level="5">'
             '<if_sid>100000</if_sid><list field="program_name">lists/names</list>'
             '<description>a listed program</description></rule>\n</group>\n')


def list_logtest(tmp_path, write_list):
    (tmp_path / "rules" / "lists").mkdir(parents=True)
    write_list(tmp_path / "rules" / "lists" / "names")
    return logtest(tmp_path, LIST_RULE)


def test_a_list_of_one_endless_line_is_refused_by_line(tmp_path):
    def endless(path):
        with open(path, "w") as out:
            out.write("sshd:ok\n")
            for _ in range(64):  # 64 MiB with no line end
                out.write("k" * (1 << 20))
    done = list_logtest(tmp_path, endless)
    assert done.returncode == 2
    assert b"names:2: list line longer than 65,536 characters" in done.stderr


def test_a_list_key_left_open_is_refused_by_line(tmp_path):
    done = list_logtest(tmp_path, lambda path: path.write_text('# hosts\n"sshd:ok\n'))
    assert done.returncode == 2
    assert b'names:2: quoted key without its closing quote' in done.stderr


def test_a_list_at_the_bound_loads_and_matches(tmp_path):
    def long_list(path):
        path.write_text('"sshd":ok\r\n' + "k" * 65536 + "\n")
    done = list_logtest(tmp_path, long_list)
    assert done.returncode == 0, done.stderr
    assert b"Rule id: '100001'" in done.stdout


def test_a_fifo_in_a_lists_place_is_refused_without_waiting(tmp_path):
    done = list_logtest(tmp_path, os.mkfifo)
    assert done.returncode == 2
    assert b"list 'lists/names' not found" in done.stderr
    # Swapped in after the lookup: opened without blocking, then refused.
    fifo = tmp_path / "rules" / "lists" / "names"
    with pytest.raises(RuleError, match="a list must be a regular file"):
        CdbList.load(fifo)


def test_a_fifo_named_as_a_rule_file_is_refused_without_waiting(tmp_path):
    fifo = tmp_path / "local.xml"
    os.mkfifo(fifo)
    done = invoke_hidsctl("logtest", "--rules", str(fifo), "--no-default-rules", input=LINE)
    assert done.returncode == 2
    assert b"local.xml: cannot read: not a regular file" in done.stderr
