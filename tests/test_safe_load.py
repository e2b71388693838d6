"""core/safe_load.py: whatever a file holds, reading it ends promptly with a value or one-line problems."""

from __future__ import annotations

import json
import math
import os
import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import safe_load
from core.errors import UserError
from core.messages import shown
from core.safe_json import parse_json
from core.safe_load import MAX_DEPTH, MAX_VALUES, read_json_document, read_text, read_yaml_document
from core.safe_yaml import parse_yaml


def yaml_problems(text: str) -> list[str]:
    problems: list[str] = []
    assert parse_yaml(text, source="f.yaml", problems=problems) is None
    return problems


def json_problems(text: str) -> list[str]:
    problems: list[str] = []
    assert parse_json(text, source="f.json", problems=problems) is None
    return problems


def one(found: list[str]) -> str:
    assert len(found) == 1, found
    return found[0]


def read(path: Path, root: Path | None) -> tuple[str | None, list[str]]:
    problems: list[str] = []
    return read_text(path, source="jobs/x.json", root=root, problems=problems), problems


# --- files --------------------------------------------------------------------------------------------


def test_a_regular_file_inside_the_root_is_read_with_its_byte_order_mark_dropped(tmp_path):
    (tmp_path / "x.json").write_bytes(b"\xef\xbb\xbf{}")
    assert read(tmp_path / "x.json", tmp_path) == ("{}", [])


def test_a_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "x.json")
    started = time.monotonic()
    text, problems = read(tmp_path / "x.json", tmp_path)
    assert text is None and one(problems) == "jobs/x.json: is a FIFO (named pipe), not a regular file; it is not read"
    assert time.monotonic() - started < 5


def test_a_link_to_dev_zero_is_refused_before_anything_is_read(tmp_path):
    (tmp_path / "x.json").symlink_to("/dev/zero")
    text, problems = read(tmp_path / "x.json", None)  # no root: the kind of file alone refuses it
    assert text is None and "a character device, not a regular file" in one(problems)


def test_a_directory_is_refused_by_name(tmp_path):
    (tmp_path / "x.json").mkdir()
    assert "x.json: is a directory, not a regular file" in one(read(tmp_path / "x.json", tmp_path)[1])


def test_a_link_out_of_the_root_is_refused_and_nothing_of_its_target_is_shown(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("TOP-SECRET-CONTENT")
    root = tmp_path / "jobs"
    root.mkdir()
    (root / "x.json").symlink_to(outside)
    text, problems = read(root / "x.json", root)
    assert text is None and "symbolic link to a path outside jobs/" in one(problems)
    assert "TOP-SECRET" not in problems[0] and "outside.txt" not in problems[0]


def test_a_link_that_stays_inside_the_root_is_followed(tmp_path):
    (tmp_path / "real.json").write_text("{}")
    (tmp_path / "x.json").symlink_to(tmp_path / "real.json")
    assert read(tmp_path / "x.json", tmp_path) == ("{}", [])


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: None, "file not found"),
    (lambda p: p.symlink_to(p.parent / "gone"), "symbolic link to a file that does not exist"),
    (lambda p: p.symlink_to(p), "cannot be resolved (a symbolic link loop?)"),
])
def test_missing_dangling_and_looping_paths_are_problems_not_exceptions(tmp_path, make, message):
    make(tmp_path / "x.json")
    assert message in one(read(tmp_path / "x.json", tmp_path)[1])


def test_a_file_over_the_size_cap_is_refused_unread(tmp_path):
    (tmp_path / "x.json").write_bytes(b" " * 2048)
    problems: list[str] = []
    assert read_text(tmp_path / "x.json", source="x.json", root=None, problems=problems, max_bytes=1024) is None
    assert one(problems) == "x.json: larger than 1 KiB, far beyond any real file of this kind; it is not read"


def test_non_utf8_bytes_are_reported_with_line_and_column(tmp_path):
    (tmp_path / "x.json").write_bytes(b'{\n  "a": "\xff"\n}')
    assert one(read(tmp_path / "x.json", tmp_path)[1]) == ("jobs/x.json:2:9: not UTF-8 text (byte 0xff); "
                                                           "save the file as UTF-8")


def test_utf16_is_named_as_such(tmp_path):
    (tmp_path / "x.json").write_bytes("{}".encode("utf-16"))
    assert "is UTF-16 text; save it as UTF-8" in one(read(tmp_path / "x.json", tmp_path)[1])


def test_document_readers_combine_reading_and_parsing(tmp_path):
    (tmp_path / "a.json").write_text('{"a": [1, 2]}')
    (tmp_path / "b.yaml").write_text("a: [1, 2]\n")
    problems: list[str] = []
    assert read_json_document(tmp_path / "a.json", source="a.json", root=tmp_path, problems=problems) == {"a": [1, 2]}
    assert read_yaml_document(tmp_path / "b.yaml", source="b.yaml", root=tmp_path, problems=problems) == {"a": [1, 2]}
    assert problems == []


