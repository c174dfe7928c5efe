"""Content hashing: xxh3-128 over bytes, files and canonical JSON.

Build keys and lock-file hashes are derived from these functions, so their values are pinned:
a change here would silently invalidate every action cache and every committed dlm.lock.
"""

from __future__ import annotations

from pathlib import Path

from dlmbuild.engine import hashing
from dlmbuild.engine.hashing import canonical_json, hash_bytes, hash_file, hash_json, hash_text

EMPTY = "99aa06d3014798d86001c324468d497f"  # xxh3-128 of b""
ABC = "06b05ab6733a618578af5f94892f3950"  # xxh3-128 of b"abc"


def test_hash_bytes_golden_values():
    assert hash_bytes(b"") == EMPTY
    assert hash_bytes(b"abc") == ABC
    assert len(hash_bytes(b"x")) == 32
    assert all(c in "0123456789abcdef" for c in hash_bytes(b"x"))


def test_hash_text_is_utf8_bytes():
    assert hash_text("abc") == ABC
    assert hash_text("héllo ✓") == hash_bytes("héllo ✓".encode("utf-8"))
    assert hash_text("a") != hash_text("A")


def test_hash_file_matches_hash_bytes(tmp_path: Path):
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert hash_file(empty) == EMPTY
    small = tmp_path / "small"
    small.write_bytes(b"abc")
    assert hash_file(small) == ABC
    assert hash_file(str(small)) == ABC


def test_hash_file_spanning_several_chunks(tmp_path: Path):
    data = bytes(range(256)) * ((hashing.CHUNK * 2 + 123) // 256 + 1)
    data = data[: hashing.CHUNK * 2 + 123]
    big = tmp_path / "big.bin"
    big.write_bytes(data)
    assert hash_file(big) == hash_bytes(data)
    # one changed byte in the last chunk changes the hash
    big.write_bytes(data[:-1] + b"\x00" if data[-1:] != b"\x00" else data[:-1] + b"\x01")
    assert hash_file(big) != hash_bytes(data)


def test_canonical_json_is_sorted_compact_and_unescaped():
    value = {"b": 1, "a": {"d": [1, 2], "c": "é"}}
    assert canonical_json(value) == '{"a":{"c":"é","d":[1,2]},"b":1}'


def test_canonical_json_independent_of_insertion_order():
    one = {"x": 1, "y": {"p": 1, "q": 2}}
    two = {"y": {"q": 2, "p": 1}, "x": 1}
    assert canonical_json(one) == canonical_json(two)
    assert hash_json(one) == hash_json(two)


def test_canonical_json_stringifies_unknown_types():
    assert canonical_json({"p": Path("a/b")}) == '{"p":"a/b"}'


def test_hash_json_distinguishes_types_and_order():
    values = [1, "1", 1.5, True, None, [1, 2], [2, 1], {"a": 1}, {"a": "1"}]
    digests = [hash_json(v) for v in values]
    assert len(set(digests)) == len(values)
    assert hash_json({"k": [1, 2]}) == hash_text('{"k":[1,2]}')
