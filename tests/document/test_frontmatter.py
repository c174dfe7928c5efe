"""dlmbuild.document.frontmatter: splitting the YAML off the body, with positions for everything."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dlmbuild.document.frontmatter import split_frontmatter
from dlmbuild.errors import DocumentError
from tests.helpers import DLM_ID

P = Path("doc.dlm")


def error_of(text: str) -> str:
    with pytest.raises(DocumentError) as info:
        split_frontmatter(P, text)
    return str(info.value)


def test_split_records_text_offsets_and_data():
    text = "---\n# comment\nkey: value\nnested:\n  a: 1\n---\nbody\n"
    fm = split_frontmatter(P, text)
    assert fm.text == "# comment\nkey: value\nnested:\n  a: 1\n"
    assert text[fm.start : fm.start + len(fm.text)] == fm.text
    assert text[fm.end :] == "body\n"
    assert fm.first_line == 2
    assert fm.data == {"key": "value", "nested": {"a": 1}}


def test_crlf_delimiters_and_trailing_spaces_on_the_delimiters():
    text = "--- \r\nkey: v\r\n---\t\r\nbody\r\n"
    fm = split_frontmatter(P, text)
    assert fm.data == {"key": "v"}
    assert text[fm.end :] == "body\r\n"


def test_closing_delimiter_at_end_of_file_without_newline():
    fm = split_frontmatter(P, "---\nkey: v\n---")
    assert fm.data == {"key": "v"}
    assert fm.end == len("---\nkey: v\n---")


def test_empty_frontmatter_loads_as_empty_mapping():
    fm = split_frontmatter(P, "---\n---\nbody")
    assert fm.data == {} and fm.root is None and fm.text == ""


def test_a_longer_dash_line_does_not_close():
    assert error_of("---\nkey: v\n----\nbody\n") == "doc.dlm:1:1: frontmatter opened on line 1 is never closed with a '---' line"


@pytest.mark.parametrize("text", ["key: v\n---\n", " ---\nkey: v\n---\n", "\n---\nkey: v\n---\n", "----\n"])
def test_must_start_with_a_dash_line(text: str):
    assert error_of(text) == "doc.dlm:1:1: a .dlm document must start with a '---' line opening the frontmatter"


def test_unclosed_frontmatter():
    assert error_of(f"---\ndlm_id: {DLM_ID}\nbody text\n") == "doc.dlm:1:1: frontmatter opened on line 1 is never closed with a '---' line"


@pytest.mark.parametrize(
    ("fm", "where", "problem"),
    [
        # An unclosed flow list is noticed at the end of the frontmatter: the closing '---' line.
        ("a: [1, 2\n", "3:1", "did not find expected ',' or ']'"),
        ("a: b: c\n", "2:5", "mapping values are not allowed"),
        ("a:\n  b: 1\n c: 2\n", "4:2", "did not find expected key"),
        ('a: "open\n', "3:1", "found unexpected end of stream"),
        ("a: 1\n\tb: 2\n", "3:1", "tab"),
        ("a: !!python/object:os.system x\n", "2:4", "could not determine a constructor for the tag 'tag:yaml.org,2002:python/object:os.system'"),
        ("a: *nowhere\n", "2:4", "found undefined alias"),
    ],
)
def test_broken_yaml_points_at_the_problem(fm: str, where: str, problem: str):
    message = error_of(f"---\n{fm}---\n")
    assert message.startswith(f"doc.dlm:{where}: invalid YAML in frontmatter: ")
    assert problem in message
    assert "\n" not in message


def test_broken_yaml_with_crlf_counts_lines_the_same():
    assert error_of("---\r\na: 1\r\nb: c: d\r\n---\r\n").startswith("doc.dlm:3:5: invalid YAML in frontmatter: mapping values")


def test_duplicate_top_level_key():
    assert error_of("---\na: 1\nb: 2\na: 3\n---\n") == "doc.dlm:4:1: duplicate key 'a' (first set on line 2)"


def test_duplicate_nested_key():
    assert error_of("---\ntraining:\n  seed: 1\n  lora_r: 2\n  seed: 3\n---\n") == "doc.dlm:5:3: duplicate key 'seed' (first set on line 3)"


def test_duplicate_key_inside_a_list_item():
    assert error_of("---\nsources:\n  - path: a\n    path: b\n---\n") == "doc.dlm:4:5: duplicate key 'path' (first set on line 3)"


@pytest.mark.parametrize(("fm", "where"), [("- a\n- b\n", "2:1"), ("just a string\n", "2:1"), ("\n\n42\n", "4:1")])
def test_frontmatter_must_be_a_mapping(fm: str, where: str):
    assert error_of(f"---\n{fm}---\n") == f"doc.dlm:{where}: frontmatter must be a mapping of keys to values"


def test_recursive_alias_loads_without_recursion_error():
    """A self-referencing alias is legal YAML; it must not blow the stack while checking keys."""
    fm = split_frontmatter(P, "---\na: &a [*a]\nb: &m {k: 1}\nc: *m\n---\n")
    assert fm.data["a"][0] is fm.data["a"]
    assert fm.data["c"] == {"k": 1}


def test_shared_alias_is_not_a_duplicate_key():
    fm = split_frontmatter(P, "---\nbase: &b {x: 1, y: 2}\none: *b\ntwo: *b\n---\n")
    assert fm.data["one"] == fm.data["two"] == {"x": 1, "y": 2}


def test_location_maps_yaml_marks_to_document_lines():
    fm = split_frontmatter(P, "---\n# c\ntraining:\n  lora_r: 8\n---\n")
    key, value = fm.find(("training", "lora_r"))
    assert isinstance(value, yaml.ScalarNode) and value.value == "8"
    assert str(fm.location(P, key.start_mark)) == "doc.dlm:4:3"
    assert str(fm.location(P, value.start_mark)) == "doc.dlm:4:11"


def test_find_returns_the_deepest_node_reached():
    fm = split_frontmatter(P, "---\ntraining:\n  sources:\n    - path: a\n---\n")
    key, value = fm.find(("training", "sources", 0, "path"))
    assert (key.value, value.value) == ("path", "a")
    key, value = fm.find(("training", "missing", "deeper"))
    assert key.value == "training" and isinstance(value, yaml.MappingNode)
    key, value = fm.find(("training", "sources", 5))
    assert key.value == "sources" and isinstance(value, yaml.SequenceNode)
