"""dlmbuild.document.walk_memo: a remembered walk always equals a fresh walk of the tree as it is
now, and a tree where nothing structural changed is not walked again."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

from dlmbuild.document import sources, walk_memo
from dlmbuild.document.parse import parse_document

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux-only")

EXTRA = "training:\n  sources:\n    - path: tree\n      include: ['**/*.md', '**/*.txt']\n      max_bytes_per_file: 200\n"


@pytest.fixture
def memo():
    walk_memo.disable()
    assert walk_memo.enable()
    yield walk_memo.active()
    walk_memo.disable()


@pytest.fixture
def tree(write_doc, tmp_path: Path):
    for d in range(3):
        for f in range(4):
            path = tmp_path / "tree" / f"pkg{d}" / f"note{f}.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"note {d}.{f}\n")
    (tmp_path / "outside").mkdir()
    return write_doc("::prose::\nhello\n", extra=EXTRA)


def both(doc_path: Path):
    """(remembered walk, fresh walk) of the document's sources, as comparable values."""
    doc = parse_document(doc_path)
    remembered = sources.expand_sources(doc)
    held, walk_memo._ACTIVE = walk_memo._ACTIVE, None
    try:
        fresh = sources.expand_sources(doc)
    finally:
        walk_memo._ACTIVE = held

    def value(s):
        return s.files, dict(s.skipped), s.folders, s.dirs

    return value(remembered), value(fresh)


def note(root: Path, d: int = 1, f: int = 2) -> Path:
    return root / "tree" / f"pkg{d}" / f"note{f}.md"


def _append(root, rng):
    path = note(root, rng.randrange(3), rng.randrange(4))
    if path.exists():
        with open(path, "a") as handle:
            handle.write("more\n")


def _same_size_rewrite(root, rng):
    path = note(root, rng.randrange(3), rng.randrange(4))
    if path.exists():
        path.write_text(path.read_text().upper())


def _create(root, rng):
    path = root / "tree" / f"pkg{rng.randrange(3)}" / f"new{rng.randrange(100)}.md"
    if path.parent.exists():
        path.write_text("created\n")


def _delete(root, rng):
    path = note(root, rng.randrange(3), rng.randrange(4))
    if path.exists():
        path.unlink()


def _rename(root, rng):
    path = note(root, rng.randrange(3), rng.randrange(4))
    if path.exists():
        path.rename(path.with_name(f"renamed{rng.randrange(100)}.md"))


def _atomic_save(root, rng):
    path = note(root, rng.randrange(3), rng.randrange(4))
    if path.exists():
        tmp = path.with_name(".save.tmp")
        tmp.write_text("saved atomically\n")
        os.replace(tmp, path)


def _new_folder(root, rng):
    folder = root / "tree" / f"sub{rng.randrange(5)}"
    folder.mkdir(exist_ok=True)
    (folder / "inside.md").write_text("in a new folder\n")


def _ignore_rule(root, rng):
    meta = root / "tree" / f"pkg{rng.randrange(3)}" / ".dlm"
    if meta.parent.exists():
        meta.mkdir(exist_ok=True)
        (meta / "ignore").write_text(rng.choice(["note1.md\n", "*.md\n!note0.md\n", ""]))


def _chmod(root, rng):
    path = note(root, rng.randrange(3), rng.randrange(4))
    if path.exists():
        os.chmod(path, rng.choice([0o600, 0o644]))


def _too_large_and_back(root, rng):
    path = note(root, rng.randrange(3), rng.randrange(4))
    if path.exists():
        path.write_text("x" * rng.choice([500, 10]))


def _touch(root, rng):
    path = note(root, rng.randrange(3), rng.randrange(4))
    if path.exists():
        os.utime(path, ns=(rng.randrange(10**18), rng.randrange(10**18)))


def _remove_folder(root, rng):
    folder = root / "tree" / f"sub{rng.randrange(5)}"
    if folder.exists():
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()


def _move_folder(root, rng):
    folder = root / "tree" / f"pkg{rng.randrange(3)}"
    target = root / "tree" / f"pkg{rng.randrange(3)}-moved"
    if folder.exists() and not target.exists():
        folder.rename(target)


def _ignored_file_edit(root, rng):
    folder = root / "tree" / f"pkg{rng.randrange(3)}"
    if folder.exists():
        (folder / "ignored.bin").write_bytes(os.urandom(8))


OPS = [_append, _same_size_rewrite, _create, _delete, _rename, _atomic_save, _new_folder, _ignore_rule,
       _chmod, _too_large_and_back, _touch, _remove_folder, _move_folder, _ignored_file_edit]


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.__name__.strip("_"))
def test_each_kind_of_change_gives_what_a_fresh_walk_gives(memo, tree: Path, op):
    root = tree.parent
    rng = random.Random(7)
    for _ in range(3):
        remembered, fresh = both(tree)
        assert remembered == fresh
        op(root, rng)
    remembered, fresh = both(tree)
    assert remembered == fresh


@pytest.mark.parametrize("seed", range(6))
def test_random_sequences_of_changes(memo, tree: Path, seed: int):
    root = tree.parent
    rng = random.Random(seed)
    for _ in range(40):
        for _ in range(rng.randrange(3)):
            rng.choice(OPS)(root, rng)
        remembered, fresh = both(tree)
        assert remembered == fresh


def test_an_unchanged_tree_is_not_walked_and_an_edit_stats_one_file(memo, tree: Path, monkeypatch):
    both(tree)
    both(tree)  # the first walk was not watched yet when it began; this one was
    walks, restats = [], []
    real_walk, real_restat = sources._walk_directive, sources._restat
    monkeypatch.setattr(sources, "_walk_directive", lambda *a: walks.append(a) or real_walk(*a))
    monkeypatch.setattr(sources, "_restat", lambda *a: restats.append(a[1].relpath) or real_restat(*a))
    doc = parse_document(tree)
    sources.expand_sources(doc)
    assert (walks, restats) == ([], [])
    note(tree.parent).write_text("edited\n")
    result = sources.expand_sources(doc)
    assert walks == [] and restats == ["tree/pkg1/note2.md"]
    assert next(f for f in result.files if f.relpath == "tree/pkg1/note2.md").size == len("edited\n")
    (tree.parent / "tree" / "pkg1" / "added.md").write_text("new\n")
    sources.expand_sources(doc)
    assert len(walks) == 1


def test_files_inotify_cannot_vouch_for_are_stat_every_time(memo, tree: Path):
    """A hard link outside the tree and a symlink's target change without an event in the tree."""
    root = tree.parent
    os.link(note(root, 0, 0), root / "outside" / "hardlink.md")
    (root / "outside" / "target.md").write_text("target\n")
    os.symlink(root / "outside" / "target.md", root / "tree" / "pkg2" / "linked.md")
    both(tree)
    both(tree)
    with open(root / "outside" / "hardlink.md", "a") as handle:
        handle.write("changed through the other name\n")
    (root / "outside" / "target.md").write_text("the target changed\n")
    remembered, fresh = both(tree)
    assert remembered == fresh


def test_without_the_memo_nothing_is_remembered(tree: Path):
    walk_memo.disable()
    assert walk_memo.active() is None
    remembered, fresh = both(tree)
    assert remembered == fresh
