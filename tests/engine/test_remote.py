"""The engine with a shared cache: a local miss consults it, a hit is used and published as a
cached result that says where it came from, new outputs are uploaded, and a remote that fails
(down, slow, corrupt) costs a warning line and a local build, never the build itself."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from dlmbuild.engine.actioncache import ActionCache
from dlmbuild.engine.remote import GuardedRemote, RemoteObjectRefused, RemoteUnavailable
from dlmbuild.engine.target import Target
from tests.engine.test_executor import engine_for, statuses, writes


class FolderRemote:
    """An in-memory stand-in for dlmbuild/remote's cache: entries copied between two caches."""

    name = "team"

    def __init__(self, source: ActionCache | None = None, fail: Exception | None = None, shared=lambda t: True):
        self.source = source
        self.fail = fail
        self.shared = shared
        self.sent: dict[str, Path] = {}
        self.asked: list[str] = []

    def shares(self, target: Target) -> bool:
        return self.shared(target)

    def contains(self, key: str) -> bool:
        return self.source is not None and self.source.lookup(key) is not None

    def fetch(self, key, target, cache):
        self.asked.append(target.name)
        if self.fail is not None:
            raise self.fail
        hit = self.source.lookup(key) if self.source is not None else None
        if hit is None:
            return None
        import shutil
        import tempfile

        cache.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=cache.root)) / "out"
        shutil.copytree(hit.out_dir, tmp)
        return cache.commit(key, target.name, tmp)

    def upload(self, key, target, cache):
        if self.fail is not None:
            raise self.fail
        self.sent[target.name] = cache.entry_dir(key)
        return True


def chain(calls: Counter) -> list[Target]:
    return [Target(name=":a", rule="a", version=1, action=writes("a.txt", "A", calls)),
            Target(name=":b", rule="b", version=1, action=writes("b.txt", "B", calls), deps=(":a",))]


def test_a_remote_hit_is_used_instead_of_running_the_action(tmp_path):
    first = engine_for(tmp_path / "a", chain(Counter()))
    first.run([":b"])
    calls = Counter()
    second = engine_for(tmp_path / "b", chain(calls))
    warnings: list[str] = []
    second.remote = GuardedRemote(FolderRemote(first.cache), upload=False, warn=warnings.append)
    results = second.run([":b"])
    assert statuses(results) == {":a": "cached", ":b": "cached"}
    assert calls == Counter() and warnings == []
    assert all(r.reasons == ["fetched from remote team"] for r in results)
    assert second.remote.fetched == [":a", ":b"]
    assert [r.output_hash for r in results] == [r.output_hash for r in first.run([":b"])]
    again = second.run([":b"])
    assert all(r.reasons == [] for r in again)  # now local


def test_new_outputs_are_uploaded_only_when_asked(tmp_path):
    remote = FolderRemote()
    engine = engine_for(tmp_path / "a", chain(Counter()))
    engine.remote = GuardedRemote(remote, upload=False, warn=lambda m: None)
    engine.run([":b"])
    assert remote.sent == {}
    engine = engine_for(tmp_path / "b", chain(Counter()))
    engine.remote = GuardedRemote(remote, upload=True, warn=lambda m: None)
    engine.run([":b"])
    assert sorted(remote.sent) == [":a", ":b"] and engine.remote.uploaded == [":a", ":b"]


def test_a_target_the_remote_may_not_share_is_neither_fetched_nor_sent(tmp_path):
    first = engine_for(tmp_path / "a", chain(Counter()))
    first.run([":b"])
    remote = FolderRemote(first.cache, shared=lambda t: t.name != ":a")
    calls = Counter()
    engine = engine_for(tmp_path / "b", chain(calls))
    engine.remote = GuardedRemote(remote, upload=True, warn=lambda m: None)
    assert statuses(engine.run([":b"])) == {":a": "built", ":b": "cached"}
    assert calls == Counter({":a": 1}) and ":a" not in remote.asked and ":a" not in remote.sent


def test_a_remote_that_fails_warns_once_and_the_build_goes_on_locally(tmp_path):
    calls = Counter()
    remote = FolderRemote(fail=RemoteUnavailable("ConnectionRefusedError: [Errno 111] Connection refused"))
    engine = engine_for(tmp_path, chain(calls))
    warnings: list[str] = []
    engine.remote = GuardedRemote(remote, upload=True, warn=warnings.append)
    assert statuses(engine.run([":b"])) == {":a": "built", ":b": "built"}
    assert calls == Counter({":a": 1, ":b": 1})
    assert warnings == ["warning: remote team failed while fetching :a (ConnectionRefusedError: [Errno 111] Connection refused); "
                        "building locally without it"]
    assert remote.asked == [":a"]  # not asked again after it failed


def test_a_refused_object_builds_that_target_locally_and_keeps_the_remote(tmp_path):
    first = engine_for(tmp_path / "a", chain(Counter()))
    first.run([":b"])
    remote = FolderRemote(first.cache)
    real_fetch = remote.fetch

    def fetch(key, target, cache):
        if target.name == ":a":
            raise RemoteObjectRefused("blob 0123 hashes to 4567: corrupt or tampered")
        return real_fetch(key, target, cache)

    remote.fetch = fetch
    calls = Counter()
    engine = engine_for(tmp_path / "b", chain(calls))
    warnings: list[str] = []
    engine.remote = GuardedRemote(remote, upload=False, warn=warnings.append)
    assert statuses(engine.run([":b"])) == {":a": "built", ":b": "cached"}
    assert calls == Counter({":a": 1})
    assert warnings == ["warning: remote team: refused :a's entry (blob 0123 hashes to 4567: corrupt or tampered); building it locally"]


def test_a_dry_run_says_what_the_remote_has_and_fetches_nothing(tmp_path):
    first = engine_for(tmp_path / "a", chain(Counter()))
    first.run([":b"])
    remote = FolderRemote(first.cache)
    engine = engine_for(tmp_path / "b", chain(Counter()))
    engine.remote = GuardedRemote(remote, upload=False, warn=lambda m: None)
    results = engine.run([":b"], dry_run=True)
    assert statuses(results) == {":a": "dirty", ":b": "dirty"}
    assert results[0].reasons[0] == "remote team has it (a build fetches it)"
    assert remote.asked == []
