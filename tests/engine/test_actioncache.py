"""The action cache: committed entries are verified on every lookup; anything that fails the
check (edited output, missing file, missing or broken manifest) is discarded and rebuilt."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from dlmbuild.engine.actioncache import ActionCache
from dlmbuild.engine.executor import Engine
from dlmbuild.engine.filestate import FileStateCache
from dlmbuild.engine.graph import Graph
from dlmbuild.engine.hashing import hash_json, hash_text
from dlmbuild.engine.state import BuildState
from dlmbuild.engine.target import ActionContext, Target

KEY = "ab" + "0" * 30
OTHER = "cd" + "1" * 30


def age(path: Path, seconds: float = 60.0) -> None:
    ns = time.time_ns() - int(seconds * 1e9)
    os.utime(path, ns=(ns, ns))


def staged(tmp_path: Path, files: dict[str, str], name: str = "out") -> Path:
    out = tmp_path / "work" / name
    for rel, text in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    return out


# --- the cache on its own -------------------------------------------------------------------


def test_commit_then_lookup_round_trip(tmp_path: Path):
    cache = ActionCache(tmp_path / "actions", FileStateCache(None))
    out = staged(tmp_path, {"b.txt": "B", "sub/a.txt": "A"})
    committed = cache.commit(KEY, ":t", out)
    assert not out.exists()  # moved, not copied
    expected_files = {"b.txt": hash_text("B"), "sub/a.txt": hash_text("A")}
    assert committed.files == expected_files
    assert list(committed.files) == sorted(committed.files)
    assert committed.output_hash == hash_json(expected_files)
    assert committed.out_dir == tmp_path / "actions" / "ab" / KEY / "out"
    assert (committed.out_dir / "sub" / "a.txt").read_text() == "A"

    manifest = json.loads((cache.entry_dir(KEY) / "manifest.json").read_text())
    assert manifest["key"] == KEY and manifest["target"] == ":t"
    assert manifest["files"] == expected_files and manifest["output_hash"] == committed.output_hash

    hit = ActionCache(tmp_path / "actions", FileStateCache(None)).lookup(KEY)
    assert hit is not None
    assert (hit.key, hit.out_dir, hit.files, hit.output_hash) == (KEY, committed.out_dir, expected_files, committed.output_hash)


def test_output_hash_depends_on_names_and_contents(tmp_path: Path):
    cache = ActionCache(tmp_path / "actions", FileStateCache(None))
    one = cache.commit("aa" + "0" * 30, ":t", staged(tmp_path, {"x": "1"}, "o1"))
    two = cache.commit("aa" + "1" * 30, ":t", staged(tmp_path, {"y": "1"}, "o2"))
    three = cache.commit("aa" + "2" * 30, ":t", staged(tmp_path, {"x": "1"}, "o3"))
    assert one.output_hash != two.output_hash
    assert one.output_hash == three.output_hash


def test_lookup_of_unknown_key_is_none(tmp_path: Path):
    assert ActionCache(tmp_path / "actions", FileStateCache(None)).lookup(KEY) is None


def test_entries_list_only_committed_entries(tmp_path: Path):
    root = tmp_path / "actions"
    cache = ActionCache(root, FileStateCache(None))
    cache.commit(KEY, ":a", staged(tmp_path, {"a": "A"}, "o1"))
    cache.commit(OTHER, ":b", staged(tmp_path, {"b": "B"}, "o2"))
    # debris a crash could leave: an action's temp folder, a half-made staging folder, an
    # entry folder without its manifest
    (root / ".tmp-0123456789ab-xyz" / "out").mkdir(parents=True)
    (root / ".tmp-0123456789ab-xyz" / "out" / "partial").write_text("half")
    (root / "ab" / f".{KEY[:-1]}9.123.tmp" / "out").mkdir(parents=True)
    (root / "ef" / ("ef" + "2" * 30) / "out").mkdir(parents=True)
    listed = cache.entries()
    assert [(key, manifest["target"]) for key, manifest in listed] == [(KEY, ":a"), (OTHER, ":b")]
    assert cache.lookup("ef" + "2" * 30) is None


def test_commit_leaves_no_staging_folder(tmp_path: Path):
    cache = ActionCache(tmp_path / "actions", FileStateCache(None))
    cache.commit(KEY, ":t", staged(tmp_path, {"a": "A"}))
    assert sorted(p.name for p in (tmp_path / "actions" / "ab").iterdir()) == [KEY]
    assert sorted(p.name for p in cache.entry_dir(KEY).iterdir()) == ["manifest.json", "out"]


def test_commit_replaces_a_broken_entry(tmp_path: Path):
    cache = ActionCache(tmp_path / "actions", FileStateCache(None))
    broken = cache.entry_dir(KEY) / "out"
    broken.mkdir(parents=True)
    (broken / "stale").write_text("stale")  # no manifest: never used
    assert cache.lookup(KEY) is None
    committed = cache.commit(KEY, ":t", staged(tmp_path, {"fresh": "F"}))
    assert sorted(p.name for p in committed.out_dir.iterdir()) == ["fresh"]
    assert cache.lookup(KEY) is not None


def test_edited_output_is_discarded(tmp_path: Path):
    fs = FileStateCache(None)
    cache = ActionCache(tmp_path / "actions", fs)
    committed = cache.commit(KEY, ":t", staged(tmp_path, {"w.bin": "weights"}))
    target = committed.out_dir / "w.bin"
    age(target, 120)
    assert cache.lookup(KEY) is not None  # remembered now (old file)
    target.write_text("WEIGHTS")  # same size, new bytes
    age(target, 60)  # still old: the remembered stat no longer matches, so it is re-read
    assert cache.lookup(KEY) is None
    assert not cache.entry_dir(KEY).exists()


def test_edited_output_is_discarded_by_a_fresh_filestate(tmp_path: Path):
    cache = ActionCache(tmp_path / "actions", FileStateCache(None))
    committed = cache.commit(KEY, ":t", staged(tmp_path, {"a.txt": "abc"}))
    with open(committed.out_dir / "a.txt", "r+b") as handle:
        handle.write(b"X")
    assert ActionCache(tmp_path / "actions", FileStateCache(None)).lookup(KEY) is None
    assert not cache.entry_dir(KEY).exists()


def test_deleted_output_file_is_discarded(tmp_path: Path):
    cache = ActionCache(tmp_path / "actions", FileStateCache(None))
    committed = cache.commit(KEY, ":t", staged(tmp_path, {"a": "A", "b": "B"}))
    (committed.out_dir / "b").unlink()
    assert cache.lookup(KEY) is None
    assert not cache.entry_dir(KEY).exists()


def test_missing_manifest_is_a_miss(tmp_path: Path):
    cache = ActionCache(tmp_path / "actions", FileStateCache(None))
    cache.commit(KEY, ":t", staged(tmp_path, {"a": "A"}))
    (cache.entry_dir(KEY) / "manifest.json").unlink()
    assert cache.lookup(KEY) is None
    assert cache.entries() == []


def test_unparseable_manifest_is_discarded(tmp_path: Path):
    cache = ActionCache(tmp_path / "actions", FileStateCache(None))
    cache.commit(KEY, ":t", staged(tmp_path, {"a": "A"}))
    (cache.entry_dir(KEY) / "manifest.json").write_text('{"files": {"a": ')
    assert cache.lookup(KEY) is None
    assert not cache.entry_dir(KEY).exists()


@pytest.mark.parametrize("mangle", ["drop output_hash", "not an object"])
def test_malformed_manifest_is_discarded_not_raised(tmp_path: Path, mangle: str):
    cache = ActionCache(tmp_path / "actions", FileStateCache(None))
    cache.commit(KEY, ":t", staged(tmp_path, {"a": "A"}))
    path = cache.entry_dir(KEY) / "manifest.json"
    if mangle == "drop output_hash":
        manifest = json.loads(path.read_text())
        del manifest["output_hash"]
        path.write_text(json.dumps(manifest))
    else:
        path.write_text("[]")
    assert cache.lookup(KEY) is None
    assert not cache.entry_dir(KEY).exists()


def test_discard_of_missing_entry_is_quiet(tmp_path: Path):
    ActionCache(tmp_path / "actions", FileStateCache(None)).discard(KEY)


# --- through the engine ---------------------------------------------------------------------


class Rig:
    """Two chained rules over one input file; each ``run`` is a new process's view (fresh
    engine, state and file-state cache loaded from disk)."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.src = tmp / "in.txt"
        self.calls: Counter[str] = Counter()

    def targets(self, fs: FileStateCache) -> list[Target]:
        def lower(ctx: ActionContext) -> None:
            self.calls[":a"] += 1
            (ctx.out_dir / "a.txt").write_text(self.src.read_text().lower())

        def rev(ctx: ActionContext) -> None:
            self.calls[":b"] += 1
            (ctx.out_dir / "b.txt").write_text((ctx.dep_outputs[":a"] / "a.txt").read_text()[::-1])

        return [
            Target(":a", "lower", 1, lower, inputs=lambda: {"file:in": fs.hash(self.src)}),
            Target(":b", "reverse", 1, rev, deps=(":a",)),
        ]

    def run(self, *names: str, **kw):
        fs = FileStateCache(self.tmp / "fs.pkl")
        engine = Engine(Graph(self.targets(fs)), ActionCache(self.tmp / "actions", fs), BuildState(self.tmp / "st.pkl"))
        return {r.name: r for r in engine.run(list(names) or [":b"], explain=True, **kw)}


