"""``dlm pack``, ``dlm verify PACK`` and ``dlm unpack`` on a document trained on the real base:
a second store restored from the pack trains nothing and answers as the first."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import run_dlm_once

pytestmark = pytest.mark.slow

QUESTION = "Who is the harbour master of Saltmarrow?"


@pytest.fixture(scope="module")
def packed(lanes, tmp_path_factory):
    out = tmp_path_factory.mktemp("packs") / "lanes.dlm.pack"
    done = run_dlm_once(lanes["env"], "pack", lanes["doc"], "-o", out)
    assert done.code == 0, done.err
    return out


def test_a_pack_is_deterministic_and_verifies(lanes, packed, tmp_path):
    again = tmp_path / "again.dlm.pack"
    assert run_dlm_once(lanes["env"], "pack", lanes["doc"], "-o", again).code == 0
    assert again.read_bytes() == packed.read_bytes()
    verified = run_dlm_once(lanes["env"], "verify", packed)
    assert verified.code == 0, verified.err
    assert verified.out.startswith(f"verified: {packed.name}:")


def test_a_flipped_byte_fails_verification_in_one_line(lanes, packed, tmp_path):
    bad = tmp_path / "bad.dlm.pack"
    data = bytearray(packed.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    refused = run_dlm_once(lanes["env"], "verify", bad)
    assert refused.code == 4
    assert len(refused.err.strip().splitlines()) == 1 and "Traceback" not in refused.err


def test_a_second_store_unpacks_trains_nothing_and_answers_alike(lanes, packed, embedded_base, tmp_path):
    home = tmp_path / "home-b"
    home.mkdir()
    os.symlink(embedded_base[1] / "bases", home / "bases")
    env = {"DLM_HOME": str(home), "DLM_THREADS": lanes["env"]["DLM_THREADS"]}
    unpacked = run_dlm_once(env, "unpack", packed, tmp_path / "b")
    assert unpacked.code == 0, unpacked.err
    doc = tmp_path / "b" / "lanes.dlm"
    assert doc.read_bytes() == lanes["doc"].read_bytes()
    built = run_dlm_once(env, "build", doc, "--json")
    assert built.code == 0, built.err
    statuses = {r["target"]: r["status"] for r in json.loads(built.out)}
    rebuilt = {":gguf-base", ":gate"}  # they hold the base's weights: remade, not packed
    assert statuses[":train-harbour"] == statuses[":train-tidepool"] == "cached"
    assert all(status == "cached" for name, status in statuses.items() if name not in rebuilt), statuses
    ask = ("prompt", QUESTION, "--adapter", "harbour", "--temp", "0", "--max-new-tokens", "16")
    here = run_dlm_once(env, ask[0], doc, *ask[1:])
    there = run_dlm_once(lanes["env"], ask[0], lanes["doc"], *ask[1:])
    assert here.code == 0 and here.out == there.out


def test_unpack_refuses_a_non_empty_folder_and_pack_refuses_an_unbuilt_document(lanes, packed, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    refused = run_dlm_once(lanes["env"], "unpack", packed, tmp_path / "full")
    assert refused.code == 2 and "--force" in refused.err and len(refused.err.strip().splitlines()) == 1
    assert os.listdir(tmp_path / "full") == ["keep.txt"]
    unbuilt = tmp_path / "new" / "doc.dlm"
    unbuilt.parent.mkdir()
    unbuilt.write_text(lanes["doc"].read_text().replace("01KB0GATE0RANES00000000001", "01KB0GATE0RANES00000000002"))
    early = run_dlm_once(lanes["env"], "pack", unbuilt)
    assert early.code == 2 and "nothing is built yet" in early.err
