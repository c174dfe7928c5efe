"""dlm.lock: one file per folder, one table per document, sorted and stable."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from dlmbuild.engine.lockfile import (
    HEADER,
    ClassGoldens,
    Lock,
    LockedTarget,
    lock_path,
    read_lock,
    read_locks,
    render_locks,
    write_lock,
)
from dlmbuild.errors import EXIT_BAD_INPUT, DocumentError

pytestmark = pytest.mark.timeout(60)


def sample(tag: str = "a") -> Lock:
    return Lock(
        dlm_id=f"01J{tag.upper()}XYZ",
        base={"key": f"base-{tag}", "source": "embedded", "weights": "w" * 8},
        toolchain={"python": "3.11.7", "dlmbuild": "0.1.0"},
        shared={
            ":tokenize": LockedTarget("tokenize@1", f"key-{tag}", f"out-{tag}",
                                      {"tokens/train.jsonl": "h1", "manifest.json": "h2"}),
            ":train-tone": LockedTarget("train@1", "k2", "o2", {}),
        },
    )


def docs(tmp_path: Path, *names: str) -> list[Path]:
    paths = []
    for name in names:
        path = tmp_path / name
        path.write_text("---\n")
        paths.append(path)
    return paths


def test_lock_path_is_beside_the_document(tmp_path: Path):
    assert lock_path(tmp_path / "sub" / "notes.dlm") == tmp_path / "sub" / "dlm.lock"


def test_missing_lock_file_reads_as_empty(tmp_path: Path):
    assert read_locks(tmp_path / "dlm.lock") == {}
    assert read_lock(tmp_path / "a.dlm") is None


def test_exact_rendering():
    lock = Lock("ID", {"key": "k"}, {"python": "3.11"}, {":tok": LockedTarget("tokenize@1", "K", "O", {"b": "2", "a/x.bin": "1"})})
    assert render_locks({"a.dlm": lock}) == HEADER + "\n".join([
        "lock_version = 2",
        "",
        '[documents."a.dlm"]',
        'dlm_id = "ID"',
        "",
        '[documents."a.dlm".base]',
        'key = "k"',
        "",
        '[documents."a.dlm".toolchain]',
        'python = "3.11"',
        "",
        '[documents."a.dlm".targets.":tok"]',
        'rule = "tokenize@1"',
        'key = "K"',
        'output = "O"',
        'files."a/x.bin" = "1"',
        'files."b" = "2"',
    ]) + "\n"


def test_rendering_is_sorted_and_independent_of_insertion_order():
    one = {"b.dlm": sample("b"), "a.dlm": sample("a")}
    shuffled_a = sample("a")
    shuffled_a.shared = dict(reversed(list(shuffled_a.shared.items())))
    shuffled_a.base = dict(reversed(list(shuffled_a.base.items())))
    shuffled_a.toolchain = dict(reversed(list(shuffled_a.toolchain.items())))
    shuffled_a.shared[":tokenize"].files = dict(reversed(list(shuffled_a.shared[":tokenize"].files.items())))
    two = {"a.dlm": shuffled_a, "b.dlm": sample("b")}
    text = render_locks(one)
    assert text == render_locks(two) == render_locks(one)
    assert text.index('[documents."a.dlm"]') < text.index('[documents."b.dlm"]')
    assert text.index('targets.":tokenize"') < text.index('targets.":train-tone"')
    assert text.index('files."manifest.json"') < text.index('files."tokens/train.jsonl"')
    assert text.endswith("\n") and not text.endswith("\n\n")
    tomllib.loads(text)


def test_round_trip_of_two_documents_in_one_folder(tmp_path: Path):
    a, b = docs(tmp_path, "a.dlm", "b.dlm")
    home = tmp_path / "home"
    assert write_lock(a, sample("a"), home) is True
    assert write_lock(b, sample("b"), home) is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.dlm", "b.dlm", "dlm.lock", "home"]
    locks = read_locks(tmp_path / "dlm.lock")
    assert locks == {"a.dlm": sample("a"), "b.dlm": sample("b")}
    assert read_lock(a) == sample("a")
    assert read_lock(b) == sample("b")
    assert (tmp_path / "dlm.lock").read_text() == render_locks({"a.dlm": sample("a"), "b.dlm": sample("b")})


def test_write_replaces_only_this_documents_entry(tmp_path: Path):
    a, b = docs(tmp_path, "a.dlm", "b.dlm")
    home = tmp_path / "home"
    write_lock(a, sample("a"), home)
    write_lock(b, sample("b"), home)
    changed = sample("a")
    changed.shared[":tokenize"] = LockedTarget("tokenize@2", "new-key", "new-out", {"x": "y"})
    assert write_lock(a, changed, home) is True
    assert read_locks(tmp_path / "dlm.lock") == {"a.dlm": changed, "b.dlm": sample("b")}


def test_write_returns_false_and_leaves_the_file_alone_when_unchanged(tmp_path: Path):
    (a,) = docs(tmp_path, "a.dlm")
    home = tmp_path / "home"
    assert write_lock(a, sample("a"), home) is True
    before = os.stat(tmp_path / "dlm.lock")
    assert write_lock(a, sample("a"), home) is False
    after = os.stat(tmp_path / "dlm.lock")
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_entries_of_deleted_documents_are_dropped(tmp_path: Path):
    a, b = docs(tmp_path, "a.dlm", "b.dlm")
    home = tmp_path / "home"
    write_lock(a, sample("a"), home)
    write_lock(b, sample("b"), home)
    b.unlink()
    assert write_lock(a, sample("a"), home) is True  # same entry, but b's is gone
    assert set(read_locks(tmp_path / "dlm.lock")) == {"a.dlm"}
    assert '"b.dlm"' not in (tmp_path / "dlm.lock").read_text()


def test_write_leaves_no_temp_files(tmp_path: Path):
    (a,) = docs(tmp_path, "a.dlm")
    write_lock(a, sample("a"), tmp_path / "home")
    write_lock(a, sample("b"), tmp_path / "home")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.dlm", "dlm.lock", "home"]


def test_awkward_names_round_trip(tmp_path: Path):
    name = 'my "odd" doc é.dlm'
    (doc,) = docs(tmp_path, name)
    lock = Lock('id "q"', {"weird.key": "v", "dash-key": "w"}, {"py_thon": "1"},
                {":train-tone": LockedTarget("train@1", "k", "o", {"dir with space/f\"q\".bin": "h", "ü.txt": "h2"})})
    write_lock(doc, lock, tmp_path / "home")
    assert read_lock(doc) == lock


def test_non_ascii_toolchain_key_round_trips(tmp_path: Path):
    (doc,) = docs(tmp_path, "a.dlm")
    lock = Lock("id", {}, {"café": "1"}, {})
    write_lock(doc, lock, tmp_path / "home")
    assert read_lock(doc) == lock


@pytest.mark.parametrize("text", [
    "lock_version = 1\n[documents.\"a.dlm\"\n",
    "<<<<<<< HEAD\nlock_version = 1\n=======\n",
    "\xff\xfe binary",
])
def test_corrupt_lock_file_is_a_one_line_document_error(tmp_path: Path, text: str):
    path = tmp_path / "dlm.lock"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(DocumentError) as info:
        read_locks(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: corrupt lock file (")
    assert message.endswith("); delete it and run `dlm build`")
    assert info.value.exit_code == EXIT_BAD_INPUT


def test_corrupt_lock_file_stops_write_lock(tmp_path: Path):
    (a,) = docs(tmp_path, "a.dlm")
    (tmp_path / "dlm.lock").write_text("not = [valid\n")
    with pytest.raises(DocumentError, match="corrupt lock file"):
        write_lock(a, sample("a"), tmp_path / "home")
    assert (tmp_path / "dlm.lock").read_text() == "not = [valid\n"


def test_lock_from_a_newer_dlm(tmp_path: Path):
    path = tmp_path / "dlm.lock"
    path.write_text("lock_version = 99\n")
    with pytest.raises(DocumentError, match="written by a newer dlm"):
        read_locks(path)


@pytest.mark.parametrize("text", ['documents = 3\n', '[documents."a.dlm"]\ntargets = 5\n', 'lock_version = "one"\n'])
def test_wrongly_shaped_lock_file_is_a_document_error(tmp_path: Path, text: str):
    path = tmp_path / "dlm.lock"
    path.write_text(text)
    with pytest.raises(DocumentError):
        read_locks(path)


def with_classes() -> Lock:
    lock = sample("a")
    lock.classes = {
        "cpu-fp32-avx2": ClassGoldens({"device": "cpu", "precision": "fp32", "isa": "avx2", "deterministic": "yes"},
                                      {":train-tone": LockedTarget("train@3", "k-avx2", "o-avx2", {"a.bin": "h"}, "basis-1")},
                                      {":train-tone": {"p1": {"argmax": [5, 6], "logprob": [-0.25, -0.0001]}}}),
        "cpu-bf16-amx": ClassGoldens({"device": "cpu", "precision": "bf16", "isa": "amx", "deterministic": "yes"},
                                     {":train-tone": LockedTarget("train@3", "k-amx", "o-amx", {"a.bin": "h2"}, "basis-1")},
                                     {":train-tone": {"p1": {"argmax": [5, 7], "logprob": [-0.5, 0.0]}}}),
    }
    del lock.shared[":train-tone"]
    return lock


def test_classes_render_sorted_with_their_fields_targets_and_probes():
    text = render_locks({"a.dlm": with_classes()})
    amx, avx2 = text.index('classes."cpu-bf16-amx"]'), text.index('classes."cpu-fp32-avx2"]')
    assert text.index('targets.":tokenize"') < amx < avx2
    table = text[amx:avx2]
    assert 'precision = "bf16"' in table and 'isa = "amx"' in table
    assert '[documents."a.dlm".classes."cpu-bf16-amx".targets.":train-tone"]' in table
    assert 'basis = "basis-1"' in table
    assert '[documents."a.dlm".classes."cpu-bf16-amx".probes.":train-tone"]' in table
    assert '"p1".argmax = [5, 7]' in table and '"p1".logprob = [-0.5000, 0.0000]' in table
    tomllib.loads(text)


def test_the_view_from_a_class_shows_shared_and_own_targets(tmp_path: Path):
    (a,) = docs(tmp_path, "a.dlm")
    write_lock(a, with_classes(), tmp_path / "home")
    amx = read_lock(a, "cpu-bf16-amx")
    assert amx.classes == with_classes().classes
    assert {n: t.key for n, t in amx.targets.items()} == {":tokenize": "key-a", ":train-tone": "k-amx"}
    assert {n: t.key for n, t in read_lock(a, "cpu-fp32-avx2").targets.items()} == {":tokenize": "key-a", ":train-tone": "k-avx2"}
    assert set(read_lock(a, "cuda-bf16-sm90-det").targets) == {":tokenize"}
    assert amx.all_keys() == {"key-a", "k-amx", "k-avx2"}
    assert read_lock(a, "cpu-bf16-amx").version == 2


def test_a_version_1_lock_reads_as_legacy_and_another_documents_entry_keeps_saying_so(tmp_path: Path):
    a, b = docs(tmp_path, "a.dlm", "b.dlm")
    (tmp_path / "dlm.lock").write_text('lock_version = 1\n\n[documents."b.dlm"]\ndlm_id = "B"\n\n'
                                       '[documents."b.dlm".targets.":train-default"]\nrule = "train@2"\nkey = "K"\noutput = "O"\n')
    old = read_lock(b)
    assert old.version == 1 and set(old.shared) == {":train-default"} and old.classes == {}
    write_lock(a, with_classes(), tmp_path / "home")
    text = (tmp_path / "dlm.lock").read_text()
    assert text.startswith(HEADER + "lock_version = 2\n")
    assert '[documents."b.dlm"]\ndlm_id = "B"\nwritten_as = 1\n' in text
    assert read_lock(b).version == 1 and read_lock(a).version == 2
