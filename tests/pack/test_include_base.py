"""``dlm pack --include-base`` on a tiny trained base that resolves as a registry key from a fake
HF cache: the pack is deterministic and verifies, and a store without that base unpacks it,
installs the base and builds nothing; a tampered base is refused and installs nothing."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import xxhash

from dlmbuild.pack.archive import extract_pack, read_manifest, write_pack
from dlmbuild.util import memo
from tests.bases.test_resolve import make_tiny_base
from tests.rules.conftest import DOC, age, make_trainable_base

pytest.importorskip("torch")

REPO = "HuggingFaceTB/SmolLM2-360M-Instruct"  # smollm2-360m: apache-2.0, so it may be packed
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def hub_snapshot(cache: Path, folder: Path) -> Path:
    """``folder`` laid out as ``hf download`` leaves it: blobs, a snapshot of symlinks, refs/main."""
    repo = cache / ("models--" + REPO.replace("/", "--"))
    snap = repo / "snapshots" / COMMIT
    (repo / "blobs").mkdir(parents=True)
    snap.mkdir(parents=True)
    for item in sorted(folder.iterdir()):
        blob = repo / "blobs" / xxhash.xxh3_64_hexdigest(item.read_bytes())
        item.rename(blob)
        (snap / item.name).symlink_to(os.path.relpath(blob, snap))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return snap


def use_home(monkeypatch, home: Path, cache: Path) -> None:
    """Another machine: its own DLM_HOME and HF cache, and no memo of the first (a new process)."""
    cache.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("DLM_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    memo.clear_all()


@pytest.fixture
def built(tmp_path, monkeypatch, run_dlm):
    """``proj/doc.dlm`` on smollm2-360m (a tiny trainable stand-in in the HF cache), built."""
    monkeypatch.setenv("DLM_THREADS", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    hub_snapshot(tmp_path / "hf-a", make_trainable_base(tmp_path / "staging"))
    root = tmp_path / "proj"
    (root / "notes").mkdir(parents=True)
    (root / "notes" / "a.md").write_text("the note is a fact\n")
    (root / "doc.dlm").write_text(DOC.replace("base_model: ./base", "base_model: smollm2-360m"))
    age(root)
    use_home(monkeypatch, tmp_path / "home-a", tmp_path / "hf-a")
    done = run_dlm("build", root / "doc.dlm")
    assert done.code == 0, done.err
    return root / "doc.dlm"


def test_a_pack_with_its_base_unpacks_where_the_base_is_missing_and_builds_nothing(built, tmp_path, monkeypatch, run_dlm):
    first, second = tmp_path / "one.dlm.pack", tmp_path / "two.dlm.pack"
    assert run_dlm("pack", built, "--include-base", "-o", first).code == 0
    assert run_dlm("pack", built, "--include-base", "-o", second).code == 0
    assert first.read_bytes() == second.read_bytes()
    manifest = read_manifest(first)
    assert manifest["base_included"] is True and manifest["rebuilt"] == []
    assert sorted(n for n in manifest["members"] if n.startswith("base/")) == [
        "base/config.json", "base/generation_config.json", "base/model.safetensors", "base/tokenizer.json", "base/tokenizer_config.json"]
    verified = run_dlm("verify", first)
    assert verified.code == 0, verified.err
    assert verified.out.strip().endswith("; its base matches the lock's fingerprints")
    plain = tmp_path / "plain.dlm.pack"
    assert run_dlm("pack", built, "-o", plain).code == 0
    assert not any(n.startswith("base/") for n in read_manifest(plain)["members"]) and "base_included" not in read_manifest(plain)

    use_home(monkeypatch, tmp_path / "home-b", tmp_path / "hf-b")  # neither the base nor the store is here
    refused = run_dlm("unpack", plain, tmp_path / "p")
    assert refused.code == 2 and "not available offline" in refused.err and not (tmp_path / "p").exists()
    assert refused.err.strip().endswith("or unpack a pack made with `dlm pack --include-base`")
    unpacked = run_dlm("unpack", first, tmp_path / "b")
    assert unpacked.code == 0, unpacked.err
    installed = next((tmp_path / "home-b" / "bases" / "packed" / "smollm2-360m").iterdir())
    assert f"installed its base smollm2-360m into {installed}; " in unpacked.out
    assert unpacked.out.strip().endswith("has nothing to do")
    doc = tmp_path / "b" / "doc.dlm"
    memo.clear_all()
    again = run_dlm("build", doc, "--json")
    assert again.code == 0, again.err
    assert {r["status"] for r in json.loads(again.out)} == {"cached"}, again.out
    assert (tmp_path / "b" / "dlm.lock").read_bytes() == (built.parent / "dlm.lock").read_bytes()

    memo.clear_all()
    twice = run_dlm("unpack", first, tmp_path / "c", "--force")  # the store holds its adapters already
    assert twice.code == 0 and "its base smollm2-360m resolves here already" in twice.out

    use_home(monkeypatch, tmp_path / "home-d", tmp_path / "hf-d")
    hub_snapshot(tmp_path / "hf-d", make_tiny_base(tmp_path / "other-base", seed=5))  # another smollm2-360m here
    other = run_dlm("unpack", first, tmp_path / "d")
    assert other.code == 0 and "another smollm2-360m resolves here and wins over the packed copy" in other.out
    assert not (tmp_path / "home-d" / "bases").exists()


def test_verify_rebuild_uses_the_packed_base_without_installing_it(built, tmp_path, monkeypatch, run_dlm):
    pack = tmp_path / "x.dlm.pack"
    assert run_dlm("pack", built, "--include-base", "-o", pack).code == 0
    use_home(monkeypatch, tmp_path / "home-v", tmp_path / "hf-v")
    rebuilt = run_dlm("verify", pack, "--rebuild")
    assert rebuilt.code == 0, rebuilt.err + rebuilt.out
    assert "rebuilt and match; its base matches" in rebuilt.out
    assert not (tmp_path / "home-v" / "bases").exists()


def test_a_pack_whose_base_was_swapped_is_refused_and_installs_nothing(built, tmp_path, monkeypatch, run_dlm):
    good = tmp_path / "good.dlm.pack"
    assert run_dlm("pack", built, "--include-base", "-o", good).code == 0
    manifest = extract_pack(good, tmp_path / "x")
    weights = tmp_path / "x" / "base" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # a consistent pack (its manifest hashes the new bytes) with another base
    weights.write_bytes(bytes(data))
    meta = {k: v for k, v in manifest.items() if k not in ("format", "members", "total_size")}
    members = {name: tmp_path / "x" / name for name in manifest["members"]}
    bad = tmp_path / "bad.dlm.pack"
    write_pack(bad, members, meta)
    assert run_dlm("verify", bad).code == 4

    use_home(monkeypatch, tmp_path / "home-t", tmp_path / "hf-t")
    refused = run_dlm("unpack", bad, tmp_path / "t")
    assert refused.code == 4, refused.err
    assert len(refused.err.strip().splitlines()) == 1 and "the packed base's weights hash is" in refused.err
    assert not (tmp_path / "home-t" / "bases").exists() and not (tmp_path / "home-t" / "store").exists()
    assert list((tmp_path / "t").iterdir()) == []


def test_include_base_is_refused_for_a_base_without_a_readable_licence(built, run_dlm):
    text = built.read_text()
    built.write_text(text.replace("base_model: smollm2-360m", "base_model: qwen2.5-3b"))
    refused = run_dlm("pack", built, "--include-base")
    assert refused.code == 2 and len(refused.err.strip().splitlines()) == 1
    assert "base qwen2.5-3b is under the qwen-research licence" in refused.err
    shutil.copytree(built.parent, built.parent.parent / "local")
    local = built.parent.parent / "local" / "doc.dlm"
    local.write_text(text.replace("base_model: smollm2-360m", "base_model: ./base"))
    refused = run_dlm("pack", local, "--include-base")
    assert refused.code == 2 and "base ./base is a local folder, which carries no licence dlm can read" in refused.err
