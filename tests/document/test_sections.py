"""dlmbuild.document.sections: stable section ids.

An id hashes what a section is (type, media attributes, normalized content), never where it sits,
which adapter it trains, or how the file stores line endings.
"""

from __future__ import annotations

import pytest

from dlmbuild.document.parse import parse_bytes
from dlmbuild.document.sections import Provenance, Section, SectionType, section_id
from tests.helpers import TWO_ADAPTERS, document

PROSE = "::prose::\nThe Lantern is the middle cell.\n"
QA = "::instruction::\n### Q\nWho moves first?\n\n### A\nTide.\n"
PREF = "::preference::\n### Prompt\np\n### Chosen\nc\n### Rejected\nr\n"


def ids(body: str, extra: str = TWO_ADAPTERS, *, newline: str = "\n", bom: bool = False) -> list[tuple[str, str]]:
    """(type, id) of every section, sorted: equal lists mean no section's id depends on where it is."""
    data = document(body, extra).replace("\n", newline).encode()
    doc = parse_bytes("doc.dlm", (b"\xef\xbb\xbf" if bom else b"") + data)
    return sorted((s.type.value, s.id) for s in doc.sections)


def test_ids_are_16_hex_chars_and_distinct():
    got = [sid for _, sid in ids(f"Preamble.\n\n{PROSE}\n{QA}\n{PREF}")]
    assert len(set(got)) == 4
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in got)


def test_id_is_stable_when_a_section_moves():
    assert ids(f"{PROSE}\n{QA}\n{PREF}") == ids(f"{PREF}\n{PROSE}\n{QA}")


def test_id_is_stable_when_the_adapter_suffix_changes():
    routed = QA.replace("::instruction::", "::instruction#tone::")
    assert ids(QA) == ids(routed) == ids(QA.replace("::instruction::", "::instruction#knowledge::"))


def test_id_is_stable_under_crlf_and_bom():
    body = f"Preamble.\n\n{PROSE}\n{QA}\n{PREF}"
    assert ids(body) == ids(body, newline="\r\n") == ids(body, bom=True) == ids(body, newline="\r\n", bom=True)


def test_id_is_stable_under_trailing_spaces_and_surrounding_blank_lines():
    assert ids(PROSE) == ids("::prose::\n\n\nThe Lantern is the middle cell.   \n\n\n")


def test_id_is_stable_when_the_provenance_comment_changes():
    with_prov = PROSE.replace("::prose::\n", '::prose::\n<!-- auto-synth teacher="a" -->\n')
    assert ids(PROSE) == ids(with_prov)


def test_id_changes_with_content_type_and_media_attributes():
    base = section_id(SectionType.PROSE, "text")
    assert section_id(SectionType.PROSE, "text!") != base
    assert section_id(SectionType.IMAGE, "text", (("path", "a.png"), ("alt", "x"))) != section_id(
        SectionType.IMAGE, "text", (("path", "b.png"), ("alt", "x"))
    )
    assert section_id(SectionType.INSTRUCTION, "text") != base


def test_media_attribute_order_does_not_matter():
    assert section_id(SectionType.IMAGE, "", (("path", "a"), ("alt", "b"))) == section_id(SectionType.IMAGE, "", (("alt", "b"), ("path", "a")))


def test_fenced_and_unfenced_prose_with_equal_text_share_an_id():
    assert section_id(SectionType.PROSE, "a\nb") == section_id(SectionType.PROSE, "\r\na  \r\nb\r\n")


def test_id_value_is_pinned():
    """Ids key caches and replay history across releases: the hash must never drift."""
    assert section_id(SectionType.PROSE, "x") == "f1731474bda71f10"


def test_section_helpers():
    s = Section(id="x", type=SectionType.IMAGE, text="", line=1, attrs=(("path", "a.png"), ("alt", "b")))
    assert s.attributes == {"path": "a.png", "alt": "b"}
    assert Provenance("auto-mined", (("source", "x"),)).as_dict() == {"kind": "auto-mined", "source": "x"}


@pytest.mark.parametrize("kind", list(SectionType))
def test_every_type_has_a_value(kind: SectionType):
    assert SectionType(kind.value) is kind
