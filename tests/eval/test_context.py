"""The in-context baseline's text: what of the document it holds, and how it is cut to fit."""

from __future__ import annotations

from dlmbuild.document.parse import parse_document
from dlmbuild.eval.context import compose_system, document_text, longest_fitting_prefix


def test_document_text_holds_the_adapters_prose_and_qa_in_order(write_doc):
    body = ("Shared prose.\n\n::instruction::\n### Q\nWhat is it?\n### A\nA thing.\n\n"
            "::prose#tone::\nTone only.\n\n::instruction#tone::\n### Q\nHi?\n### A\nHello.\n")
    doc = parse_document(write_doc(body, "training:\n  adapters: [facts, tone]\n"))
    assert document_text(doc, "facts") == "Shared prose.\n\nQ: What is it?\nA: A thing."
    assert document_text(doc, "tone") == "Shared prose.\n\nTone only.\n\nQ: Hi?\nA: Hello."


def test_compose_system_puts_the_document_after_its_own_system_prompt():
    assert compose_system("Be brief.", "Facts.") == "Be brief.\n\nFacts."
    assert compose_system(None, "Facts.") == "Facts."
    assert compose_system("Be brief.", "") == "Be brief."


def test_longest_fitting_prefix_finds_the_largest_fit_with_few_calls():
    calls = []

    def fits(k):
        calls.append(k)
        return k <= 737

    assert longest_fitting_prefix(10_000, fits) == 737
    assert len(calls) <= 16
    assert longest_fitting_prefix(500, lambda k: k <= 737) == 500
    assert longest_fitting_prefix(500, lambda k: False) == 0
