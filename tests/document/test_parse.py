"""dlmbuild.document.parse: bytes to a validated Document; routing; the catalogue of bad input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dlmbuild.document.parse import Document, parse_bytes, parse_document, route
from dlmbuild.document.sections import SectionType
from dlmbuild.document.sources import expand_sources, load_source_sections
from dlmbuild.errors import DlmError, DocumentError
from tests.helpers import BAD_CASES, TWO_ADAPTERS, BadCase, document


def parse(body: str, extra: str = "") -> Document:
    return parse_bytes("doc.dlm", document(body, extra).encode())


def read_everything(path: Path) -> None:
    """What ``dlm show`` reads: the document, then the files its sources ingest."""
    doc = parse_document(path)
    load_source_sections(doc, expand_sources(doc))


@pytest.mark.parametrize("case", BAD_CASES, ids=[c.id for c in BAD_CASES])
def test_bad_input_is_one_located_document_error(case: BadCase, bad_case: Callable[[BadCase], Path]):
    path = bad_case(case)
    before = path.read_bytes()
    with pytest.raises(DocumentError) as info:
        read_everything(path)
    assert str(info.value) == f"{path}:{case.expected}"
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 2
    assert path.read_bytes() == before


# ------------------------------------------------------------------ routing

MIXED = """Shared facts in the preamble.

::prose::
More shared facts.

::instruction::
### Q
q1
### A
a1

::preference::
### Prompt
p
### Chosen
c
### Rejected
r

::instruction#tone::
### Q
q2
### A
a2

::prose#tone::
Tone-only prose.
"""


def test_routing_with_declared_adapters():
    doc = parse(MIXED, TWO_ADAPTERS)
    got = [(s.type.value, s.adapter, s.adapters) for s in doc.sections]
    assert got == [
        ("prose", None, ("knowledge", "tone")),  # unsuffixed prose trains every adapter
        ("prose", None, ("knowledge", "tone")),
        ("instruction", None, ("knowledge",)),  # unsuffixed task data trains the first declared
        ("preference", None, ("knowledge",)),
        ("instruction", "tone", ("tone",)),  # '#name' wins
        ("prose", "tone", ("tone",)),
    ]


def test_first_declared_adapter_follows_declaration_order():
    doc = parse(MIXED.split("::instruction#tone::")[0], "training:\n  adapters:\n    tone: {}\n    knowledge:\n      lora_r: 4\n")
    assert [s.adapters for s in doc.sections] == [("tone", "knowledge"), ("tone", "knowledge"), ("tone",), ("tone",)]


def test_routing_without_declared_adapters_uses_default():
    doc = parse("Prose.\n\n::instruction::\n### Q\nq\n### A\na\n\n::prose#default::\nx\n")
    assert [s.adapters for s in doc.sections] == [("default",), ("default",), ("default",)]


def test_route_function():
    names = ["a", "b", "c"]
    assert route(SectionType.PROSE, None, names) == ("a", "b", "c")
    assert route(SectionType.IMAGE, None, names) == ("a",)
    assert route(SectionType.INSTRUCTION, "c", names) == ("c",)


def test_unknown_adapter_suffix():
    with pytest.raises(DocumentError) as info:
        parse("::prose#knowlege::\nx\n", TWO_ADAPTERS)
    assert str(info.value) == "doc.dlm:7:9: unknown adapter 'knowlege' (did you mean 'knowledge'?) (declared: knowledge, tone)"


@pytest.mark.parametrize("suffix", ["Tone", "to-ne"])
def test_adapter_suffix_outside_the_name_pattern(suffix: str):
    with pytest.raises(DocumentError) as info:
        parse(f"::prose#{suffix}::\nx\n", TWO_ADAPTERS)
    assert str(info.value).startswith(f"doc.dlm:7:9: unknown adapter '{suffix}'")


# ------------------------------------------------------------------ document shape


def test_sections_lines_spans_and_text():
    doc = parse(MIXED, TWO_ADAPTERS)
    assert [s.line for s in doc.sections] == [7, 9, 12, 18, 26, 32]
    assert [s.fenced for s in doc.sections] == [False, True, True, True, True, True]
    for s in doc.sections:  # spans are exact: a section's text starts with its fence line
        chunk = doc.text[s.start : s.end]
        assert chunk.startswith("::" if s.fenced else "Shared")
        assert doc.text.count("\n", 0, s.start) + 1 == s.line
    assert doc.sections[0].text == "Shared facts in the preamble."
    assert doc.sections[-1].text == "Tone-only prose."
    assert doc.section(doc.sections[2].id) is doc.sections[2]
    with pytest.raises(KeyError):
        doc.section("nope")


def test_blank_space_before_the_first_fence_is_not_a_section():
    doc = parse("\n\n   \n::prose::\nx\n")
    assert [(s.type.value, s.line) for s in doc.sections] == [("prose", 8)]


def test_document_without_body():
    doc = parse("")
    assert doc.sections == ()
    assert doc.config.base_model == "smollm2-135m"
    assert doc.migrated_from is None


def test_empty_fenced_section_is_kept():
    (s,) = parse("::prose::\n").sections
    assert (s.type, s.text, s.fenced) == (SectionType.PROSE, "", True)


def test_last_line_without_newline():
    doc = parse("::instruction::\n### Q\nq\n### A\nanswer")
    assert doc.sections[0].pairs[0].answer == "answer"


def test_crlf_and_bom_document(tmp_path: Path):
    path = tmp_path / "doc.dlm"
    path.write_bytes(b"\xef\xbb\xbf" + document(MIXED, TWO_ADAPTERS).replace("\n", "\r\n").encode())
    doc = parse_document(path)
    lf = parse(MIXED, TWO_ADAPTERS)
    assert doc.source.bom and doc.source.newline == "\r\n"
    assert [(s.id, s.line, s.text, s.pairs, s.triples, s.adapters) for s in doc.sections] == [
        (s.id, s.line, s.text, s.pairs, s.triples, s.adapters) for s in lf.sections
    ]


def test_error_locations_are_the_same_with_crlf():
    data = document("::instruction::\n### Q\nq\n", TWO_ADAPTERS).replace("\n", "\r\n").encode()
    with pytest.raises(DocumentError) as info:
        parse_bytes("doc.dlm", data)
    assert str(info.value) == "doc.dlm:8:1: '### Q' has no '### A' answer"


def test_parse_document_missing_file(tmp_path: Path):
    with pytest.raises(DlmError) as info:
        parse_document(tmp_path / "missing.dlm")
    assert str(info.value) == f"{tmp_path / 'missing.dlm'}: no such document"


def test_document_properties(tmp_path: Path):
    path = tmp_path / "doc.dlm"
    path.write_text(document("x\n"))
    doc = parse_document(str(path))
    assert doc.path == path and doc.directory == tmp_path
    assert doc.text == document("x\n")
