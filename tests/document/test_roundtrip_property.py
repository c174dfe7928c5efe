"""Property: any document the editor builds parses back to exactly what was asked for, and
re-rendering it with no edits gives the same bytes.

Documents are built the way tools build them: a minimal document, random frontmatter options set
through ``DocumentEditor.set``, random section drafts added through ``add_section``, written to
disk, parsed back.
"""

from __future__ import annotations

import re
import string
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlmbuild.document.edit import DocumentEditor
from dlmbuild.document.parse import parse_bytes, parse_document, route
from dlmbuild.document.render import SectionDraft
from dlmbuild.document.sections import PROVENANCE_KINDS, Provenance, SectionType
from dlmbuild.document.text import normalize
from tests.helpers import frontmatter, tiny_png, tiny_wav

# Ordinary text: a line starts with a letter, so it can never read as structure by accident.
WORD_CHARS = string.ascii_letters + string.digits + " \t.,;:!?'\"()[]{}-_*#<>/\\|=+&%$@~`^éß中"
plain_line = st.builds(str.__add__, st.sampled_from(string.ascii_letters), st.text(WORD_CHARS, max_size=25))
HEADER = re.compile(r"^###[ \t]+(?:Q|A|Prompt|Chosen|Rejected)[ \t]*$")
markdown_line = st.one_of(
    # '### ' + 'Q' would be a structural header, which only prose may contain
    st.builds(lambda level, title: "#" * level + " " + title, st.integers(1, 6), plain_line).filter(lambda line: not HEADER.match(line)),
    st.sampled_from(["", "   ", ":: not a fence", "  ::prose:: indented", "###Q", "### Questions", "  ### A", "<!-- note -->", "---", "- item", "> quote", "1. first"]),
)
structural_header = st.sampled_from(["### Q", "### A", "### Prompt", "### Chosen", "### Rejected", "###\tQ"])
code_line = st.one_of(plain_line, st.sampled_from(["", "  indented", "::instruction::", "::prose#tone::", "::image path=x::", "### Q", "### A", "### Prompt"]))
code_block = st.builds(
    lambda fence, lang, lines: [fence + lang, *lines, fence],
    st.sampled_from(["```", "~~~"]),
    st.sampled_from(["", "python", "markdown"]),
    st.lists(code_line, max_size=4),
)


def block_text(*, headers: bool, nonempty: bool) -> st.SearchStrategy[str]:
    single = st.one_of(plain_line, markdown_line, structural_header) if headers else st.one_of(plain_line, markdown_line)
    chunks = st.lists(st.one_of(single.map(lambda line: [line]), code_block), min_size=1 if nonempty else 0, max_size=6)
    text = chunks.map(lambda cs: "\n".join(line for chunk in cs for line in chunk))
    return text.filter(lambda t: t.strip()) if nonempty else text


qa_text = block_text(headers=False, nonempty=True)
prose_text = block_text(headers=True, nonempty=False)
attr_value = plain_line
provenance = st.one_of(
    st.none(),
    st.builds(Provenance, st.sampled_from(PROVENANCE_KINDS), st.lists(st.tuples(st.sampled_from(["teacher", "run", "note"]), attr_value), max_size=3, unique_by=lambda kv: kv[0]).map(tuple)),
)
ADAPTER_POOL = ["knowledge", "tone", "style_2"]


@st.composite
def drafts(draw, names: list[str]) -> SectionDraft:
    kind = draw(st.sampled_from(list(SectionType)))
    adapter = draw(st.one_of(st.none(), st.sampled_from(names)))
    prov = draw(provenance)
    if kind is SectionType.INSTRUCTION:
        pairs = draw(st.lists(st.tuples(qa_text, qa_text), min_size=1, max_size=3))
        return SectionDraft(kind, adapter=adapter, pairs=tuple(pairs), provenance=prov)
    if kind is SectionType.PREFERENCE:
        # chosen and rejected must differ (the parser refuses a triple whose two answers are the same)
        triples = draw(st.lists(st.tuples(qa_text, qa_text, qa_text).filter(lambda t: t[1].split() != t[2].split()),
                                min_size=1, max_size=2))
        return SectionDraft(kind, adapter=adapter, triples=tuple(triples), provenance=prov)
    attrs: tuple[tuple[str, str], ...] = ()
    if kind is SectionType.IMAGE:
        attrs = (("path", "media/cat.png"), ("alt", draw(attr_value)))
    elif kind is SectionType.AUDIO:
        attrs = (("path", "media/hi.wav"), ("transcript", draw(attr_value)))
    return SectionDraft(kind, text=draw(prose_text), adapter=adapter, attrs=attrs, provenance=prov)


