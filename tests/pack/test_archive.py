"""The .dlm.pack container: deterministic writing, and reading that refuses every hostile
archive with one line, before writing anything for it and leaving nothing behind."""

from __future__ import annotations

import json
import os
import random
import stat
import tarfile
import time
from pathlib import Path

import pytest
import zstandard

from dlmbuild.errors import EXIT_BAD_INPUT, EXIT_VERIFY_MISMATCH, EnvironmentProblem, UsageError
from dlmbuild.pack import archive
from dlmbuild.pack.archive import FORMAT, HARD_CAP_BYTES, MANIFEST, PackError, extract_pack, read_manifest, verify_pack, write_pack
from tests.pack import hostile

BINARY = bytes(range(256)) * 64 + b"\x00\xff" * 1000
FILES: dict[str, bytes] = {
    "doc.dlm": b"---\ndlm_id: X\n---\nHello\n",
    "sources/notes/a.md": b"# A\n" * 500,
    "sources/notes/empty.txt": b"",
    "sources/blob.bin": BINARY,
    "bin/run.sh": b"#!/bin/sh\necho hi\n",
    "sources/caf\u00e9/" + "long-name-" * 20 + ".txt": "non-ASCII, over 100 bytes: needs a pax header".encode(),
}
EXECUTABLE = {"bin/run.sh"}
META = {"dlm_id": "01HZZZZZZZZZZZZZZZZZZZZZZZ", "kind": "test", "nested": {"list": [1, 2]}}


def local_files(folder: Path, files: dict[str, bytes] = FILES, executable: set[str] = EXECUTABLE) -> dict[str, Path]:
    """Write ``files`` under ``folder`` (flat names, so archive and local layouts differ)."""
    folder.mkdir(parents=True, exist_ok=True)
    members = {}
    for index, (name, data) in enumerate(sorted(files.items())):
        path = folder / f"file{index}"
        path.write_bytes(data)
        os.chmod(path, 0o755 if name in executable else 0o644)
        members[name] = path
    return members


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative POSIX path (folders implied)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() or p.is_symlink()}


def listing(folder: Path) -> set[str]:
    """Every path under ``folder``, files and folders, symlinks included."""
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    out = tmp_path / "good.dlm.pack"
    write_pack(out, local_files(tmp_path / "src"), META)
    return out


# --- writing and round trip -----------------------------------------------------------------


def test_round_trip_keeps_bytes_exec_bit_and_meta(tmp_path: Path, pack: Path):
    manifest = read_manifest(pack)
    assert manifest["format"] == FORMAT
    assert {k: manifest[k] for k in META} == META
    assert manifest["members"] == {name: {"sha256": hostile.sha256(data), "size": len(data)} for name, data in FILES.items()}
    assert manifest["total_size"] == sum(map(len, FILES.values()))
    assert verify_pack(pack) == manifest

    dest = tmp_path / "fresh" / "out"  # parents created too
    assert extract_pack(pack, dest) == manifest
    assert tree(dest) == FILES  # nothing more (no manifest.json), nothing less
    for name in FILES:
        mode = (dest / name).stat().st_mode
        assert bool(mode & stat.S_IXUSR) == (name in EXECUTABLE), name
        assert not mode & (stat.S_ISUID | stat.S_ISGID)
    assert not [p for p in dest.parent.iterdir() if p.name != "out"]  # no temp folder left


def test_layout_manifest_first_sorted_members_normalized_headers(pack: Path):
    with zstandard.ZstdDecompressor().stream_reader(open(pack, "rb")) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        infos = list(tar)
    assert [i.name for i in infos] == [MANIFEST, *sorted(FILES)]
    for info in infos:
        assert info.isreg()
        assert (info.mtime, info.uid, info.gid, info.uname, info.gname) == (0, 0, 0, "", "")
        assert info.mode == (0o755 if info.name in EXECUTABLE else 0o644)


