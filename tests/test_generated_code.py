"""compiler.run_generated compiles long generated source in pieces: the functions, their
line numbers and the memo the compiled-ruleset cache keeps are as for one piece."""

from __future__ import annotations

import linecache
import traceback

from hidsctl.analysis import compiler


def long_source(functions: int) -> str:
    """Functions that each call the next one (defined later, maybe in another piece) and
    a table after them all, as the rule compiler writes them."""
    lines = []
    for i in range(functions):
        lines += [f"def f{i}(x):", "    y = x + 1", "    if y < 0:", "        return None",
                  f"    return f{i + 1}(y) if x < {functions - 1} else 1 // (x - x)", ""]
    lines.append(f"TABLE = {{{', '.join(f'{i}: f{i}' for i in range(0, functions, 500))}}}")
    return "\n".join(lines) + "\n"


def test_long_source_runs_in_pieces_with_its_own_line_numbers():
    source = long_source(1500)  # 9000 lines: five pieces
    assert len(compiler._chunks(source.splitlines(True))) > 3
    namespace: dict = {}
    memo: dict[str, bytes] = {}
    compiler.run_generated(source, "<test pieces>", namespace, memo)
    assert len(memo) == len(compiler._chunks(source.splitlines(True)))
    lines = source.splitlines()
    for name in ("f0", "f777", "f1499"):
        code = namespace[name].__code__
        assert lines[code.co_firstlineno - 1] == f"def {name}(x):"
    assert namespace["TABLE"][500] is namespace["f500"]
    # a call crossing every piece ends in the last function, whose line the traceback shows
    try:
        namespace["f1400"](1400)
    except ZeroDivisionError as exc:
        last = traceback.extract_tb(exc.__traceback__)[-1]
        assert last.filename == "<test pieces>" and last.name == "f1499"
        assert "1 // (x - x)" in linecache.getline("<test pieces>", last.lineno)
    else:
        raise AssertionError("f1499 did not raise")


def test_pieces_from_the_memo_run_under_another_name():
    source = long_source(800)
    memo: dict[str, bytes] = {}
    compiler.run_generated(source, "<first>", {}, memo)
    before = dict(memo)
    namespace: dict = {}
    compiler.run_generated(source, "<second>", namespace, memo)
    assert memo == before  # every piece came from the memo
    assert namespace["f799"].__code__.co_filename == "<second>"
    assert namespace["f3"](-10) is None


def test_a_memo_entry_that_is_not_code_is_compiled_again():
    source = long_source(10)
    memo: dict[str, bytes] = {}
    compiler.run_generated(source, "<good>", {}, memo)
    (digest,) = memo
    for bad in (b"", b"\x00garbage", __import__("marshal").dumps("not code")):
        memo[digest] = bad
        namespace: dict = {}
        compiler.run_generated(source, "<again>", namespace, memo)
        assert namespace["f2"](-5) is None
        assert memo[digest] != bad  # replaced by the piece compiled again
