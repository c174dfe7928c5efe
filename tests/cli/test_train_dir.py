"""``dlm train DIR``: write (or reuse) DIR/.dlm/NAME.dlm for a folder, then train it.

Builds run the real path on a tiny random-init Llama (milliseconds a step), never the real base.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dlmbuild.document.parse import parse_document
from dlmbuild.document.schema import ULID_PATTERN
from dlmbuild.document.sources import expand_sources
from tests.rules.conftest import age, make_base

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    """make_base's tokenizer with random Llama weights and room for the default sequence_len."""
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = make_base(tmp_path_factory.mktemp("tiny") / "base")
    vocab = json.loads((folder / "config.json").read_text())["vocab_size"]
    config = LlamaConfig(vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, max_position_embeddings=1024, tie_word_embeddings=True,
                         bos_token_id=1, eos_token_id=2, pad_token_id=2)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(str(folder))
    age(folder)
    return folder


@pytest.fixture
def repo(tmp_path: Path, monkeypatch) -> Path:
    """A small code repository, with the dlm store inside it (where the walk would see it)."""
    root = tmp_path / "my repo!"
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.md").write_text("the note is a fact\n")
    (root / "src" / "b.py").write_text("what is the item\n")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    age(root)
    monkeypatch.setenv("DLM_HOME", str(root / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("DLM_THREADS", "1")
    return root


def ingested(doc: Path) -> list[str]:
    return [f.relpath for f in expand_sources(parse_document(doc)).files]


def test_writes_the_folder_document_and_trains_it(repo: Path, tiny_base: Path, run_dlm):
    r = run_dlm("train", repo, "--base", tiny_base, "--include", "**/*.md")
    doc = repo / ".dlm" / "my-repo.dlm"
    assert r.code == 0, r.err
    assert r.out.startswith(f"wrote {doc} (base {tiny_base})\n")
    assert "built   :train-default" in r.out
    parsed = parse_document(doc)
    assert re.fullmatch(ULID_PATTERN, parsed.config.dlm_id)
    assert parsed.config.base_model == str(tiny_base)
    assert parsed.config.training.sources_policy == "permissive"
    [entry] = parsed.config.training.sources
    assert (entry.path, entry.include, entry.exclude) == ("..", ["**/*.md"], ["/home/"])
    # after the build the store holds files under repo/home, and .dlm/ holds the lock: neither is read
    assert (repo / "home" / "store").is_dir() and (repo / ".dlm" / "dlm.lock").is_file()
    assert ingested(doc) == ["../src/a.md"]


def test_a_second_run_reuses_the_file_and_builds_nothing_new(repo: Path, tiny_base: Path, run_dlm):
    assert run_dlm("train", repo, "--base", tiny_base).code == 0
    doc = repo / ".dlm" / "my-repo.dlm"
    before = doc.read_bytes()
    again = run_dlm("train", repo)
    assert again.code == 0, again.err
    assert again.out.startswith(f"using {doc}\n")
    assert "cached  :train-default" in again.out and "built" not in again.out
    same = run_dlm("train", repo, "--base", tiny_base)  # options that agree reuse it too
    assert same.code == 0 and same.out.startswith(f"using {doc}\n")
    assert doc.read_bytes() == before
    assert ingested(doc) == ["../src/a.md", "../src/b.py"]


def test_options_that_would_change_the_file_are_refused_without_force(repo: Path, tiny_base: Path, run_dlm):
    doc = repo / ".dlm" / "my-repo.dlm"
    assert run_dlm("train", repo, "--base", tiny_base, "--include", "**/*.md").code == 0
    before = doc.read_bytes()
    r = run_dlm("train", repo, "--include", "**/*.py")
    assert (r.code, r.out) == (2, "")
    assert r.err == (f"{doc}: already exists and --include would change it; run with --force to rewrite it, "
                     "or without those options to reuse it\n")
    other = run_dlm("train", repo, "--base", "smollm2-135m", "--exclude", "*.md")
    assert other.code == 2
    assert f"--base (it has {tiny_base}), --exclude would change it" in other.err
    assert doc.read_bytes() == before


def test_force_rewrites_atomically_and_keeps_the_id(repo: Path, tiny_base: Path, run_dlm):
    doc = repo / ".dlm" / "my-repo.dlm"
    assert run_dlm("train", repo, "--base", tiny_base, "--include", "**/*.md").code == 0
    first = parse_document(doc).config.dlm_id
    r = run_dlm("train", repo, "--include", "**/*.py", "--force")  # the base is kept from the file
    assert r.code == 0, r.err
    assert r.out.startswith(f"rewrote {doc} (base {tiny_base})\n")
    assert parse_document(doc).config.dlm_id == first
    assert ingested(doc) == ["../src/b.py"]
    assert sorted(p.name for p in (repo / ".dlm").iterdir()) == ["dlm.lock", "my-repo.dlm"]  # no temp file left


def test_relative_base_is_rewritten_relative_to_the_document(repo: Path, tiny_base: Path, run_dlm, monkeypatch):
    monkeypatch.chdir(tiny_base.parent)
    r = run_dlm("train", repo, "--base", "./base", "--name", "code")
    assert r.code == 0, r.err
    doc = repo / ".dlm" / "code.dlm"
    written = parse_document(doc).config.base_model
    assert written.startswith("../") and (doc.parent / written).resolve() == tiny_base.resolve()


def test_base_is_required_to_create_the_file(repo: Path, run_dlm):
    r = run_dlm("train", repo)
    assert (r.code, r.out) == (2, "")
    assert r.err == (f"dlm: --base is required to create {repo / '.dlm' / 'my-repo.dlm'} "
                     "(a registry key such as smollm2-135m, hf:org/name, or a local folder)\n")
    assert not (repo / ".dlm").exists()


@pytest.mark.parametrize(("option", "pattern"), [("--include", "!"), ("--exclude", "\\"), ("--include", " ")])
def test_a_bad_glob_is_one_line_and_writes_nothing(repo: Path, run_dlm, option: str, pattern: str):
    r = run_dlm("train", repo, "--base", "smollm2-135m", option, pattern)
    assert (r.code, r.out) == (2, "")
    assert r.err == f"dlm: {option} '{pattern}': not a valid gitignore-style pattern\n"
    assert not (repo / ".dlm").exists()


def test_missing_folder_bad_name_and_a_file_are_one_line(repo: Path, run_dlm):
    missing = run_dlm("train", repo / "nope", "--base", "smollm2-135m")
    assert (missing.code, missing.err) == (2, f"{repo / 'nope'}: folder does not exist\n")
    bad_name = run_dlm("train", repo, "--base", "smollm2-135m", "--name", "../x")
    assert bad_name.code == 2
    assert bad_name.err == "dlm: --name '../x': use letters, digits, '.', '_' and '-' (starting with a letter or digit)\n"
    a_file = run_dlm("train", repo / "src" / "a.md", "--base", "smollm2-135m")
    assert a_file.code == 2
    assert a_file.err == f"{repo / 'src' / 'a.md'}: --base, --include, --exclude, --name and --force apply to a folder; this is a file\n"
    assert not (repo / ".dlm").exists()


def test_an_unknown_base_writes_nothing(repo: Path, run_dlm):
    r = run_dlm("train", repo, "--base", "smollm2-13m")
    assert r.code == 2 and len(r.err.splitlines()) == 1
    assert "unknown base model 'smollm2-13m' (did you mean 'smollm2-135m'?)" in r.err
    assert not (repo / ".dlm" / "my-repo.dlm").exists()


def test_watch_calls_what_build_watch_calls(repo: Path, tiny_base: Path, run_dlm, monkeypatch):
    import dlmbuild.cli.watch as watch

    calls = []
    monkeypatch.setattr(watch, "watch_build", lambda doc, targets, **kw: calls.append((Path(doc), targets, kw)) or 1)
    assert run_dlm("train", repo, "--base", tiny_base, "--watch", "--adapter", "default", "--no-replay").code == 0
    doc = repo / ".dlm" / "my-repo.dlm"
    assert run_dlm("build", doc, ":train-default", "--watch", "--no-replay").code == 0
    assert calls[0][:2] == calls[1][:2] == (doc, [":train-default"])
    for name in ("explain", "no_wait", "replay", "gpus"):  # every option train has reaches the loop alike
        assert calls[0][2][name] == calls[1][2][name]
    assert calls[0][2]["replay"] is False