def test_manifest_is_sorted_indented_json(pack: Path):
    with zstandard.ZstdDecompressor().stream_reader(open(pack, "rb")) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        raw = tar.extractfile(tar.next()).read()
    manifest = json.loads(raw)
    assert raw.decode().rstrip("\n") == json.dumps(manifest, sort_keys=True, indent=1)
    assert manifest == read_manifest(pack)


def test_write_returns_the_manifest_it_wrote(tmp_path: Path):
    out = tmp_path / "p.dlm.pack"
    returned = write_pack(out, local_files(tmp_path / "src"), META)
    assert returned == read_manifest(out)


def test_same_input_gives_identical_bytes(tmp_path: Path):
    first = tmp_path / "one.dlm.pack"
    second = tmp_path / "two.dlm.pack"
    write_pack(first, local_files(tmp_path / "a"), META)
    write_pack(second, local_files(tmp_path / "a"), META)
    assert first.read_bytes() == second.read_bytes()


def test_mtimes_permissions_and_order_do_not_change_the_bytes(tmp_path: Path):
    first = write_pack(tmp_path / "one.dlm.pack", local_files(tmp_path / "a"), META)
    other = local_files(tmp_path / "b")
    for index, (name, path) in enumerate(other.items()):
        os.utime(path, (1_000_000 + index, 2_000_000 + index * 7))
        os.chmod(path, 0o700 if name in EXECUTABLE else 0o600)  # exec bit kept, the rest differs
    reordered = dict(reversed(list(other.items())))
    second = write_pack(tmp_path / "two.dlm.pack", reordered, dict(reversed(list(META.items()))))
    assert first == second
    assert (tmp_path / "one.dlm.pack").read_bytes() == (tmp_path / "two.dlm.pack").read_bytes()


def test_exec_bit_changes_the_bytes(tmp_path: Path):
    write_pack(tmp_path / "one.dlm.pack", local_files(tmp_path / "a"), META)
    write_pack(tmp_path / "two.dlm.pack", local_files(tmp_path / "b", executable=set()), META)
    assert (tmp_path / "one.dlm.pack").read_bytes() != (tmp_path / "two.dlm.pack").read_bytes()