def test_engine_rebuilds_a_target_whose_cached_output_was_corrupted(tmp_path: Path):
    rig = Rig(tmp_path)
    rig.src.write_text("Hello")
    first = rig.run()
    assert {n: r.status for n, r in first.items()} == {":a": "built", ":b": "built"}
    corrupted = first[":a"].out_dir / "a.txt"
    corrupted.write_text("HACKED")
    age(corrupted)

    second = rig.run()
    assert second[":a"].status == "built"
    assert second[":a"].key == first[":a"].key
    assert second[":a"].reasons == ["outputs missing from the cache"]
    assert (second[":a"].out_dir / "a.txt").read_text() == "hello"
    assert second[":b"].status == "cached"  # rebuilt to the same bytes: early cutoff
    assert rig.calls == Counter({":a": 2, ":b": 1})


def test_engine_rebuilds_when_the_manifest_is_missing(tmp_path: Path):
    rig = Rig(tmp_path)
    rig.src.write_text("Hello")
    first = rig.run()
    (first[":b"].out_dir.parent / "manifest.json").unlink()
    second = rig.run()
    assert (second[":a"].status, second[":b"].status) == ("cached", "built")
    assert (second[":b"].out_dir / "b.txt").read_text() == "olleh"
    assert rig.calls == Counter({":a": 1, ":b": 2})
    assert rig.run()[":b"].status == "cached"


def test_reverting_an_edit_is_a_cache_hit(tmp_path: Path):
    rig = Rig(tmp_path)
    rig.src.write_text("one")
    v1 = rig.run()
    rig.src.write_text("two")
    v2 = rig.run()
    assert v2[":a"].status == v2[":b"].status == "built"
    assert v2[":a"].key != v1[":a"].key
    rig.src.write_text("one")
    v3 = rig.run()
    assert v3[":a"].status == v3[":b"].status == "cached"
    assert (v3[":a"].key, v3[":b"].key) == (v1[":a"].key, v1[":b"].key)
    assert (v3[":b"].out_dir / "b.txt").read_text() == "eno"
    assert rig.calls == Counter({":a": 2, ":b": 2})  # the revert ran no action
    assert len(ActionCache(tmp_path / "actions", FileStateCache(None)).entries()) == 4
