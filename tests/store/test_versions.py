"""Published adapter versions: vNNNN folders made whole, a ``current`` pointer moved atomically,
a reverted key pointing back instead of copying, and a crash leaving the previous version current."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from dlmbuild.errors import EnvironmentProblem
from dlmbuild.store import versions as versions_module
from dlmbuild.store.versions import KEY_FILE, AdapterVersion, AdapterVersions


def build_output(root: Path, name: str, weights: bytes) -> Path:
    """What a :train action leaves in its output folder."""
    out = root / "cache" / name
    out.mkdir(parents=True)
    (out / "adapter_model.safetensors").write_bytes(weights)
    (out / "adapter_config.json").write_text('{"r": 8}\n', encoding="utf-8")
    (out / "nested").mkdir()  # sub-folders are not part of a version
    (out / "nested" / "ignored.txt").write_text("x", encoding="utf-8")
    return out


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def store(tmp_path) -> AdapterVersions:
    return AdapterVersions(tmp_path / "adapters", "facts")


def test_nothing_published(store):
    assert store.current() is None
    assert store.all() == []
    assert store.root == store.versions.parent
    assert store.pointer == store.root / "current"


def test_first_publish_makes_v0001_and_current(store, tmp_path):
    out = build_output(tmp_path, "k1", b"weights-1")
    version = store.publish("key-1", out, meta={"steps": 30})
    assert version == AdapterVersion("facts", 1, store.versions / "v0001", "key-1")
    assert version.label == "v0001"
    assert listing(store.versions) == ["v0001"]
    assert listing(version.path) == ["adapter_config.json", "adapter_model.safetensors", KEY_FILE]
    assert (version.path / "adapter_model.safetensors").read_bytes() == b"weights-1"
    assert json.loads((version.path / KEY_FILE).read_text()) == {"key": "key-1", "steps": 30}
    assert store.pointer.read_text(encoding="utf-8") == "v0001\n"
    assert store.current() == version
    assert store.all() == [version]


def test_files_are_hard_linked_from_the_cache(store, tmp_path):
    out = build_output(tmp_path, "k1", b"w")
    version = store.publish("key-1", out)
    assert os.path.samefile(out / "adapter_model.safetensors", version.path / "adapter_model.safetensors")


def test_files_are_copied_when_links_fail(store, tmp_path, monkeypatch):
    def no_links(src, dst):
        raise OSError(errno.EXDEV, "cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    out = build_output(tmp_path, "k1", b"copied")
    version = store.publish("key-1", out)
    assert (version.path / "adapter_model.safetensors").read_bytes() == b"copied"
    assert not os.path.samefile(out / "adapter_model.safetensors", version.path / "adapter_model.safetensors")


def test_a_new_key_makes_v0002(store, tmp_path):
    store.publish("key-1", build_output(tmp_path, "k1", b"one"))
    second = store.publish("key-2", build_output(tmp_path, "k2", b"two"))
    assert second.label == "v0002" and second.key == "key-2"
    assert listing(store.versions) == ["v0001", "v0002"]
    assert store.current() == second
    assert [v.key for v in store.all()] == ["key-1", "key-2"]
    assert (store.versions / "v0001" / "adapter_model.safetensors").read_bytes() == b"one"


def test_republishing_the_current_key_changes_nothing(store, tmp_path):
    out = build_output(tmp_path, "k1", b"one")
    first = store.publish("key-1", out)
    mtime = store.pointer.stat().st_mtime_ns
    assert store.publish("key-1", out) == first
    assert listing(store.versions) == ["v0001"]
    assert store.pointer.stat().st_mtime_ns == mtime


def test_reverting_to_an_old_key_points_back_without_a_new_folder(store, tmp_path):
    out1 = build_output(tmp_path, "k1", b"one")
    store.publish("key-1", out1)
    store.publish("key-2", build_output(tmp_path, "k2", b"two"))
    back = store.publish("key-1", out1)
    assert back.label == "v0001" and back.key == "key-1"
    assert listing(store.versions) == ["v0001", "v0002"]
    assert store.pointer.read_text() == "v0001\n"
    assert store.current() == back
    # forward again, then a genuinely new key continues the numbering
    assert store.publish("key-2", tmp_path / "cache" / "k2").label == "v0002"
    third = store.publish("key-3", build_output(tmp_path, "k3", b"three"))
    assert third.label == "v0003"
    assert listing(store.versions) == ["v0001", "v0002", "v0003"]


def test_folders_without_a_key_file_are_ignored(store, tmp_path):
    junk = store.versions / "v0007"
    junk.mkdir(parents=True)
    (junk / "adapter_model.safetensors").write_bytes(b"junk")
    (store.versions / "notes").mkdir()
    (store.versions / "notes" / KEY_FILE).write_text('{"key": "nope"}')  # not a vNNNN name
    assert store.all() == []
    assert store.current() is None
    version = store.publish("key-1", build_output(tmp_path, "k1", b"one"))
    assert version.label == "v0001"  # numbering ignores the junk folder
    assert [v.label for v in store.all()] == ["v0001"]
    assert junk.is_dir()


def test_pointer_to_a_missing_version_reads_as_none(store, tmp_path):
    store.publish("key-1", build_output(tmp_path, "k1", b"one"))
    store.pointer.write_text("v0009\n")
    assert store.current() is None


def test_adapters_are_independent(tmp_path):
    facts = AdapterVersions(tmp_path / "adapters", "facts")
    tone = AdapterVersions(tmp_path / "adapters", "tone")
    facts.publish("key-1", build_output(tmp_path, "k1", b"one"))
    assert tone.current() is None
    assert tone.publish("key-2", build_output(tmp_path, "k2", b"two")).label == "v0001"


def fail_on_second_file(monkeypatch, exc: BaseException):
    real = versions_module._link_or_copy
    calls = {"n": 0}

    def flaky(src, dst):
        calls["n"] += 1
        if calls["n"] == 2:
            raise exc
        real(src, dst)

    monkeypatch.setattr(versions_module, "_link_or_copy", flaky)
    return calls


@pytest.mark.parametrize("exc", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt(), RuntimeError("boom")],
                         ids=["disk-full", "ctrl-c", "error"])
def test_a_crash_mid_publish_leaves_the_previous_version_current(store, tmp_path, monkeypatch, exc):
    first = store.publish("key-1", build_output(tmp_path, "k1", b"one"))
    out2 = build_output(tmp_path, "k2", b"two")
    calls = fail_on_second_file(monkeypatch, exc)
    expected = EnvironmentProblem if isinstance(exc, OSError) else type(exc)
    with pytest.raises(expected):
        store.publish("key-2", out2)
    assert calls["n"] == 2  # it really failed half-way through the copy
    assert store.current() == first
    assert store.pointer.read_text() == "v0001\n"
    assert listing(store.versions) == ["v0001"]  # no partial v0002, no temp folder left behind
    assert store.all() == [first]
    # and the next publish succeeds with the number the failed one would have had
    monkeypatch.undo()
    assert store.publish("key-2", out2).label == "v0002"
    assert store.current().key == "key-2"


def test_a_crash_writing_the_pointer_leaves_the_previous_version_current(store, tmp_path, monkeypatch):
    first = store.publish("key-1", build_output(tmp_path, "k1", b"one"))

    def fail(path, text):
        raise EnvironmentProblem("cannot write: disk full")

    monkeypatch.setattr(versions_module, "atomic_write_text", fail)
    with pytest.raises(EnvironmentProblem):
        store.publish("key-2", build_output(tmp_path, "k2", b"two"))
    assert store.current() == first
    # the new version exists whole; publishing its key again only moves the pointer
    monkeypatch.undo()
    assert store.publish("key-2", tmp_path / "cache" / "k2").label == "v0002"
    assert listing(store.versions) == ["v0001", "v0002"]