def test_write_replaces_atomically_and_leaves_no_temp(tmp_path: Path):
    out = tmp_path / "out" / "p.dlm.pack"
    write_pack(out, local_files(tmp_path / "src"), {"v": 1})
    write_pack(out, local_files(tmp_path / "src"), {"v": 2})
    assert read_manifest(out)["v"] == 2
    assert sorted(p.name for p in out.parent.iterdir()) == ["p.dlm.pack"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~archive.current_umask()


def test_a_file_changed_while_packing_fails_and_keeps_the_old_pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    out = tmp_path / "p.dlm.pack"
    members = local_files(tmp_path / "src")
    write_pack(out, members, {"v": 1})
    before = out.read_bytes()
    real = archive._digest_local

    def stale_digest(path: Path):  # as if the file changed between hashing and copying
        sha, size, executable = real(path)
        return ("0" * 64 if path == members["doc.dlm"] else sha), size, executable

    monkeypatch.setattr(archive, "_digest_local", stale_digest)
    with pytest.raises(PackError, match="changed while it was being packed"):
        write_pack(out, members, {"v": 2})
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.dlm.pack", "src"]


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "is empty"),
        ("/etc/passwd", "is absolute"),
        ("../up", "has a '..' component"),
        ("a/../../up", "has a '..' component"),
        ("./a", "has a '.' component"),
        ("a//b", "has an empty component"),
        ("a/", "has an empty component"),
        ("a\\b", "has a backslash"),
        ("a\0b", "has a NUL byte"),
        ("x" * 256, "longer than 255 bytes"),
        ("/".join(["d" * 200] * 21), "longer than 4096 bytes"),
        ("bad\udcff", "not valid UTF-8"),
        (MANIFEST, "reserved for the manifest"),
    ],
)
def test_write_refuses_bad_names(tmp_path: Path, name: str, problem: str):
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(ValueError, match=problem.replace(".", r"\.")):
        write_pack(tmp_path / "p.dlm.pack", {name: tmp_path / "f"}, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_write_accepts_names_at_the_limits(tmp_path: Path):
    (tmp_path / "f").write_bytes(b"x")
    longest = "/".join(["d" * 254] * 16) + "/" + "e" * (4096 - 16 * 255)
    assert len(longest.encode()) == 4096
    write_pack(tmp_path / "p.dlm.pack", {longest: tmp_path / "f"}, {})
    assert list(verify_pack(tmp_path / "p.dlm.pack")["members"]) == [longest]
    # extracting needs the temp folder's path in front too, within the OS's PATH_MAX
    long = "/".join(["d" * 255] * 11) + "/" + "\u00e9" * 100
    write_pack(tmp_path / "q.dlm.pack", {long: tmp_path / "f"}, {})
    extract_pack(tmp_path / "q.dlm.pack", tmp_path / "out")
    assert tree(tmp_path / "out") == {long: b"x"}


def test_write_refuses_a_name_that_is_also_a_folder(tmp_path: Path):
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(ValueError, match="both a file and a folder"):
        write_pack(tmp_path / "p.dlm.pack", {"a/b": tmp_path / "f", "a/b/c": tmp_path / "f"}, {})


def test_write_refuses_symlinks_folders_and_missing_files(tmp_path: Path):
    (tmp_path / "real").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo")
    for local in ("link", "folder", "fifo"):
        with pytest.raises(ValueError, match="not a regular file"):
            write_pack(tmp_path / "p.dlm.pack", {"m": tmp_path / local}, {})
    with pytest.raises(ValueError, match="does not exist"):
        write_pack(tmp_path / "p.dlm.pack", {"m": tmp_path / "absent"}, {})
    assert not (tmp_path / "p.dlm.pack").exists()


@pytest.mark.parametrize("key", ["format", "members", "total_size"])
def test_write_refuses_meta_that_would_replace_manifest_keys(tmp_path: Path, key: str):
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(ValueError, match=key):
        write_pack(tmp_path / "p.dlm.pack", {"f": tmp_path / "f"}, {key: 1})


def test_an_empty_pack_round_trips(tmp_path: Path):
    manifest = write_pack(tmp_path / "p.dlm.pack", {}, {"empty": True})
    assert manifest["members"] == {} and manifest["total_size"] == 0
    assert extract_pack(tmp_path / "p.dlm.pack", tmp_path / "out") == manifest
    assert list((tmp_path / "out").iterdir()) == []


# --- the destination --------------------------------------------------------------------------


def test_extract_into_an_existing_empty_folder(tmp_path: Path, pack: Path):
    dest = tmp_path / "dest"
    dest.mkdir()
    extract_pack(pack, dest)
    assert tree(dest) == FILES


def test_extract_into_a_non_empty_folder_is_refused_and_writes_nothing(tmp_path: Path, pack: Path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "mine.txt").write_bytes(b"keep me")
    before = listing(tmp_path)
    with pytest.raises(UsageError, match="is not empty") as err:
        extract_pack(pack, dest)
    assert err.value.exit_code == EXIT_BAD_INPUT
    assert listing(tmp_path) == before
    assert (dest / "mine.txt").read_bytes() == b"keep me"


def test_extract_onto_a_file_or_symlink_is_refused(tmp_path: Path, pack: Path):
    (tmp_path / "file").write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "empty")
    for name in ("file", "link"):
        with pytest.raises(UsageError, match="not a folder"):
            extract_pack(pack, tmp_path / name)
    assert (tmp_path / "file").read_bytes() == b"x"
    assert list((tmp_path / "empty").iterdir()) == []