# --- YAML ---------------------------------------------------------------------------------------------


def test_yaml_dates_are_kept_as_the_text_written_as_the_pulumi_cli_reads_them():
    problems: list[str] = []
    assert parse_yaml("a: 2026-01-01\nb: 2026-01-01T10:00:00Z\n", source="f", problems=problems) == {
        "a": "2026-01-01", "b": "2026-01-01T10:00:00Z"}


@pytest.mark.parametrize(("text", "tag"), [
    ("a: !!binary aGVsbG8=\n", "!!binary"), ("a: !!set {x, y}\n", "!!set"), ("a: !!omap [x: 1]\n", "!!omap"),
    ("a: !custom x\n", "!custom"), ("a: !!python/object:os.system x\n", "!!python/object:os.system"),
])
def test_binary_sets_and_custom_tags_are_refused_with_line_and_key(text, tag):
    problem = one(yaml_problems(text))
    assert problem.startswith("f.yaml:1:4: a: the tag ") and tag in problem and "not supported" in problem


@pytest.mark.parametrize(("text", "written"), [
    ("1: x\n", "'1'"), ("~: x\n", "'~'"), ("null: x\n", "'null'"), ("true: x\n", "'true'"), ("1.5: x\n", "'1.5'"),
])
def test_keys_that_are_not_text_are_refused_with_their_line(text, written):
    problem = one(yaml_problems(text))
    assert problem.startswith(f"f.yaml:1:1: the key {written}, which YAML reads as") and "not text" in problem


@pytest.mark.parametrize("text", ["? [a]\n: b\n", "? {a: 1}\n: b\n", "a: &x [1]\n? *x\n: b\n"])
def test_a_list_or_mapping_as_a_key_is_refused_not_a_crash(text):
    assert "key" in one(yaml_problems(text))


def test_nested_non_text_key_is_named_by_its_path():
    assert one(yaml_problems("tasks:\n  - 7: x\n")).startswith("f.yaml:2:5: tasks[0]: the key '7'")


@pytest.mark.parametrize(("text", "expected"), [
    ("a: 1\na: 2\n", "f.yaml:2:1: invalid YAML: duplicate key 'a'"),
    ("x:\n  - y: 1\n    y: 2\n", "f.yaml:3:5: invalid YAML: duplicate key 'y' in x[0]"),
])
def test_duplicate_keys_are_errors_with_line_and_path(text, expected):
    assert one(yaml_problems(text)) == expected


def test_merge_keys_work_and_explicit_keys_override_them_without_counting_as_duplicates():
    problems: list[str] = []
    value = parse_yaml("base: &b {x: 1, y: 2}\nmore: &m {z: 3}\nd:\n  <<: [*b, *m]\n  y: 9\n", source="f",
                       problems=problems)
    assert problems == [] and value["d"] == {"x": 1, "y": 9, "z": 3}


def test_a_recursive_alias_is_refused():
    assert "recursive alias" in one(yaml_problems("a: &a [*a]\n"))


def test_an_alias_bomb_is_refused_promptly_without_expanding():
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 10)]
    started = time.monotonic()
    problem = one(yaml_problems("\n".join(lines) + "\n"))
    assert f"expands to more than {MAX_VALUES:,} values" in problem
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("text", [
    "[" * 100_000 + "]" * 100_000,
    "{a: " * 100_000 + "1" + "}" * 100_000,
    "".join(f"{'  ' * level}- \n" for level in range(200)),
])
def test_deep_nesting_is_refused_before_any_recursion(text):
    assert f"nested deeper than {MAX_DEPTH} levels" in one(yaml_problems(text))


def test_nesting_through_an_alias_counts_too():
    deep = "[" * 40 + "]" * 40
    assert f"nests deeper than {MAX_DEPTH} levels" in one(yaml_problems(f"a: &a {deep}\nb: {'[' * 30}*a{']' * 30}\n"))


def test_nesting_up_to_the_cap_is_accepted():
    problems: list[str] = []
    value = parse_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH, source="f", problems=problems)
    assert problems == [] and value is not None


@pytest.mark.parametrize("number", [".nan", ".NaN", ".inf", "-.inf", "1.0e+400"])
def test_nan_and_infinity_are_refused_with_their_key(number):
    assert one(yaml_problems(f"a:\n  b: {number}\n")).startswith("f.yaml:2:6: a.b: ")


def test_an_integer_too_long_to_convert_is_a_problem():
    assert "is not a valid int" in one(yaml_problems("a: " + "9" * 5000 + "\n"))


def test_a_second_document_is_refused():
    assert "a second document" in one(yaml_problems("a: 1\n---\nb: 2\n"))


def test_an_empty_yaml_file_is_none_without_a_problem():
    problems: list[str] = []
    assert parse_yaml("", source="f", problems=problems) is None and problems == []


@pytest.mark.parametrize("text", ["a: [1\n", "a: b\n  c: d\n", "a: *undefined\n", "\x00", "a: '\n", "\t- x"])
def test_syntax_errors_are_one_line_naming_the_file(text):
    problem = one(yaml_problems(text))
    assert problem.startswith("f.yaml") and "\n" not in problem


