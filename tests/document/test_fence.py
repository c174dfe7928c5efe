"""dlmbuild.document.fence: one fence line and one provenance comment, via the lark grammar."""

from __future__ import annotations

import pytest

from dlmbuild.document.fence import LineSyntaxError, parse_fence, parse_provenance


def test_plain_fence():
    f = parse_fence("::prose::\n")
    assert (f.type_name, f.type_col, f.adapter, f.attrs) == ("prose", 3, None, ())


def test_fence_with_adapter_and_attributes():
    f = parse_fence('::image#vision path="cat.png" alt="a \\"cat\\"" note=bare::\r\n')
    assert f.type_name == "image"
    assert (f.adapter, f.adapter_col) == ("vision", 9)
    assert f.attrs == (("path", "cat.png", 16), ("alt", 'a "cat"', 31), ("note", "bare", 47))


def test_fence_spacing_is_free_around_the_closer():
    assert parse_fence("::prose   ::  \n").type_name == "prose"


@pytest.mark.parametrize(
    ("line", "message", "col"),
    [
        ("::instruction", "section fence must end with '::'", 14),
        ("::instruction:: trailing", "section fence must end with '::'", 25),
        ('::image path="a.png alt="x"::', "unterminated quoted value in section fence", 14),
        ("::prose#::", "malformed section fence near '::'", 9),
        ("::image path='a' alt=x::", "malformed section fence near ''a' alt=x::'", 14),
        ("::prose#a#b::", "malformed section fence near '#b::'", 10),
    ],
)
def test_malformed_fences(line: str, message: str, col: int):
    with pytest.raises(LineSyntaxError) as info:
        parse_fence(line)
    assert (info.value.message, info.value.col) == (message, col)


def test_provenance_fields_in_order():
    p = parse_provenance('<!-- auto-synth teacher="smollm2-135m" run="01M7YVFPZ5CCB0JKQRN8YNGH2T" -->\n')
    assert (p.kind, p.kind_col) == ("auto-synth", 6)
    assert [(k, v) for k, v, _ in p.attrs] == [("teacher", "smollm2-135m"), ("run", "01M7YVFPZ5CCB0JKQRN8YNGH2T")]


def test_provenance_without_fields():
    p = parse_provenance("<!-- auto-mined -->")
    assert (p.kind, p.attrs) == ("auto-mined", ())


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('<!-- auto-synth teacher="x"', "provenance comment must end with '-->'"),
        ('<!-- auto-synth teacher="x -->', "unterminated quoted value in provenance comment"),
        ("<!-- auto-synth teacher= -->", "malformed provenance comment near '-->'"),
    ],
)
def test_malformed_provenance(line: str, message: str):
    with pytest.raises(LineSyntaxError) as info:
        parse_provenance(line)
    assert info.value.message == message


def test_grammar_is_loaded_once_per_process():
    from dlmbuild.document.grammar import parser

    assert parser() is parser()