def test_a_folder_filled_during_extraction_is_not_overwritten(tmp_path: Path, pack: Path, monkeypatch: pytest.MonkeyPatch):
    dest = tmp_path / "dest"
    real = archive._settle_folder

    def someone_else_writes(tmp: Path) -> None:
        real(tmp)
        dest.mkdir()
        (dest / "theirs").write_bytes(b"theirs")

    monkeypatch.setattr(archive, "_settle_folder", someone_else_writes)
    with pytest.raises(UsageError, match="empty or new folder"):
        extract_pack(pack, dest)
    assert tree(dest) == {"theirs": b"theirs"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest", "good.dlm.pack", "src"]


def test_disk_errors_while_extracting_clean_up(tmp_path: Path, pack: Path, monkeypatch: pytest.MonkeyPatch):
    def disk_full(self, handle, data):
        raise EnvironmentProblem("cannot write: No space left on device")

    monkeypatch.setattr(archive._FolderWriter, "write", disk_full)
    with pytest.raises(EnvironmentProblem, match="No space left"):
        extract_pack(pack, tmp_path / "dest")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.dlm.pack", "src"]


# --- hostile packs ----------------------------------------------------------------------------


def assert_refused(pack: Path, *fragments: str) -> str:
    """Both readers refuse ``pack`` with the same one line naming the problem; extraction leaves
    no destination, no temp folder and nothing anywhere else under the test's folder."""
    with pytest.raises(PackError) as verified:
        verify_pack(pack)
    root = pack.parent
    work = root / "work"
    work.mkdir(exist_ok=True)
    before = listing(root)
    outside_before = sorted(p.name for p in root.parent.iterdir())
    dest = work / "dest"
    with pytest.raises(PackError) as extracted:
        extract_pack(pack, dest)
    message = str(verified.value)
    assert str(extracted.value) == message
    assert message.startswith(f"{pack}: ")
    assert "\n" not in message and "\r" not in message
    assert verified.value.exit_code == EXIT_VERIFY_MISMATCH
    for fragment in fragments:
        assert fragment in message, message
    assert not dest.exists()
    assert listing(root) == before
    assert sorted(p.name for p in root.parent.iterdir()) == outside_before
    return message


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("../evil", "has a '..' component"),
        ("../../evil", "has a '..' component"),
        ("../../../evil", "has a '..' component"),
        ("a/../../evil", "has a '..' component"),
        ("./evil", "has a '.' component"),
        ("a//evil", "has an empty component"),
        ("..\\evil", "has a backslash"),
        ("bad\udcffname", "is not valid UTF-8"),  # a raw 0xff byte in the tar header
        ("x" * 300, "has a component longer than 255 bytes"),
    ],
)
def test_unsafe_member_paths_are_refused(tmp_path: Path, name: str, problem: str):
    entries = [hostile.manifest_entry(hostile.manifest_for({"ok": b""})), hostile.regular(name, b"owned")]
    shown = repr(name) if len(name) <= 160 else repr(name[:150] + "…")  # long names are cut in messages
    assert_refused(hostile.write(tmp_path / "p.dlm.pack", entries), f"member {shown} is not a safe path ({problem})")
    assert not (tmp_path / "evil").exists() and not (tmp_path.parent / "evil").exists()


@pytest.mark.parametrize("name", ["../evil", "a/../../evil", "/abs/evil"])
def test_a_manifest_listing_an_unsafe_path_is_refused_before_any_member(tmp_path: Path, name: str):
    pack = hostile.write(tmp_path / "p.dlm.pack", hostile.honest({name: b"owned"}))
    assert_refused(pack, f"manifest.json is malformed: member {name!r} is not a safe path")


def test_absolute_paths_are_refused(tmp_path: Path):
    target = tmp_path / "outside" / "evil"
    name = str(target)
    entries = [hostile.manifest_entry(hostile.manifest_for({"ok": b""})), hostile.regular(name, b"owned")]
    assert_refused(hostile.write(tmp_path / "p.dlm.pack", entries), f"member {name!r} is not a safe path (is absolute)")
    assert not target.exists() and not target.parent.exists()