# --- JSON ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ('{"a": 1, "a": 2}', "f.json: invalid JSON: duplicate key 'a'"),
    ('{"x": [{"b": 1, "b": 1}]}', "f.json: invalid JSON: duplicate key 'b' in x[0]"),
    ('{"a": NaN}', "f.json: invalid JSON: a: NaN is not a JSON number; write a finite number"),
    ('{"a": {"b": [-Infinity]}}',
     "f.json: invalid JSON: a.b[0]: -Infinity is not a JSON number; write a finite number"),
    ("[1e400]", "f.json: invalid JSON: [0]: number too large"),
    ("1" * 5000, "f.json: invalid JSON: a number has more digits than any system accepts"),
    ('{"a" 1}', "f.json:1:6: invalid JSON: Expecting ':' delimiter"),
    ('"\\udc00"', "f.json: invalid JSON: text with an unpaired surrogate escape (\\ud800-\\udfff) is not text"),
])
def test_json_that_python_would_accept_loosely_is_refused_with_its_path(text, expected):
    assert one(json_problems(text)) == expected


def test_deep_json_is_refused_before_the_recursive_decoder_runs():
    problem = one(json_problems("[" * 100_000 + "]" * 100_000))
    assert problem == f"f.json:1: invalid JSON: nested deeper than {MAX_DEPTH} levels"


def test_brackets_inside_strings_do_not_count_as_nesting():
    problems: list[str] = []
    text = json.dumps({"a": "[" * 1000 + '\\"{' * 100})
    assert parse_json(text, source="f", problems=problems) == json.loads(text) and problems == []


def test_many_problems_in_one_file_are_capped():
    found = json_problems(json.dumps({f"k{i}": None for i in range(50)}).replace("null", "NaN"))
    assert len(found) == safe_load.MAX_PROBLEMS_PER_FILE + 1
    assert found[-1].startswith("f.json: invalid JSON: and 40 more")


# --- messages -----------------------------------------------------------------------------------------


def test_a_long_value_is_shown_by_its_start_and_its_length():
    text = shown("x" * 2_000_000)
    assert len(text) < 120 and text.endswith("(2,000,000 characters)")
    assert len(shown(list(range(100_000)))) <= 81 and len(shown({"a" * 1000: "b" * 1000})) <= 81


def test_user_error_cuts_a_runaway_problem_line():
    problem = UserError(["x" * 1_000_000]).problems[0]
    assert len(problem) < 2100 and problem.endswith("of 1,000,000 characters)")


# --- properties ---------------------------------------------------------------------------------------

# Text YAML can hold at all (it has no way to write most control characters unescaped).
texts = st.text(st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="\ufffe\uffff"))
# PyYAML reads YAML 1.1, where 1e-05 (no dot) is text: such floats are left out of the YAML round trip.
floats = st.floats(allow_nan=False, allow_infinity=False).filter(lambda number: "e" not in repr(number))
json_leaves = st.none() | st.booleans() | st.integers() | floats | texts
json_documents = st.recursive(json_leaves, lambda children: st.lists(children, max_size=4)
                              | st.dictionaries(texts, children, max_size=4), max_leaves=20)


@settings(max_examples=100, deadline=None)
@given(document=json_documents)
def test_any_json_document_reads_back_equal_as_json_and_as_yaml(document):
    # YAML gets the characters themselves: libyaml refuses JSON's surrogate-pair escapes (reported, not a crash).
    for parse, text in ((parse_json, json.dumps(document)), (parse_yaml, json.dumps(document, ensure_ascii=False))):
        problems: list[str] = []
        value = parse(text, source="f", problems=problems)
        assert problems == [] and _same(value, document), parse.__name__


def _same(left, right) -> bool:
    if isinstance(left, float) or isinstance(right, float):
        return isinstance(left, int | float) and math.isclose(left, right, rel_tol=1e-12, abs_tol=1e-300)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(left[key], right[key]) for key in left)
    return left == right and type(left) is type(right)


yaml_tokens = st.sampled_from([*"[]{}:,-?&*!|>'\"#%@`~ \n\t\\aZ019.", "!!binary ", "!!set ", "&a ", "*a", "<<: ",
                               ".nan", ".inf", "2026-01-01", "? ", "---\n", "\n  ", "1e400"])
yaml_soup = st.lists(yaml_tokens, max_size=60).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=yaml_soup | st.text(max_size=80))
def test_any_text_parses_to_a_value_or_to_one_line_problems_never_an_exception(text):
    for parse in (parse_yaml, parse_json):
        problems: list[str] = []
        value = parse(text, source="doc", problems=problems)
        assert (value is None) or problems == []
        assert all(problem.startswith("doc") and "\n" not in problem for problem in problems), problems
        assert all(re.match(r"doc(:\d+)*: ", problem) for problem in problems), problems
