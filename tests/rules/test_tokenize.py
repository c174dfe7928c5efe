"""``:tokenize`` on a tiny real tokenizer: rows, masks, incrementality, errors."""

from __future__ import annotations

from pathlib import Path

from dlmbuild.cli.build import run_build
from dlmbuild.engine.lockfile import read_lock
from dlmbuild.train.tokenizer import BaseTokenizer
from tests.rules.conftest import age


def _index(doc: Path) -> list[dict]:
    lock = read_lock(doc)
    entry = lock.targets[":tokenize"]
    from dlmbuild.cli.common import open_project

    project, _ = open_project(doc)
    from rules.tokenize import read_index

    return read_index(project.layout.actions / entry.key[:2] / entry.key / "out")


def test_build_indexes_every_section_and_source_file(project_dir):
    doc = project_dir / "doc.dlm"
    assert run_build(doc, [":tokenize"], quiet=True) == 0
    index = _index(doc)
    assert [e["type"] for e in index] == ["prose", "instruction", "prose", "prose", "prose"]
    assert [e["source"] for e in index][-2:] == ["notes/a.md", "notes/b.md"]
    assert index[1]["rows"] == 1
    assert all(e["adapters"] == ["default"] for e in index)


def test_instruction_mask_covers_exactly_the_answer(project_dir):
    from rules.tokenize import chat_rows

    tok = BaseTokenizer(project_dir / "base")
    prompt, answer = chat_rows(tok, "the system", "what is the fact", "the fact is a value")
    rendered_prompt = tok.render_chat(
        [{"role": "system", "content": "the system"}, {"role": "user", "content": "what is the fact"}], add_generation_prompt=True
    )
    assert prompt == tok.encode(rendered_prompt)
    assert tok.decode(answer, skip_special_tokens=False).split()[:5] == ["the", "fact", "is", "a", "value"]
    assert answer[-1] == tok.eos_token_id


def test_second_build_is_cached_and_one_edit_tokenizes_one_section(project_dir, capsys):
    doc = project_dir / "doc.dlm"
    run_build(doc, [":tokenize"])
    first = capsys.readouterr()
    assert "5 sections, 5 tokenized now" in first.err
    run_build(doc, [":tokenize"])
    assert "cached  :tokenize" in capsys.readouterr().out
    doc.write_text(doc.read_text().replace("the item is of value", "the item is of the value"))
    run_build(doc, [":tokenize"], explain=True)
    out = capsys.readouterr()
    assert "5 sections, 1 tokenized now" in out.err
    assert "input added: section:" in out.out and "input removed: section:" in out.out


def test_revert_is_a_cache_hit_and_unread_config_dirties_nothing(project_dir, capsys):
    doc = project_dir / "doc.dlm"
    original = doc.read_text()
    run_build(doc, [":tokenize"], quiet=True)
    doc.write_text(original.replace("the item is of value", "the item is a value"))
    run_build(doc, [":tokenize"], quiet=True)
    doc.write_text(original)
    run_build(doc, [":tokenize"])
    assert "cached  :tokenize" in capsys.readouterr().out
    doc.write_text(original.replace("default_quant: Q4_K_M", "default_quant: Q8_0"))
    run_build(doc, [":tokenize"])
    assert "cached  :tokenize" in capsys.readouterr().out


def test_editing_one_source_file_reads_only_that_file(project_dir, capsys):
    doc = project_dir / "doc.dlm"
    run_build(doc, [":tokenize"], quiet=True)
    (project_dir / "notes" / "b.md").write_text("what is the fact\n")
    age(project_dir / "notes")
    run_build(doc, [":tokenize"], explain=True)
    out = capsys.readouterr()
    assert "input changed: file:notes/b.md" in out.out
    assert "1 tokenized now" in out.err


def test_pair_longer_than_sequence_len_fails_with_its_line(project_dir, capsys):
    doc = project_dir / "doc.dlm"
    doc.write_text(doc.read_text().replace("sequence_len: 64", "sequence_len: 32").replace("the fact is a value", "the fact " * 20))
    assert run_build(doc, [":tokenize"]) == 1
    out = capsys.readouterr().out
    assert "doc.dlm:15:1: Q/A pair is" in out and "longer than training.sequence_len 32" in out
    assert read_lock(doc) is None


def test_rows_evicted_from_the_token_store_are_made_again_from_the_document(project_dir):
    import shutil

    from dlmbuild.cli.common import open_project
    from rules.tokenize import rows_for

    doc = project_dir / "doc.dlm"
    assert run_build(doc, [":tokenize"], quiet=True) == 0
    keys = [e["key"] for e in _index(doc)]
    project, _ = open_project(doc)
    before = rows_for(project, keys)
    assert len(before) >= len(keys) and all(row["input_ids"] for row in before)
    shutil.rmtree(project.layout.tokens)  # what `dlm cache clear` and the size limit do
    project, _ = open_project(doc)
    assert rows_for(project, keys) == before
