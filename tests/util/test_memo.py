"""dlmbuild.util.memo: every resident memo is registered, and the registry is how they are dropped."""

from __future__ import annotations

import pytest

from dlmbuild.util import memo

# The memo caches a resident process keeps, by the module that owns each (see util/memo.py).
EXPECTED = {
    "document.body": "dlmbuild.document.body",
    "document.sections": "dlmbuild.document.parse",
    "document.listings": "dlmbuild.document.sources",
    "document.folder_prefix": "dlmbuild.document.sources",
    "document.walks": "dlmbuild.document.walk_memo",
    "engine.filestate": "dlmbuild.engine.filestate",
    "engine.state": "dlmbuild.engine.state",
    "rules.tokenize.index": "dlmbuild.rules.tokenize",
    "rules.tokenize.memo_keys": "dlmbuild.rules.tokenize",
    "rules.tokenize.tokenizer": "dlmbuild.rules.tokenize",
    "train.base_model": "dlmbuild.train.base_model",
}


def test_every_memo_registers_when_its_module_is_imported():
    import importlib

    for module in set(EXPECTED.values()):
        importlib.import_module(module)
    assert set(EXPECTED) <= set(memo.names())


def test_a_dict_memo_is_cleared_in_place():
    held = memo.memo_dict("tests.example")
    held["k"] = 1
    memo.invalidate("tests.example")
    assert held == {}
    held["k"] = 2
    memo.clear_all()
    assert held == {}


def test_invalidate_drops_one_memo_only():
    one, two = memo.memo_dict("tests.one"), memo.memo_dict("tests.two")
    one["a"], two["b"] = 1, 2
    memo.invalidate("tests.one")
    assert (one, two) == ({}, {"b": 2})


def test_an_unknown_name_is_a_programming_error_with_a_hint():
    memo.memo_dict("tests.listing")
    with pytest.raises(KeyError, match="did you mean 'tests.listing'"):
        memo.invalidate("tests.listng")


def test_clearing_drops_what_a_parse_remembered(tmp_path):
    from dlmbuild.document import body, parse
    from dlmbuild.document.parse import parse_document

    doc = tmp_path / "doc.dlm"
    doc.write_text("---\ndlm_id: 01HZZZZZZZZZZZZZZZZZZZZZZZ\nbase_model: smollm2-135m\n---\n::prose::\nhello\n")
    parse_document(doc)
    assert str(doc) in body._LAST_PARSE and str(doc) in parse._LAST_SECTIONS
    memo.clear_all()
    assert str(doc) not in body._LAST_PARSE and str(doc) not in parse._LAST_SECTIONS
