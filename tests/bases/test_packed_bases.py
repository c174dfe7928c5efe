"""Bases installed from packs (``$DLM_HOME/bases/packed/``): found after the HF cache and the
embedded base, answering with the identity they were packed under, refused once tampered with."""

from __future__ import annotations

import json
import os
import time

import pytest
import xxhash

from dlmbuild.bases import embedded
from dlmbuild.bases import fingerprint as fp
from dlmbuild.bases.resolve import PACKED_RECORD, packed_dir, packed_identity, resolve_base
from dlmbuild.errors import EnvironmentProblem
from dlmbuild.pack.base import base_files, fingerprint_problem, install_base, licence_refusal
from tests.bases import test_resolve
from tests.bases.test_resolve import make_hf_cache, make_tiny_base

hub, home, fake_embedded = test_resolve.hub, test_resolve.home, test_resolve.fake_embedded  # the same fixtures

np = pytest.importorskip("numpy")


def locked_for(folder, key="smollm2-360m", revision="c0ffee", source="hf-cache") -> dict:
    """dlm.lock's [base] table for the base in ``folder``."""
    return {"key": key, "source": source, "revision": revision, "weights": fp.weights_hash(folder),
            "tokenizer": fp.tokenizer_hash(folder), "chat_template": fp.chat_template_hash(fp.chat_template_text(folder))}


def installed(tmp_path, home, name="staged", seed=0, **identity):
    staged = make_tiny_base(tmp_path / name, seed=seed)
    locked = locked_for(staged, **identity)
    return install_base(staged, locked, home), locked


@pytest.mark.parametrize(("base_model", "expected"), [
    ("smollm2-360m", None),
    ("qwen2.5-3b", "--include-base: base qwen2.5-3b is under the qwen-research licence, which dlm does not know to allow redistribution;"),
    ("llama-3.2-1b", "--include-base: base llama-3.2-1b is under the llama3.2 licence,"),
    ("./models/tiny", "--include-base: base ./models/tiny is a local folder, which carries no licence dlm can read;"),
    ("hf:Org/Tiny", "--include-base: base hf:Org/Tiny is an hf: id, which carries no licence dlm can read;"),
])
def test_licence_refusals_name_the_base_and_licence(base_model, expected):
    got = licence_refusal(base_model)
    if expected is None:
        assert got is None
    else:
        assert got.startswith(expected) and "pack without --include-base" in got and "\n" not in got


def test_an_installed_base_resolves_with_its_packed_identity(tmp_path, hub, home):
    with pytest.raises(EnvironmentProblem, match="the bases installed from packs"):
        resolve_base("smollm2-360m", tmp_path, home=home)
    target, locked = installed(tmp_path, home)
    assert target == packed_dir(home, locked) == home / "bases" / "packed" / "smollm2-360m" / packed_identity(locked)
    assert not (tmp_path / "staged").exists() or not any((tmp_path / "staged").iterdir())  # moved, not copied
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporaries left
    got = resolve_base("smollm2-360m", tmp_path, home=home)
    assert (got.key, got.source, got.revision, got.path) == ("smollm2-360m", "hf-cache", "c0ffee", target)
    assert (got.weights_hash, got.tokenizer_hash, got.chat_template_hash) == (locked["weights"], locked["tokenizer"], locked["chat_template"])
    record = json.loads((target / PACKED_RECORD).read_text())
    assert record == {"format": 1, **locked}


def test_the_hub_cache_wins_over_an_installed_base(tmp_path, hub, home):
    installed(tmp_path, home)
    snap = make_hf_cache(hub, "HuggingFaceTB/SmolLM2-360M-Instruct", seed=3)
    assert resolve_base("smollm2-360m", tmp_path, home=home).path == snap


def test_a_tampered_installed_base_is_refused_in_one_line(tmp_path, hub, home):
    target, _locked = installed(tmp_path, home)
    data = bytearray((target / "model.safetensors").read_bytes())
    data[-1] ^= 0x01
    (target / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(EnvironmentProblem) as err:
        resolve_base("smollm2-360m", tmp_path, home=home)
    assert "no longer matches its dlm-packed-base.json" in str(err.value) and str(target) in str(err.value)
    assert "\n" not in str(err.value)


def test_a_record_that_does_not_name_its_folder_is_ignored(tmp_path, hub, home):
    target, locked = installed(tmp_path, home)
    (target / PACKED_RECORD).write_text(json.dumps({"format": 1, **locked, "revision": "other"}))
    with pytest.raises(EnvironmentProblem, match="not available offline"):
        resolve_base("smollm2-360m", tmp_path, home=home)


def test_the_lock_beside_the_document_picks_among_installed_copies(tmp_path, hub, home):
    first, locked_first = installed(tmp_path, home, "a", seed=1, revision="one")
    time.sleep(0.02)
    second, _ = installed(tmp_path, home, "b", seed=2, revision="two")
    os.utime(second / PACKED_RECORD)
    assert resolve_base("smollm2-360m", tmp_path, home=home).path == second  # no lock: the newest
    docs = tmp_path / "docs"
    docs.mkdir()
    table = "\n".join(f'{k} = "{v}"' for k, v in locked_first.items())
    (docs / "dlm.lock").write_text(f'lock_version = 1\n[documents."d.dlm"]\ndlm_id = "X"\n[documents."d.dlm".base]\n{table}\n')
    got = resolve_base("smollm2-360m", docs, home=home)
    assert (got.path, got.revision) == (first, "one")


def test_the_embedded_base_takes_an_installed_copy_of_its_revision_before_converting(tmp_path, home, fake_embedded):
    gguf, calls = fake_embedded
    revision = embedded.revision_for(xxhash.xxh3_128_hexdigest(gguf.read_bytes()))
    other, _ = installed(tmp_path, home, "other", key="smollm2-135m", revision="gguf-xxh3:feed", source="embedded")
    with pytest.raises(EnvironmentProblem, match="not prepared yet"):  # another revision: not this GGUF's base
        resolve_base("smollm2-135m", tmp_path, home=home, materialize=False)
    same, _ = installed(tmp_path, home, "same", seed=4, key="smollm2-135m", revision=revision, source="embedded")
    got = resolve_base("smollm2-135m", tmp_path, home=home, materialize=False)
    assert (got.path, got.source, got.revision) == (same, "embedded", revision)
    assert resolve_base("smollm2-135m", tmp_path, home=home).path == same and not calls  # nothing converted


def test_base_files_follow_snapshot_links_and_leave_out_other_formats(tmp_path, hub):
    snap = make_hf_cache(hub, "HuggingFaceTB/SmolLM2-360M-Instruct")
    (tmp_path / "blob").write_bytes(b"torch pickle")
    (snap / "pytorch_model.bin").symlink_to(tmp_path / "blob")
    (snap / ".gitattributes").write_text("*")
    (snap / "dlm-base.json").write_text("{}")
    (snap / "sub").mkdir()
    members = base_files(snap)
    assert sorted(members) == ["base/config.json", "base/model.safetensors", "base/tokenizer.json", "base/tokenizer_config.json"]
    assert all(not p.is_symlink() and p.is_file() and "blobs" in p.parts for p in members.values())


def test_fingerprint_problem_names_what_moved(tmp_path):
    folder = make_tiny_base(tmp_path / "b")
    locked = locked_for(folder)
    assert fingerprint_problem(folder, locked) is None
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ 'x' }}"}))
    problem = fingerprint_problem(folder, locked)
    assert problem.startswith("the packed base's tokenizer hash is ") and "dlm.lock records" in problem
