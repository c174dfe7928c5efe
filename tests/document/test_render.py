"""dlmbuild.document.render: new sections and YAML values as text that parses back exactly."""

from __future__ import annotations

import math

import pytest
import yaml

from dlmbuild.document.render import SectionDraft, render_provenance, render_section, render_yaml_value
from dlmbuild.document.sections import Provenance, SectionType
from dlmbuild.errors import DlmError


def test_render_prose_with_adapter_and_trailing_space_trimmed():
    draft = SectionDraft(SectionType.PROSE, text="\n\nLine one.  \n\nLine two.\n\n", adapter="tone")
    assert render_section(draft) == "::prose#tone::\nLine one.\n\nLine two.\n"


def test_render_empty_prose_is_just_the_fence():
    assert render_section(SectionDraft(SectionType.PROSE)) == "::prose::\n"


def test_render_instruction():
    draft = SectionDraft(SectionType.INSTRUCTION, pairs=(("Who?", "Ilsa."), ("When?", "1958.")))
    assert render_section(draft) == "::instruction::\n### Q\nWho?\n\n### A\nIlsa.\n\n### Q\nWhen?\n\n### A\n1958.\n"


def test_render_preference_with_provenance_and_crlf():
    draft = SectionDraft(
        SectionType.PREFERENCE,
        adapter="tone",
        triples=(("p", "c", "r"),),
        provenance=Provenance("auto-synth", (("teacher", 'the "big" one'),)),
    )
    assert render_section(draft, "\r\n") == (
        '::preference#tone::\r\n<!-- auto-synth teacher="the \\"big\\" one" -->\r\n'
        "### Prompt\r\np\r\n### Chosen\r\nc\r\n### Rejected\r\nr\r\n"
    )


def test_render_media_quotes_attributes():
    draft = SectionDraft(SectionType.IMAGE, text="Caption", attrs=(("path", "a b.png"), ("alt", 'say "hi" \\o/')))
    assert render_section(draft) == '::image path="a b.png" alt="say \\"hi\\" \\\\o/"::\nCaption\n'


def test_prose_may_contain_headers_and_fenced_code():
    text = "# Title\n### Q\n```\n::instruction::\n```"
    assert render_section(SectionDraft(SectionType.PROSE, text=text)) == f"::prose::\n{text}\n"


@pytest.mark.parametrize(
    ("draft", "message"),
    [
        (SectionDraft(SectionType.PROSE, text="ok\n::instruction::\nsneaky"), "text has a line that would read as a section fence: '::instruction::'"),
        (SectionDraft(SectionType.PROSE, text="::prose#x::"), "text has a line that would read as a section fence: '::prose#x::'"),
        (SectionDraft(SectionType.INSTRUCTION, pairs=(("q", "a\n::preference::"),)), "answer has a line that would read as a section fence: '::preference::'"),
        (SectionDraft(SectionType.INSTRUCTION, pairs=(("q\n### A\nx", "a"),)), "question has a line that would read as a section header: '### A'"),
        (SectionDraft(SectionType.PREFERENCE, triples=(("p", "### Rejected", "r"),)), "chosen has a line that would read as a section header: '### Rejected'"),
        (SectionDraft(SectionType.PROSE, text="```\nnever closed"), "text opens a code block it never closes"),
        (SectionDraft(SectionType.PROSE, text='<!-- auto-synth x="y" -->\nbody'), "text starts with a provenance comment; pass provenance separately"),
        (SectionDraft(SectionType.INSTRUCTION, pairs=(("q", "  \n"),)), "cannot add a section with an empty answer"),
        (SectionDraft(SectionType.INSTRUCTION), "cannot add an instruction section without Q/A pairs"),
        (SectionDraft(SectionType.PREFERENCE), "cannot add a preference section without triples"),
        (SectionDraft(SectionType.IMAGE, attrs=(("path", "a.png"),)), "cannot add image section: attribute 'alt' is required"),
        (SectionDraft(SectionType.AUDIO, attrs=(("path", "a.wav"), ("transcript", " "))), "cannot add audio section: attribute 'transcript' is required"),
        (SectionDraft(SectionType.IMAGE, attrs=(("path", "a\nb.png"), ("alt", "x"))), "attribute values must be on one line"),
        (SectionDraft(SectionType.PROSE, text="x", provenance=Provenance("auto-magic")), "unknown provenance kind 'auto-magic'"),
    ],
)
def test_drafts_that_would_not_parse_back_are_refused(draft: SectionDraft, message: str):
    with pytest.raises(DlmError) as info:
        render_section(draft)
    assert str(info.value) == message


def test_fence_inside_a_code_block_in_an_answer_is_fine():
    draft = SectionDraft(SectionType.INSTRUCTION, pairs=(("How?", "Like this:\n~~~\n::prose::\n### Q\n~~~"),))
    assert "::prose::" in render_section(draft)


def test_render_provenance():
    assert render_provenance(Provenance("auto-mined")) == "<!-- auto-mined -->"
    assert render_provenance(Provenance("auto-harvest", (("url", "x"), ("n", "2")))) == '<!-- auto-harvest url="x" n="2" -->'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"), (True, "true"), (False, "false"), (8, "8"), (-3, "-3"), (0.5, "0.5"), (3.0, "3.0"),
        (1e-05, "1.0e-05"), (5e-05, "5.0e-05"), (1e20, "1.0e+20"), (2.5e-10, "2.5e-10"),
        (float("inf"), ".inf"), (float("-inf"), "-.inf"),
        ("lora", "lora"), ("smollm2-135m", "smollm2-135m"), ("./models/x", "./models/x"), ("hf:org/x", '"hf:org/x"'),
        ("yes", '"yes"'), ("Off", '"Off"'), ("null", '"null"'), ("", '""'), ("a b", '"a b"'), ("é", '"é"'),
        (".inf", '".inf"'), (".5", '".5"'), (".NaN", '".NaN"'), (".hidden", ".hidden"),
        (["q_proj", "v_proj"], "[q_proj, v_proj]"), ({"enabled": True, "beta": 0.1}, "{enabled: true, beta: 0.1}"), ([], "[]"),
    ],
)
def test_render_yaml_value_loads_back_to_the_same_value(value, text: str):
    assert render_yaml_value(value) == text
    assert yaml.safe_load(f"k: {text}")["k"] == value


def test_render_yaml_nan():
    assert render_yaml_value(float("nan")) == ".nan"
    assert math.isnan(yaml.safe_load("k: .nan")["k"])


def test_render_yaml_value_refuses_other_types():
    with pytest.raises(DlmError) as info:
        render_yaml_value(object())
    assert str(info.value) == "cannot write a value of type object to the frontmatter"


def test_multi_line_content_gets_the_document_line_ending():
    assert render_section(SectionDraft(SectionType.PROSE, text="a\nb\r\nc"), "\r\n") == "::prose::\r\na\r\nb\r\nc\r\n"
    draft = SectionDraft(SectionType.INSTRUCTION, pairs=(("q\nq", "a\na"),))
    assert render_section(draft, "\r\n") == "::instruction::\r\n### Q\r\nq\r\nq\r\n\r\n### A\r\na\r\na\r\n"
