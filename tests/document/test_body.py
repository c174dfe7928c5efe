"""dlmbuild.document.body: the body's sections read according to their type."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dlmbuild.document.parse import parse_bytes, parse_document
from dlmbuild.document.sections import PreferenceTriple, Provenance, QAPair, SectionType
from dlmbuild.errors import DocumentError
from tests.helpers import TWO_ADAPTERS, document, tiny_png, tiny_wav


def parse(body: str, extra: str = "", newline: str = "\n"):
    return parse_bytes("doc.dlm", document(body, extra).replace("\n", newline).encode())


def error_of(body: str, extra: str = "") -> str:
    with pytest.raises(DocumentError) as info:
        parse(body, extra)
    return str(info.value)


# ------------------------------------------------------------------ instruction


def test_instruction_pairs_with_their_header_lines():
    doc = parse("::instruction::\n### Q\nWhat is it?\n\n### A\nA game.  \n\n### Q\nMulti\nline?\n### A\n\nYes,\n\nreally.\n\n")
    (s,) = doc.sections
    assert s.type is SectionType.INSTRUCTION
    assert s.pairs == (QAPair("What is it?", "A game.", 6), QAPair("Multi\nline?", "Yes,\n\nreally.", 12))
    assert s.line == 5


def test_instruction_with_crlf_has_no_carriage_returns():
    (s,) = parse("::instruction::\n### Q\nq1\nq2\n### A\na\n", newline="\r\n").sections
    assert s.pairs == (QAPair("q1\nq2", "a", 6),)
    assert "\r" not in s.text


def test_header_with_tab_and_trailing_space_is_structural():
    (s,) = parse("::instruction::\n###\tQ \nq\n###  A\na\n").sections
    assert [(p.question, p.answer) for p in s.pairs] == [("q", "a")]


def test_headers_inside_code_blocks_are_answer_text():
    body = "::instruction::\n### Q\nShow a doc.\n### A\n```markdown\n### Q\n::prose::\n### A\n```\n"
    (s,) = parse(body).sections
    assert s.pairs[0].answer == "```markdown\n### Q\n::prose::\n### A\n```"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("::instruction::\n### Q\nWhat?\n", "6:1: '### Q' has no '### A' answer"),
        ("::instruction::\n### Q\nOne?\n### Q\nTwo?\n### A\nYes.\n", "6:1: '### Q' has no '### A' answer"),
        ("::instruction::\n### Q\nWhat?\n### A\n   \n\n::prose::\nnext\n", "8:1: empty answer"),
        ("::instruction::\n### Q\n\n### A\nYes.\n", "6:1: empty question"),
        ("::instruction::\n### A\nYes.\n", "6:1: '### A' without a '### Q' before it"),
        ("::instruction::\n\nHello\n### Q\nq\n### A\na\n", "7:1: expected '### Q' before text"),
        ("::instruction::\n## Q\nq\n### A\na\n", "6:1: expected '### Q' before text (did you mean '### Q'?)"),
        ("::instruction::\n#### Answer\nq\n", "6:1: expected '### Q' before text (did you mean '### A'?)"),
        ("::instruction::\n### Q\nq\n### Prompt\np\n", "8:1: '### Prompt' belongs in ::preference:: sections, not here"),
        ("::instruction::\n\n\n::prose::\nx\n", "5:1: section has no '### Q' entries"),
    ],
)
def test_instruction_errors(body: str, expected: str):
    assert error_of(body) == f"doc.dlm:{expected}"


# ------------------------------------------------------------------ preference


def test_preference_triples():
    body = "::preference::\n### Prompt\np1\n### Chosen\nc1\n### Rejected\nr1\n\n### Prompt\np2\n### Chosen\nc2\n\n### Rejected\nr2\n"
    (s,) = parse(body).sections
    assert s.triples == (PreferenceTriple("p1", "c1", "r1", 6), PreferenceTriple("p2", "c2", "r2", 13))
    assert s.pairs == ()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("::preference::\n### Prompt\np\n### Rejected\nr\n### Chosen\nc\n", "8:1: expected '### Chosen' after '### Prompt', found '### Rejected'"),
        ("::preference::\n### Chosen\nc\n", "6:1: expected '### Prompt', found '### Chosen'"),
        ("::preference::\n### Prompt\np\n### Chosen\nc\n", "8:1: '### Chosen' is not followed by '### Rejected'"),
        ("::preference::\n### Prompt\np\n", "6:1: '### Prompt' is not followed by '### Chosen'"),
        ("::preference::\n### Prompt\np\n### Chosen\n\n### Rejected\nr\n", "8:1: empty '### Chosen'"),
        ("::preference::\n### Prompt\np\n### Chosen\nc\n### Rejected\nr\n### Q\nq\n", "12:1: '### Q' belongs in ::instruction:: sections, not here"),
        ("::preference::\nintro\n", "6:1: expected '### Prompt' before text"),
    ],
)
def test_preference_errors(body: str, expected: str):
    assert error_of(body) == f"doc.dlm:{expected}"


# ------------------------------------------------------------------ prose, headings, code blocks


def test_markdown_headings_and_stray_headers_stay_prose():
    body = "# Title\n\n## Q\n### Q\n### A\nText.\n"
    (s,) = parse(body).sections
    assert s.type is SectionType.PROSE and not s.fenced
    assert s.text == body.rstrip("\n")
    assert s.pairs == ()


def test_fences_inside_code_blocks_are_text():
    body = "Intro.\n\n```\n::instruction::\n### Q\nnot a question\n```\n\n~~~\n::image path=\"x\"::\n~~~\n"
    (s,) = parse(body).sections
    assert s.type is SectionType.PROSE
    assert "::instruction::" in s.text and '::image path="x"::' in s.text


def test_fence_like_lines_that_are_not_fences():
    body = "::: not a fence\n:: also not\n  ::prose:: indented\n"
    (s,) = parse(body).sections
    assert s.text == body.rstrip("\n")


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("intro\n\n```python\n::instruction::\n### Q\n", 7),
        ("::prose::\n~~~\ncode\n", 6),
        ("```\nclosed\n```\n\n```\nopen\n", 9),
        ("::instruction::\n### Q\nq\n### A\n```\nforever\n", 9),
    ],
)
def test_unclosed_code_block_points_at_its_opening(body: str, line: int):
    assert error_of(body) == f"doc.dlm:{line}:1: code block opened here is never closed (add a closing ``` line)"


def test_unknown_section_type_did_you_mean():
    assert error_of("::Prose::\nx\n") == "doc.dlm:5:3: unknown section type 'Prose' (did you mean 'prose'?)"
    assert error_of("::instuction::\n") == "doc.dlm:5:3: unknown section type 'instuction' (did you mean 'instruction'?)"
    assert error_of("::widget::\n") == "doc.dlm:5:3: unknown section type 'widget'"


def test_prose_fence_takes_no_attributes():
    assert error_of('::prose lang="en"::\n') == "doc.dlm:5:9: unknown attribute 'lang'; prose fences take no attributes"


# ------------------------------------------------------------------ provenance


def test_provenance_comment_is_parsed_into_fields_and_left_out_of_the_text():
    body = '::instruction#tone::\n\n<!-- auto-synth teacher="smollm2-135m" run="01M7" note="a \\"quoted\\" word" -->\n### Q\nq\n### A\na\n'
    (s,) = parse(body, TWO_ADAPTERS).sections
    assert s.provenance == Provenance("auto-synth", (("teacher", "smollm2-135m"), ("run", "01M7"), ("note", 'a "quoted" word')))
    assert s.provenance.as_dict() == {"kind": "auto-synth", "teacher": "smollm2-135m", "run": "01M7", "note": 'a "quoted" word'}
    assert "auto-synth" not in s.text
    assert len(s.pairs) == 1


def test_provenance_on_prose_and_preamble():
    doc = parse("<!-- auto-harvest url=x -->\nharvested\n\n::prose::\n<!-- auto-mined -->\nmined\n")
    assert [s.provenance.kind for s in doc.sections] == ["auto-harvest", "auto-mined"]
    assert [s.text for s in doc.sections] == ["harvested", "mined"]


def test_a_comment_after_the_first_line_is_text():
    (s,) = parse("::prose::\nfirst\n<!-- auto-synth teacher=x -->\n").sections
    assert s.provenance is None and "auto-synth" in s.text


def test_ordinary_html_comments_are_text():
    (s,) = parse("::prose::\n<!-- TODO -->\nx\n").sections
    assert s.provenance is None and s.text == "<!-- TODO -->\nx"


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        ('<!-- auto-synt teacher="x" -->', "6:6: unknown provenance kind 'auto-synt' (did you mean 'auto-synth'?)"),
        ("<!-- auto-mind -->", "6:6: unknown provenance kind 'auto-mind' (did you mean 'auto-mined'?)"),
        ('<!-- auto-synth a="x" a=y -->', "6:23: duplicate attribute 'a'"),
        ('<!-- auto-synth teacher="x"', "6:28: provenance comment must end with '-->'"),
    ],
)
def test_provenance_errors(comment: str, expected: str):
    assert error_of(f"::prose::\n{comment}\nhello\n") == f"doc.dlm:{expected}"


# ------------------------------------------------------------------ media


def test_image_and_audio_sections(tmp_path: Path):
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "cat.png").write_bytes(tiny_png())
    (tmp_path / "hi.wav").write_bytes(tiny_wav())
    path = tmp_path / "doc.dlm"
    path.write_text(document('::image path="media/cat.png" alt="a cat"::\nCaption.\n\n::audio path=hi.wav transcript="hello there"::\n'))
    image, audio = parse_document(path).sections
    assert (image.type, image.attributes, image.text) == (SectionType.IMAGE, {"path": "media/cat.png", "alt": "a cat"}, "Caption.")
    assert (audio.type, audio.attributes, audio.text) == (SectionType.AUDIO, {"path": "hi.wav", "transcript": "hello there"}, "")


@pytest.mark.parametrize(
    ("fence", "expected"),
    [
        ('::image path="cat.png"::', "5:1: image fence is missing required attribute 'alt'"),
        ('::audio transcript="x"::', "5:1: audio fence is missing required attribute 'path'"),
        ('::image path="cat.png" alt="  "::', "5:1: attribute 'alt' must not be empty"),
        ('::image path="a.png" path="b.png" alt="x"::', "5:22: duplicate attribute 'path'"),
        ('::image path="cat.png" alt="x" transcript="y"::', "5:32: unknown attribute 'transcript'; image takes path, alt"),
        ('::audio path="a.wav" transcrpt="y"::', "5:22: unknown attribute 'transcrpt' (did you mean 'transcript'?); audio takes path, transcript"),
        ('::image path="dog.png" alt="a dog"::', "5:9: media file 'dog.png' not found"),
        ('::image alt="up" path="../cat.png"::', "5:18: media path '../cat.png' leaves the document's folder (sources_policy: strict)"),
    ],
)
def test_media_errors(tmp_path: Path, fence: str, expected: str):
    (tmp_path / "cat.png").write_bytes(tiny_png())
    path = tmp_path / "doc.dlm"
    path.write_text(document(fence + "\n"))
    with pytest.raises(DocumentError) as info:
        parse_document(path)
    assert str(info.value) == f"{path}:{expected}"


def test_media_absolute_path_is_refused_under_strict_and_allowed_when_permissive(tmp_path: Path):
    outside = tmp_path / "outside.png"
    outside.write_bytes(tiny_png())
    folder = tmp_path / "doc"
    folder.mkdir()
    path = folder / "doc.dlm"
    path.write_text(document(f'::image path="{outside}" alt="x"::\n'))
    with pytest.raises(DocumentError) as info:
        parse_document(path)
    assert str(info.value) == f"{path}:5:9: media path '{outside}' leaves the document's folder (sources_policy: strict)"
    path.write_text(document(f'::image path="{outside}" alt="x"::\n', "training:\n  sources_policy: permissive\n"))
    assert parse_document(path).sections[0].attributes["path"] == str(outside)


def test_media_symlink_out_of_the_folder_is_refused_under_strict(tmp_path: Path):
    (tmp_path / "secret.png").write_bytes(tiny_png())
    folder = tmp_path / "doc"
    folder.mkdir()
    os.symlink(tmp_path / "secret.png", folder / "cat.png")
    path = folder / "doc.dlm"
    path.write_text(document('::image path="cat.png" alt="x"::\n'))
    with pytest.raises(DocumentError) as info:
        parse_document(path)
    assert str(info.value) == f"{path}:5:9: media path 'cat.png' leaves the document's folder (sources_policy: strict)"


def test_media_dotdot_is_allowed_when_permissive(tmp_path: Path):
    (tmp_path / "cat.png").write_bytes(tiny_png())
    (tmp_path / "doc").mkdir()
    path = tmp_path / "doc" / "doc.dlm"
    path.write_text(document('::image path="../cat.png" alt="x"::\n', "training:\n  sources_policy: permissive\n"))
    assert parse_document(path).sections[0].type is SectionType.IMAGE


def test_media_error_points_at_the_path_attribute_not_at_text_that_mentions_it(tmp_path: Path):
    path = tmp_path / "doc.dlm"
    path.write_text(document('::image alt="path=here" path="nope.png"::\n'))
    with pytest.raises(DocumentError) as info:
        parse_document(path)
    assert str(info.value) == f"{path}:5:25: media file 'nope.png' not found"


def test_an_image_over_the_pixel_limit_is_refused_at_its_path(tmp_path: Path, monkeypatch):
    from PIL import Image

    (tmp_path / "big.png").write_bytes(tiny_png(size=(40, 30)))
    path = tmp_path / "doc.dlm"
    path.write_text(document('::image path="big.png" alt="x"::\n'))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(DocumentError) as info:
        parse_document(path)
    assert str(info.value).startswith(f"{path}:5:9: media file 'big.png' is over the pixel limit (Pillow's decompression-bomb guard")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)
    assert parse_document(path).sections[0].type is SectionType.IMAGE