@st.composite
def documents(draw):
    declared = draw(st.lists(st.sampled_from(ADAPTER_POOL), unique=True, max_size=3))
    names = declared or ["default"]
    options = {}
    if declared:
        options["training.adapters"] = declared
    if draw(st.booleans()):
        options["system_prompt"] = draw(st.text(WORD_CHARS, max_size=40))
    if draw(st.booleans()):
        options["training.lora_r"] = draw(st.integers(1, 512))
    if draw(st.booleans()):
        options["training.seed"] = draw(st.integers(0, 2**32 - 1))
    if draw(st.booleans()):
        options["export.default_quant"] = draw(st.sampled_from(["Q4_K_M", "Q8_0", "F16"]))
    if draw(st.booleans()):
        options["training.preference.learning_rate"] = draw(st.floats(1e-9, 1.0, exclude_min=True))
    sections = draw(st.lists(drafts(names), max_size=6))
    return options, sections, names


def check_round_trip(options: dict, sections: list[SectionDraft], names: list[str], newline: str, bom: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "media").mkdir()
        (folder / "media" / "cat.png").write_bytes(tiny_png())
        (folder / "media" / "hi.wav").write_bytes(tiny_wav())
        path = folder / "doc.dlm"
        minimal = (b"\xef\xbb\xbf" if bom else b"") + frontmatter().replace("\n", newline).encode()
        path.write_bytes(minimal)

        editor = DocumentEditor(parse_document(path))
        for key, value in options.items():
            editor.set(key, value)
        for draft in sections:
            editor.add_section(draft)
        editor.write()
        data = path.read_bytes()
        doc = parse_document(path)

        # the file is stored the way it was: BOM and line endings
        assert data.startswith(b"\xef\xbb\xbf") == bom
        if newline == "\r\n":
            assert data.count(b"\n") == data.count(b"\r\n")
        else:
            assert b"\r" not in data

        # frontmatter options read back
        flat = doc.config.model_dump()
        for key, value in options.items():
            got = flat
            for part in key.split("."):
                got = got[part]
            assert (list(got) if key == "training.adapters" else got) == value, key

        # sections read back
        assert len(doc.sections) == len(sections)
        for draft, section in zip(sections, doc.sections):
            assert section.type is draft.type
            assert section.adapter == draft.adapter
            assert section.adapters == route(draft.type, draft.adapter, names)
            assert section.provenance == draft.provenance
            assert section.attrs == draft.attrs
            assert [(p.question, p.answer) for p in section.pairs] == [(normalize(q), normalize(a)) for q, a in draft.pairs]
            assert [(t.prompt, t.chosen, t.rejected) for t in section.triples] == [tuple(map(normalize, t)) for t in draft.triples]
            if draft.type not in (SectionType.INSTRUCTION, SectionType.PREFERENCE):
                assert section.text == normalize(draft.text)

        # no edits: identical text and bytes
        assert DocumentEditor(doc).render() == doc.text
        DocumentEditor(doc).write()
        assert path.read_bytes() == data
        assert parse_bytes(path, data).sections == doc.sections


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(documents(), st.booleans())
def test_round_trip_lf(doc, bom: bool):
    check_round_trip(*doc, newline="\n", bom=bom)


@SETTINGS
@given(documents(), st.booleans())
def test_round_trip_crlf(doc, bom: bool):
    check_round_trip(*doc, newline="\r\n", bom=bom)