@pytest.mark.parametrize(
    ("kind", "linkname", "expected"),
    [
        (tarfile.SYMTYPE, "../../../etc/passwd", "'link' is a symlink to '../../../etc/passwd'; a pack holds regular files only"),
        (tarfile.SYMTYPE, "/etc/passwd", "'link' is a symlink to '/etc/passwd'"),
        (tarfile.LNKTYPE, "../../../etc/passwd", "'link' is a hard link to '../../../etc/passwd'; a pack holds regular files only"),
        (tarfile.CHRTYPE, "", "'link' is a character device; a pack holds regular files only"),
        (tarfile.BLKTYPE, "", "'link' is a block device"),
        (tarfile.FIFOTYPE, "", "'link' is a FIFO"),
        (tarfile.DIRTYPE, "", "'link' is a directory"),
    ],
)
def test_non_regular_members_are_refused(tmp_path: Path, kind: bytes, linkname: str, expected: str):
    entries = [hostile.manifest_entry(hostile.manifest_for({"link": b""})), hostile.special("link", kind, linkname=linkname)]
    assert_refused(hostile.write(tmp_path / "p.dlm.pack", entries), expected)


def test_a_symlink_then_a_file_through_it_writes_nothing_outside(tmp_path: Path):
    """The classic escape: a symlink to the outside, then a member written through it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    entries = [
        hostile.manifest_entry(hostile.manifest_for({"d/x": b"owned"})),
        hostile.special("d", tarfile.SYMTYPE, linkname=str(outside)),
        hostile.regular("d/x", b"owned"),
    ]
    assert_refused(hostile.write(tmp_path / "p.dlm.pack", entries), "'d' is a symlink")
    assert list(outside.iterdir()) == []


def test_content_that_differs_from_the_manifest_hash_is_refused(tmp_path: Path):
    entries = [hostile.manifest_entry(hostile.manifest_for({"a.txt": b"hello"})), hostile.regular("a.txt", b"HELLO")]
    expected = f"member 'a.txt' has sha256 {hostile.sha256(b'HELLO')[:12]}… but the manifest says {hostile.sha256(b'hello')[:12]}…"
    assert_refused(hostile.write(tmp_path / "p.dlm.pack", entries), expected)


def test_a_size_that_differs_from_the_manifest_is_refused(tmp_path: Path):
    entries = [hostile.manifest_entry(hostile.manifest_for({"a.txt": b"hello"})), hostile.regular("a.txt", b"hello, world")]
    assert_refused(hostile.write(tmp_path / "p.dlm.pack", entries), "member 'a.txt' is 12 bytes but the manifest says 5")


def test_a_manifest_member_missing_from_the_pack_is_refused(tmp_path: Path):
    entries = [hostile.manifest_entry(hostile.manifest_for({"a": b"1", "b": b"2"})), hostile.regular("a", b"1")]
    assert_refused(hostile.write(tmp_path / "p.dlm.pack", entries), "member 'b' is in the manifest but not in the pack")


def test_a_member_not_in_the_manifest_is_refused(tmp_path: Path):
    entries = [*hostile.honest({"a": b"1"}), hostile.regular("extra", b"2")]
    assert_refused(hostile.write(tmp_path / "p.dlm.pack", entries), "member 'extra' is not in the manifest")


def test_duplicate_members_are_refused(tmp_path: Path):
    entries = [*hostile.honest({"a": b"1"}), hostile.regular("a", b"1")]
    assert_refused(hostile.write(tmp_path / "p.dlm.pack", entries), "member 'a' appears twice")


def test_the_manifest_must_come_first_and_once(tmp_path: Path):
    files = {"a": b"1"}
    later = [hostile.regular("a", b"1"), hostile.manifest_entry(hostile.manifest_for(files))]
    assert_refused(hostile.write(tmp_path / "p1.dlm.pack", later), "member 'a' comes before manifest.json")
    twice = [*hostile.honest(files), hostile.manifest_entry(hostile.manifest_for(files))]
    assert_refused(hostile.write(tmp_path / "p2.dlm.pack", twice), "manifest.json appears twice")
    none = [hostile.regular("a", b"1")]
    assert_refused(hostile.write(tmp_path / "p3.dlm.pack", none), "comes before manifest.json")
    empty_tar = []
    assert_refused(hostile.write(tmp_path / "p4.dlm.pack", empty_tar), "holds no manifest.json")
    as_link = [hostile.special(MANIFEST, tarfile.SYMTYPE, linkname="/etc/passwd")]
    assert_refused(hostile.write(tmp_path / "p5.dlm.pack", as_link), "'manifest.json' is a symlink")


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (hostile.manifest_for({"a": b"1"}, format=2), "manifest.json has format 2; this dlm reads format 1"),
        (hostile.manifest_for({"a": b"1"}, format=True), "manifest.json has format True"),
        (hostile.manifest_for({"a": b"1"}, format=1.0), "manifest.json has format 1.0"),
        ({"members": {}, "total_size": 0}, "manifest.json has format None"),
        (b"{not json", "manifest.json is not valid JSON"),
        (b'{"format": 1, "format": 1, "members": {}, "total_size": 0}', "key 'format' appears twice"),
        (b"\xff\xfe{}", "manifest.json is not valid JSON"),
        (b"[1]", "manifest.json is malformed: not a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "manifest.json is not valid JSON"),
        (hostile.manifest_for({"a": b"1"}, members=[]), "'members' is not an object"),
        (hostile.manifest_for({"a": b"1"}, total_size=2), "'total_size' is 2 but the members add up to 1"),
        (hostile.manifest_for({"a": b"1"}, members={"a": {"sha256": "AB", "size": 1}}), "sha256 that is not 64 lowercase hex"),
        (hostile.manifest_for({"a": b"1"}, members={"a": {"sha256": "0" * 64, "size": -1}}), "size that is not a whole number"),
        (hostile.manifest_for({"a": b"1"}, members={"a": {"sha256": "0" * 64}}), "must have exactly 'sha256' and 'size'"),
        (hostile.manifest_for({}, members={MANIFEST: {"sha256": "0" * 64, "size": 0}}), "lists manifest.json as a member"),
        (hostile.manifest_for({"a": b"", "a/b": b""}), "member 'a' is both a file and a folder"),
    ],
)
def test_malformed_manifests_are_refused(tmp_path: Path, manifest: dict | bytes, expected: str):
    pack = hostile.write(tmp_path / "p.dlm.pack", [hostile.manifest_entry(manifest), hostile.regular("a", b"1")])
    message = assert_refused(pack, expected)
    with pytest.raises(PackError) as err:
        read_manifest(pack)
    assert str(err.value) == message


def test_a_manifest_claiming_more_than_the_hard_cap_is_refused(tmp_path: Path):
    big = HARD_CAP_BYTES + 1
    manifest = hostile.manifest_for({}, members={"a": {"sha256": "0" * 64, "size": big}}, total_size=big)
    pack = hostile.write(tmp_path / "p.dlm.pack", [hostile.manifest_entry(manifest), hostile.regular("a", b"1")])
    assert_refused(pack, f"more than the {HARD_CAP_BYTES} bytes a pack may hold")


def test_the_hard_cap_holds_whatever_the_manifest_allows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    files = {"a": b"x" * 40_000}
    pack = hostile.write(tmp_path / "p.dlm.pack", hostile.honest(files), trailing_zeros=1_000_000)  # within the manifest's slack
    monkeypatch.setattr(archive, "HARD_CAP_BYTES", 50_000)
    assert_refused(pack, "unpacks to more than 50000 bytes, the most any pack may unpack to")
    monkeypatch.setattr(archive, "HARD_CAP_BYTES", 30_000)
    assert_refused(pack, "manifest.json is malformed: it declares 40000 bytes, more than the 30000 bytes a pack may hold")
    (tmp_path / "f").write_bytes(files["a"])
    with pytest.raises(PackError, match="more than the 30000 bytes a pack may hold"):
        write_pack(tmp_path / "new.dlm.pack", {"a": tmp_path / "f"}, {})
    assert not (tmp_path / "new.dlm.pack").exists()


def test_an_oversized_manifest_is_refused_before_it_is_read(tmp_path: Path):
    data = b" " * (archive.MANIFEST_MAX_BYTES + 1)
    pack = hostile.write(tmp_path / "p.dlm.pack", [hostile.manifest_entry(data)])
    assert_refused(pack, f"manifest.json is {len(data)} bytes, more than the {archive.MANIFEST_MAX_BYTES}")


def test_an_oversized_pax_header_is_refused_before_it_is_read(tmp_path: Path):
    entry = hostile.regular("a", b"1")
    entry.info.pax_headers = {"comment": "x" * 200_000}
    pack = hostile.write(tmp_path / "p.dlm.pack", [hostile.manifest_entry(hostile.manifest_for({"a": b"1"})), entry])
    assert_refused(pack, "has an extended tar header of", "after member 'manifest.json'")


def test_a_decompression_bomb_is_stopped_early(tmp_path: Path):
    """50 MB of zeros after a tiny honest pack: it compresses to almost nothing, and reading
    stops about a megabyte past what the manifest allows instead of decompressing it all."""
    pack = hostile.write(tmp_path / "p.dlm.pack", hostile.honest({"a": b"1"}), trailing_zeros=50 * 1024**2)
    assert pack.stat().st_size < 100_000
    started = time.monotonic()
    assert_refused(pack, "unpacks to more than", "more than its manifest allows")
    assert time.monotonic() - started < 3  # both readers; decompressing 50 MB twice would be slower on a loaded CI box too


def test_a_member_larger_than_the_manifest_says_is_refused_at_its_header(tmp_path: Path):
    entries = [hostile.manifest_entry(hostile.manifest_for({"a": b"1"})), hostile.regular("a", b"", size=50 * 1024**2)]
    pack = hostile.write(tmp_path / "p.dlm.pack", entries)
    started = time.monotonic()
    assert_refused(pack, f"member 'a' is {50 * 1024**2} bytes but the manifest says 1")
    assert time.monotonic() - started < 3


def test_data_after_the_tar_end_is_refused(tmp_path: Path, pack: Path):
    # valid zstd, valid tar, then non-zero bytes inside the compressed stream
    raw = zstandard.ZstdDecompressor().stream_reader(open(pack, "rb")).read()
    hostile.compressed(tmp_path / "p.dlm.pack", raw + b"\x01" * 100_000)
    assert_refused(tmp_path / "p.dlm.pack", "has data after the end of its tar archive")


def test_truncated_packs_are_refused(tmp_path: Path, pack: Path):
    data = pack.read_bytes()
    half = tmp_path / "half.dlm.pack"
    half.write_bytes(data[: len(data) // 2])
    assert_refused(half, "truncated (ends ")
    # cut inside the final checksum: every member is whole, only the zstd framing shows it
    tail = tmp_path / "tail.dlm.pack"
    tail.write_bytes(data[:-2])
    assert_refused(tail, "truncated (ends after member")
    head = tmp_path / "head.dlm.pack"
    head.write_bytes(data[:7])
    assert_refused(head, "truncated (ends before its manifest)")


def test_a_tar_that_ends_inside_a_member_names_it(tmp_path: Path):
    entries = hostile.honest({"big": os.urandom(4096)})
    hostile.write(tmp_path / "full.dlm.pack", entries)
    raw = zstandard.ZstdDecompressor().stream_reader(open(tmp_path / "full.dlm.pack", "rb")).read()
    cut = raw.index(b"big\0") + 512 + 1000  # a well-formed zstd stream of a cut tar
    hostile.compressed(tmp_path / "p.dlm.pack", raw[:cut])
    assert_refused(tmp_path / "p.dlm.pack", "truncated (ends inside member 'big')")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "is empty, not a pack"),
        (b"PK\x03\x04 this is a zip, not a pack" * 10, "is not a zstd-compressed pack"),
        (random.Random(1).randbytes(5000), "is not a zstd-compressed pack"),
    ],
)
def test_garbage_is_refused(tmp_path: Path, data: bytes, expected: str):
    (tmp_path / "p.dlm.pack").write_bytes(data)
    assert_refused(tmp_path / "p.dlm.pack", expected)


def test_zstd_of_something_else_is_refused(tmp_path: Path):
    hostile.compressed(tmp_path / "p.dlm.pack", b"just some text, not a tar archive\n" * 100)
    assert_refused(tmp_path / "p.dlm.pack", "is not a valid tar archive (before its manifest")


def test_an_uncompressed_tar_is_refused(tmp_path: Path, pack: Path):
    raw = zstandard.ZstdDecompressor().stream_reader(open(pack, "rb")).read()
    (tmp_path / "p.dlm.pack").write_bytes(raw)
    assert_refused(tmp_path / "p.dlm.pack", "is not a zstd-compressed pack")


def test_corrupt_compressed_bytes_are_refused(tmp_path: Path, pack: Path):
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "p.dlm.pack").write_bytes(bytes(data))
    assert_refused(tmp_path / "p.dlm.pack")


def test_missing_or_unreadable_packs_are_pack_errors(tmp_path: Path):
    for reader in (read_manifest, verify_pack):
        with pytest.raises(PackError, match="cannot read"):
            reader(tmp_path / "absent.dlm.pack")
        with pytest.raises(PackError, match="cannot read"):
            reader(tmp_path)


def test_read_manifest_reads_only_the_manifest(tmp_path: Path):
    entries = [*hostile.honest({"a": b"1"}), hostile.special("evil", tarfile.SYMTYPE, linkname="/")]
    pack = hostile.write(tmp_path / "p.dlm.pack", entries)
    assert read_manifest(pack) == hostile.manifest_for({"a": b"1"})
    assert_refused(pack, "'evil' is a symlink")


# --- fuzzing ----------------------------------------------------------------------------------


def test_damaged_packs_verify_exactly_or_fail_cleanly(tmp_path: Path):
    """Random single-byte changes and cuts of a real pack: each reader either returns exactly
    the original or raises PackError, and extraction never leaves anything behind."""
    files = {"doc.dlm": b"hello\n" * 40, "a/b.bin": random.Random(7).randbytes(3000), "a/empty": b"", "z": b"z" * 5000}
    src = tmp_path / "src"
    good = tmp_path / "good.dlm.pack"
    original = write_pack(good, local_files(src, files, set()), {"seed": 1})
    data = good.read_bytes()
    rng = random.Random(20240611)
    damaged = []
    for _ in range(200):
        mutated = bytearray(data)
        mutated[rng.randrange(len(data))] ^= rng.randrange(1, 256)
        damaged.append(bytes(mutated))
    damaged += [data[: rng.randrange(len(data))] for _ in range(30)]

    work = tmp_path / "work"
    work.mkdir()
    candidate = tmp_path / "candidate.dlm.pack"
    outcomes = {"ok": 0, "refused": 0}
    started = time.monotonic()
    for index, blob in enumerate(damaged):
        candidate.write_bytes(blob)
        try:
            assert verify_pack(candidate) == original
            verified = True
        except PackError as exc:
            assert "\n" not in str(exc)
            verified = False
        dest = work / f"d{index}"
        try:
            assert extract_pack(candidate, dest) == original
            assert tree(dest) == files
            extracted = True
        except PackError:
            assert not dest.exists()
            extracted = False
        assert verified == extracted, index
        assert sorted(p.name for p in work.iterdir()) == sorted(p.name for p in work.iterdir() if not p.name.startswith("."))
        outcomes["ok" if verified else "refused"] += 1
    assert time.monotonic() - started < 20
    assert outcomes["refused"] >= 200  # flips land in checksummed data or framing almost always
