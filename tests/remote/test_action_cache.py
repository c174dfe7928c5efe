"""The shared action cache against a ``file://`` remote: round trips, every way a remote object
can be wrong (each refused, the local store left as it was), and concurrent writers."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from dlmbuild.engine.actioncache import ActionCache
from dlmbuild.engine.filestate import FileStateCache
from dlmbuild.engine.remote import RemoteObjectRefused
from dlmbuild.engine.target import Target
from dlmbuild.remote.action_cache import RemoteActionCache
from dlmbuild.remote.objects import RemoteStore

KEY = "ab" + "0" * 30
TRAIN = Target(name=":train-default", rule="train", version=3, action=None)
GGUF_BASE = Target(name=":gguf-base", rule="gguf_base", version=1, action=None)


def local_cache(root: Path) -> ActionCache:
    return ActionCache(root / "actions", FileStateCache(None))


def built_entry(cache: ActionCache, key: str = KEY, payload: bytes = b"weights" * 1000) -> None:
    out = cache.root / f".tmp-{key}" / "out"
    (out / "sub").mkdir(parents=True)
    (out / "adapter.safetensors").write_bytes(payload)
    (out / "sub" / "meta.json").write_text('{"r": 8}')
    cache.commit(key, TRAIN.name, out)


@pytest.fixture
def remote(tmp_path) -> RemoteActionCache:
    return RemoteActionCache("team", RemoteStore((tmp_path / "remote").as_uri()), share_base=False)


def _tree(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()} if path.exists() else {}


def test_round_trip_gives_the_same_entry(tmp_path, remote):
    a, b = local_cache(tmp_path / "a"), local_cache(tmp_path / "b")
    built_entry(a)
    assert remote.upload(KEY, TRAIN, a) is True
    assert remote.upload(KEY, TRAIN, a) is False  # already there: nothing sent
    assert remote.contains(KEY)
    hit = remote.fetch(KEY, TRAIN, b)
    assert hit is not None and hit.output_hash == a.lookup(KEY).output_hash
    assert _tree(b.entry_dir(KEY) / "out") == _tree(a.entry_dir(KEY) / "out")
    assert b.lookup(KEY) is not None
    assert remote.fetch("cd" + "1" * 30, TRAIN, b) is None


def test_base_weights_are_shared_only_when_the_licence_allows(tmp_path, remote):
    assert remote.shares(TRAIN) and not remote.shares(GGUF_BASE)
    assert RemoteActionCache("t", remote.store, share_base=True).shares(GGUF_BASE)


def _entry_file(remote) -> Path:
    return Path(remote.store.entry_path(KEY))


def _blob_file(remote, name: str) -> Path:
    entry = json.loads(_entry_file(remote).read_text())
    return Path(remote.store.blob_path(entry["files"][name]["sha256"]))


def _flip_blob(remote):
    blob = _blob_file(remote, "adapter.safetensors")
    data = bytearray(blob.read_bytes())
    data[10] ^= 0xFF
    blob.write_bytes(bytes(data))


def _truncate_blob(remote):
    blob = _blob_file(remote, "adapter.safetensors")
    blob.write_bytes(blob.read_bytes()[:-5])


def _delete_blob(remote):
    _blob_file(remote, "sub/meta.json").unlink()


def _edit_entry(change):
    def apply(remote):
        entry = json.loads(_entry_file(remote).read_text())
        change(entry)
        _entry_file(remote).write_text(json.dumps(entry))
    return apply


def _swap_blob(remote):
    """Point one file at another valid blob: sha256 checks pass, the content hash does not."""
    entry = json.loads(_entry_file(remote).read_text())
    entry["files"]["adapter.safetensors"]["sha256"] = entry["files"]["sub/meta.json"]["sha256"]
    entry["files"]["adapter.safetensors"]["size"] = entry["files"]["sub/meta.json"]["size"]
    _entry_file(remote).write_text(json.dumps(entry))


TAMPERING = {
    "flipped byte": (_flip_blob, "corrupt or tampered"),
    "truncated blob": (_truncate_blob, "bytes, expected"),
    "missing blob": (_delete_blob, "is missing"),
    "entry not json": (lambda r: _entry_file(r).write_bytes(b"\x00garbage"), "not valid JSON"),
    "path escapes": (_edit_entry(lambda e: e["files"].__setitem__("../../evil", e["files"].pop("sub/meta.json"))), "unsafe path"),
    "absolute path": (_edit_entry(lambda e: e["files"].__setitem__("/etc/evil", e["files"].pop("sub/meta.json"))), "unsafe path"),
    "wrong output hash": (_edit_entry(lambda e: e.__setitem__("output_hash", "0" * 32)), "output hash"),
    "other key": (_edit_entry(lambda e: e.__setitem__("key", "ff" * 16)), "malformed"),
    "blob swapped": (_swap_blob, "content hash"),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_a_damaged_remote_object_is_refused_and_the_store_is_unchanged(tmp_path, remote, case):
    tamper, message = TAMPERING[case]
    a, b = local_cache(tmp_path / "a"), local_cache(tmp_path / "b")
    built_entry(a)
    built_entry(b, key="cd" + "2" * 30, payload=b"another build")
    remote.upload(KEY, TRAIN, a)
    tamper(remote)
    before = _tree(b.root)
    with pytest.raises(RemoteObjectRefused, match=message):
        remote.fetch(KEY, TRAIN, b)
    assert _tree(b.root) == before


def test_two_machines_pushing_one_key_at_once_leave_one_whole_entry(tmp_path, remote):
    caches = [local_cache(tmp_path / name) for name in ("a", "b", "c", "d")]
    for cache in caches:
        built_entry(cache)
    barrier = threading.Barrier(len(caches))
    errors = []

    def push(cache):
        barrier.wait()
        try:
            RemoteActionCache("team", RemoteStore(remote.store.url), share_base=False).upload(KEY, TRAIN, cache)
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(c,)) for c in caches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    leftovers = [p for p in Path(remote.store.root).rglob("*") if p.name.startswith(".")]
    assert leftovers == []
    fresh = local_cache(tmp_path / "fresh")
    assert remote.fetch(KEY, TRAIN, fresh).output_hash == caches[0].lookup(KEY).output_hash


def test_a_pull_racing_a_push_sees_nothing_or_the_whole_entry(tmp_path, remote):
    import time

    pusher = local_cache(tmp_path / "a")
    keys = [f"{i:02x}" + "3" * 30 for i in range(12)]
    for i, key in enumerate(keys):
        built_entry(pusher, key=key, payload=bytes([i]) * 200_000)
    outcomes: dict[str, str] = {}
    errors: list[BaseException] = []
    done = threading.Event()
    puller = local_cache(tmp_path / "b")

    def push_all():
        try:
            for key in keys:
                remote.upload(key, TRAIN, pusher)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            done.set()

    def pull_all():
        deadline = time.monotonic() + 120
        try:
            while time.monotonic() < deadline:
                finished = done.is_set()
                for key in keys:
                    if outcomes.get(key) != "hit":
                        hit = RemoteActionCache("team", RemoteStore(remote.store.url), share_base=False).fetch(key, TRAIN, puller)
                        outcomes[key] = "hit" if hit is not None else "miss"
                if finished and all(outcomes.get(k) == "hit" for k in keys):
                    return
                time.sleep(0.005)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=push_all), threading.Thread(target=pull_all)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=150)
    assert errors == []
    assert outcomes == {key: "hit" for key in keys}
    assert all(puller.lookup(k).output_hash == pusher.lookup(k).output_hash for k in keys)
